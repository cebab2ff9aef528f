// The mutations of the fuzz runs: a case is a pure function of (run seed, case index), so a case that failed or
// hung can be rebuilt from its index alone. Byte mutations (flips, interesting values, cuts, repeats, splices)
// suit the binary formats; JSON-aware ones (a key dropped, a value of another type) reach deeper into the
// JSON readers than bytes alone would.
export interface Seed {
  data: Uint8Array;
  /** What the target needs besides the bytes (a GLUE task and split, say). */
  meta?: string;
}

/** xorshift32 from a hash of (seed, index): small, fast and the same everywhere. */
export class CaseRandom {
  private s: number;
  constructor(seed: number, index: number) {
    this.s = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0 || 1;
    for (let i = 0; i < 4; i++) this.next();
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)] as T;
  }
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x22, 0x5b, 0x7b, 0x2d, 0x30, 0x39, 0x0a, 0x09];

export function byteMutation(r: CaseRandom, d: Uint8Array, other: Uint8Array): Uint8Array {
  const at = r.below(d.length + 1);
  switch (r.below(7)) {
    case 0: {
      const out = d.slice();
      const i = r.below(out.length);
      if (out.length) out[i] = (out[i] as number) ^ (1 << r.below(8));
      return out;
    }
    case 1: {
      const out = d.slice();
      if (out.length) out[r.below(out.length)] = r.pick(INTERESTING);
      return out;
    }
    case 2:
      return d.slice(0, at); // truncation
    case 3: {
      const len = 1 + r.below(16);
      return Uint8Array.from([...d.subarray(0, at), ...d.subarray(Math.min(d.length, at + len))]);
    }
    case 4: {
      const chunk = d.subarray(at, at + 1 + r.below(32));
      return Uint8Array.from([...d.subarray(0, at), ...chunk, ...d.subarray(at)]);
    }
    case 5: {
      const from = r.below(other.length + 1);
      return Uint8Array.from([...d.subarray(0, at), ...other.subarray(from, from + 1 + r.below(64))]);
    }
    default: {
      const out = d.slice();
      // a little-endian 32-bit word set to an extreme: lengths, offsets, counts
      const v = r.pick([0, 1, 0x7fffffff, 0x80000000, 0xffffffff, r.next()]);
      const p = r.below(Math.max(1, out.length - 3));
      for (let k = 0; k < 4 && p + k < out.length; k++) out[p + k] = (v >>> (8 * k)) & 0xff;
      return out;
    }
  }
}

export const ODD_VALUES: unknown[] = [
  null,
  [],
  {},
  -1,
  0,
  1.5,
  2 ** 53,
  -(2 ** 31),
  1e308,
  "",
  "x",
  true,
  [1, 2],
  { a: 1 },
];

/** Every (parent, key) of a JSON value, depth first. */
function slots(value: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []) {
  if (value !== null && typeof value === "object") {
    for (const key of Object.keys(value)) {
      const k = Array.isArray(value) ? Number(key) : key;
      out.push([value as Record<string, unknown>, k]);
      slots((value as Record<string, unknown>)[key], out);
    }
  }
  return out;
}

/** A mutation that understands the format; undefined when the input no longer parses. */
export type StructuredMutation = (r: CaseRandom, d: Uint8Array) => Uint8Array | undefined;

export const jsonMutation: StructuredMutation = (r, d) => {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(d));
  } catch {
    return undefined;
  }
  const all = slots(value);
  if (all.length === 0) return undefined;
  const [parent, key] = r.pick(all);
  const p = parent as Record<string | number, unknown>;
  if (r.below(3) === 0 && !Array.isArray(parent)) delete p[key];
  else p[key] = r.pick(ODD_VALUES);
  return new TextEncoder().encode(JSON.stringify(value));
};

/** Case `index` of a run: one to four mutations of one seed, half of them structured where the target has some. */
export function caseInput(seeds: Seed[], runSeed: number, index: number, structured?: StructuredMutation): Seed {
  const r = new CaseRandom(runSeed, index);
  const seed = r.pick(seeds);
  // a plain Uint8Array copy: seeds read from files are Buffers, whose slice() is a view, so the mutations below
  // once wrote into the seeds themselves and every later case depended on the ones before it
  let data: Uint8Array = new Uint8Array(seed.data);
  const rounds = 1 + r.below(4);
  for (let i = 0; i < rounds; i++) {
    const mutated = structured && r.below(2) === 0 ? structured(r, data) : undefined;
    data = mutated ?? byteMutation(r, data, r.pick(seeds).data);
  }
  return { data, meta: seed.meta };
}
