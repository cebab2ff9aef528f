// The pre-training run, in named steps: plan (configs and flags, checked together: pretrain-plan.ts) -> setup (data,
// trainer, schedule) -> resume (a checkpoint or initial weights) -> loop (PLD gates, LR schedule, accumulation,
// optimizer, loss scaling, metrics, validation, checkpoints) -> finish. What it prints follows DeepSpeed bing_bert.
import { existsSync } from "node:fs";
import { join } from "node:path";

import type { CfConfig } from "../config/cf.js";
import { effectiveDeepSpeed } from "../config/deepspeed.js";
import { schedulerLearningRate } from "../config/scheduler.js";
import { ConfigError } from "../config/errors.js";
import { MASKED_LM_PROB } from "../data/instances.js";
import {
  CorpusMixer,
  CorpusShards,
  corporaFromCf,
  PretrainingLoader,
  rescaleMixerPosition,
  type LoaderOptions,
  type MixerPosition,
} from "../data/loader.js";
import { readVocab, specialIds, type Vocab } from "../data/tokenizer.js";
import { makeDirs, writableDir } from "../files.js";
import { allLayersKept } from "../native/engine.js";
import { lockFolder } from "../native/lock.js";
import type { LayerGates } from "../native/types.js";
import { joinWorld, rootOutput, type World } from "../parallel/world.js";
import { defaultVocabFile } from "../paths.js";
import {
  CHECKPOINT_FORMAT,
  CheckpointPolicy,
  cleanCheckpointDebris,
  jobDir,
  loadCheckpoint,
  resolveCheckpointDir,
  saveCheckpoint,
} from "./checkpoint.js";
import { evaluateMlm } from "./evaluate.js";
import type { LossScalerState } from "./loss-scaler.js";
import { bingBertLearningRate, scheduleStep, type BingBertSchedule } from "./lr-schedule.js";
import { MetricsSink, type StepRecord } from "./metrics.js";
import { round } from "./numbers.js";
import { sampleGates, thetaForStep } from "./pld.js";
import { ALIAS_NAMES, planRun, type Plan, type PretrainArgs } from "./pretrain-plan.js";
import { stopAgreed, Trainer, type Output, type StopSignal } from "./trainer.js";
import { DivergedError, type TrainStepResult } from "./train-step.js";
import { jobOutputs, keepLastCheckpoints, prepareJobOutputs, recordedArgs } from "./job-outputs.js";
import { ComputeMeter } from "./flops.js";
import { modelShape } from "./model-folder.js";
import { reportPeakMemory, runSummary } from "./run-summary.js";
import { loadWeights, reportLoadedWeights, requireBody } from "./weights.js";
import { placeOnDevice } from "../native/device.js";

export type { Output, StopSignal } from "./trainer.js";
export { PRETRAIN_ALIASES, type PretrainArgs } from "./pretrain-plan.js";

export interface PretrainResult {
  globalSteps: number;
  losses: number[];
  /** Wall time of each optimizer step (forward, backward, update), milliseconds. */
  stepMs: number[];
  /** Fraction of layer evaluations kept by PLD, per step. */
  keptFraction: number[];
  /** performance.now() at the end of each step, loader and logging included: the end-to-end rate. */
  stepEnds: number[];
  lastCheckpoint?: string;
  interrupted: boolean;
}

/** What a checkpoint saves and a resume restores, besides weights, moments and the data position. */
interface Counters {
  globalSteps: number;
  skippedSteps: number;
  /** Updates actually applied (drives bias correction). */
  optimizerSteps: number;
  globalSamples: number;
  /** The step this process started from (the LR schedule may warm up again from there). */
  resumedAt: number;
}

/** Everything the loop works with, built once by setup(). */
interface Run {
  a: PretrainArgs;
  plan: Plan;
  world: World;
  out: Output;
  trainer: Trainer;
  mixer: CorpusMixer;
  validation?: CorpusShards;
  loaderOptions: LoaderOptions;
  stepsPerEpoch: number;
  maxSteps: number;
  schedule: BingBertSchedule;
  dir: string;
  policy: CheckpointPolicy;
  counters: Counters;
  lastCheckpoint?: string;
  /** The vocabulary of the run, copied into every checkpoint, and whether the shards' text was lower-cased. */
  vocab: { path: string; sha256: string; lowerCase: boolean };
  /** Each step's FLOPs and their share of the peak measured at the start. */
  compute: ComputeMeter;
}

/**
 * How many tokens dynamic masking masks per sequence: the flag, which must agree with every corpus whose
 * dataset.json records a value (phase 2 at 512 masks 80, not 20); else that value; else Google's 20 per 128.
 */
function predictionsPerSeq(a: PretrainArgs, corpora: Map<string, CorpusShards>, out: Output): number {
  const recorded = [...corpora.values()].flatMap((s) =>
    s.manifest?.maxPredictionsPerSeq === undefined ? [] : [{ dir: s.dir, value: s.manifest.maxPredictionsPerSeq }],
  );
  const given = a.max_predictions_per_seq;
  const disagree = recorded.filter((r) => r.value !== (given ?? recorded[0]?.value));
  if (disagree.length)
    throw new ConfigError(
      disagree.map(
        (r) =>
          `${r.dir}: its dataset.json says max_predictions_per_seq ${r.value}, but ${given === undefined ? `${recorded[0]?.dir} says ${recorded[0]?.value}` : `--max_predictions_per_seq is ${given}`}; prepare the shards with the value you train with`,
      ),
    );
  const value = given ?? recorded[0]?.value ?? Math.round((a.max_seq_length * 20) / 128);
  if (given === undefined)
    out.log(
      `max_predictions_per_seq ${value} (${recorded.length ? "from the shards' dataset.json" : "20 per 128 tokens"})`,
    );
  return value;
}

/** One loader per corpus of the --cf file, mixed step by step; `records` counts them all. */
async function openCorpora(
  a: PretrainArgs,
  cf: CfConfig,
  base: Omit<LoaderOptions, "maxPredictionsPerSeq">,
  vocab: Vocab,
  out: Output,
): Promise<{ mixer: CorpusMixer; records: number; lowerCase: boolean; o: LoaderOptions }> {
  const corpora = new Map<string, CorpusShards>();
  for (const [name, dir] of corporaFromCf(cf.raw, a.max_seq_length, a.data_path_prefix, cf.file)) {
    if (!existsSync(dir))
      throw new ConfigError([
        `${cf.file}: data.mixed_seq_datasets.${a.max_seq_length}.${name}: ${dir} does not exist (--data_path_prefix ${a.data_path_prefix})`,
      ]);
    const shards = await CorpusShards.open(dir, {
      onlyHdf5: a.use_nvidia_dataset,
      skipCorrupt: a.skip_corrupt_shards,
      warn: (line: string) => out.warn(line),
      vocabSize: base.vocabSize,
      vocabFile: vocab,
    });
    if (shards.seqLen !== a.max_seq_length)
      throw new ConfigError([
        `${dir}: the shards hold sequences of ${shards.seqLen}, but --max_seq_length is ${a.max_seq_length}`,
      ]);
    corpora.set(name, shards);
  }
  const o: LoaderOptions = { ...base, maxPredictionsPerSeq: predictionsPerSeq(a, corpora, out) };
  const loaders = new Map([...corpora].map(([name, shards]) => [name, new PretrainingLoader(shards, o)]));
  const records = [...corpora.values()].reduce((n, s) => n + s.count, 0);
  // shards from other tools do not say; the default vocabulary is uncased
  const lowerCase = [...corpora.values()].find((s) => s.manifest?.lowerCase !== undefined)?.manifest?.lowerCase ?? true;
  return { mixer: new CorpusMixer(loaders, a.seed), records, lowerCase, o };
}

/**
 * The validation shards, as bing_bert finds them: the --cf file's validation.path under
 * --validation_data_path_prefix (else --data_path_prefix); without validation.path, the prefix itself. A folder the
 * flag names must exist; one only the --cf file implies is skipped with a note when it is absent.
 */
function validationFolder(a: PretrainArgs, cf: CfConfig, out: Output): string | undefined {
  const prefix = a.validation_data_path_prefix;
  if (cf.validationPath === undefined) return prefix;
  const dir = join(prefix ?? a.data_path_prefix, cf.validationPath);
  if (existsSync(dir)) return dir;
  if (prefix !== undefined)
    throw new ConfigError([
      `${cf.file}: validation.path: ${dir} does not exist (--validation_data_path_prefix ${prefix} joined with "${cf.validationPath}")`,
    ]);
  out.log(`no validation: ${dir} (validation.path of ${cf.file} under --data_path_prefix) does not exist`);
  return undefined;
}

async function setup(a: PretrainArgs, plan: Plan, world: World, out: Output): Promise<Run> {
  const { cf, ds } = plan;
  for (const key of ds.ignored)
    out.warn(`[bert-train] ${ds.file}: "${key}" is a GPU/DeepSpeed-runtime setting with no effect here; ignored`);
  for (const line of plan.notices) out.warn(line);
  const placement = placeOnDevice(a.device, world.localRank); // before any data is read: a missing GPU fails fast
  if (world.isRoot) out.log(placement.line);
  const vocab = readVocab(a.vocab_file ?? defaultVocabFile());
  if (vocab.tokens.length > cf.model.vocab_size)
    throw new ConfigError([
      `${cf.file}: bert_model_config.vocab_size_or_config_json_file ${cf.model.vocab_size} is smaller than the vocabulary ${vocab.path} (${vocab.tokens.length} tokens)`,
    ]);
  const base = {
    batchSize: ds.microBatchSize,
    seed: a.seed,
    maskedLmProb: MASKED_LM_PROB,
    vocabSize: vocab.tokens.length,
    special: specialIds(vocab),
    rank: world.rank,
    worldSize: world.size,
  };
  const { mixer, records, lowerCase, o: loaderOptions } = await openCorpora(a, cf, base, vocab, out);
  // opened (and checked) now, not at the end of the first epoch
  const validationDir = world.isRoot ? validationFolder(a, cf, out) : undefined;
  const validation =
    validationDir !== undefined
      ? await CorpusShards.open(validationDir, { vocabSize: loaderOptions.vocabSize, vocabFile: vocab })
      : undefined;
  if (validation && validation.seqLen !== a.max_seq_length)
    throw new ConfigError([
      `${validationDir}: the validation shards hold sequences of ${validation.seqLen}, but --max_seq_length is ${a.max_seq_length}`,
    ]);
  const stepsPerEpoch = Math.max(
    1,
    Math.min(Math.floor(records / ds.trainBatchSize), a.max_steps_per_epoch ?? Infinity),
  );
  const trainer = new Trainer(
    {
      model: plan.model,
      precision: ds.precision,
      seed: a.seed,
      threads: a.threads,
      placement,
      batch: { micro: ds.microBatchSize, accumulation: ds.gradientAccumulationSteps, global: ds.trainBatchSize },
      deepspeed: ds,
      delayAllreduce: a.delay_allreduce ?? false,
    },
    world,
    out,
  );
  return {
    a,
    plan,
    world,
    out,
    trainer,
    mixer,
    validation,
    loaderOptions,
    vocab: { path: vocab.path, sha256: vocab.sha256, lowerCase },
    stepsPerEpoch,
    maxSteps: a.max_steps ?? stepsPerEpoch * cf.training.num_epochs,
    schedule: {
      schedule: plan.lrSource.kind === "bing_bert" ? plan.lrSource.name : "LE",
      learningRate: cf.training.learning_rate ?? ds.lr,
      warmupProportion: cf.training.warmup_proportion,
      decayRate: cf.training.decay_rate,
      decayStep: cf.training.decay_step,
      totalTrainingSteps: cf.training.total_training_steps,
      lrOffset: a.lr_offset,
    },
    dir: jobDir(a.output_dir, a.job_name),
    policy: new CheckpointPolicy(stepsPerEpoch, a.ckpt_steps, a.ckpt_to_save),
    counters: { globalSteps: 0, skippedSteps: 0, optimizerSteps: 0, globalSamples: 0, resumedAt: 0 },
    compute: ComputeMeter.start(plan.model, ds.precision, a.threads, world, placement.device),
  };
}

/** Initial weights from an exported folder, or the whole training state from a checkpoint. */
function resume(run: Run): void {
  const { a, out, trainer, world } = run;
  if (a.init_from !== undefined && a.load_training_checkpoint === undefined) {
    out.log(`initial weights from ${a.init_from}`);
    const file = join(a.init_from, "model.safetensors");
    const loaded = loadWeights(trainer.engine, file);
    reportLoadedWeights(out, file, loaded, { mismatch: "warn", keptInitialReason: "" });
    requireBody(file, loaded, a.allow_partial_load ?? false);
  }
  if (a.load_training_checkpoint === undefined) return;
  const path = resolveCheckpointDir(a.load_training_checkpoint, a.load_checkpoint_id);
  const state = loadCheckpoint(trainer.engine, path, true);
  run.counters = {
    globalSteps: state.global_steps,
    skippedSteps: state.skipped_steps,
    optimizerSteps: state.optimizer_steps,
    globalSamples: state.global_samples,
    resumedAt: state.global_steps,
  };
  const savedWorld = state.world_size ?? 1;
  run.mixer.restore(rescaleMixerPosition(state.data_position as MixerPosition, savedWorld, world.size));
  if (savedWorld !== world.size) out.log(`resuming a ${savedWorld}-rank run on ${world.size} ranks`);
  trainer.restoreScaler(state.loss_scaler as LossScalerState | undefined);
  out.log(`resumed from ${path} at step ${run.counters.globalSteps}`);
}

function learningRate(run: Run, step: number): number {
  const source = run.plan.lrSource;
  return source.kind === "deepspeed"
    ? schedulerLearningRate(source.scheduler, run.plan.ds.lr, step)
    : bingBertLearningRate(run.schedule, step);
}

function theta(run: Run, globalSteps: number): number {
  return run.plan.pldActive ? thetaForStep(run.plan.ds.pld, globalSteps) : 1;
}

/** What `latest` names now, for messages. */
function latestNote(run: Run): string {
  return run.lastCheckpoint
    ? `latest still names ${run.lastCheckpoint}, saved after a step with a finite loss`
    : "this run wrote no checkpoint";
}

function checkpoint(run: Run): void {
  const c = run.counters;
  const tag = run.policy.tag(c.globalSteps);
  if (!run.trainer.lossIsFinite) {
    // the loss is computed before a step's update: a non-finite one says the weights saved now are past use
    run.out.warn(`[bert-train] step ${c.globalSteps}: the loss is not finite; no checkpoint (${latestNote(run)})`);
    return;
  }
  run.policy.saved(c.globalSteps);
  if (!run.world.isRoot) return; // every rank holds the same weights; rank 0 writes them
  run.lastCheckpoint = saveCheckpoint(
    run.trainer.engine,
    run.dir,
    {
      format: CHECKPOINT_FORMAT,
      tag,
      global_steps: c.globalSteps,
      skipped_steps: c.skippedSteps,
      optimizer_steps: c.optimizerSteps,
      global_samples: c.globalSamples,
      epoch: Math.floor(c.globalSteps / run.stepsPerEpoch),
      last_global_step: c.globalSteps,
      last_global_data_samples: c.globalSamples,
      data_position: run.mixer.position(),
      world_size: run.world.size,
      theta: theta(run, c.globalSteps),
      loss_scaler: run.trainer.scaler?.state(),
      configs: {
        cf: run.plan.cf.raw,
        deepspeed: effectiveDeepSpeed(run.plan.ds),
        args: recordedArgs(run.a, ALIAS_NAMES),
      },
      vocab: { file: "vocab.txt", sha256: run.vocab.sha256, do_lower_case: run.vocab.lowerCase },
      model: { config: modelShape(run.plan.model), pre_layer_norm: run.plan.model.pre_layer_norm, num_labels: 0 },
    },
    run.vocab.path,
  );
  run.out.log(`checkpointing: PATH=${run.lastCheckpoint}, ckpt_id=${tag}`);
  if (run.a.keep_last !== undefined) keepLastCheckpoints(run.dir, run.a.keep_last, run.lastCheckpoint, run.out);
}

/** MLM loss and accuracy on the validation shards (rank 0, at the end of each epoch). */
async function validate(run: Run, metrics: MetricsSink): Promise<void> {
  const step = run.counters.globalSteps;
  const shards = run.validation as CorpusShards;
  const layers = run.plan.model.num_hidden_layers;
  const v = await evaluateMlm(run.trainer.engine, shards, run.loaderOptions, layers, 50);
  run.out.log(`validation: step=${step}, mlm_loss=${v.mlm_loss.toFixed(4)}, mlm_accuracy=${v.mlm_accuracy.toFixed(4)}`);
  metrics.validation(step, { ...v }, ["mlm_loss", "mlm_accuracy"]);
}

/** Validation that fails (a damaged shard, no memory) is reported and training goes on: its checkpoint is written. */
async function validateOrReport(run: Run, metrics: MetricsSink): Promise<void> {
  try {
    await validate(run, metrics);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === undefined) throw err; // a bug, not the data
    run.out.warn(
      `[bert-train] validation at step ${run.counters.globalSteps} failed (${(err as Error).message}); training goes on (${latestNote(run)})`,
    );
  }
}

/** The console lines of DeepSpeed's bing_bert example after a step (the trainer reports overflows). */
function logStep(run: Run, r: TrainStepResult, lr: number, milliseconds: number): void {
  const { out, plan, counters: c } = run;
  if (c.globalSteps % run.a.print_steps === 0)
    out.log(
      `bing_bert_progress: step=${c.globalSteps}, loss=${round(r.loss)}, lr=${round(lr)}, sample_count=${c.globalSamples}`,
    );
  if (c.globalSteps % plan.ds.stepsPerPrint !== 0) return;
  out.log(
    `[Rank 0] step=${c.globalSteps}, skipped=${c.skippedSteps}, lr=[${round(lr)}], mom=[(${plan.ds.optimizer.beta1}, ${plan.ds.optimizer.beta2})]`,
  );
  if (plan.ds.wallClockBreakdown)
    out.log(
      `[Rank 0] time (ms) | forward+backward+step: ${milliseconds.toFixed(2)} | allreduce: ${r.allreduceMs.toFixed(2)} | allreduce wait: ${r.allreduceWaitMs.toFixed(2)}`,
    );
}

const TENSORBOARD_KEYS = [
  "loss",
  "mlm_loss",
  "nsp_loss",
  "lr",
  "theta",
  "grad_norm",
  "kept_layers",
  "loss_scale",
  "model_flops",
  "utilisation",
];

function stepRecord(run: Run, r: TrainStepResult, lr: number, th: number, kept: number, ms: number): StepRecord {
  return {
    step: run.counters.globalSteps,
    loss: r.loss,
    mlm_loss: r.mlmLoss,
    nsp_loss: r.nspLoss,
    mlm_tokens: r.mlmTokens,
    lr,
    theta: th,
    kept_layers: kept,
    grad_norm: r.gradNorm,
    loss_scale: r.lossScale,
    skipped: r.skipped,
    samples: run.counters.globalSamples,
    step_ms: ms,
    wall_time: Date.now() / 1000,
    ...run.compute.step(
      {
        sequences: run.plan.ds.trainBatchSize,
        seq: run.a.max_seq_length,
        maskedTokens: r.mlmTokens,
        keptFraction: kept,
      },
      ms,
    ),
    ...(run.world.size > 1 ? { allreduce_ms: r.allreduceMs, allreduce_wait_ms: r.allreduceWaitMs } : {}),
  };
}

/**
 * The fraction of layer evaluations the whole step ran, over every micro-batch of every rank: the draws are a
 * function of the micro-batch's place in the step, so rank 0 knows the other ranks' gates without asking.
 */
function keptFraction(microBatches: number, layers: number, gatesOf: (j: number) => LayerGates): number {
  let kept = 0;
  for (let j = 0; j < microBatches; j++) kept += gatesOf(j).keep.filter(Boolean).length;
  return kept / (microBatches * layers);
}

/** One optimizer step: gates, micro-batches, the update, then what it reports. */
async function trainOneStep(run: Run, metrics: MetricsSink, result: PretrainResult): Promise<void> {
  const { plan, trainer, counters: c } = run;
  const layers = plan.model.num_hidden_layers;
  const th = theta(run, c.globalSteps);
  const { batches } = run.mixer.nextStep(plan.ds.gradientAccumulationSteps);
  // a gate draw per micro-batch (or one per step, gate_scope "step"), keyed by its place in the global batch
  const gatesOf = (j: number) =>
    plan.pldActive ? sampleGates(plan.ds.pld, layers, th, run.a.seed, c.globalSteps, j) : allLayersKept(layers);
  const micro = trainer.microBatches(c.globalSteps, batches, gatesOf);
  const lr = learningRate(run, scheduleStep(c.globalSteps, c.resumedAt, run.a.rewarmup));
  const started = performance.now();
  const r = await trainer.step(micro, {
    optimizer: plan.ds.optimizer,
    lr,
    stepNumber: c.optimizerSteps + 1,
    maxGradNorm: plan.ds.gradientClipping,
    onMicroBatch: (done, of) => metrics.microBatch(c.globalSteps, done, of),
  });
  const milliseconds = performance.now() - started;
  c.globalSteps++;
  c.globalSamples += plan.ds.trainBatchSize;
  if (r.skipped) c.skippedSteps++;
  else c.optimizerSteps++;
  const kept = keptFraction(trainer.microBatchesPerStep, layers, gatesOf);
  result.losses.push(r.loss);
  result.stepMs.push(milliseconds);
  result.keptFraction.push(kept);
  metrics.step(stepRecord(run, r, lr, th, kept, milliseconds), `θ ${th.toFixed(3)}  lr ${lr.toExponential(2)}`);
  logStep(run, r, lr, milliseconds);
}

/** Steps until max_steps or an agreed stop; validation and checkpoints as the policy says. */
async function loop(run: Run, metrics: MetricsSink, result: PretrainResult, signal?: StopSignal): Promise<void> {
  const c = run.counters;
  signal?.listen?.();
  while (c.globalSteps < run.maxSteps) {
    if (stopAgreed(run.world, signal)) {
      result.interrupted = true;
      break;
    }
    try {
      await trainOneStep(run, metrics, result);
    } catch (err) {
      if (err instanceof DivergedError) throw new DivergedError(`${err.message}; ${latestNote(run)}`);
      throw err;
    }
    // the epoch's checkpoint first: a validation that fails cannot cost it
    if (run.policy.dueAfterStep(c.globalSteps)) checkpoint(run);
    if (run.policy.epochEnds(c.globalSteps) && run.validation && run.world.isRoot) await validateOrReport(run, metrics);
    result.stepEnds.push(performance.now());
  }
  if (run.policy.dueAtEnd(c.globalSteps, result.interrupted)) checkpoint(run);
  if (!run.trainer.lossIsFinite)
    throw new DivergedError(
      `the run ended at step ${c.globalSteps} with a non-finite loss (its last steps were skipped); ${latestNote(run)}`,
    );
}

export async function pretrain(
  a: PretrainArgs,
  output: Output,
  signal?: StopSignal,
  world: World = joinWorld(),
): Promise<PretrainResult> {
  // rank 0 speaks for the job; the other ranks only report what stops them (as errors)
  const out = rootOutput(world, output);
  const plan = planRun(a, world.size);
  writableDir(a.output_dir);
  // one run per job folder: rank 0 holds the lock for the whole job
  const lock = world.isRoot
    ? lockFolder(join(a.output_dir, `.${a.job_name}.lock`), `--output_dir ${a.output_dir} (job ${a.job_name})`)
    : undefined;
  try {
    const run = await setup(a, plan, world, out);
    const slow = run.compute.precisionWarning();
    if (slow) out.warn(slow);
    return await runLocked(run, signal);
  } finally {
    lock?.release();
  }
}

function outputsOf(a: PretrainArgs) {
  return jobOutputs(a.output_dir, a.job_name);
}

/** The one-screen summary a run starts with. */
function summarize(run: Run): void {
  const { plan, trainer, counters: c } = run;
  const o = outputsOf(run.a);
  runSummary(run.out, {
    model: plan.model,
    parameters: trainer.parameterCount,
    precision: plan.ds.precision,
    batch: trainer.batch,
    worldSize: run.world.size,
    stepsPerEpoch: run.stepsPerEpoch,
    totalSteps: run.maxSteps,
    firstStep: c.globalSteps,
    extra: [
      `PLD            ${plan.pldActive ? `on (theta ${plan.ds.pld.theta}, gamma ${plan.ds.pld.gamma})` : "off"}`,
      `learning rate  ${plan.lrSource.kind === "deepspeed" ? `${plan.lrSource.scheduler.type} (DeepSpeed scheduler block)` : `bing_bert ${plan.lrSource.name}`}`,
      run.compute.describe(),
    ],
    outputs: [`checkpoints    ${o.checkpoints}`, `metrics        ${o.jsonl}`, `TensorBoard    ${o.tensorboard}`],
  });
}

async function runLocked(run: Run, signal?: StopSignal): Promise<PretrainResult> {
  const { a, out, world } = run;
  if (world.isRoot)
    for (const name of cleanCheckpointDebris(run.dir))
      out.warn(`[bert-train] removed ${join(run.dir, name)}, left by an interrupted save`);
  resume(run);
  // the configs, the data and the checkpoint are checked: now a new run of a job name in use is refused (or, with
  // --overwrite, starts over), and a resumed one drops the metrics past the step it resumes from
  const resumed = a.load_training_checkpoint !== undefined ? run.counters.globalSteps : undefined;
  if (world.isRoot)
    prepareJobOutputs(outputsOf(a), { resumedAt: resumed, overwrite: a.overwrite ?? false, jobName: a.job_name }, out);
  makeDirs(run.dir);
  summarize(run);
  const metrics = new MetricsSink({
    world,
    out,
    jsonlPath: outputsOf(a).jsonl,
    tensorboardDir: outputsOf(a).tensorboard,
    totalSteps: run.maxSteps,
    globalBatch: run.plan.ds.trainBatchSize,
    tensorboardKeys: TENSORBOARD_KEYS,
    resumedAt: resumed,
  });
  if (run.plan.pldActive)
    out.log(`[INFO] [Rank 0] Enabled progressive layer dropping (theta = ${run.plan.ds.pld.theta})`);
  const result: PretrainResult = {
    globalSteps: 0,
    losses: [],
    stepMs: [],
    keptFraction: [],
    stepEnds: [],
    interrupted: false,
  };
  try {
    await loop(run, metrics, result, signal);
  } finally {
    metrics.close();
  }
  reportPeakMemory(out);
  return { ...result, globalSteps: run.counters.globalSteps, lastCheckpoint: run.lastCheckpoint };
}
