// The folder prepare-data writes. Before any work it is checked (new, empty, or prepare-data's own earlier output;
// never a folder of other files) and locked against a second prepare-data, and what a dead run left is removed.
// The new shards are written into a staging folder inside it and committed over the old ones: until the commit
// the old dataset stays complete and usable, during its few renames the folder has no manifest (and the loader
// refuses it), and after it the new dataset is complete.
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { writableDir } from "../files.js";
import { lockFolder, type FolderLock } from "../native/lock.js";
import { CorpusError } from "./corpus.js";
import type { DatasetManifest } from "./prepare.js";

export const MANIFEST = "dataset.json";
/** Our shard names; such shards without a manifest are an unfinished prepare-data. */
export const OUR_SHARD = /^shard_\d{5}\.(tfrecord|hdf5)$/;
const DEBRIS = /^\.prepare-\d+$|\.tmp-\d+$/;
const LOCK = ".prepare-data.lock";

export type ShardFormat = "tfrecord" | "hdf5";

export function shardName(index: number, format: ShardFormat = "tfrecord"): string {
  return `shard_${String(index).padStart(5, "0")}.${format}`;
}

function isOurs(name: string): boolean {
  return name === MANIFEST || OUR_SHARD.test(name) || DEBRIS.test(name) || name === LOCK;
}

/** Checks, creates and locks the output folder, and removes a dead run's debris; release the lock when done. */
export function openOutputFolder(dir: string, say: (line: string) => void): FolderLock {
  writableDir(dir);
  const foreign = readdirSync(dir).filter((n) => !isOurs(n));
  if (foreign.length)
    throw new CorpusError(
      `--output_dir ${dir} already holds other files (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}); prepare-data writes into a new or empty folder, or over its own earlier output`,
    );
  const lock = lockFolder(join(dir, LOCK), `--output_dir ${dir}`);
  for (const name of readdirSync(dir).filter((n) => DEBRIS.test(n))) {
    rmSync(join(dir, name), { recursive: true, force: true });
    say(`removed ${name}, left by an interrupted prepare-data`);
  }
  return lock;
}

/** Moves the staged shards and manifest into `dir` over the old dataset, then removes the old shards left over. */
export function commitStaged(dir: string, staging: string): void {
  const staged = readdirSync(staging).filter((n) => n !== MANIFEST);
  if (!existsSync(join(staging, MANIFEST))) throw new Error(`${staging}: no manifest staged`);
  rmSync(join(dir, MANIFEST), { force: true }); // from here until the new one is in, the folder is refused
  for (const name of staged) renameSync(join(staging, name), join(dir, name));
  renameSync(join(staging, MANIFEST), join(dir, MANIFEST));
  for (const name of readdirSync(dir))
    if (OUR_SHARD.test(name) && !staged.includes(name)) rmSync(join(dir, name), { force: true });
  rmSync(staging, { recursive: true, force: true });
}

/** dataset.json, written last and atomically: its presence says the shards are complete. */
export function writeManifest(dir: string, manifest: DatasetManifest): void {
  const tmp = join(dir, `${MANIFEST}.tmp-${process.pid}`);
  writeFileSync(tmp, JSON.stringify(manifest, null, 2) + "\n");
  renameSync(tmp, join(dir, MANIFEST));
}
