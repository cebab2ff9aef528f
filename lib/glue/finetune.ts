// GLUE fine-tuning: a pre-trained model (a checkpoint, an exported folder, or random weights on request) with a
// new classification head, trained with the GLUE warm-up-linear schedule and evaluated after every epoch. A run
// saves checkpoints in the pre-training layout (resumable, exportable), writes metrics JSONL and TensorBoard, and
// stops on a signal with a checkpoint. Writes eval_results.txt and test predictions in the GLUE submission
// format. Unlike the reference script it honours the learning rate and the seed it is given, and loss-scales fp16.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { FP16_NOTICE, loadDeepSpeedConfig } from "../config/deepspeed.js";
import { checkJobName, ConfigError } from "../config/errors.js";
import { createBertTokenizer, readVocab, VocabError, vocabSizeProblem, type BertTokenizer } from "../data/tokenizer.js";
import { defaultVocabFile } from "../paths.js";
import { writableDir } from "../files.js";
import { lockFolder } from "../native/lock.js";
import { joinWorld, rootOutput, type World } from "../parallel/world.js";
import {
  cleanCheckpointDebris,
  readTrainingState,
  resolveCheckpointDir,
  type TrainingState,
} from "../train/checkpoint.js";
import { ComputeMeter } from "../train/flops.js";
import { jobOutputs, prepareJobOutputs } from "../train/job-outputs.js";
import { openModelFolder, type ModelFolder } from "../train/model-folder.js";
import { reportPeakMemory, runSummary } from "../train/run-summary.js";
import { DEEPSPEED_DEFAULTS, Trainer, type BatchShape, type Output, type StopSignal } from "../train/trainer.js";
import { loadWeights, reportLoadedWeights, requireBody, type LoadedWeights } from "../train/weights.js";
import { weightGroup } from "../train/weight-names.js";
import { featurize } from "./features.js";
import { resumeFrom, train } from "./finetune-loop.js";
import type { FinetuneArgs, GlueData, Run } from "./finetune-run.js";
import { evaluateDev, predictionFileName, writePredictions } from "./glue-eval.js";
import { GlueError, glueTask, readGlueFile, taskDir, type GlueTask } from "./tasks.js";
import { placeOnDevice } from "../native/device.js";

export type { Output } from "../train/trainer.js";
export type { FinetuneArgs } from "./finetune-run.js";

/** The pre-trained model: a checkpoint (or its job folder) or an exported folder. */
function modelSource(a: FinetuneArgs, resume?: string): ModelFolder {
  if (resume !== undefined) return openModelFolder(resume); // the fine-tuned model itself
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

/**
 * The checkpoint's own vocabulary and casing, unless --vocab_file or --do_lower_case say otherwise; a vocabulary
 * that does not fit the model's embeddings is an error.
 */
function tokenizerChoice(a: FinetuneArgs, folder: ModelFolder): Run["vocab"] {
  const path = a.vocab_file ?? folder.vocab?.path ?? defaultVocabFile();
  const lowerCase = a.do_lower_case ?? (a.vocab_file === undefined ? folder.vocab?.lowerCase : undefined) ?? true;
  const vocab = readVocab(path);
  const problem = vocabSizeProblem(vocab, folder.model.vocab_size, `the model ${folder.path}`);
  if (problem) throw new VocabError(problem);
  return { path, sha256: vocab.sha256, lowerCase };
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

/** The fine-tuning checkpoint --load_training_checkpoint names, checked against this run's task and batch. */
function resumeCheckpoint(a: FinetuneArgs, task: GlueTask): { path: string; state: TrainingState } | undefined {
  if (a.load_training_checkpoint === undefined) return undefined;
  const path = resolveCheckpointDir(a.load_training_checkpoint, "latest");
  const state = readTrainingState(path);
  const saved = state.configs as { args?: Partial<FinetuneArgs> };
  if (!state.glue)
    throw new ConfigError([
      `--load_training_checkpoint ${path}: a pre-training checkpoint; name it as the CHECKPOINT argument to fine-tune from it`,
    ]);
  const problems: string[] = [];
  if (state.glue.task !== task.name) problems.push(`it fine-tuned ${state.glue.task}, this run ${task.name}`);
  for (const key of ["train_batch_size", "gradient_accumulation_steps", "seed", "max_seq_length"] as const)
    if (saved.args?.[key] !== undefined && saved.args[key] !== a[key])
      problems.push(`it ran with ${key} ${saved.args[key]}, this run asks for ${a[key]}`);
  if (problems.length)
    throw new ConfigError(
      problems.map((p) => `--load_training_checkpoint ${path}: ${p}; resume with the same settings`),
    );
  return { path, state };
}

/** Whether the model's classification head came from the checkpoint (trained), with this task's label count. */
function headIsTrained(loaded: LoadedWeights | undefined): boolean {
  if (!loaded) return false;
  const head = (names: string[]) => names.filter((n) => weightGroup(n) === "classifier");
  return head(loaded.loaded).length > 0 && head(loaded.missing).length === 0;
}

/** The engine with the pre-trained weights (unless --random or a resume) and a new classification head. */
function setup(a: FinetuneArgs, task: GlueTask, world: World, out: Output): Omit<Run, "tok" | "data"> {
  checkJobName(a.job_name, "JOB_NAME");
  const resume = resumeCheckpoint(a, task);
  const folder = modelSource(a, resume?.path);
  checkSeqLength(a, folder.model.max_position_embeddings);
  const numLabels = task.regression ? 1 : task.labels.length;
  const ds = a.deepspeed_config ? loadDeepSpeedConfig(a.deepspeed_config) : undefined;
  for (const line of ds?.notices ?? []) out.warn(line);
  if (ds?.precision === "fp16") out.warn(FP16_NOTICE);
  if (ds?.scheduler)
    out.warn(
      `[bert-train] ${ds.file}: scheduler ${ds.scheduler.type} is superseded by the GLUE warm-up-linear schedule (--warmup_proportion)`,
    );
  const placement = placeOnDevice(a.device, world.localRank);
  if (world.isRoot) out.log(placement.line);
  const trainer = new Trainer(
    {
      model: { ...folder.model, pre_layer_norm: folder.preLn, num_labels: numLabels },
      precision: ds?.precision ?? "fp32",
      seed: a.seed,
      threads: a.threads,
      placement,
      batch: batchShape(a, world),
      deepspeed: ds ?? DEEPSPEED_DEFAULTS,
      delayAllreduce: a.delay_allreduce ?? false,
    },
    world,
    out,
  );
  const loaded = resume ? undefined : initialWeights(a, task, folder, trainer, out);
  if (!a.do_train && (a.do_eval || a.do_predict))
    checkHead(a, task, folder, resume !== undefined || headIsTrained(loaded));
  const jobDir = join(a.output_dir, a.job_name);

  const stepsPerEpoch = 0;
  const run: Omit<Run, "tok" | "data"> = {
    a,
    task,
    out,
    world,
    trainer,
    ds,
    folder,
    dataDir: taskDir(a.data_dir, task),
    jobDir,
    outputs: jobOutputs(a.output_dir, a.job_name, jobResultFiles(jobDir, task)),
    numLabels,
    layers: folder.model.num_hidden_layers,
    results: {},
    position: { step: 0, epoch: 1, stepInEpoch: 0, epochLossSum: 0 },
    stepsPerEpoch,
    totalSteps: 0,
    skippedSteps: 0,
    vocab: tokenizerChoice(a, folder),
    compute: ComputeMeter.start(trainer.model, ds?.precision ?? "fp32", a.threads, world, placement.device),
  };
  if (resume) resumeFrom(run as Run, resume.path, resume.state);
  return run;
}

/** Scoring without training needs the task's own trained head: not a random one, nor another task's. */
function checkHead(a: FinetuneArgs, task: GlueTask, folder: ModelFolder, trained: boolean): void {
  const labels = task.regression ? 1 : task.labels.length;
  if (!trained)
    throw new ConfigError([
      `finetune: ${a.random ? "--random" : folder.path} gives no trained ${task.name} classification head${folder.numLabels ? ` (its head has ${folder.numLabels} labels, ${task.name} has ${labels})` : ""}; --do_eval and --do_predict without --do_train would score a random head. Fine-tune first (--do_train), or name a checkpoint fine-tuned on ${task.name}`,
    ]);
  if (folder.task !== undefined && folder.task !== task.name && !a.force)
    throw new ConfigError([
      `finetune: ${folder.path} was fine-tuned on ${folder.task}, not ${task.name}; pass --force to score ${task.name} with its head anyway`,
    ]);
}

/** The pre-trained weights into the engine (not with --random); what was loaded. */
function initialWeights(
  a: FinetuneArgs,
  task: GlueTask,
  folder: ModelFolder,
  trainer: Trainer,
  out: Output,
): LoadedWeights | undefined {
  if (a.random) {
    out.warn(`[bert-train] --random: starting ${task.name} from random weights, not from ${a.checkpoint}`);
    return undefined;
  }
  const reinit = (n: string) => (a.reinit_pooler ?? false) && n.startsWith("bert.pooler.");
  const loaded = loadWeights(trainer.engine, folder.weights, reinit);
  reportLoadedWeights(out, folder.weights, loaded, { mismatch: "log", keptInitialReason: "--reinit_pooler" });
  requireBody(folder.weights, loaded, a.allow_partial_load ?? false);
  return loaded;
}

/** The result and prediction files of the job folder, which a new run of the job name would replace. */
function jobResultFiles(jobDir: string, task: GlueTask): string[] {
  if (!existsSync(jobDir)) return [];
  const predictions = task.testFiles.map(({ split }) => `${predictionFileName(task.name, split)}.tsv`);
  return readdirSync(jobDir)
    .filter((f) => /^eval_results(_epoch\d+)?\.txt$/.test(f) || predictions.includes(f))
    .map((f) => join(jobDir, f));
}

export async function finetune(
  a: FinetuneArgs,
  output: Output,
  world: World = joinWorld(),
  signal?: StopSignal,
): Promise<Record<string, number>> {
  // rank 0 logs, evaluates and writes; every rank trains on its share of each batch
  const out = rootOutput(world, output);
  writableDir(a.output_dir);
  const lock = world.isRoot
    ? lockFolder(join(a.output_dir, `.${a.job_name}.lock`), `--output_dir ${a.output_dir} (job ${a.job_name})`)
    : undefined;
  try {
    const partial = setup(a, glueTask(a.task), world, out);
    const slow = partial.compute.precisionWarning();
    if (slow) out.warn(slow);
    const tok = await createBertTokenizer(partial.vocab.path, partial.vocab.lowerCase);
    out.log(`tokenizing with ${partial.vocab.path} (${partial.vocab.lowerCase ? "lower-cased" : "cased"})`);
    const data = await readSplits(a, partial.task, partial.dataDir, tok, world.isRoot);
    // everything is checked: only now may --overwrite remove an earlier run's outputs
    if (world.isRoot) claimOutputs(partial);
    return await runJob({ ...partial, tok, data }, signal);
  } finally {
    lock?.release();
  }
}

/** A training run owns its job's outputs: a new one refuses (or --overwrite replaces) what an earlier run left. */
function claimOutputs(run: Omit<Run, "tok" | "data">): void {
  const { a, outputs } = run;
  if (a.do_train) {
    for (const name of cleanCheckpointDebris(outputs.checkpoints))
      run.out.warn(`[bert-train] removed ${join(outputs.checkpoints, name)}, left by an interrupted save`);
    const resumedAt = a.load_training_checkpoint !== undefined ? run.position.step : undefined;
    prepareJobOutputs(outputs, { resumedAt, overwrite: a.overwrite ?? false, jobName: a.job_name }, run.out);
  }
  writableDir(run.jobDir);
}

/** Steps per epoch and in all, and the run's summary screen. */
function plan(run: Run): void {
  const { a } = run;
  const examples = run.data.train?.ids.length ?? 0;
  run.stepsPerEpoch = Math.floor(examples / a.train_batch_size);
  run.totalSteps = Math.min(run.stepsPerEpoch * a.num_train_epochs, a.max_steps ?? Infinity);
  runSummary(run.out, {
    model: { ...run.folder.model, pre_layer_norm: run.folder.preLn },
    parameters: run.trainer.parameterCount,
    precision: run.ds?.precision ?? "fp32",
    batch: run.trainer.batch,
    worldSize: run.world.size,
    stepsPerEpoch: run.stepsPerEpoch,
    totalSteps: run.totalSteps,
    firstStep: run.position.step,
    extra: [
      run.compute.describe(),
      `task           ${run.task.name}: ${examples} training examples, ${a.num_train_epochs} epochs, lr ${a.learning_rate} (warm-up ${a.warmup_proportion})`,
    ],
    outputs: [
      `checkpoints    ${run.outputs.checkpoints}`,
      `metrics        ${run.outputs.jsonl}`,
      `TensorBoard    ${run.outputs.tensorboard}`,
      `results        ${run.jobDir}`,
    ],
  });
}

async function runJob(run: Run, signal?: StopSignal): Promise<Record<string, number>> {
  const { a, world } = run;
  if (a.do_train) {
    plan(run);
    const finished = await train(run, signal);
    if (!finished) {
      run.out.log(
        `stopped at step ${run.position.step}; resume with --load_training_checkpoint ${run.outputs.checkpoints}`,
      );
      return run.results;
    }
  } else if (a.do_eval) await evaluateDev(run, 0);
  if (a.do_predict && world.isRoot) await writePredictions(run);
  reportPeakMemory(run.out);
  return run.results;
}
