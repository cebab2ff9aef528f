// Where a training run's numbers go: one MetricsSink in front of the progress line on a terminal, the metrics
// JSONL file (one record per step, validation records between) and the TensorBoard event file. Only rank 0
// writes; the other ranks get a sink that drops everything.
import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";

import { TensorBoardWriter } from "../formats/tensorboard.js";
import type { World } from "../parallel/world.js";

/** One optimizer step's figures, under the names the JSONL file uses. */
export type StepRecord = { step: number; loss: number; lr: number; step_ms: number } & Record<string, number | boolean>;

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

/** A one-line progress display on a terminal's stderr: step, loss, samples/s, the run's own fields, ETA. */
class ProgressLine {
  private readonly started = performance.now();
  private first = -1;
  constructor(
    private readonly total: number,
    private readonly batch: number,
  ) {}
  update(step: number, loss: number, ms: number, fields: string): void {
    if (this.first < 0) this.first = step - 1;
    const perStep = (performance.now() - this.started) / 1000 / (step - this.first);
    const eta = Math.max(0, (this.total - step) * perStep);
    const line = `step ${step}/${this.total}  loss ${loss.toFixed(4)}  ${((1000 * this.batch) / ms).toFixed(1)} samples/s  ${fields}  ETA ${Math.floor(eta / 60)}m${String(Math.round(eta % 60)).padStart(2, "0")}s`;
    process.stderr.write(`\r${line}\x1b[K`);
  }
  done(): void {
    process.stderr.write("\n");
  }
}

export interface MetricsOptions {
  world: World;
  /** The JSONL file, and the folder of the TensorBoard event file. */
  jsonlPath: string;
  tensorboardDir: string;
  /** Steps the run will reach, and samples per step: for the progress line's rate and ETA. */
  totalSteps: number;
  globalBatch: number;
  /** The record keys that also go to TensorBoard, as `train/<key>`. */
  tensorboardKeys: string[];
}

export class MetricsSink {
  private readonly jsonl: JsonlLog | undefined;
  private readonly tensorboard: TensorBoardWriter | undefined;
  private readonly progress: ProgressLine | undefined;

  constructor(private readonly o: MetricsOptions) {
    const root = o.world.isRoot;
    this.jsonl = root ? new JsonlLog(o.jsonlPath) : undefined;
    this.tensorboard = root ? new TensorBoardWriter(o.tensorboardDir) : undefined;
    this.progress = root && process.stderr.isTTY ? new ProgressLine(o.totalSteps, o.globalBatch) : undefined;
  }

  /** `progressFields`: what the progress line shows after the rate (e.g. θ and lr). */
  step(r: StepRecord, progressFields: string): void {
    this.progress?.update(r.step, r.loss, r.step_ms, progressFields);
    this.jsonl?.write(r);
    const scalars: Record<string, number> = {};
    for (const key of this.o.tensorboardKeys) scalars[`train/${key}`] = Number(r[key]);
    this.tensorboard?.scalars(r.step, scalars);
  }

  validation(step: number, v: Record<string, number>, tensorboardKeys: string[]): void {
    this.jsonl?.write({ step, validation: v });
    const scalars: Record<string, number> = {};
    for (const key of tensorboardKeys) scalars[`validation/${key}`] = v[key] as number;
    this.tensorboard?.scalars(step, scalars);
  }

  close(): void {
    this.progress?.done();
    this.jsonl?.close();
    this.tensorboard?.close();
  }
}
