// What a training job writes, and the rules that keep two jobs' outputs apart: a job name that already has
// outputs is refused unless the run resumes it (--load_training_checkpoint) or replaces it (--overwrite); a
// resumed job's metrics file drops the records past the step it resumed from; --keep_last N removes all but the
// newest N checkpoints; state.json records the flags once, under their own names.
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

import { ConfigError } from "../config/errors.js";
import { jobDir, readTrainingState } from "./checkpoint.js";
import { truncateJsonl } from "./metrics.js";
import type { Output } from "./trainer.js";

export interface JobOutputs {
  /** `<output_dir>/saved_models/<job>`: the checkpoints and `latest`. */
  checkpoints: string;
  /** `<output_dir>/<job>.metrics.jsonl`. */
  jsonl: string;
  /** `<output_dir>/runs/<job>`: the TensorBoard event files (bing_bert's layout). */
  tensorboard: string;
  /** Further files of the job (fine-tuning's results and predictions). */
  others: string[];
}

export function jobOutputs(outputDir: string, jobName: string, others: string[] = []): JobOutputs {
  return {
    checkpoints: jobDir(outputDir, jobName),
    jsonl: join(outputDir, `${jobName}.metrics.jsonl`),
    tensorboard: join(outputDir, "runs", jobName),
    others,
  };
}

function nonEmpty(path: string): boolean {
  if (!existsSync(path)) return false;
  const s = statSync(path);
  return s.isDirectory() ? readdirSync(path).length > 0 : s.size > 0;
}

/** The outputs of the job that exist already. */
function existing(o: JobOutputs): string[] {
  return [o.checkpoints, o.jsonl, o.tensorboard, ...o.others].filter(nonEmpty);
}

/**
 * Before a run writes anything. A new run (`resumedAt` undefined) of a job that has outputs is refused, or with
 * `overwrite` starts over with them removed; a resumed run keeps them, its metrics file cut back to `resumedAt`.
 */
export function prepareJobOutputs(
  o: JobOutputs,
  run: { resumedAt?: number; overwrite: boolean; jobName: string },
  out: Output,
): void {
  if (run.resumedAt !== undefined) {
    const dropped = truncateJsonl(o.jsonl, run.resumedAt);
    if (dropped > 0)
      out.log(`${o.jsonl}: dropped ${dropped} records past step ${run.resumedAt}, which this run repeats`);
    return;
  }
  const found = existing(o);
  if (found.length === 0) return;
  if (!run.overwrite)
    throw new ConfigError([
      `job ${run.jobName} already has outputs (${found.join(", ")}): resume it with --load_training_checkpoint ${o.checkpoints}, choose another --job_name, or pass --overwrite to replace them`,
    ]);
  for (const path of found) rmSync(path, { recursive: true, force: true });
  out.warn(`[bert-train] --overwrite: removed the earlier outputs of job ${run.jobName} (${found.join(", ")})`);
}

/** Removes all but the newest `keep` complete checkpoints of `dir`; the one `latest` names always stays. */
export function keepLastCheckpoints(dir: string, keep: number, latest: string, out: Output): void {
  const checkpoints = readdirSync(dir)
    .filter((name) => !name.startsWith(".") && existsSync(join(dir, name, "state.json")))
    .map((name) => ({ name, step: stepOf(join(dir, name)) }))
    .sort((a, b) => b.step - a.step);
  for (const { name } of checkpoints.slice(keep)) {
    if (join(dir, name) === latest) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    out.log(`--keep_last ${keep}: removed checkpoint ${join(dir, name)}`);
  }
}

function stepOf(checkpoint: string): number {
  try {
    return readTrainingState(checkpoint).global_steps;
  } catch {
    return -1; // a damaged one goes first
  }
}

/**
 * The flags of a run as state.json records them: each under its snake_case name once (yargs adds every
 * kebab-case and camelCase alias, and the command's own aliases, as further keys).
 */
export function recordedArgs(args: object, aliases: readonly string[] = []): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(args).filter(
      ([k, v]) => v !== undefined && k !== "_" && k !== "$0" && !/[-A-Z]/.test(k) && !aliases.includes(k),
    ),
  );
}
