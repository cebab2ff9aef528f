// Where a training run's numbers go: one MetricsSink in front of the status line on a terminal, the metrics
// JSONL file (one record per step, validation records between) and the TensorBoard event file of the job
// (`<output_dir>/runs/<job_name>/`). Only rank 0 writes; the other ranks get a sink that drops everything.
// A resumed run first drops the records past the step it resumed from, so each step is in the file once.
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";

import { makeDirs } from "../files.js";
import { TensorBoardWriter } from "../formats/tensorboard.js";
import type { World } from "../parallel/world.js";
import { formatDuration } from "./numbers.js";
import type { Output } from "./trainer.js";

/** One optimizer step's figures, under the names the JSONL file uses. */
export type StepRecord = { step: number; loss: number; lr: number; step_ms: number; samples: number } & Record<
  string,
  number | boolean
>;

/**
 * Keeps the records of `path` up to step `step` (a resumed run repeats what came after), and completes a last
 * line a killed run left unfinished. The file is replaced through a temporary file and a rename.
 */
export function truncateJsonl(path: string, step: number): number {
  if (!existsSync(path)) return 0;
  const lines = readFileSync(path, "utf8").split("\n");
  const kept = lines.filter((line) => {
    if (!line.trim()) return false;
    try {
      return ((JSON.parse(line) as { step?: unknown }).step as number) <= step;
    } catch {
      return false; // the partial line of a killed run
    }
  });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, kept.map((l) => l + "\n").join(""));
  renameSync(tmp, path);
  return lines.filter((l) => l.trim()).length - kept.length;
}

class JsonlLog {
  private readonly fd: number;
  constructor(path: string) {
    // a run killed mid-line leaves a partial record: end it so the appended records stay parseable line by line
    const before = existsSync(path) ? readFileSync(path, "utf8") : "";
    const partial = before.length > 0 && !before.endsWith("\n");
    this.fd = openSync(path, "a");
    if (partial) writeSync(this.fd, "\n");
  }
  write(record: Record<string, unknown>): void {
    writeSync(this.fd, JSON.stringify(record) + "\n");
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** The status line's text: step, loss, samples/s, the run's own fields, ETA (and the micro-batch of a long step). */
class ProgressLine {
  private readonly started = performance.now();
  private first = -1;
  private last = "";
  constructor(
    private readonly total: number,
    private readonly batch: number,
  ) {}
  afterStep(step: number, loss: number, ms: number, fields: string): string {
    if (this.first < 0) this.first = step - 1;
    const perStep = (performance.now() - this.started) / 1000 / (step - this.first);
    const eta = Math.max(0, (this.total - step) * perStep);
    this.last = `step ${step}/${this.total}  loss ${loss.toFixed(4)}  ${((1000 * this.batch) / ms).toFixed(1)} samples/s  ${fields}  ETA ${formatDuration(eta)}`;
    return this.last;
  }
  /** The step under way first: a narrow terminal cuts the line's end, the last step's figures. */
  microBatch(step: number, done: number, of: number): string {
    return `step ${step + 1}/${this.total}: micro-batch ${done}/${of}${this.last ? `  |  last: ${this.last}` : ""}`;
  }
}

export interface MetricsOptions {
  world: World;
  /** Where the status line goes (a terminal's; absent or without `status`: none). */
  out?: Output;
  /** The JSONL file, and the folder of the TensorBoard event file. */
  jsonlPath: string;
  tensorboardDir: string;
  /** Steps the run will reach, and samples per step: for the status line's rate and ETA. */
  totalSteps: number;
  globalBatch: number;
  /** The record keys that also go to TensorBoard, as `train/<key>` over steps and `samples/<key>` over samples. */
  tensorboardKeys: string[];
  /** A resumed run: the step it starts after (TensorBoard drops the old file's later events). */
  resumedAt?: number;
}

export class MetricsSink {
  private readonly jsonl: JsonlLog | undefined;
  private readonly tensorboard: TensorBoardWriter | undefined;
  private readonly progress: ProgressLine | undefined;
  private skippedSteps = 0;

  constructor(private readonly o: MetricsOptions) {
    const root = o.world.isRoot;
    if (root) makeDirs(o.tensorboardDir);
    this.jsonl = root ? new JsonlLog(o.jsonlPath) : undefined;
    this.tensorboard = root ? new TensorBoardWriter(o.tensorboardDir, o.resumedAt) : undefined;
    this.progress = root && o.out?.status ? new ProgressLine(o.totalSteps, o.globalBatch) : undefined;
  }

  /** `progressFields`: what the status line shows after the rate (e.g. θ and lr). */
  step(r: StepRecord, progressFields: string): void {
    if (this.progress) this.o.out?.status?.(this.progress.afterStep(r.step, r.loss, r.step_ms, progressFields));
    this.jsonl?.write(r);
    if (r.skipped === true) this.skippedSteps++;
    const values: Record<string, number> = {
      samples_per_s: (1000 * this.o.globalBatch) / r.step_ms,
      skipped_steps: this.skippedSteps,
    };
    for (const key of this.o.tensorboardKeys) if (r[key] !== undefined) values[key] = Number(r[key]);
    this.tensorboard?.scalars(r.step, prefixed("train", values));
    this.tensorboard?.scalars(r.samples, prefixed("samples", values));
  }

  /** Micro-batch `done` of `of` of the step after `step` has run (a long step's progress on the status line). */
  microBatch(step: number, done: number, of: number): void {
    if (this.progress) this.o.out?.status?.(this.progress.microBatch(step, done, of));
  }

  validation(step: number, v: Record<string, number>, tensorboardKeys: string[]): void {
    this.jsonl?.write({ step, validation: v });
    const values: Record<string, number> = {};
    for (const key of tensorboardKeys) values[key] = v[key] as number;
    this.tensorboard?.scalars(step, prefixed("validation", values));
  }

  close(): void {
    this.o.out?.clearStatus?.();
    this.jsonl?.close();
    this.tensorboard?.close();
  }
}

function prefixed(prefix: string, values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`${prefix}/${k}`, v]));
}
