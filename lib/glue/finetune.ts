// GLUE fine-tuning: a pre-trained model (a checkpoint, an exported folder, or random weights on request) with a
// new classification head, trained with the GLUE warm-up-linear schedule and evaluated after every epoch. Writes
// eval_results.txt (sorted `key = value` lines) and test predictions in the GLUE submission format. Unlike the
// reference script it honours the learning rate and the seed it is given, and loss-scales fp16.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { loadDeepSpeedConfig } from "../config/deepspeed.js";
import { DEFAULT_ADAMW } from "../config/optimizer.js";
import { ConfigError } from "../config/errors.js";
import { SeededRandom } from "../data/random.js";
import { gradientSyncOption, joinWorld, rootOutput, type World } from "../dist/world.js";
import { createBertTokenizer, type BertTokenizer } from "../data/tokenizer.js";
import { readSafetensors, tensorFloat32 } from "../formats/safetensors.js";
import { allLayersKept, createEngine } from "../native/engine.js";
import type { Batch, ModelConfig, NativeEngine, OptimizerSettings } from "../native/types.js";
import { modelConfigFromCheckpointState } from "../train/export.js";
import { LossScaler } from "../train/loss-scaler.js";
import { warmupLinear } from "../train/lr-schedule.js";
import { trainStep } from "../train/train-step.js";
import { glueTask, readGlueFile, taskDir, type GlueExample, type GlueTask } from "./tasks.js";

export interface FinetuneArgs {
  task: string;
  train_batch_size: number;
  learning_rate: number;
  num_train_epochs: number;
  job_name: string;
  checkpoint?: string;
  data_dir: string;
  output_dir: string;
  max_seq_length: number;
  seed: number;
  warmup_proportion: number;
  gradient_accumulation_steps: number;
  eval_batch_size: number;
  deepspeed_config?: string;
  progressive_layer_drop?: boolean;
  do_train: boolean;
  do_eval: boolean;
  do_predict: boolean;
  random: boolean;
  /** Leave the pooler at its random initialisation (the NSP-trained pooler of a short pre-training saturates). */
  reinit_pooler?: boolean;
  force: boolean;
  vocab_file: string;
  threads: number;
  /** Multi-process runs: reduce all gradients after the backward pass. */
  delay_allreduce?: boolean;
}

export interface Output {
  log(line: string): void;
  warn(line: string): void;
}

export interface Features {
  ids: number[][];
  segments: number[][];
  labels: (number | undefined)[];
  guids: string[];
}

/** Inputs as the GLUE scripts build them: [CLS] A [SEP] (B [SEP]), longest-first truncation, no padding. */
export async function featurize(tok: BertTokenizer, examples: GlueExample[], maxSeq: number): Promise<Features> {
  const a = await tok.encodeBatch(examples.map((e) => e.textA));
  const bText = examples.map((e) => e.textB ?? "");
  const b = examples.some((e) => e.textB !== undefined)
    ? await tok.encodeBatch(bText)
    : examples.map(() => [] as number[]);
  const { "[CLS]": cls, "[SEP]": sep } = tok.vocab.special;
  const f: Features = { ids: [], segments: [], labels: [], guids: [] };
  examples.forEach((e, i) => {
    const x = [...(a[i] as number[])];
    const y = [...(b[i] as number[])];
    const pair = e.textB !== undefined;
    const budget = maxSeq - (pair ? 3 : 2);
    while (x.length + y.length > budget) (x.length > y.length ? x : y).pop(); // longest first, from the end
    const ids = [cls, ...x, sep, ...(pair ? [...y, sep] : [])];
    f.ids.push(ids);
    f.segments.push(ids.map((_, j) => (j < x.length + 2 ? 0 : 1)));
    f.labels.push(e.label);
    f.guids.push(e.guid);
  });
  return f;
}

function batchOf(f: Features, indices: number[], maxSeq: number, regression: boolean): Batch {
  const B = indices.length;
  const inputIds = new Int32Array(B * maxSeq);
  const segmentIds = new Int32Array(B * maxSeq);
  const inputMask = new Int32Array(B * maxSeq);
  const classLabels = new Int32Array(B);
  const regressionTargets = new Float32Array(B);
  indices.forEach((r, b) => {
    const ids = f.ids[r] as number[];
    inputIds.set(ids, b * maxSeq);
    segmentIds.set(f.segments[r] as number[], b * maxSeq);
    inputMask.fill(1, b * maxSeq, b * maxSeq + ids.length);
    const label = f.labels[r];
    if (regression) regressionTargets[b] = label ?? 0;
    else classLabels[b] = label ?? -1;
  });
  return {
    batchSize: B,
    seqLen: maxSeq,
    inputIds,
    segmentIds,
    inputMask,
    ...(regression ? { regressionTargets } : { classLabels }),
  };
}

/** The pre-trained architecture and where its weights are. */
function modelSource(a: FinetuneArgs): {
  model: Omit<ModelConfig, "pre_layer_norm" | "num_labels">;
  preLn: boolean;
  weights?: string;
} {
  if (!a.checkpoint)
    throw new ConfigError([
      "finetune: name a checkpoint (or an exported folder) for the architecture; with --random its weights are not used",
    ]);
  // a job folder (saved_models/<job>) means its latest checkpoint
  if (!existsSync(join(a.checkpoint, "state.json")) && existsSync(join(a.checkpoint, "latest")))
    a.checkpoint = join(a.checkpoint, readFileSync(join(a.checkpoint, "latest"), "utf8").trim());
  const state = join(a.checkpoint, "state.json");
  const exported = join(a.checkpoint, "config.json");
  if (existsSync(state)) {
    const { model, preLn } = modelConfigFromCheckpointState(
      JSON.parse(readFileSync(state, "utf8")) as { configs: unknown },
    );
    return { model, preLn, weights: join(a.checkpoint, "model.safetensors") };
  }
  if (existsSync(exported)) {
    const c = JSON.parse(readFileSync(exported, "utf8")) as ModelConfig & { pre_layer_norm?: boolean };
    const { pre_layer_norm, num_labels: _unused, ...model } = { ...c, num_labels: 0 };
    void _unused;
    return {
      model: { ...model, hidden_act: c.hidden_act === "gelu_new" ? "gelu_tanh" : c.hidden_act },
      preLn: pre_layer_norm ?? false,
      weights: join(a.checkpoint, "model.safetensors"),
    };
  }
  throw new ConfigError([
    `${a.checkpoint}: neither a bert-train checkpoint (state.json) nor an exported folder (config.json)`,
  ]);
}

async function predict(
  engine: NativeEngine,
  f: Features,
  maxSeq: number,
  batchSize: number,
  layers: number,
  regression: boolean,
  numLabels: number,
): Promise<number[]> {
  const out: number[] = [];
  for (let start = 0; start < f.ids.length; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, f.ids.length - start) }, (_, i) => start + i);
    const r = await engine.run(batchOf(f, idx, maxSeq, regression), allLayersKept(layers), {
      train: false,
      backward: false,
    });
    for (let b = 0; b < idx.length; b++) {
      const logits = r.classLogits.subarray(b * numLabels, (b + 1) * numLabels);
      out.push(regression ? (logits[0] as number) : logits.indexOf(Math.max(...logits)));
    }
  }
  return out;
}

export async function finetune(
  a: FinetuneArgs,
  output: Output,
  world: World = joinWorld(),
): Promise<Record<string, number>> {
  // rank 0 logs, evaluates and writes; every rank trains on its share of each batch
  const out = rootOutput(world, output);
  const task: GlueTask = glueTask(a.task);
  const { model, preLn, weights } = modelSource(a);
  if (a.progressive_layer_drop !== undefined && a.progressive_layer_drop !== preLn && !a.force)
    throw new ConfigError([
      `${a.checkpoint}: the checkpoint is a ${preLn ? "Pre-LN (PLD)" : "Post-LN"} model but ${a.progressive_layer_drop ? "--progressive_layer_drop" : "no --progressive_layer_drop"} asks for ${a.progressive_layer_drop ? "Pre-LN" : "Post-LN"}; pass --force to load it anyway`,
    ]);
  const numLabels = task.regression ? 1 : task.labels.length;
  const ds = a.deepspeed_config ? loadDeepSpeedConfig(a.deepspeed_config) : undefined;
  const precision = ds?.precision ?? "fp32";
  const engine = createEngine({
    config: { ...model, pre_layer_norm: preLn, num_labels: numLabels },
    precision,
    seed: a.seed,
    threads: a.threads,
    ...gradientSyncOption(world, {
      overlap: !a.delay_allreduce,
      prescale: ds?.prescaleGradients ?? false,
      predivideFactor: ds?.gradientPredivideFactor ?? 1,
    }),
  });
  if (a.random) out.warn(`[bert-train] --random: starting ${task.name} from random weights, not from ${a.checkpoint}`);
  else if (weights) {
    const file = readSafetensors(weights);
    const names = engine.paramInfos().map((p) => p.name);
    const missing = names.filter((n) => !file.tensors.has(n));
    const reinit = a.reinit_pooler ? names.filter((n) => n.startsWith("bert.pooler.") && file.tensors.has(n)) : [];
    const unexpected = [...file.tensors.keys()].filter((n) => !names.includes(n));
    const loaded = names.filter((n) => file.tensors.has(n) && !reinit.includes(n));
    for (const n of loaded) engine.setParam(n, tensorFloat32(file, n));
    out.log(`loaded ${loaded.length} tensors from ${weights}`);
    if (missing.length) out.log(`newly initialised (not in the checkpoint): ${missing.join(", ")}`);
    if (reinit.length) out.log(`newly initialised (--reinit_pooler): ${reinit.join(", ")}`);
    if (unexpected.length) out.log(`not used (not in this model): ${unexpected.join(", ")}`);
  }
  const tok = await createBertTokenizer(a.vocab_file, true);
  const dir = taskDir(a.data_dir, task);
  const jobDir = join(a.output_dir, a.job_name);
  if (world.isRoot) mkdirSync(jobDir, { recursive: true });
  const layers = model.num_hidden_layers;
  const optimizer: OptimizerSettings = ds?.optimizer ?? DEFAULT_ADAMW;
  const scaler =
    precision === "fp16"
      ? new LossScaler({ lossScale: ds?.fp16.lossScale ?? 0, initialScalePower: ds?.fp16.initialScalePower ?? 16 })
      : undefined;
  const results: Record<string, number> = {};

  const evaluate = async (epoch: number) => {
    if (!world.isRoot) return;
    for (const { split, file } of task.devFiles) {
      const examples = readGlueFile(task, join(dir, file), "dev");
      const f = await featurize(tok, examples, a.max_seq_length);
      const predictions = await predict(
        engine,
        f,
        a.max_seq_length,
        a.eval_batch_size,
        layers,
        task.regression,
        numLabels,
      );
      const metrics = task.metrics(predictions, f.labels as number[]);
      const suffix = split === "dev_mismatched" ? "_mm" : "";
      for (const [k, v] of Object.entries(metrics)) results[`${k}${suffix}`] = v;
      out.log(
        `${task.name} ${split} after epoch ${epoch}: ${Object.entries(metrics)
          .map(([k, v]) => `${k} = ${v.toFixed(4)}`)
          .join(", ")}`,
      );
    }
    results.epoch = epoch;
    const lines = Object.keys(results)
      .sort()
      .map((k) => `${k} = ${results[k]}`);
    writeFileSync(join(jobDir, "eval_results.txt"), lines.join("\n") + "\n");
  };

  if (a.do_train) {
    const train = await featurize(tok, readGlueFile(task, join(dir, task.trainFile), "train"), a.max_seq_length);
    // BATCH_SIZE is the global batch: micro-batch × accumulation × ranks
    const perMicro = a.gradient_accumulation_steps * world.size;
    if (a.train_batch_size % perMicro !== 0)
      throw new ConfigError([
        `finetune: the batch size ${a.train_batch_size} is not a multiple of gradient_accumulation_steps ${a.gradient_accumulation_steps} × ${world.size} rank(s) = ${perMicro}`,
      ]);
    const micro = a.train_batch_size / perMicro;
    if (world.size > 1)
      out.log(
        `[bert-train] data parallel over ${world.size} ranks: micro-batch ${micro} × accumulation ${a.gradient_accumulation_steps} × ${world.size} ranks = ${a.train_batch_size}`,
      );
    const stepsPerEpoch = Math.floor(train.ids.length / a.train_batch_size);
    const total = stepsPerEpoch * a.num_train_epochs;
    let step = 0;
    for (let epoch = 1; epoch <= a.num_train_epochs; epoch++) {
      const order = SeededRandom.forKey(a.seed, epoch).shuffle(Array.from({ length: train.ids.length }, (_, i) => i));
      let lossSum = 0;
      const epochStarted = performance.now();
      for (let s = 0; s < stepsPerEpoch; s++) {
        // the global micro-batch k of this epoch's order goes to rank k mod world size
        const microBatches = Array.from({ length: a.gradient_accumulation_steps }, (_, m) => {
          const k = (s * a.gradient_accumulation_steps + m) * world.size + world.rank;
          return {
            batch: batchOf(train, order.slice(k * micro, (k + 1) * micro), a.max_seq_length, task.regression),
            gates: allLayersKept(layers),
            dropoutStream: (step * a.gradient_accumulation_steps + m) * world.size + world.rank,
          };
        });
        const lr = a.learning_rate * warmupLinear(step / total, a.warmup_proportion);
        const r = await trainStep(engine, microBatches, {
          optimizer,
          lr,
          stepNumber: step + 1,
          maxGradNorm: ds?.gradientClipping ?? 1,
          scaler,
          world,
        });
        lossSum += r.loss;
        step++;
      }
      const seconds = (performance.now() - epochStarted) / 1000;
      out.log(
        `${task.name} epoch ${epoch}: mean training loss ${(lossSum / Math.max(stepsPerEpoch, 1)).toFixed(4)} over ${stepsPerEpoch} steps (${((stepsPerEpoch * a.train_batch_size) / seconds).toFixed(1)} samples/s)`,
      );
      if (a.do_eval) await evaluate(epoch);
    }
  } else if (a.do_eval) await evaluate(0);

  if (a.do_predict && world.isRoot) {
    for (const { split, file } of task.testFiles) {
      const path = join(dir, file);
      if (!existsSync(path)) {
        out.warn(`[bert-train] ${path}: no test file; no predictions for ${split}`);
        continue;
      }
      const examples = readGlueFile(task, path, "test");
      const predictions = await predict(
        engine,
        await featurize(tok, examples, a.max_seq_length),
        a.max_seq_length,
        a.eval_batch_size,
        layers,
        task.regression,
        numLabels,
      );
      const name =
        task.name === "MNLI"
          ? split === "test_matched"
            ? "MNLI-m"
            : "MNLI-mm"
          : task.name === "STS-B"
            ? "STS-B"
            : task.name;
      const rows = examples.map(
        (e, i) =>
          `${e.guid.replace(/^test-/, "")}\t${task.regression ? (predictions[i] as number).toFixed(3) : task.labels[predictions[i] as number]}`,
      );
      writeFileSync(join(jobDir, `${name}.tsv`), ["index\tprediction", ...rows].join("\n") + "\n");
      out.log(`wrote ${rows.length} ${split} predictions to ${join(jobDir, `${name}.tsv`)}`);
    }
  }
  return results;
}
