// A run's metrics JSONL (what pretrain and finetune write: one record per step, validation records between) read
// for plotting: each step's x positions (step, samples, training time) and values, and the validation records
// placed at the samples and time of their step.
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";

export class PlotInputError extends Error {
  readonly code = "ERR_PLOT_INPUT";
}

/** Where a point sits on each of the x axes a chart can use. */
export interface Position {
  step: number;
  samples: number;
  /** Seconds of training: the sum of the step times so far (evaluation and pauses between sessions excluded). */
  time: number;
}

export interface RunMetrics {
  label: string;
  steps: (Position & { values: Record<string, number> })[];
  validation: (Position & { values: Record<string, number> })[];
}

type JsonRecord = Record<string, unknown>;

function numbers(o: JsonRecord): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
  return out;
}

function parseLines(path: string): JsonRecord[] {
  if (!existsSync(path)) throw new PlotInputError(`${path}: no such metrics file`);
  const records: JsonRecord[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (!line.trim()) return;
      try {
        records.push(JSON.parse(line) as JsonRecord);
      } catch {
        throw new PlotInputError(`${path}:${i + 1}: not a JSON record (is this a metrics .jsonl file?)`);
      }
    });
  return records;
}

/** The label a run gets by default: the job name of `<J>.metrics.jsonl`, else the file name without `.jsonl`. */
export function defaultLabel(path: string): string {
  return basename(path)
    .replace(/\.jsonl$/, "")
    .replace(/\.metrics$/, "");
}

export function readRunMetrics(path: string, label = defaultLabel(path)): RunMetrics {
  const records = parseLines(path);
  const run: RunMetrics = { label, steps: [], validation: [] };
  const at = new Map<number, Position>();
  let time = 0;
  for (const r of records) {
    if (typeof r.step !== "number") continue;
    if (r.validation !== undefined && typeof r.validation === "object" && r.validation !== null) {
      const p = at.get(r.step) ?? { step: r.step, samples: 0, time };
      run.validation.push({ ...p, values: numbers(r.validation as JsonRecord) });
      continue;
    }
    time += typeof r.step_ms === "number" ? r.step_ms / 1000 : 0;
    const p: Position = { step: r.step, samples: typeof r.samples === "number" ? r.samples : 0, time };
    at.set(r.step, p);
    run.steps.push({ ...p, values: numbers(r) });
  }
  if (run.steps.length === 0) throw new PlotInputError(`${path}: no training steps in it`);
  return run;
}
