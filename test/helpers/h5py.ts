// The independent HDF5 side of the tests: scripts/tfrecord_to_hdf5.py, run with Debian's Python and h5py
// (python3-h5py; scripts/setup.sh --dev installs it). Where h5py is missing the tests that need it skip.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { projectRoot } from "../../lib/native/load.js";

const PYTHON = process.env.BERT_TRAIN_PYTHON ?? "/usr/bin/python3";
const SCRIPT = join(projectRoot(), "scripts", "tfrecord_to_hdf5.py");

/** A `skip` option for node:test: false where h5py imports, else the reason. */
export const needsH5py: false | string =
  spawnSync(PYTHON, ["-c", "import h5py"]).status === 0 ? false : "skipped: needs h5py (python3-h5py)";

function runScript(args: string[]): string {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`tfrecord_to_hdf5.py ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** A statically masked TFRecord shard converted to NVIDIA's HDF5 layout by h5py. */
export function convertWithH5py(tfrecord: string, hdf5: string): void {
  runScript(["convert", tfrecord, hdf5]);
}

export interface H5pyDataset {
  dtype: string;
  shape: number[];
  compression: string | null;
  values: number[] | number[][];
}

/** Every dataset of an HDF5 file as h5py reads it. */
export function dumpWithH5py(hdf5: string): Record<string, H5pyDataset> {
  return JSON.parse(runScript(["dump", hdf5])) as Record<string, H5pyDataset>;
}
