// The GLUE tasks: where each file's columns are, the label set, the metrics. Files are in the standard layout
// (<data_dir>/<TASK>/train.tsv, dev.tsv, test.tsv; CoLA's train/dev without a header). A row with the wrong
// number of columns or a label outside the task's set is an error naming the file and line.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { accuracy, f1, matthewsCorrelation, pearson, spearman } from "./metrics.js";

export class GlueError extends Error {
  readonly code = "ERR_GLUE";
}

export interface GlueExample {
  guid: string;
  textA: string;
  textB?: string;
  /** Class index, or the score for STS-B; undefined on test sets. */
  label?: number;
}

interface Layout {
  header: boolean;
  columns: number; // at least this many
  a: number;
  b?: number;
  label?: number; // -1: the last column
  id?: number;
}

export interface GlueTask {
  name: string;
  /** Class names in index order; empty for regression. */
  labels: string[];
  regression: boolean;
  trainFile: string;
  devFiles: { split: string; file: string }[];
  testFiles: { split: string; file: string }[];
  layouts: { train: Layout; dev: Layout; test: Layout };
  metrics(predictions: number[], labels: number[]): Record<string, number>;
}

const acc = (p: number[], y: number[]) => ({ acc: accuracy(p, y) });
const accF1 = (p: number[], y: number[]) => {
  const a = accuracy(p, y);
  const f = f1(p, y);
  return { acc: a, f1: f, acc_and_f1: (a + f) / 2 };
};
const correlations = (p: number[], y: number[]) => {
  const r = pearson(p, y);
  const s = spearman(p, y);
  return { pearson: r, spearmanr: s, corr: (r + s) / 2 };
};
const single = (a: number, label: number, columns: number, header = true): Layout => ({ header, columns, a, label });
const pair = (a: number, b: number, label: number, columns: number): Layout => ({ header: true, columns, a, b, label });
const testOf = (a: number, b: number | undefined, columns: number): Layout => ({ header: true, columns, a, b, id: 0 });
const standardFiles = {
  trainFile: "train.tsv",
  devFiles: [{ split: "dev", file: "dev.tsv" }],
  testFiles: [{ split: "test", file: "test.tsv" }],
};

function task(
  name: string,
  labels: string[],
  layouts: GlueTask["layouts"],
  metrics: GlueTask["metrics"],
  files = standardFiles,
): GlueTask {
  return { name, labels, regression: labels.length === 0, ...files, layouts, metrics };
}

// Column positions follow each task's GLUE files; train and dev share a layout.
const sentencePair = (
  a: number,
  b: number,
  label: number,
  columns: number,
  testColumns: number,
  testA = a,
  testB = b,
) => ({
  train: pair(a, b, label, columns),
  dev: pair(a, b, label, columns),
  test: testOf(testA, testB, testColumns),
});

export const GLUE_TASKS: Record<string, GlueTask> = {
  cola: task(
    "CoLA",
    ["0", "1"],
    { train: single(3, 1, 4, false), dev: single(3, 1, 4, false), test: testOf(1, undefined, 2) },
    (p, y) => ({ mcc: matthewsCorrelation(p, y) }),
  ),
  "sst-2": task(
    "SST-2",
    ["0", "1"],
    { train: single(0, 1, 2), dev: single(0, 1, 2), test: testOf(1, undefined, 2) },
    acc,
  ),
  mrpc: task("MRPC", ["0", "1"], sentencePair(3, 4, 0, 5, 5), accF1),
  "sts-b": task("STS-B", [], sentencePair(7, 8, 9, 10, 9), correlations),
  qqp: task("QQP", ["0", "1"], sentencePair(3, 4, 5, 6, 3, 1, 2), accF1),
  mnli: task("MNLI", ["contradiction", "entailment", "neutral"], sentencePair(8, 9, -1, 11, 10), acc, {
    trainFile: "train.tsv",
    devFiles: [
      { split: "dev_matched", file: "dev_matched.tsv" },
      { split: "dev_mismatched", file: "dev_mismatched.tsv" },
    ],
    testFiles: [
      { split: "test_matched", file: "test_matched.tsv" },
      { split: "test_mismatched", file: "test_mismatched.tsv" },
    ],
  }),
  qnli: task("QNLI", ["entailment", "not_entailment"], sentencePair(1, 2, 3, 4, 3), acc),
  rte: task("RTE", ["entailment", "not_entailment"], sentencePair(1, 2, 3, 4, 3), acc),
  wnli: task("WNLI", ["0", "1"], sentencePair(1, 2, 3, 4, 3), acc),
};

/** A task name as compared: case, "-" and "_" ignored, so DeepSpeed's SST-2 and HuggingFace's sst2 are one. */
const taskKey = (name: string) => name.toLowerCase().replace(/[-_]/g, "");

export function glueTask(name: string): GlueTask {
  const task = Object.values(GLUE_TASKS).find((t) => taskKey(t.name) === taskKey(name));
  if (!task)
    throw new GlueError(
      `unknown GLUE task "${name}": expected one of ${Object.values(GLUE_TASKS)
        .map((t) => t.name)
        .join(", ")}`,
    );
  return task;
}

/** Reads one split of a task. */
export function readGlueFile(task: GlueTask, path: string, kind: "train" | "dev" | "test"): GlueExample[] {
  if (!existsSync(path))
    throw new GlueError(
      `${path}: no such file (the ${task.name} ${kind} set; expected the standard GLUE layout <data_dir>/${task.name}/...)`,
    );
  const layout = task.layouts[kind];
  const lines = readFileSync(path, "utf8")
    .replace(/^\ufeff/, "")
    .split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  const out: GlueExample[] = [];
  lines.forEach((line, i) => {
    if (layout.header && i === 0) return;
    const cols = line.split("\t");
    const where = `${path}:${i + 1}`;
    if (cols.length < layout.columns)
      throw new GlueError(`${where}: ${cols.length} columns, the ${task.name} ${kind} layout needs ${layout.columns}`);
    const example: GlueExample = {
      guid: `${kind}-${layout.id !== undefined ? cols[layout.id] : i}`,
      textA: cols[layout.a] as string,
      textB: layout.b !== undefined ? cols[layout.b] : undefined,
    };
    if (layout.label !== undefined) {
      const raw = (layout.label === -1 ? cols[cols.length - 1] : cols[layout.label]) as string;
      if (task.regression) {
        const score = Number(raw);
        if (raw.trim() === "" || !Number.isFinite(score))
          throw new GlueError(`${where}: the score ${JSON.stringify(raw)} is not a number`);
        example.label = score;
      } else {
        const index = task.labels.indexOf(raw.trim());
        if (index < 0)
          throw new GlueError(
            `${where}: label ${JSON.stringify(raw)} is not one of ${task.name}'s labels (${task.labels.join(", ")})`,
          );
        example.label = index;
      }
    }
    out.push(example);
  });
  return out;
}

/**
 * A task's folder: `<data_dir>/<TASK>` under a GLUE root, or `data_dir` itself when it is the task's folder
 * (`$GLUE_DIR/SST-2/`, as DeepSpeed's GLUE script passes it).
 */
export function taskDir(dataDir: string, task: GlueTask): string {
  const under = join(dataDir, task.name);
  if (existsSync(under)) return under;
  const own = [task.trainFile, ...task.devFiles.map((d) => d.file)].some((f) => existsSync(join(dataDir, f)));
  return own ? dataDir : under;
}
