// How numbers are printed for people: rounded to what is worth reading, never the float noise of a computation
// (`lr=2.25e-6`, not `lr=0.0000022500000000000005`). The JSONL and TensorBoard files keep the exact values.

/** Six significant digits, in the shorter of plain and exponent notation; non-finite values as `inf`/`nan`. */
export function round(x: number, digits = 6): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  return String(Number(x.toPrecision(digits)));
}

/** Seconds as `1h02m`, `3m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** A count with thousands separators: 11,170,560. */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** Bytes as MiB or GiB. */
export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
