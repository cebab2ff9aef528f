// One run per output folder: an exclusive lock (flock, through the addon) on a file in the folder, held for the
// run's life. The kernel releases it when the process dies, however it dies, so a lock is never stale; the file
// names its holder for the message a second run prints.
import { ftruncateSync, readFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";

import { loadNative } from "./load.js";

export class FolderBusyError extends Error {
  readonly code = "ERR_FOLDER_BUSY";
}

export interface FolderLock {
  readonly path: string;
  release(): void;
}

function holderOf(path: string): string {
  try {
    return readFileSync(path, "utf8").trim() || "another process";
  } catch {
    return "another process";
  }
}

/** Takes the lock at `path` or throws FolderBusyError naming `what` and the process that holds it. */
export function lockFolder(path: string, what: string): FolderLock {
  const native = loadNative();
  const fd = native.lockFile(path);
  if (fd < 0)
    throw new FolderBusyError(
      `${what} is in use by ${holderOf(path)} (lock ${path}); wait for that run to end, or choose another folder or job name`,
    );
  ftruncateSync(fd);
  writeSync(fd, `bert-train pid ${process.pid} on ${hostname()}, started ${new Date().toISOString()}\n`);
  let held = true;
  return {
    path,
    release: () => {
      if (held) native.unlockFile(fd, path);
      held = false;
    },
  };
}
