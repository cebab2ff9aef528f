// HDF5 through h5wasm: the HDF5 C library compiled to WebAssembly, reading and writing host files directly
// (no system packages). It is loaded on first use only (about 0.2 s and a WebAssembly heap), and its errors are
// thrown as exceptions rather than printed, reduced here to HDF5's innermost reason. A damaged file can make the
// library abort (a WebAssembly trap); its memory is then not to be trusted, so that instance is dropped and the
// next use loads a fresh one. h5wasm's throwing error handler prints HDF5's error stack into a tmpfile() it
// never closes; each error's file is closed here when the error is handled.
type H5wasm = typeof import("h5wasm/node").default;
export type Hdf5File = InstanceType<H5wasm["File"]>;
export type Hdf5Dataset = InstanceType<H5wasm["Dataset"]>;

let loaded: Promise<H5wasm> | undefined;
let instances = 0;
let closeFiles: (which: "error files" | "all") => void = () => {};

interface EmscriptenStreams {
  streams: ({ fd: number; path?: string } | null)[];
  close(stream: object): void;
}

/** Closes files of an instance's file table: the error handler's tmpfile()s, or all but stdio (an abort). */
function fileCloser(fs: EmscriptenStreams): (which: "error files" | "all") => void {
  return (which) => {
    for (const stream of fs.streams) {
      if (!stream || stream.fd <= 2) continue;
      if (which === "all" || stream.path?.startsWith("/tmp/tmpfile_")) fs.close(stream);
    }
  };
}

async function loadInstance(): Promise<H5wasm> {
  instances++;
  // a query string makes a second import evaluate the module again: a new WebAssembly instance
  const url = instances === 1 ? "h5wasm/node" : `${import.meta.resolve("h5wasm/node")}?instance=${instances}`;
  const m = (await import(url)) as typeof import("h5wasm/node");
  const module = await m.ready;
  module.activate_throwing_error_handler();
  closeFiles = fileCloser(module.FS as unknown as EmscriptenStreams);
  return m.default;
}

/** The HDF5 library, loaded once (again after an abort). */
export function hdf5(): Promise<H5wasm> {
  loaded ??= loadInstance();
  return loaded;
}

/** HDF5's reason for a failure; an abort also retires the library instance. */
export function hdf5Reason(err: unknown): string {
  if (err instanceof WebAssembly.RuntimeError) {
    try {
      closeFiles("all");
    } catch {
      // the instance is gone either way
    }
    loaded = undefined;
    return `the HDF5 library failed: ${err.message}`;
  }
  closeFiles("error files");
  // HDF5's error stack names every layer ("unable to open file", ...); its last entry is the cause ("file
  // signature not found", "truncated file", "filter returned failure during read")
  const text = err instanceof Error ? err.message : String(err);
  const reasons = [...text.matchAll(/ in \w+\(\): (.*)$/gm)].map((m) => m[1] as string);
  return (reasons[reasons.length - 1] ?? text.split("\n")[0] ?? "unknown error").trim();
}

/** An exception thrown by the HDF5 library (its error stack, or a WebAssembly trap), not by our code. */
export function isHdf5Failure(err: unknown): boolean {
  return err instanceof WebAssembly.RuntimeError || (err instanceof Error && err.message.includes("HDF5-DIAG"));
}
