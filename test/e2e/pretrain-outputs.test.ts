// What a pre-training job leaves and how it behaves as a DeepSpeed user expects: a job name in use is refused
// (or replaced with --overwrite), --keep_last, TensorBoard under runs/<job> with its extra scalars and a samples
// axis, state.json with each flag once and the batch actually used, the scheduler block, bing_bert's spellings and
// GPU-only flags, the 1-bit and fp16 notices, validation.path, and sequence 512 masking 80 tokens.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";

import { resolveScheduler, schedulerLearningRate } from "../../lib/config/scheduler.js";
import { tfRecords } from "../../lib/data/tfrecord.js";
import { decodeEvent } from "../../lib/formats/tensorboard.js";
import { projectRoot } from "../../lib/native/load.js";
import { readTrainingState } from "../../lib/train/checkpoint.js";
import { trainingFlops, type StepShape } from "../../lib/train/flops.js";
import { prepareTiny } from "../helpers/tiny-data.js";
import { FIXTURE_CONFIGS, tinyPretrainArgs } from "../helpers/tiny-pretrain.js";

const root = projectRoot();
const cli = join(root, "dist", "bin", "bert-train.js");
const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-outputs-"));
let dataRoot = "";

before(async () => {
  dataRoot = tmp();
  mkdirSync(join(dataRoot, "tiny"));
  await prepareTiny([join(root, "test", "fixtures", "sample_text.txt")], join(dataRoot, "tiny", "64"), 1);
});

function spawnPretrain(out: string, extra: string[], ds = "tiny_ds_fp32_pld.json", pld = true) {
  const argv = [cli, ...tinyPretrainArgs({ out, dataRoot, ds, pld, extra: ["--print_steps", "1", ...extra] })];
  return spawnSync(process.execPath, argv, { encoding: "utf8" });
}

function pretrain(out: string, extra: string[], ds = "tiny_ds_fp32_pld.json", pld = true) {
  const r = spawnPretrain(out, extra, ds, pld);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return r;
}

type Record_ = { step: number; loss?: number; lr?: number; mlm_tokens?: number; validation?: object };

function records(out: string): Record_[] {
  return readFileSync(join(out, "tiny.metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record_);
}

/** A DeepSpeed config: the PLD fixture with `change` applied, written into `dir`. */
function dsVariant(dir: string, change: (ds: Record<string, unknown>) => void): string {
  const ds = JSON.parse(readFileSync(join(FIXTURE_CONFIGS, "tiny_ds_fp32_pld.json"), "utf8")) as Record<
    string,
    unknown
  >;
  change(ds);
  const path = join(dir, "ds.json");
  writeFileSync(path, JSON.stringify(ds));
  return path;
}

describe("pre-training outputs", () => {
  it("a job name in use is refused; --overwrite starts over; --keep_last keeps the newest checkpoints", () => {
    const out = tmp();
    pretrain(out, ["--max_steps", "2"]);
    const again = spawnPretrain(out, ["--max_steps", "2"]);
    assert.equal(again.status, 2, again.stderr);
    assert.match(
      again.stderr,
      /job tiny already has outputs \(.*saved_models\/tiny.*\): resume it with --load_training_checkpoint/,
    );
    const r = pretrain(out, ["--max_steps", "6", "--ckpt_steps", "1", "--keep_last", "2", "--overwrite"]);
    assert.match(r.stderr, /--overwrite: removed the earlier outputs of job tiny/);
    const tags = readdirSync(join(out, "saved_models", "tiny")).filter((f) => f.startsWith("epoch"));
    assert.deepEqual(tags.map((t) => Number(/step(\d+)$/.exec(t)?.[1])).sort(), [5, 6]);
    assert.deepEqual(
      records(out).map((m) => m.step),
      [1, 2, 3, 4, 5, 6],
    );
  });
  it("TensorBoard under runs/<job>: loss scale, skipped steps, samples/s and a samples axis; a resume marks its restart", () => {
    const out = tmp();
    pretrain(out, ["--max_steps", "3"]);
    pretrain(out, ["--max_steps", "5", "--load_training_checkpoint", join(out, "saved_models", "tiny")]);
    assert.ok(!readdirSync(out).some((f) => f.startsWith("events.out.tfevents.")), "nothing in --output_dir itself");
    const dir = join(out, "runs", "tiny");
    const files = readdirSync(dir).sort();
    assert.equal(files.length, 2);
    const events = files.map((f) => [...tfRecords(readFileSync(join(dir, f)), f)].map(decodeEvent));
    const tags = new Set(events[0]?.flatMap((e) => e.values.map((v) => v.tag)));
    for (const tag of ["train/loss", "train/loss_scale", "train/skipped_steps", "train/samples_per_s", "samples/loss"])
      assert.ok(tags.has(tag), `${tag} in ${[...tags].join(" ")}`);
    const bySamples = events[0]?.flatMap((e) => (e.values.some((v) => v.tag === "samples/loss") ? [e.step] : []));
    assert.deepEqual(bySamples, [8, 16, 24]); // batch 8
    // the resumed run's file starts with a restart marker after step 3: TensorBoard drops later old points
    const restart = events[1]?.find((e) => e.sessionStart);
    assert.equal(restart?.step, 4);
    assert.ok(tags.has("train/model_flops") && tags.has("train/utilisation"), [...tags].join(" "));
    // compute accounting: each step's FLOPs as executed (PLD's dropped layers left out) and dense
    const tiny = { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 4, vocab_size: 30522 };
    for (const r of records(out) as (Record_ & Record<string, number>)[]) {
      const shape = { sequences: 8, seq: 64, maskedTokens: r.mlm_tokens as number, keptFraction: r.kept_layers };
      assert.equal(r.model_flops, trainingFlops(tiny, shape as StepShape), `step ${r.step}`);
      assert.equal(r.dense_flops, trainingFlops(tiny, { ...(shape as StepShape), keptFraction: 1 }));
      assert.ok(r.utilisation === undefined || r.utilisation > 0, `step ${r.step}: ${r.utilisation}`);
    }
  });
  it("state.json records each flag once and the batch actually used", () => {
    const out = tmp();
    pretrain(out, ["--max_steps", "1", "--train_batch_size", "4", "--max_pred", "10"]);
    const dir = join(out, "saved_models", "tiny");
    const state = readTrainingState(join(dir, readFileSync(join(dir, "latest"), "utf8").trim()));
    const configs = state.configs as { args: Record<string, unknown>; deepspeed: Record<string, unknown> };
    const keys = Object.keys(configs.args);
    assert.ok(!keys.some((k) => /[-A-Z]/.test(k) || k === "max_pred"), keys.join(" "));
    assert.equal(configs.args.max_predictions_per_seq, 10);
    assert.equal(configs.deepspeed.train_batch_size, 4);
    assert.equal(configs.deepspeed.train_micro_batch_size_per_gpu, 4);
    assert.equal(configs.deepspeed.gradient_accumulation_steps, 1);
  });
  it("the DeepSpeed scheduler block sets the rate unless --lr_schedule is given, which supersedes it", () => {
    const dir = tmp();
    const block = {
      type: "WarmupDecayLR",
      params: {
        warmup_min_lr: 0,
        warmup_max_lr: 0.001,
        warmup_num_steps: 3,
        total_num_steps: 8,
        warmup_type: "linear",
      },
    };
    const ds = dsVariant(dir, (d) => (d.scheduler = block));
    const out = join(dir, "a");
    const r = pretrain(out, ["--max_steps", "6"], ds);
    const scheduler = resolveScheduler(block, ds);
    assert.deepEqual(
      records(out).map((m) => m.lr),
      [0, 1, 2, 3, 4, 5].map((s) => schedulerLearningRate(scheduler, 2e-3, s)),
    );
    assert.match(r.stdout, /learning rate {2}WarmupDecayLR \(DeepSpeed scheduler block\)/);
    const superseded = pretrain(join(dir, "b"), ["--max_steps", "1", "--lr_schedule", "LE"], ds);
    assert.match(superseded.stderr, /scheduler WarmupDecayLR is superseded by bing_bert's --lr_schedule LE/);
  });
  it("bing_bert's spellings, GPU-only flags with one notice each, and the OneBitAdam and fp16 notices", () => {
    const dir = tmp();
    const ds = dsVariant(dir, (d) => {
      d.optimizer = { type: "OneBitAdam", params: { lr: 2e-3, freeze_step: 100, cuda_aware: false } };
      d.fp16 = { enabled: true };
    });
    const out = join(dir, "out");
    const argv = [cli, ...tinyPretrainArgs({ out, dataRoot, ds, pld: true, extra: [] })];
    const cf = argv.indexOf("--cf");
    argv[cf] = "--config-file";
    const r = spawnSync(
      process.execPath,
      [...argv, "--max_steps", "2", "--max_steps_per_epoch", "1", "--stochastic_mode", "--normalize_invertible"],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.match(/--stochastic_mode: /g)?.length, 1);
    assert.equal(r.stderr.match(/--normalize_invertible: /g)?.length, 1);
    assert.equal(
      r.stderr.match(/optimizer OneBitAdam runs as Adam: its 1-bit compression .* is not applied/g)?.length,
      1,
    );
    assert.equal(r.stderr.match(/fp16 on this CPU is emulated .* slower than bf16/g)?.length, 1);
    // --max_steps_per_epoch 1: every step ends an epoch
    assert.match(r.stdout, /checkpointing: PATH=.*epoch2_step2/);
    const resumed = spawnSync(
      process.execPath,
      [...argv, "--max_steps", "3", "--load_cp", join(out, "saved_models", "tiny"), "--load_cp_id", "epoch1_step1"],
      { encoding: "utf8" },
    );
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, /resumed from .*epoch1_step1 at step 1/);
  });
  it("validation.path of the --cf file under the prefix; the epoch's checkpoint is written before validating", async () => {
    const dir = tmp();
    await prepareTiny([join(root, "test", "fixtures", "sample_text.txt")], join(dir, "held_out", "64"), 1);
    const cf = JSON.parse(readFileSync(join(FIXTURE_CONFIGS, "tiny_cf.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "cf.json"), JSON.stringify({ ...cf, validation: { path: "held_out/64" } }));
    const argv = (out: string, extra: string[]) => {
      const a = tinyPretrainArgs({ out, dataRoot, ds: "tiny_ds_fp32_pld.json", pld: true, extra });
      a[a.indexOf("--cf") + 1] = join(dir, "cf.json");
      return [cli, ...a, "--max_steps_per_epoch", "2", "--max_steps", "4"];
    };
    const r = spawnSync(process.execPath, argv(join(dir, "a"), ["--validation_data_path_prefix", dir]), {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split("\n");
    const saved = lines.findIndex((l) => /checkpointing: .*epoch1_step2/.test(l));
    const validated = lines.findIndex((l) => /^validation: step=2, mlm_loss=/.test(l));
    assert.ok(saved >= 0 && validated > saved, `checkpoint at line ${saved}, validation at ${validated}`);
    // the flag names a folder without it: an error at the start; only the --cf file names it: a note, no validation
    const missing = spawnSync(
      process.execPath,
      argv(join(dir, "b"), ["--validation_data_path_prefix", join(dir, "nowhere")]),
      {
        encoding: "utf8",
      },
    );
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /validation\.path: .*nowhere\/held_out\/64 does not exist/);
    const implied = spawnSync(process.execPath, argv(join(dir, "c"), []), { encoding: "utf8" });
    assert.equal(implied.status, 0, implied.stderr);
    assert.match(implied.stdout, /no validation: .*held_out\/64 .* does not exist/);
  });
  it("sequence 512 shards prepared with 80 predictions train with 80, not 20", async () => {
    const dir = tmp();
    await prepareTiny([join(root, "data", "corpus", "books", "11-0.txt")], join(dir, "tiny", "512"), 1, {
      maxSeqLength: 512,
      maxPredictionsPerSeq: 80,
    });
    const cf = JSON.parse(readFileSync(join(FIXTURE_CONFIGS, "tiny_cf.json"), "utf8")) as {
      bert_model_config: Record<string, unknown>;
      mixed_seq_training: Record<string, unknown>;
    };
    cf.bert_model_config.max_position_embeddings = 512;
    const cfFile = join(dir, "cf.json");
    writeFileSync(
      cfFile,
      JSON.stringify({
        ...cf,
        data: { mixed_seq_datasets: { "512": { wiki_pretrain_dataset: "tiny/512" } } },
        mixed_seq_training: { "512": cf.mixed_seq_training["64"] },
      }),
    );
    const out = join(dir, "out");
    const a = tinyPretrainArgs({
      out,
      dataRoot: dir,
      ds: "tiny_ds_fp32.json",
      pld: false,
      extra: ["--max_steps", "3"],
    });
    a[a.indexOf("--cf") + 1] = cfFile;
    a[a.indexOf("--max_seq_length") + 1] = "512";
    a.splice(a.indexOf("--max_predictions_per_seq"), 2);
    const r = spawnSync(process.execPath, [cli, ...a], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /max_predictions_per_seq 80 \(from the shards' dataset\.json\)/);
    // 15% of each sequence's tokens (up to 76 of 512, some sequences shorter): twice the old cap of 20 and more
    for (const m of records(out)) {
      const perSequence = (m.mlm_tokens as number) / 8;
      assert.ok(perSequence > 40 && perSequence <= 80, `step ${m.step}: ${perSequence} masked per sequence`);
    }
  });
});
