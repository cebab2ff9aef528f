// Fine-tuning as a full run: checkpoints in the pre-training layout, a stop that saves and a resume that ends
// exactly where an uninterrupted run ends, metrics that hold each step once, the refusals (a job name in use, a
// random head asked to predict), --overwrite and --keep_last, and export of the fine-tuned model.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { ConfigError } from "../../lib/config/errors.js";
import { finetune, type FinetuneArgs } from "../../lib/glue/finetune.js";
import { readSafetensors, writeSafetensors, type TensorToWrite } from "../../lib/formats/safetensors.js";
import { projectRoot } from "../../lib/native/load.js";
import { readTrainingState } from "../../lib/train/checkpoint.js";
import { exportModel } from "../../lib/train/export.js";
import { collect, finetuneArgs, tinyModelFolder } from "../helpers/finetune-fixture.js";

const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-finetune-run-"));

/** SST-2 with 48 training rows (6 steps of 8 per epoch) and 16 dev rows, and the args of a 3-epoch run. */
function sst2Run(dir: string, extra: Partial<FinetuneArgs> = {}): FinetuneArgs {
  const source = join(projectRoot(), "data", "glue", "SST-2");
  const data = join(dir, "glue", "SST-2");
  mkdirSync(data, { recursive: true });
  const train = readFileSync(join(source, "train.tsv"), "utf8").split("\n");
  const dev = readFileSync(join(source, "dev.tsv"), "utf8").split("\n");
  writeFileSync(join(data, "train.tsv"), train.slice(0, 49).join("\n") + "\n");
  writeFileSync(join(data, "dev.tsv"), dev.slice(0, 17).join("\n") + "\n");
  const model = existsSync(join(dir, "model")) ? join(dir, "model") : tinyModelFolder(dir);
  return finetuneArgs({
    task: "SST-2",
    job_name: "sst2",
    checkpoint: model,
    data_dir: join(dir, "glue"),
    output_dir: join(dir, "out"),
    do_eval: true,
    ...extra,
  });
}

/** A signal that asks the run to stop before its step `n + 1`. */
function stopAfter(n: number): { stop: boolean } {
  let checks = 0;
  return {
    get stop() {
      return ++checks > n;
    },
  };
}

function jsonlSteps(path: string): number[] {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { step: number; loss?: number })
    .filter((r) => r.loss !== undefined)
    .map((r) => r.step);
}

const latestWeights = (jobDir: string) => {
  const tag = readFileSync(join(jobDir, "latest"), "utf8").trim();
  return readSafetensors(join(jobDir, tag, "model.safetensors"));
};

describe("fine-tuning saves, stops and resumes", () => {
  it("an interrupted and resumed run ends with the metrics and weights of an uninterrupted one", async () => {
    const whole = tmp();
    const expected = await finetune(sst2Run(whole), collect().output);
    const split = tmp();
    const { lines, output } = collect();
    const stopped = await finetune(sst2Run(split), output, undefined, stopAfter(8)); // mid-epoch 2
    assert.ok(lines.some((l) => /stopped at step 8; resume with --load_training_checkpoint/.test(l)));
    assert.equal(stopped.epoch, 1, "one epoch was evaluated before the stop");
    const jobDir = join(split, "out", "saved_models", "sst2");
    assert.equal(readFileSync(join(jobDir, "latest"), "utf8").trim(), "epoch1_step8");
    const resumed = await finetune(sst2Run(split, { load_training_checkpoint: jobDir }), collect().output);
    assert.deepEqual(resumed, expected);
    const a = latestWeights(join(whole, "out", "saved_models", "sst2"));
    const b = latestWeights(jobDir);
    for (const [name, t] of a.tensors) assert.deepEqual(b.tensors.get(name)?.data, t.data, name);
    // each step once in the metrics file, the steps the resume repeated dropped
    const steps = jsonlSteps(join(split, "out", "sst2.metrics.jsonl"));
    assert.deepEqual(
      steps,
      Array.from({ length: 18 }, (_, i) => i + 1),
    );
    // every epoch's results kept, not overwritten
    for (const epoch of [1, 2, 3]) assert.ok(existsSync(join(split, "out", "sst2", `eval_results_epoch${epoch}.txt`)));
  });
  it("saves a checkpoint per epoch in the pre-training layout, TensorBoard under runs/<job>, and exports it", async () => {
    const dir = tmp();
    await finetune(sst2Run(dir, { num_train_epochs: 2 }), collect().output);
    const jobDir = join(dir, "out", "saved_models", "sst2");
    const tags = readdirSync(jobDir).filter((f) => f.startsWith("epoch"));
    assert.deepEqual(tags.sort(), ["epoch1_step6", "epoch2_step12"]);
    const state = readTrainingState(join(jobDir, "epoch2_step12"));
    assert.equal(state.glue?.task, "SST-2");
    assert.equal(state.model?.num_labels, 2);
    assert.ok(existsSync(join(jobDir, "epoch2_step12", "vocab.txt")));
    // the flags once, under their own names
    const args = (state.configs as { args: Record<string, unknown> }).args;
    assert.equal(args.train_batch_size, 8);
    assert.ok(!Object.keys(args).some((k) => /[-A-Z]/.test(k)), Object.keys(args).join(" "));
    const runs = readdirSync(join(dir, "out", "runs", "sst2"));
    assert.equal(runs.filter((f) => f.startsWith("events.out.tfevents.")).length, 1);
    const exported = join(dir, "exported");
    exportModel(jobDir, exported);
    const config = JSON.parse(readFileSync(join(exported, "config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(config.num_hidden_layers, 2);
    assert.deepEqual(config.architectures, ["BertForSequenceClassification"]);
    assert.equal(config.num_labels, 2);
    assert.equal(config.finetuning_task, "SST-2");
    assert.ok(readSafetensors(join(exported, "model.safetensors")).tensors.has("classifier.weight"));
  });
  it("predicts from a fine-tuned checkpoint, and refuses to predict from an untrained head", async () => {
    const dir = tmp();
    await finetune(sst2Run(dir, { num_train_epochs: 1 }), collect().output);
    const test = join(dir, "glue", "SST-2", "test.tsv");
    writeFileSync(test, "index\tsentence\n0\ta fine film\n1\ta dull one\n");
    const jobDir = join(dir, "out", "saved_models", "sst2");
    const scoreOnly = { do_train: false, do_predict: true, random: false, job_name: "scored" };
    await finetune(sst2Run(dir, { ...scoreOnly, checkpoint: jobDir }), collect().output);
    assert.match(readFileSync(join(dir, "out", "scored", "SST-2.tsv"), "utf8"), /^index\tprediction\n0\t\d\n1\t\d\n$/);
    // a model without a head: the fine-tuned weights less the classifier, as a pre-trained folder has them
    const body = new Map<string, TensorToWrite>();
    for (const [name, t] of latestWeights(jobDir).tensors)
      if (!name.startsWith("classifier.")) body.set(name, { dtype: t.dtype, shape: t.shape, data: t.data });
    writeSafetensors(join(dir, "model", "model.safetensors"), body);
    for (const extra of [{ checkpoint: join(dir, "model") }, { checkpoint: jobDir, random: true }])
      await assert.rejects(
        finetune(sst2Run(dir, { ...scoreOnly, ...extra }), collect().output),
        (e: unknown) => e instanceof ConfigError && /no trained SST-2 classification head/.test(e.message),
      );
    // another task's head (RTE has two labels too) is refused unless forced
    mkdirSync(join(dir, "glue", "RTE"), { recursive: true });
    writeFileSync(
      join(dir, "glue", "RTE", "dev.tsv"),
      "index\tsentence1\tsentence2\tlabel\n0\tA cat.\tA pet.\tentailment\n",
    );
    const rte = { ...scoreOnly, task: "RTE", checkpoint: jobDir, do_predict: false };
    await assert.rejects(
      finetune(sst2Run(dir, rte), collect().output),
      (e: unknown) => e instanceof ConfigError && /was fine-tuned on SST-2, not RTE; pass --force/.test(e.message),
    );
    const forced = await finetune(sst2Run(dir, { ...rte, force: true }), collect().output);
    assert.ok(forced.acc === 0 || forced.acc === 1, JSON.stringify(forced));
  });
  it("refuses a job name that has outputs; --overwrite starts it over; --keep_last keeps the newest", async () => {
    const dir = tmp();
    await finetune(sst2Run(dir, { num_train_epochs: 1 }), collect().output);
    await assert.rejects(
      finetune(sst2Run(dir, { num_train_epochs: 1 }), collect().output),
      (e: unknown) =>
        e instanceof ConfigError &&
        /job sst2 already has outputs .*--load_training_checkpoint .*--overwrite/.test(e.message),
    );
    await finetune(sst2Run(dir, { num_train_epochs: 3, overwrite: true, keep_last: 2 }), collect().output);
    const jobDir = join(dir, "out", "saved_models", "sst2");
    assert.deepEqual(
      readdirSync(jobDir)
        .filter((f) => f.startsWith("epoch"))
        .sort(),
      ["epoch2_step12", "epoch3_step18"],
    );
    assert.deepEqual(
      jsonlSteps(join(dir, "out", "sst2.metrics.jsonl")),
      Array.from({ length: 18 }, (_, i) => i + 1),
    );
  });
  it("a resume with another batch size or task is refused", async () => {
    const dir = tmp();
    await finetune(sst2Run(dir, { num_train_epochs: 1 }), collect().output, undefined, stopAfter(3));
    const jobDir = join(dir, "out", "saved_models", "sst2");
    await assert.rejects(
      finetune(sst2Run(dir, { load_training_checkpoint: jobDir, train_batch_size: 4 }), collect().output),
      /it ran with train_batch_size 8, this run asks for 4/,
    );
  });
});
