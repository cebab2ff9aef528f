// GLUE fine-tuning: a pre-trained model (a checkpoint, an exported folder, or random weights on request) with a
// new classification head, trained with the GLUE warm-up-linear schedule and evaluated after every epoch. Writes
// eval_results.txt (sorted `key = value` lines) and test predictions in the GLUE submission format. Unlike the
// reference script it honours the learning rate and the seed it is given, and loss-scales fp16.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { loadDeepSpeedConfig, type DeepSpeedConfig } from "../config/deepspeed.js";
import { checkJobName, ConfigError } from "../config/errors.js";
import { DEFAULT_ADAMW } from "../config/optimizer.js";
import { SeededRandom } from "../data/random.js";
import { createBertTokenizer, readVocab, VocabError, vocabSizeProblem, type BertTokenizer } from "../data/tokenizer.js";
import { defaultVocabFile } from "../paths.js";
import { writableDir } from "../files.js";
import { allLayersKept } from "../native/engine.js";
import { lockFolder } from "../native/lock.js";
import type { Batch } from "../native/types.js";
import { joinWorld, rootOutput, type World } from "../parallel/world.js";
import { warmupLinear } from "../train/lr-schedule.js";
import { MetricsSink, type StepRecord } from "../train/metrics.js";
import type { TrainStepResult } from "../train/train-step.js";
import { DEEPSPEED_DEFAULTS, Trainer, type BatchShape, type Output } from "../train/trainer.js";
import { openModelFolder, type ModelFolder } from "../train/model-folder.js";
import { loadWeights, reportLoadedWeights, requireBody } from "../train/weights.js";
import { GlueError, glueTask, readGlueFile, taskDir, type GlueExample, type GlueTask } from "./tasks.js";

export type { Output } from "../train/trainer.js";

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
  /** Accept a checkpoint that lacks embedding or encoder weights (they start from random). */
  allow_partial_load?: boolean;
  force: boolean;
  /** Default: the checkpoint's vocab.txt, else bert-base-uncased's. */
  vocab_file?: string;
  /** Default: the checkpoint's casing, else lower-cased. */
  do_lower_case?: boolean;
  threads: number;
  /** Multi-process runs: reduce all gradients after the backward pass. */
  delay_allreduce?: boolean;
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
    if (budget < 1)
      throw new ConfigError([
        `finetune: --max_seq_length ${maxSeq} leaves no room for text (${pair ? "[CLS] A [SEP] B [SEP]" : "[CLS] A [SEP]"})`,
      ]);
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

/** The pre-trained model: a checkpoint (or its job folder) or an exported folder. */
function modelSource(a: FinetuneArgs): ModelFolder {
  if (!a.checkpoint)
    throw new ConfigError([
      "finetune: name a checkpoint (or an exported folder) for the architecture; with --random its weights are not used",
    ]);
  const folder = openModelFolder(a.checkpoint);
  if (a.progressive_layer_drop !== undefined && a.progressive_layer_drop !== folder.preLn && !a.force)
    throw new ConfigError([
      `${folder.path}: the checkpoint is a ${folder.preLn ? "Pre-LN (PLD)" : "Post-LN"} model but ${a.progressive_layer_drop ? "--progressive_layer_drop" : "no --progressive_layer_drop"} asks for ${a.progressive_layer_drop ? "Pre-LN" : "Post-LN"}; pass --force to load it anyway`,
    ]);
  return folder;
}

/** BATCH_SIZE is the global batch: micro-batch × accumulation × ranks. */
function batchShape(a: FinetuneArgs, world: World): BatchShape {
  const perMicro = a.gradient_accumulation_steps * world.size;
  if (a.do_train && a.train_batch_size % perMicro !== 0)
    throw new ConfigError([
      `finetune: the batch size ${a.train_batch_size} is not a multiple of gradient_accumulation_steps ${a.gradient_accumulation_steps} × ${world.size} rank(s) = ${perMicro}`,
    ]);
  return {
    micro: a.train_batch_size / perMicro,
    accumulation: a.gradient_accumulation_steps,
    global: a.train_batch_size,
  };
}

/** The splits a run uses, read and featurized before any training: a bad dev.tsv stops it before the work. */
interface GlueData {
  train?: Features;
  dev: { split: string; features: Features }[];
  test: { split: string; examples: GlueExample[]; features: Features }[];
}

async function readSplits(a: FinetuneArgs, task: GlueTask, dataDir: string, tok: BertTokenizer, root: boolean) {
  const read = async (file: string, kind: "train" | "dev" | "test") => {
    const examples = readGlueFile(task, join(dataDir, file), kind);
    return { examples, features: await featurize(tok, examples, a.max_seq_length) };
  };
  const data: GlueData = { dev: [], test: [] };
  if (a.do_train) {
    data.train = (await read(task.trainFile, "train")).features;
    if (data.train.ids.length < a.train_batch_size)
      throw new GlueError(
        `${join(dataDir, task.trainFile)}: ${data.train.ids.length} examples, fewer than one batch of ${a.train_batch_size}`,
      );
  }
  if (!root) return data; // rank 0 evaluates and predicts
  if (a.do_eval)
    for (const { split, file } of task.devFiles) data.dev.push({ split, features: (await read(file, "dev")).features });
  if (a.do_predict)
    for (const { split, file } of task.testFiles)
      if (existsSync(join(dataDir, file))) data.test.push({ split, ...(await read(file, "test")) });
  return data;
}

/** What the steps of one fine-tuning run share. */
interface Run {
  a: FinetuneArgs;
  task: GlueTask;
  out: Output;
  world: World;
  trainer: Trainer;
  ds: DeepSpeedConfig | undefined;
  tok: BertTokenizer;
  /** The task's data folder, and the job's output folder. */
  dataDir: string;
  jobDir: string;
  numLabels: number;
  layers: number;
  /** The latest dev metrics (with `epoch`), as eval_results.txt has them. */
  results: Record<string, number>;
  /** The metrics JSONL and TensorBoard file of a training run. */
  metrics?: MetricsSink;
  data: GlueData;
  step: number;
  /** The vocabulary and casing the task's text is tokenized with. */
  vocab: { path: string; lowerCase: boolean };
}

/**
 * The checkpoint's own vocabulary and casing, unless --vocab_file or --do_lower_case say otherwise; a vocabulary
 * that does not fit the model's embeddings is an error.
 */
function tokenizerChoice(a: FinetuneArgs, folder: ModelFolder): Run["vocab"] {
  const path = a.vocab_file ?? folder.vocab?.path ?? defaultVocabFile();
  const lowerCase = a.do_lower_case ?? (a.vocab_file === undefined ? folder.vocab?.lowerCase : undefined) ?? true;
  const problem = vocabSizeProblem(readVocab(path), folder.model.vocab_size, `the model ${folder.path}`);
  if (problem) throw new VocabError(problem);
  return { path, lowerCase };
}

async function predict(run: Run, f: Features): Promise<number[]> {
  const { a, task, numLabels } = run;
  const out: number[] = [];
  for (let start = 0; start < f.ids.length; start += a.eval_batch_size) {
    const idx = Array.from({ length: Math.min(a.eval_batch_size, f.ids.length - start) }, (_, i) => start + i);
    const r = await run.trainer.engine.run(
      batchOf(f, idx, a.max_seq_length, task.regression),
      allLayersKept(run.layers),
      { train: false, backward: false },
    );
    for (let b = 0; b < idx.length; b++) {
      const logits = r.classLogits.subarray(b * numLabels, (b + 1) * numLabels);
      out.push(task.regression ? (logits[0] as number) : logits.indexOf(Math.max(...logits)));
    }
  }
  return out;
}

/** The dev metrics after `epoch` (rank 0), into the log and eval_results.txt (sorted `key = value` lines). */
async function evaluateDev(run: Run, epoch: number): Promise<void> {
  if (!run.world.isRoot) return;
  const { task, results } = run;
  for (const { split, features: f } of run.data.dev) {
    const metrics = task.metrics(await predict(run, f), f.labels as number[]);
    const suffix = split === "dev_mismatched" ? "_mm" : "";
    for (const [k, v] of Object.entries(metrics)) results[`${k}${suffix}`] = v;
    run.metrics?.validation(run.step, { ...metrics, epoch }, Object.keys(metrics));
    run.out.log(
      `${task.name} ${split} after epoch ${epoch}: ${Object.entries(metrics)
        .map(([k, v]) => `${k} = ${v.toFixed(4)}`)
        .join(", ")}`,
    );
  }
  results.epoch = epoch;
  const lines = Object.keys(results)
    .sort()
    .map((k) => `${k} = ${results[k]}`);
  writeFileSync(join(run.jobDir, "eval_results.txt"), lines.join("\n") + "\n");
}

/** The epochs: a seeded shuffle each, the warm-up-linear schedule over all steps, dev metrics after each. */
async function train(run: Run): Promise<void> {
  const { a } = run;
  const data = run.data.train as Features;
  const stepsPerEpoch = Math.floor(data.ids.length / a.train_batch_size);
  const total = stepsPerEpoch * a.num_train_epochs;
  run.metrics = new MetricsSink({
    world: run.world,
    jsonlPath: join(a.output_dir, `${a.job_name}.metrics.jsonl`),
    tensorboardDir: run.jobDir,
    totalSteps: total,
    globalBatch: a.train_batch_size,
    tensorboardKeys: ["loss", "lr", "grad_norm", "loss_scale"],
  });
  try {
    await trainEpochs(run, data, stepsPerEpoch, total);
  } finally {
    run.metrics.close();
  }
}

async function trainEpochs(run: Run, data: Features, stepsPerEpoch: number, total: number): Promise<void> {
  const { a, task, trainer } = run;
  const micro = trainer.batch.micro;
  for (let epoch = 1; epoch <= a.num_train_epochs; epoch++) {
    const order = SeededRandom.forKey(a.seed, epoch).shuffle(Array.from({ length: data.ids.length }, (_, i) => i));
    let lossSum = 0;
    const epochStarted = performance.now();
    for (let s = 0; s < stepsPerEpoch; s++) {
      const batches = Array.from({ length: a.gradient_accumulation_steps }, (_, m) => {
        const k = trainer.globalMicroBatch(s, m); // the epoch order's micro-batch k goes to rank k mod world size
        return batchOf(data, order.slice(k * micro, (k + 1) * micro), a.max_seq_length, task.regression);
      });
      const lr = a.learning_rate * warmupLinear(run.step / total, a.warmup_proportion);
      const started = performance.now();
      const r = await trainer.step(
        trainer.microBatches(run.step, batches, () => allLayersKept(run.layers)),
        {
          optimizer: run.ds?.optimizer ?? DEFAULT_ADAMW,
          lr,
          stepNumber: run.step + 1,
          maxGradNorm: run.ds?.gradientClipping ?? 1,
        },
      );
      run.step++;
      lossSum += r.loss;
      run.metrics?.step(stepRecord(run, r, lr, epoch, performance.now() - started), `epoch ${epoch}`);
    }
    const seconds = (performance.now() - epochStarted) / 1000;
    run.out.log(
      `${task.name} epoch ${epoch}: mean training loss ${(lossSum / Math.max(stepsPerEpoch, 1)).toFixed(4)} over ${stepsPerEpoch} steps (${((stepsPerEpoch * a.train_batch_size) / seconds).toFixed(1)} samples/s)`,
    );
    if (a.do_eval) await evaluateDev(run, epoch);
  }
}

function stepRecord(run: Run, r: TrainStepResult, lr: number, epoch: number, ms: number): StepRecord {
  return {
    step: run.step,
    epoch,
    loss: r.loss,
    lr,
    grad_norm: r.gradNorm,
    loss_scale: r.lossScale,
    skipped: r.skipped,
    samples: run.step * run.a.train_batch_size,
    step_ms: ms,
    wall_time: Date.now() / 1000,
  };
}

/** Test-set predictions in the GLUE submission format (rank 0). */
async function writePredictions(run: Run): Promise<void> {
  const { task } = run;
  for (const { split, file } of task.testFiles)
    if (!run.data.test.some((t) => t.split === split))
      run.out.warn(`[bert-train] ${join(run.dataDir, file)}: no test file; no predictions for ${split}`);
  for (const { split, examples, features } of run.data.test) {
    const predictions = await predict(run, features);
    const name = task.name !== "MNLI" ? task.name : split === "test_matched" ? "MNLI-m" : "MNLI-mm";
    const rows = examples.map(
      (e, i) =>
        `${e.guid.replace(/^test-/, "")}\t${task.regression ? (predictions[i] as number).toFixed(3) : task.labels[predictions[i] as number]}`,
    );
    writeFileSync(join(run.jobDir, `${name}.tsv`), ["index\tprediction", ...rows].join("\n") + "\n");
    run.out.log(`wrote ${rows.length} ${split} predictions to ${join(run.jobDir, `${name}.tsv`)}`);
  }
}

/** The shortest sequence that holds a token of each text of a sentence pair: [CLS] A [SEP] B [SEP]. */
const MIN_SEQ_LENGTH = 5;

function checkSeqLength(a: FinetuneArgs, maxPositions: number): void {
  const n = a.max_seq_length;
  if (!Number.isInteger(n) || n < MIN_SEQ_LENGTH || n > maxPositions)
    throw new ConfigError([
      `finetune: --max_seq_length must be an integer from ${MIN_SEQ_LENGTH} ([CLS] A [SEP] B [SEP] with a token of each) to the model's max_position_embeddings ${maxPositions}, got ${n}`,
    ]);
}

/** The engine with the pre-trained weights (unless --random) and a new classification head. */
function setup(a: FinetuneArgs, task: GlueTask, world: World, out: Output): Omit<Run, "tok" | "data"> {
  checkJobName(a.job_name, "JOB_NAME");
  const folder = modelSource(a);
  checkSeqLength(a, folder.model.max_position_embeddings);
  const numLabels = task.regression ? 1 : task.labels.length;
  const ds = a.deepspeed_config ? loadDeepSpeedConfig(a.deepspeed_config) : undefined;
  const trainer = new Trainer(
    {
      model: { ...folder.model, pre_layer_norm: folder.preLn, num_labels: numLabels },
      precision: ds?.precision ?? "fp32",
      seed: a.seed,
      threads: a.threads,
      batch: batchShape(a, world),
      deepspeed: ds ?? DEEPSPEED_DEFAULTS,
      delayAllreduce: a.delay_allreduce ?? false,
    },
    world,
    out,
  );
  if (a.random) out.warn(`[bert-train] --random: starting ${task.name} from random weights, not from ${a.checkpoint}`);
  else {
    const reinit = (n: string) => (a.reinit_pooler ?? false) && n.startsWith("bert.pooler.");
    const loaded = loadWeights(trainer.engine, folder.weights, reinit);
    reportLoadedWeights(out, folder.weights, loaded, { mismatch: "log", keptInitialReason: "--reinit_pooler" });
    requireBody(folder.weights, loaded, a.allow_partial_load ?? false);
  }
  const jobDir = join(a.output_dir, a.job_name);
  return {
    a,
    task,
    out,
    world,
    trainer,
    ds,
    dataDir: taskDir(a.data_dir, task),
    jobDir,
    numLabels,
    layers: folder.model.num_hidden_layers,
    results: {},
    step: 0,
    vocab: tokenizerChoice(a, folder),
  };
}

export async function finetune(
  a: FinetuneArgs,
  output: Output,
  world: World = joinWorld(),
): Promise<Record<string, number>> {
  // rank 0 logs, evaluates and writes; every rank trains on its share of each batch
  const out = rootOutput(world, output);
  const partial = setup(a, glueTask(a.task), world, out);
  if (world.isRoot) writableDir(partial.jobDir);
  const lock = world.isRoot
    ? lockFolder(join(a.output_dir, `.${a.job_name}.lock`), `--output_dir ${a.output_dir} (job ${a.job_name})`)
    : undefined;
  try {
    const tok = await createBertTokenizer(partial.vocab.path, partial.vocab.lowerCase);
    out.log(`tokenizing with ${partial.vocab.path} (${partial.vocab.lowerCase ? "lower-cased" : "cased"})`);
    const data = await readSplits(a, partial.task, partial.dataDir, tok, world.isRoot);
    return await runJob({ ...partial, tok, data });
  } finally {
    lock?.release();
  }
}

async function runJob(run: Run): Promise<Record<string, number>> {
  const { a, world } = run;
  if (a.do_train) await train(run);
  else if (a.do_eval) await evaluateDev(run, 0);
  if (a.do_predict && world.isRoot) await writePredictions(run);
  return run.results;
}
