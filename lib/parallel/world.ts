// The data-parallel job this process belongs to. Under mpirun (or the `launch` command) the rank and size come
// from MPI, which the native addon loads from its plugin only then; a process started on its own is a world of
// one and touches no MPI library. Collectives here are for between steps only (every rank must call the same ones
// in the same order); the gradients themselves are reduced inside the engine.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

import { loadedAddonPath, loadNative } from "../native/load.js";
import type { GradientSyncSettings } from "../native/types.js";

export interface World {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  /** Rank 0: the one that logs, writes metrics and checkpoints. */
  readonly isRoot: boolean;
  /** In place: every rank ends with the element-wise sum (or max) over all ranks. */
  sum(values: Float64Array): void;
  max(values: Float64Array): void;
  /** Ends the whole job: no rank is left waiting in a collective. */
  abort(exitCode: number): void;
  /** After the last collective. */
  finalize(): void;
}

export class DistributedError extends Error {
  readonly code = "ERR_COMMUNICATION";
}

/** The world size the launcher announced in the environment (OpenMPI, or PMI-based launchers), 1 if none. */
export function launchedWorldSize(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.OMPI_COMM_WORLD_SIZE ?? env.PMI_SIZE ?? env.PMIX_SIZE;
  const size = raw === undefined ? 1 : Number(raw);
  return Number.isInteger(size) && size >= 1 ? size : 1;
}

const SINGLE: World = {
  rank: 0,
  size: 1,
  localRank: 0,
  isRoot: true,
  sum: () => {},
  max: () => {},
  abort: (exitCode: number) => process.exit(exitCode),
  finalize: () => {},
};

let joined: World | undefined;

/** Joins the job once per process (MPI is initialised only when the launcher started more than one rank). */
export function joinWorld(): World {
  if (joined) return joined;
  if (launchedWorldSize() === 1) return (joined = SINGLE);
  const plugin = join(dirname(loadedAddonPath()), "libbert_mpi.so");
  if (!existsSync(plugin))
    throw new DistributedError(
      `this process was started as one of ${launchedWorldSize()} ranks, but bert-train was built without MPI ` +
        `(${plugin} is missing). Install OpenMPI (apt-get install libopenmpi-dev openmpi-bin, or scripts/setup.sh) ` +
        "and rebuild with npm run build:native.",
    );
  const addon = loadNative();
  const { rank, size, localRank } = addon.initDistributed(plugin);
  joined = {
    rank,
    size,
    localRank,
    isRoot: rank === 0,
    sum: (values) => addon.allreduce(values, "sum"),
    max: (values) => addon.allreduce(values, "max"),
    abort: (exitCode) => addon.abortDistributed(exitCode),
    finalize: () => addon.finalizeDistributed(),
  };
  return joined;
}

/** The world already joined, if any (error paths use it to abort the job). */
export function joinedWorld(): World | undefined {
  return joined;
}

/** What a trainer prints: rank 0's lines go through, the other ranks' are dropped (their errors still surface). */
export function rootOutput<T extends { log(line: string): void; warn(line: string): void }>(
  world: World,
  output: T,
): T {
  return world.isRoot ? output : { ...output, log: () => {}, warn: () => {} };
}

/** The engine option that averages gradients over the ranks (none in a single-process run). */
export function gradientSyncOption(
  world: World,
  settings: GradientSyncSettings,
): { gradientSync?: GradientSyncSettings } {
  return world.size > 1 ? { gradientSync: settings } : {};
}
