// HDF5 through h5wasm: the HDF5 C library compiled to WebAssembly, reading and writing host files directly
// (no system packages). It is loaded on first use only (about 0.2 s and a WebAssembly heap), and its errors are
// thrown as exceptions rather than printed, reduced here to HDF5's innermost reason.
type H5wasm = typeof import("h5wasm/node").default;
export type Hdf5File = InstanceType<H5wasm["File"]>;
export type Hdf5Dataset = InstanceType<H5wasm["Dataset"]>;

let loaded: Promise<H5wasm> | undefined;

/** The HDF5 library, loaded once. */
export function hdf5(): Promise<H5wasm> {
  loaded ??= import("h5wasm/node").then(async (m) => {
    const module = await m.ready;
    module.activate_throwing_error_handler();
    return m.default;
  });
  return loaded;
}

/**
 * HDF5's own reason for a failure: its error stack names every layer ("unable to open file", ...); the last
 * entry is the cause ("file signature not found", "truncated file", "filter returned failure during read").
 */
export function hdf5Reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const reasons = [...text.matchAll(/ in \w+\(\): (.*)$/gm)].map((m) => m[1] as string);
  return (reasons[reasons.length - 1] ?? text.split("\n")[0] ?? "unknown error").trim();
}
