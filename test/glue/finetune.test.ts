// Fine-tuning behaviours no other test shows: MNLI is evaluated on its mismatched dev set too, without being
// asked, a run trains with the learning rate it was given (warm-up-linear over its steps), not another, and bad
// task files stop a run before it trains.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { finetune } from "../../lib/glue/finetune.js";
import { GlueError } from "../../lib/glue/tasks.js";
import { projectRoot } from "../../lib/native/load.js";
import { warmupLinear } from "../../lib/train/lr-schedule.js";
import { collect, finetuneArgs, tinyModelFolder } from "../helpers/finetune-fixture.js";

const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-finetune-"));

describe("fine-tuning", () => {
  it("MNLI: evaluates dev_matched and dev_mismatched after each epoch, both in eval_results.txt", async () => {
    const dir = tmp();
    const rows = readFileSync(join(projectRoot(), "test", "fixtures", "glue", "MNLI", "dev_matched.tsv"), "utf8")
      .trim()
      .split("\n");
    const data = join(dir, "glue", "MNLI");
    mkdirSync(data, { recursive: true });
    const [header, ...body] = rows as [string, ...string[]];
    writeFileSync(join(data, "train.tsv"), [header, ...body, ...body, ...body].join("\n") + "\n");
    writeFileSync(join(data, "dev_matched.tsv"), rows.join("\n") + "\n");
    writeFileSync(join(data, "dev_mismatched.tsv"), [header, ...body.slice(0, 2)].join("\n") + "\n");
    const { lines, output } = collect();
    const args = finetuneArgs({
      task: "mnli",
      job_name: "mnli",
      checkpoint: tinyModelFolder(dir),
      data_dir: join(dir, "glue"),
      output_dir: join(dir, "out"),
      train_batch_size: 3,
      num_train_epochs: 2,
      do_eval: true,
    });
    const results = await finetune(args, output);
    const log = lines.join("\n");
    for (const epoch of [1, 2]) {
      assert.match(log, new RegExp(`MNLI dev_matched after epoch ${epoch}: acc = `));
      assert.match(log, new RegExp(`MNLI dev_mismatched after epoch ${epoch}: acc = `));
    }
    // DeepSpeed's GLUE fields: the task metrics, eval_loss, global_step and the epoch's training loss
    const keys = ["acc", "acc_mm", "epoch", "eval_loss", "eval_loss_mm", "global_step", "loss"];
    assert.deepEqual(Object.keys(results).sort(), keys);
    const file = readFileSync(join(dir, "out", "mnli", "eval_results.txt"), "utf8");
    assert.deepEqual(
      file
        .trim()
        .split("\n")
        .map((l) => l.split(" = ")[0]),
      keys,
    );
    assert.match(file, /\nepoch = 2\n/);
    assert.match(file, /\nglobal_step = 6\n/); // 9 rows, batch 3, 2 epochs
    // one file per epoch, kept; eval_results.txt is the last of them
    const first = readFileSync(join(dir, "out", "mnli", "eval_results_epoch1.txt"), "utf8");
    assert.match(first, /\nepoch = 1\n/);
    assert.equal(readFileSync(join(dir, "out", "mnli", "eval_results_epoch2.txt"), "utf8"), file);
    // two of the three mismatched rows: its accuracy is a multiple of 1/2, the matched one of 1/3
    assert.ok([0, 0.5, 1].includes(results.acc_mm as number), `acc_mm ${results.acc_mm}`);
  });
  it("trains with the learning rate it was given, warmed up and decayed linearly over its steps", async () => {
    const dir = tmp();
    const data = join(dir, "glue", "SST-2");
    mkdirSync(data, { recursive: true });
    const rows = readFileSync(join(projectRoot(), "data", "glue", "SST-2", "train.tsv"), "utf8").split("\n");
    writeFileSync(join(data, "train.tsv"), rows.slice(0, 81).join("\n") + "\n");
    const model = tinyModelFolder(dir);
    const rates = async (learningRate: number, job: string) => {
      const args = finetuneArgs({
        task: "SST-2",
        job_name: job,
        checkpoint: model,
        data_dir: join(dir, "glue"),
        output_dir: join(dir, "out"),
        learning_rate: learningRate,
        num_train_epochs: 2,
        warmup_proportion: 0.25,
      });
      await finetune(args, collect().output);
      return readFileSync(join(dir, "out", `${job}.metrics.jsonl`), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { lr?: number; loss?: number })
        .filter((r) => r.lr !== undefined) as { lr: number; loss: number }[];
    };
    const a = await rates(3e-4, "a");
    const total = 20; // 80 rows, batch 8, 2 epochs
    assert.equal(a.length, total);
    a.forEach((r, step) => assert.equal(r.lr, 3e-4 * warmupLinear(step / total, 0.25), `step ${step + 1}`));
    assert.ok(Math.max(...a.map((r) => r.lr)) > 2.5e-4, "the schedule reaches the given rate");
    // the rate acts on the weights: the same run at another rate has the same first loss and different later ones
    const b = await rates(1e-5, "b");
    assert.equal(b[0]?.loss, a[0]?.loss);
    assert.notDeepEqual(
      b.slice(2).map((r) => r.loss),
      a.slice(2).map((r) => r.loss),
    );
  });
});

describe("fine-tuning checks its inputs before it trains", () => {
  const sst2 = (dir: string, train: string[], dev?: string) => {
    const data = join(dir, "glue", "SST-2");
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, "train.tsv"), ["sentence\tlabel", ...train].join("\n") + "\n");
    if (dev !== undefined) writeFileSync(join(data, "dev.tsv"), dev);
    return finetuneArgs({
      task: "SST-2",
      job_name: "job",
      checkpoint: tinyModelFolder(dir),
      data_dir: join(dir, "glue"),
      output_dir: join(dir, "out"),
      train_batch_size: 2,
      num_train_epochs: 1,
      do_eval: true,
    });
  };
  const rows = Array.from({ length: 8 }, (_, i) => `sentence ${i}\t${i % 2}`);
  it("a broken dev.tsv is reported before the first step, not after training", async () => {
    const { lines, output } = collect();
    await assert.rejects(
      finetune(sst2(tmp(), rows, "sentence\tlabel\nonly one column\n"), output),
      (e: unknown) => e instanceof GlueError && /dev\.tsv:2: 1 columns, the SST-2 dev layout needs 2/.test(e.message),
    );
    assert.equal(lines.filter((l) => /epoch 1: mean training loss/.test(l)).length, 0, "no training happened");
  });
  it("a missing dev.tsv too", async () => {
    await assert.rejects(
      finetune(sst2(tmp(), rows), collect().output),
      (e: unknown) => e instanceof GlueError && /dev\.tsv: no such file/.test(e.message),
    );
  });
  it("a train.tsv with fewer examples than one batch (an empty one included)", async () => {
    for (const train of [[], rows.slice(0, 1)])
      await assert.rejects(
        finetune(sst2(tmp(), train, "sentence\tlabel\nx\t1\n"), collect().output),
        (e: unknown) =>
          e instanceof GlueError &&
          new RegExp(`train\\.tsv: ${train.length} examples, fewer than one batch of 2`).test(e.message),
      );
  });
});
