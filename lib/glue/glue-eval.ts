// Dev-set evaluation and test-set predictions of a fine-tuning run (rank 0). After each epoch the dev metrics go
// to the log, the metrics JSONL and eval_results_epoch<N>.txt; eval_results.txt is the latest of them. Both hold
// what DeepSpeed's GLUE script writes: sorted `key = value` lines of the task metrics, eval_loss, global_step and
// the epoch's mean training loss (`loss`).
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { allLayersKept } from "../native/engine.js";
import { round } from "../train/numbers.js";
import { batchOf, type Features } from "./features.js";
import type { Run } from "./finetune-run.js";

/** Predicted labels (or scores) of every example, and the mean loss over the labelled ones. */
export async function predict(run: Run, f: Features): Promise<{ predictions: number[]; loss: number }> {
  const { a, task, numLabels } = run;
  const predictions: number[] = [];
  let lossSum = 0;
  let counted = 0;
  for (let start = 0; start < f.ids.length; start += a.eval_batch_size) {
    const idx = Array.from({ length: Math.min(a.eval_batch_size, f.ids.length - start) }, (_, i) => start + i);
    const r = await run.trainer.engine.run(
      batchOf(f, idx, a.max_seq_length, task.regression),
      allLayersKept(run.layers),
      { train: false, backward: false },
    );
    const labelled = idx.filter((i) => f.labels[i] !== undefined).length;
    lossSum += r.classificationLoss * labelled;
    counted += labelled;
    for (let b = 0; b < idx.length; b++) {
      const logits = r.classLogits.subarray(b * numLabels, (b + 1) * numLabels);
      predictions.push(task.regression ? (logits[0] as number) : logits.indexOf(Math.max(...logits)));
    }
  }
  return { predictions, loss: counted ? lossSum / counted : NaN };
}

/** The dev metrics after `epoch` (0: no training), with the epoch's mean training loss when it trained. */
export async function evaluateDev(run: Run, epoch: number, trainingLoss?: number): Promise<void> {
  if (!run.world.isRoot) return;
  const { task, results } = run;
  for (const { split, features: f } of run.data.dev) {
    const { predictions, loss } = await predict(run, f);
    const metrics = { ...task.metrics(predictions, f.labels as number[]), eval_loss: loss };
    const suffix = split === "dev_mismatched" ? "_mm" : "";
    for (const [k, v] of Object.entries(metrics)) results[`${k}${suffix}`] = v;
    run.metrics?.validation(run.position.step, { ...metrics, epoch }, Object.keys(metrics));
    run.out.log(
      `${task.name} ${split} after epoch ${epoch}: ${Object.entries(metrics)
        .map(([k, v]) => `${k} = ${round(v, 4)}`)
        .join(", ")}`,
    );
  }
  results.epoch = epoch;
  results.global_step = run.position.step;
  if (trainingLoss !== undefined) results.loss = trainingLoss;
  const lines = Object.keys(results)
    .sort()
    .map((k) => `${k} = ${results[k]}`);
  const file = join(run.jobDir, `eval_results_epoch${epoch}.txt`);
  writeFileSync(file, lines.join("\n") + "\n");
  copyFileSync(file, join(run.jobDir, "eval_results.txt"));
}

/** Test-set predictions in the GLUE submission format (rank 0). */
export async function writePredictions(run: Run): Promise<void> {
  const { task } = run;
  for (const { split, file } of task.testFiles)
    if (!run.data.test.some((t) => t.split === split))
      run.out.warn(`[bert-train] ${join(run.dataDir, file)}: no test file; no predictions for ${split}`);
  for (const { split, examples, features } of run.data.test) {
    const { predictions } = await predict(run, features);
    const rows = examples.map(
      (e, i) =>
        `${e.guid.replace(/^test-/, "")}\t${task.regression ? (predictions[i] as number).toFixed(3) : task.labels[predictions[i] as number]}`,
    );
    const path = join(run.jobDir, `${predictionFileName(task.name, split)}.tsv`);
    writeFileSync(path, ["index\tprediction", ...rows].join("\n") + "\n");
    run.out.log(`wrote ${rows.length} ${split} predictions to ${path}`);
  }
}

/** The GLUE submission file of a task's test split (MNLI has two). */
export function predictionFileName(task: string, split: string): string {
  return task !== "MNLI" ? task : split === "test_matched" ? "MNLI-m" : "MNLI-mm";
}
