// File-system steps every command shares. makeDirs replaces mkdirSync's recursive mode, which spins forever where
// mkdir fails with ENOENT on a parent that exists (any path under /proc): here each missing folder is created in
// turn, from the deepest one that exists, and the first failure is thrown as it is. writableDir is the check every
// command makes of its output folder before it starts work.
import { accessSync, constants, mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

function isDirectory(path: string): boolean | undefined {
  try {
    return statSync(path).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Creates `path` and its missing parents; an existing folder is fine, anything else there is ENOTDIR. */
export function makeDirs(path: string): void {
  const missing: string[] = [];
  let dir = resolve(path);
  let found = isDirectory(dir);
  while (found === undefined && dirname(dir) !== dir) {
    missing.push(dir);
    dir = dirname(dir);
    found = isDirectory(dir);
  }
  if (found === false)
    throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: "ENOTDIR", path: dir });
  for (const folder of missing.reverse()) {
    try {
      mkdirSync(folder);
    } catch (err) {
      // another process (a rank of the same job) made it first: fine, as long as it is a folder
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || isDirectory(folder) !== true) throw err;
    }
  }
}

export class OutputDirError extends Error {
  readonly code = "ERR_OUTPUT_DIR";
}

/** Creates `dir` if needed and checks it can be written; `flag` names it in the error (the cause's code). */
export function writableDir(dir: string, flag = "--output_dir"): void {
  try {
    makeDirs(dir);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new OutputDirError(`${flag} ${dir}: cannot write there (${why})`);
  }
}
