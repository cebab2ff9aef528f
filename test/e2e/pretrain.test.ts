// `bert-train pretrain` as a user runs it, on real text (Google's sample) and a tiny model: the loss falls, PLD
// announces itself and logs θ, runs resume exactly (after a normal stop, SIGINT and kill -9), and a kill during
// checkpoint writing never leaves `latest` pointing at something incomplete.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";

import { tfRecords } from "../../lib/data/tfrecord.js";
import { readSafetensors, tensorFloat32 } from "../../lib/formats/safetensors.js";
import { decodeEvent } from "../../lib/formats/tensorboard.js";
import { projectRoot } from "../../lib/native/load.js";
import { layerKeep, thetaForStep } from "../../lib/train/pld.js";
import { prepareTiny } from "../helpers/tiny-data.js";
import { FIXTURE_CONFIGS, tinyPretrainArgs } from "../helpers/tiny-pretrain.js";
import { tolerance } from "../helpers/tolerances.js";

const root = projectRoot();
const cli = join(root, "dist", "bin", "bert-train.js");
const configs = join(root, "test", "fixtures", "configs");
let dataRoot = "";

before(async () => {
  dataRoot = mkdtempSync(join(tmpdir(), "bert-train-pretrain-data-"));
  mkdirSync(join(dataRoot, "tiny"));
  await prepareTiny(
    [join(root, "test", "fixtures", "sample_text.txt"), join(root, "data", "corpus", "books", "11-0.txt")],
    join(dataRoot, "tiny", "64"),
    2,
  );
});

function args(out: string, ds: string, extra: string[] = [], pld = true): string[] {
  return [cli, ...tinyPretrainArgs({ out, dataRoot, ds, pld, extra: ["--print_steps", "1", ...extra] })];
}

function run(out: string, ds: string, extra: string[] = [], pld = true) {
  const r = spawnSync(process.execPath, args(out, ds, extra, pld), { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return r;
}

interface StepMetrics {
  step: number;
  loss: number;
  theta: number;
  kept_layers: number;
}

function metrics(out: string): StepMetrics[] {
  return readFileSync(join(out, "tiny.metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as StepMetrics];
      } catch {
        return []; // a line cut by kill -9 is not a record
      }
    })
    .filter((m) => m.loss !== undefined);
}

const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-pretrain-"));

describe("bert-train pretrain", () => {
  it("trains: the loss falls, PLD is announced once and θ is logged", () => {
    const out = tmp();
    const r = run(out, "tiny_ds_fp32_pld.json", ["--max_steps", "40"]);
    assert.equal(r.stdout.match(/\[INFO\] \[Rank 0\] Enabled progressive layer dropping \(theta = 0\.5\)/g)?.length, 1);
    assert.match(r.stdout, /bing_bert_progress: step=1, loss=[\d.]+, lr=[\d.e-]+, sample_count=8/);
    assert.match(r.stdout, /\[Rank 0\] step=2, skipped=0, lr=\[[\d.e-]+\], mom=\[\(0\.9, 0\.999\)\]/);
    assert.match(r.stdout, /checkpointing: PATH=.*saved_models\/tiny\/epoch\d+_step40, ckpt_id=epoch\d+_step40/);
    const m = metrics(out);
    assert.equal(m.length, 40);
    const first = m.slice(0, 5).reduce((s, x) => s + x.loss, 0) / 5;
    const last = m.slice(-5).reduce((s, x) => s + x.loss, 0) / 5;
    assert.ok(last < first - 0.5, `loss ${first} -> ${last}`);
    assert.equal(m[0]?.theta, 1);
    assert.ok((m[39]?.theta ?? 1) < 0.55, "θ decays towards θ̄ = 0.5 with γ = 0.1");
    assert.ok(readFileSync(join(out, "saved_models", "tiny", "latest"), "utf8").includes("step40"));
    // TensorBoard: a file-version event, then one scalar event per step with loss and θ
    const runs = join(out, "runs", "tiny"); // bing_bert's layout: one folder per job
    const eventsFile = readdirSync(runs).find((f) => f.startsWith("events.out.tfevents."));
    assert.ok(eventsFile);
    const events = [...tfRecords(readFileSync(join(runs, eventsFile)), eventsFile)].map(decodeEvent);
    assert.equal(events[0]?.fileVersion, "brain.Event:2");
    const theta = events.flatMap((e) =>
      e.values.filter((v) => v.tag === "train/theta").map((v) => ({ step: e.step, value: v.value })),
    );
    assert.equal(theta.length, 40);
    assert.ok(Math.abs((theta[39]?.value ?? 0) - (m[39]?.theta ?? 1)) < 1e-6);
  });
  it("without PLD: no INFO line, θ stays 1", () => {
    const out = tmp();
    const r = run(out, "tiny_ds_fp32.json", ["--max_steps", "3"], false);
    assert.doesNotMatch(r.stdout, /progressive layer dropping/);
    assert.ok(metrics(out).every((m) => m.theta === 1));
  });
  it("PLD drops layers as often as the keep probabilities say, drawn per micro-batch (or per step when asked); without PLD every layer is kept", () => {
    const out = tmp();
    run(out, "tiny_ds_fp32_pld.json", ["--max_steps", "200", "--print_steps", "1000"]);
    const L = 4; // tiny_cf.json
    const A = 2; // micro-batches per step: train_batch_size 8 / micro-batch 4
    const records = metrics(out);
    assert.equal(records.length, 200);
    let kept = 0;
    let expected = 0;
    let variance = 0;
    let stepsWithUnequalMicroBatches = 0;
    for (const m of records) {
      assert.equal(m.theta, thetaForStep({ theta: 0.5, gamma: 0.1 }, m.step - 1), `θ of step ${m.step}`);
      const layers = m.kept_layers * L * A; // the mean over the step's micro-batches, each drawing its own gates
      assert.ok(Number.isInteger(Math.round(layers * 1e9) / 1e9), `step ${m.step}: ${layers} layers kept`);
      if (Math.round(layers) % A !== 0) stepsWithUnequalMicroBatches++;
      kept += layers;
      for (let l = 1; l <= L; l++) {
        const p = layerKeep("paper", l, L, m.theta).keep;
        expected += A * p;
        variance += A * p * (1 - p);
      }
    }
    assert.ok(stepsWithUnequalMicroBatches > 10, `${stepsWithUnequalMicroBatches} steps kept an odd number of layers`);
    const sigma = Math.sqrt(variance);
    console.log(
      `PLD kept ${kept} of ${records.length * L * A} layer evaluations; expected ${expected.toFixed(1)} ± ${sigma.toFixed(1)} (σ)`,
    );
    assert.ok(Math.abs(kept - expected) <= 3 * sigma, `kept ${kept}, expected ${expected} ± 3 × ${sigma}`);
    const stepScope = tmp();
    const ds = JSON.parse(readFileSync(join(FIXTURE_CONFIGS, "tiny_ds_fp32_pld.json"), "utf8")) as {
      progressive_layer_drop: object;
    };
    const stepDs = join(stepScope, "ds.json");
    writeFileSync(
      stepDs,
      JSON.stringify({ ...ds, progressive_layer_drop: { ...ds.progressive_layer_drop, gate_scope: "step" } }),
    );
    run(stepScope, stepDs, ["--max_steps", "40", "--print_steps", "1000"]);
    assert.ok(
      metrics(stepScope).every((m) => Number.isInteger(Math.round(m.kept_layers * L * 1e9) / 1e9)),
      'gate_scope "step": every micro-batch of a step keeps the same layers',
    );
    const plain = tmp();
    run(plain, "tiny_ds_fp32.json", ["--max_steps", "20"], false);
    const all = metrics(plain);
    assert.equal(all.length, 20);
    assert.ok(
      all.every((m) => m.kept_layers === 1),
      "a run without PLD keeps every layer",
    );
  });
  it("max_predictions_per_seq comes from the shards' dataset.json; a flag that disagrees is an error", () => {
    const withoutFlag = args(tmp(), "tiny_ds_fp32.json", ["--max_steps", "1"], false);
    const at = withoutFlag.indexOf("--max_predictions_per_seq");
    withoutFlag.splice(at, 2);
    const r = spawnSync(process.execPath, withoutFlag, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /max_predictions_per_seq 10 \(from the shards' dataset\.json\)/);
    const wrong = spawnSync(process.execPath, [...withoutFlag, "--max_predictions_per_seq", "20"], {
      encoding: "utf8",
    });
    assert.equal(wrong.status, 2, wrong.stderr);
    assert.match(
      wrong.stderr,
      /tiny\/64: its dataset\.json says max_predictions_per_seq 10, but --max_predictions_per_seq is 20/,
    );
  });

  it("resumes exactly: the same per-step losses as an uninterrupted run", () => {
    const whole = tmp();
    run(whole, "tiny_ds_fp32_pld.json", ["--max_steps", "8"]);
    const parts = tmp();
    run(parts, "tiny_ds_fp32_pld.json", ["--max_steps", "4"]);
    const r = run(parts, "tiny_ds_fp32_pld.json", [
      "--max_steps",
      "8",
      "--load_training_checkpoint",
      join(parts, "saved_models", "tiny"),
    ]);
    assert.match(r.stdout, /resumed from .*epoch\d+_step4 at step 4/);
    assert.deepEqual(
      metrics(parts).map((m) => m.loss),
      metrics(whole).map((m) => m.loss),
    );
  });
  it("SIGINT saves a checkpoint, exits 0, and the run resumes exactly", async () => {
    const whole = tmp();
    run(whole, "tiny_ds_fp32_pld.json", ["--max_steps", "12"]);
    const parts = tmp();
    const child = spawn(process.execPath, args(parts, "tiny_ds_fp32_pld.json", ["--max_steps", "12"]), {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (/step=3,/.test(stdout) && !child.killed) child.kill("SIGINT");
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0);
    const saved = stdout.match(/checkpointing: PATH=.*ckpt_id=epoch\d+_step(\d+)/);
    assert.ok(saved, stdout);
    // it stopped early: the checkpoint and the metrics end before step 12
    assert.ok(Number(saved[1]) < 12, `SIGINT after step 3 saved step ${saved[1]}, not an early stop`);
    assert.ok(metrics(parts).length < 12, `${metrics(parts).length} steps ran before the stop`);
    run(parts, "tiny_ds_fp32_pld.json", [
      "--max_steps",
      "12",
      "--load_training_checkpoint",
      join(parts, "saved_models", "tiny"),
    ]);
    assert.deepEqual(
      metrics(parts).map((m) => m.loss),
      metrics(whole).map((m) => m.loss),
    );
  });
  it("kill -9 at any moment, checkpointing every step, leaves a loadable latest that resumes exactly", async () => {
    const whole = tmp();
    run(whole, "tiny_ds_fp32_pld.json", ["--max_steps", "30"]);
    const expected = metrics(whole).map((m) => m.loss);
    for (const delay of [0, 40, 90, 170]) {
      const out = tmp();
      const child = spawn(
        process.execPath,
        args(out, "tiny_ds_fp32_pld.json", ["--max_steps", "30", "--ckpt_steps", "1"]),
        { stdio: ["ignore", "pipe", "ignore"] },
      );
      // once the first checkpoint exists, kill at a varying moment of the later ones
      await new Promise<void>((resolve) => {
        let text = "";
        child.stdout.on("data", (d: Buffer) => {
          text += d.toString();
          if (text.includes("checkpointing:")) resolve();
        });
        child.on("exit", () => resolve());
      });
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGKILL");
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.on("exit", r)));
      assert.equal(child.signalCode, "SIGKILL", `the run ended by itself (exit ${child.exitCode}) before the kill`);
      const dir = join(out, "saved_models", "tiny");
      const tag = readFileSync(join(dir, "latest"), "utf8").trim();
      assert.ok(Number(/_step(\d+)$/.exec(tag)?.[1]) < 30, `killed after the last step (latest ${tag})`);
      for (const f of ["model.safetensors", "optimizer.safetensors", "state.json"])
        assert.ok(existsSync(join(dir, tag, f)), `${tag}/${f}`);
      // resume to the end: the metrics file holds each step once (the records past the checkpoint, and a line the
      // kill cut, are dropped), with the uninterrupted run's losses
      run(out, "tiny_ds_fp32_pld.json", ["--max_steps", "30", "--load_training_checkpoint", dir]);
      const lines = readFileSync(join(out, "tiny.metrics.jsonl"), "utf8").trim().split("\n");
      const steps = lines.map((l) => (JSON.parse(l) as StepMetrics).step);
      assert.deepEqual(
        steps,
        expected.map((_, i) => i + 1),
        `killed after ${tag}`,
      );
      assert.deepEqual(
        metrics(out).map((m) => m.loss),
        expected,
        `killed after ${tag}`,
      );
    }
  });
  it("evaluate prints one JSON object; export writes a HuggingFace-style folder that starts a new run", () => {
    const out = tmp();
    run(out, "tiny_ds_fp32.json", ["--max_steps", "3"], false); // Post-LN: HuggingFace BertForPreTraining names
    const ckpt = join(
      out,
      "saved_models",
      "tiny",
      readFileSync(join(out, "saved_models", "tiny", "latest"), "utf8").trim(),
    );
    const ev = spawnSync(
      process.execPath,
      [
        cli,
        "evaluate",
        "--checkpoint",
        ckpt,
        "--data",
        join(dataRoot, "tiny", "64"),
        "--max_predictions_per_seq",
        "10",
        "--batch_size",
        "4",
        "--max_batches",
        "5",
      ],
      { encoding: "utf8" },
    );
    assert.equal(ev.status, 0, ev.stderr);
    const result = JSON.parse(ev.stdout) as Record<string, number>;
    for (const k of ["mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy"]) assert.ok(Number.isFinite(result[k]), k);
    assert.equal(result.sequences, 20);
    assert.equal(result.global_steps, 3);
    const exported = join(out, "exported");
    const ex = spawnSync(process.execPath, [cli, "export", "--checkpoint", ckpt, "--output_dir", exported], {
      encoding: "utf8",
    });
    assert.equal(ex.status, 0, ex.stderr);
    for (const f of ["config.json", "model.safetensors", "vocab.txt"]) assert.ok(existsSync(join(exported, f)), f);
    const config = JSON.parse(readFileSync(join(exported, "config.json"), "utf8")) as {
      architectures: string[];
      hidden_size: number;
    };
    assert.deepEqual(config.architectures, ["BertForPreTraining"]);
    assert.equal(config.hidden_size, 32);
    const header = readFileSync(join(exported, "model.safetensors")).subarray(8, 30000).toString("utf8");
    for (const name of [
      "bert.encoder.layer.0.attention.output.LayerNorm.weight",
      "bert.encoder.layer.3.output.LayerNorm.bias",
      "cls.predictions.decoder.weight",
      "cls.predictions.transform.dense.weight",
      "bert.pooler.dense.weight",
    ])
      assert.ok(header.includes(`"${name}"`), name);
    const fresh = tmp();
    const r = run(fresh, "tiny_ds_fp32.json", ["--max_steps", "1", "--init_from", exported], false);
    assert.match(r.stdout, /initial weights from/);
    assert.doesNotMatch(r.stderr, /not in the folder|not in this model/);
  });
  for (const pld of [false, true])
    it(`export (${pld ? "Pre-LN" : "Post-LN"}): the model's config and every tensor's values, the decoder tied`, () => {
      const out = tmp();
      run(out, pld ? "tiny_ds_fp32_pld.json" : "tiny_ds_fp32.json", ["--max_steps", "3"], pld);
      const ckpt = join(out, "saved_models", "tiny", "epoch0_step3");
      const exported = join(out, "exported");
      const ex = spawnSync(process.execPath, [cli, "export", "--checkpoint", ckpt, "--output_dir", exported], {
        encoding: "utf8",
      });
      assert.equal(ex.status, 0, ex.stderr);
      const config = JSON.parse(readFileSync(join(exported, "config.json"), "utf8")) as Record<string, unknown>;
      const cf = (
        JSON.parse(readFileSync(join(configs, "tiny_cf.json"), "utf8")) as {
          bert_model_config: Record<string, unknown>;
        }
      ).bert_model_config;
      assert.deepEqual(config.architectures, [pld ? "BertForPreTrainingPreLN" : "BertForPreTraining"]);
      assert.equal(config.pre_layer_norm, pld);
      assert.equal(config.model_type, pld ? "bert_pre_ln" : "bert");
      assert.equal(config.vocab_size, cf.vocab_size_or_config_json_file);
      for (const key of [
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "hidden_act",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "max_position_embeddings",
        "type_vocab_size",
      ])
        assert.equal(config[key], cf[key], key);
      const saved = readSafetensors(join(ckpt, "model.safetensors"));
      const written = readSafetensors(join(exported, "model.safetensors"));
      for (const name of saved.tensors.keys())
        assert.deepEqual(tensorFloat32(written, name), tensorFloat32(saved, name), `${name} exported unchanged`);
      assert.deepEqual(
        tensorFloat32(written, "cls.predictions.decoder.weight"),
        tensorFloat32(saved, "bert.embeddings.word_embeddings.weight"),
      );
      assert.deepEqual(
        tensorFloat32(written, "cls.predictions.decoder.bias"),
        tensorFloat32(saved, "cls.predictions.bias"),
      );
      assert.equal(written.tensors.size, saved.tensors.size + 2);
    });
  it("finetune: a pre-trained checkpoint on a small SST-2, eval_results.txt and submission-format predictions", () => {
    const out = tmp();
    run(out, "tiny_ds_fp32.json", ["--max_steps", "2"], false);
    const ckpt = join(
      out,
      "saved_models",
      "tiny",
      readFileSync(join(out, "saved_models", "tiny", "latest"), "utf8").trim(),
    );
    const glue = join(out, "glue", "SST-2");
    mkdirSync(glue, { recursive: true });
    const train = readFileSync(join(root, "data", "glue", "SST-2", "train.tsv"), "utf8")
      .split("\n")
      .slice(0, 65);
    const dev = readFileSync(join(root, "data", "glue", "SST-2", "dev.tsv"), "utf8")
      .split("\n")
      .slice(0, 33);
    writeFileSync(join(glue, "train.tsv"), train.join("\n") + "\n");
    writeFileSync(join(glue, "dev.tsv"), dev.join("\n") + "\n");
    writeFileSync(
      join(glue, "test.tsv"),
      ["index\tsentence", ...dev.slice(1).map((l, i) => `${i}\t${l.split("\t")[0]}`)].join("\n") + "\n",
    );
    const ft = (extra: string[]) =>
      spawnSync(
        process.execPath,
        [
          cli,
          "finetune",
          "sst-2",
          "16",
          "1e-4",
          "2",
          "sst2",
          ckpt,
          "--data_dir",
          join(out, "glue"),
          "--output_dir",
          join(out, "ft"),
          "--max_seq_length",
          "64",
          "--threads",
          "1",
          ...extra,
        ],
        { encoding: "utf8" },
      );
    const r = ft(["--do_predict"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /newly initialised \(not in the checkpoint\): classifier\.weight, classifier\.bias/);
    assert.match(r.stdout, /not used \(not in this model\): cls\.predictions/);
    assert.match(r.stdout, /SST-2 dev after epoch 2: acc = /);
    const results = readFileSync(join(out, "ft", "sst2", "eval_results.txt"), "utf8")
      .trim()
      .split("\n");
    assert.deepEqual(
      results.map((l) => l.split(" = ")[0]),
      ["acc", "epoch", "eval_loss", "global_step", "loss"],
    );
    const predictions = readFileSync(join(out, "ft", "sst2", "SST-2.tsv"), "utf8")
      .trim()
      .split("\n");
    assert.equal(predictions[0], "index\tprediction");
    assert.equal(predictions.length, 33);
    assert.ok(predictions.slice(1).every((l) => /^\d+\t[01]$/.test(l)));
    // --reinit_pooler leaves the NSP-trained pooler out
    const reinit = ft(["--reinit_pooler", "--max_steps", "1", "--overwrite"]);
    assert.equal(reinit.status, 0, reinit.stderr);
    assert.match(
      reinit.stdout,
      /newly initialised \(--reinit_pooler\): bert\.pooler\.dense\.weight, bert\.pooler\.dense\.bias/,
    );
    // a Pre-LN expectation against this Post-LN checkpoint is refused unless forced
    const mismatch = ft(["--progressive_layer_drop"]);
    assert.equal(mismatch.status, 2);
    assert.match(
      mismatch.stderr,
      /the checkpoint is a Post-LN model but --progressive_layer_drop asks for Pre-LN; pass --force/,
    );
  });
  it("fp16: overflowing steps are skipped and reported, θ advances through them, the scaler resumes exactly", () => {
    const ds = join(tmp(), "fp16.json");
    const base = JSON.parse(readFileSync(join(configs, "tiny_ds_fp32_pld.json"), "utf8")) as object;
    // 2^30 overflows fp16 at once; hysteresis 1 halves on every overflow, a window of 3 doubles again
    const fp16 = { enabled: true, initial_scale_power: 30, hysteresis: 1, loss_scale_window: 3 };
    writeFileSync(ds, JSON.stringify({ ...base, fp16 }));
    const whole = tmp();
    const r = run(whole, ds, ["--max_steps", "24"]);
    const m = metrics(whole) as (StepMetrics & { skipped: boolean; loss_scale: number })[];
    assert.equal(m.length, 24);
    assert.equal(m[0]?.skipped, true, "the first step overflows at 2^30");
    assert.match(
      r.stdout,
      /Overflow detected\. Skipping step\. Attempted loss scale: 1073741824, reducing to 536870912/,
    );
    const skipped = m.filter((x) => x.skipped).length;
    assert.equal(r.stdout.match(/Overflow detected/g)?.length, skipped);
    assert.ok(
      skipped < 24 && m.some((x, i) => i > 0 && x.loss_scale > (m[i - 1] as { loss_scale: number }).loss_scale),
      "the scale recovers and grows again",
    );
    // θ follows the step count, skipped steps included
    m.forEach((x) => assert.equal(x.theta, thetaForStep({ theta: 0.5, gamma: 0.1 }, x.step - 1)));
    const state = JSON.parse(
      readFileSync(join(whole, "saved_models", "tiny", "epoch0_step24", "state.json"), "utf8"),
    ) as {
      skipped_steps: number;
      optimizer_steps: number;
    };
    assert.equal(state.skipped_steps, skipped);
    assert.equal(state.optimizer_steps, 24 - skipped);
    // stopped after 10 and resumed: the same scales, skips and losses
    const parts = tmp();
    run(parts, ds, ["--max_steps", "10"]);
    run(parts, ds, ["--max_steps", "24", "--load_training_checkpoint", join(parts, "saved_models", "tiny")]);
    const resumed = metrics(parts) as typeof m;
    assert.deepEqual(
      resumed.map((x) => [x.loss_scale, x.skipped, x.loss]),
      m.map((x) => [x.loss_scale, x.skipped, x.loss]),
    );
  });
  it("bf16: trains without a loss scale and resumes exactly", () => {
    const ds = join(tmp(), "bf16.json");
    const base = JSON.parse(readFileSync(join(configs, "tiny_ds_fp32_pld.json"), "utf8")) as object;
    writeFileSync(ds, JSON.stringify({ ...base, bf16: { enabled: true } }));
    const whole = tmp();
    run(whole, ds, ["--max_steps", "12"]);
    const m = metrics(whole) as (StepMetrics & { skipped: boolean; loss_scale: number })[];
    assert.ok(m.every((x) => x.loss_scale === 1 && !x.skipped && Number.isFinite(x.loss)));
    const fp32 = tmp();
    run(fp32, "tiny_ds_fp32_pld.json", ["--max_steps", "1"]);
    const first = metrics(fp32)[0]?.loss ?? NaN;
    assert.ok(
      Math.abs((m[0]?.loss ?? 0) - first) <= tolerance("golden_bf16_loss_rel") * first,
      `bf16 ${m[0]?.loss} vs fp32 ${first}`,
    );
    const parts = tmp();
    run(parts, ds, ["--max_steps", "5"]);
    run(parts, ds, ["--max_steps", "12", "--load_training_checkpoint", join(parts, "saved_models", "tiny")]);
    assert.deepEqual(
      metrics(parts).map((x) => x.loss),
      m.map((x) => x.loss),
    );
  });
  it("--rewarmup restarts the warm-up at the resumed step; without it the schedule goes on", () => {
    const whole = tmp();
    run(whole, "tiny_ds_fp32_pld.json", ["--max_steps", "10"]);
    const lr = (out: string) => (metrics(out) as (StepMetrics & { lr: number })[]).map((x) => x.lr);
    const plain = tmp();
    run(plain, "tiny_ds_fp32_pld.json", ["--max_steps", "5"]);
    run(plain, "tiny_ds_fp32_pld.json", [
      "--max_steps",
      "10",
      "--load_training_checkpoint",
      join(plain, "saved_models", "tiny"),
    ]);
    const again = tmp();
    run(again, "tiny_ds_fp32_pld.json", ["--max_steps", "5"]);
    run(again, "tiny_ds_fp32_pld.json", [
      "--max_steps",
      "10",
      "--rewarmup",
      "--load_training_checkpoint",
      join(again, "saved_models", "tiny"),
    ]);
    assert.deepEqual(lr(plain), lr(whole));
    assert.deepEqual(lr(again).slice(5), lr(whole).slice(0, 5), "steps 6-10 run with the rates of steps 1-5");
    assert.notDeepEqual(lr(again).slice(5), lr(whole).slice(5));
  });
  it("--ckpt_to_save keeps only the listed epochs' checkpoints (and the last step)", async () => {
    const small = mkdtempSync(join(tmpdir(), "bert-train-small-"));
    await prepareTiny([join(root, "test", "fixtures", "sample_text.txt")], join(small, "tiny", "64"), 1);
    const records = (JSON.parse(readFileSync(join(small, "tiny", "64", "dataset.json"), "utf8")) as { records: number })
      .records;
    const perEpoch = Math.max(1, Math.floor(records / 8));
    const out = tmp();
    const argv = args(out, "tiny_ds_fp32_pld.json", [
      "--max_steps",
      String(3 * perEpoch + 1),
      "--ckpt_to_save",
      "2",
    ]).map((x) => (x === dataRoot ? small : x));
    const r = spawnSync(process.execPath, argv, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const tags = readdirSync(join(out, "saved_models", "tiny"))
      .filter((f) => f.startsWith("epoch"))
      .sort();
    assert.deepEqual(tags, [`epoch2_step${2 * perEpoch}`, `epoch3_step${3 * perEpoch + 1}`].sort());
  });
  it("validation on held-out shards at each epoch end", async () => {
    // a corpus small enough that an epoch ends within a few steps
    const small = mkdtempSync(join(tmpdir(), "bert-train-small-"));
    await prepareTiny([join(root, "test", "fixtures", "sample_text.txt")], join(small, "tiny", "64"), 1);
    const out = tmp();
    const argv = args(out, "tiny_ds_fp32_pld.json", [
      "--max_steps",
      "12",
      "--validation_data_path_prefix",
      join(dataRoot, "tiny", "64"),
    ]).map((x) => (x === dataRoot ? small : x));
    const r = spawnSync(process.execPath, argv, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /validation: step=\d+, mlm_loss=[\d.]+, mlm_accuracy=[\d.]+/);
    const records = readFileSync(join(out, "tiny.metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { validation?: { mlm_loss: number } });
    assert.ok(records.some((m) => m.validation && Number.isFinite(m.validation.mlm_loss)));
  });
});
