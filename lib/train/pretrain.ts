// The pre-training run: configs -> data -> engine -> the loop (PLD gates, LR schedule, accumulation, optimizer,
// loss scaling) -> logs and checkpoints. What it prints follows DeepSpeed's bing_bert example (DESIGN §7b).
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";

import { loadCf, type CfConfig } from "../config/cf.js";
import { loadDeepSpeedConfig, type DeepSpeedConfig } from "../config/deepspeed.js";
import { gradientSyncOption, joinWorld, rootOutput, type World } from "../dist/world.js";
import { ConfigError } from "../config/errors.js";
import {
  CorpusMixer,
  CorpusShards,
  corporaFromCf,
  PretrainingLoader,
  type LoaderOptions,
  rescaleMixerPosition,
  type MixerPosition,
} from "../data/loader.js";
import { readVocab, specialIds } from "../data/tokenizer.js";
import { TensorBoardWriter } from "../formats/tensorboard.js";
import { allLayersKept, createEngine, EngineConfigError, resolveModelConfig } from "../native/engine.js";
import { projectRoot } from "../native/load.js";
import type { NativeEngine } from "../native/types.js";
import {
  CHECKPOINT_FORMAT,
  jobDir,
  loadCheckpoint,
  resolveCheckpointDir,
  saveCheckpoint,
  type TrainingState,
} from "./checkpoint.js";
import { evaluateMlm } from "./evaluate.js";
import { loadExportedWeights } from "./export.js";
import { LossScaler, type LossScalerState } from "./loss-scaler.js";
import { bingBertLearningRate, scheduleStep, type LrScheduleName } from "./lr-schedule.js";
import { sampleGates, thetaForStep } from "./pld.js";
import { trainStep } from "./train-step.js";

export interface PretrainArgs {
  cf: string;
  deepspeed_config: string;
  deepspeed: boolean;
  max_seq_length: number;
  max_predictions_per_seq: number;
  output_dir: string;
  job_name: string;
  seed: number;
  print_steps: number;
  lr_schedule: LrScheduleName;
  lr_offset: number;
  max_steps?: number;
  gradient_accumulation_steps?: number;
  train_batch_size?: number;
  fp16: boolean;
  loss_scale?: number;
  max_grad_norm?: number;
  progressive_layer_drop: boolean;
  load_training_checkpoint?: string;
  load_checkpoint_id: string;
  rewarmup: boolean;
  data_path_prefix: string;
  validation_data_path_prefix?: string;
  ckpt_steps?: number;
  ckpt_to_save?: number[];
  threads: number;
  vocab_file?: string;
  skip_corrupt_shards: boolean;
  /** An exported folder (bert-train export) whose weights start a new run. */
  init_from?: string;
  /** Multi-process runs: reduce all gradients after the backward pass instead of overlapping with it. */
  delay_allreduce?: boolean;
}

export interface Output {
  log(line: string): void;
  warn(line: string): void;
}

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

interface Plan {
  cf: CfConfig;
  ds: DeepSpeedConfig;
  pldActive: boolean;
}

/** Configs and flags, checked together; every problem is a ConfigError that says what to change. */
export function planRun(a: PretrainArgs, worldSize = 1): Plan {
  const cf = loadCf(a.cf, a.max_seq_length);
  try {
    resolveModelConfig({ ...cf.model, pre_layer_norm: a.progressive_layer_drop, num_labels: 0 });
  } catch (err) {
    if (err instanceof EngineConfigError) throw new ConfigError([`${cf.file}: bert_model_config: ${err.message}`]);
    throw err;
  }
  const ds = loadDeepSpeedConfig(
    a.deepspeed_config,
    { train: a.train_batch_size, accumulation: a.gradient_accumulation_steps },
    worldSize,
  );
  if (a.fp16) ds.precision = "fp16";
  if (a.loss_scale !== undefined) ds.fp16.lossScale = a.loss_scale;
  if (a.max_grad_norm !== undefined) ds.gradientClipping = a.max_grad_norm;
  if (a.progressive_layer_drop && !ds.pld.enabled)
    throw new ConfigError([
      `${ds.file}: progressive_layer_drop: --progressive_layer_drop selects the switchable (Pre-LN) model, but the DeepSpeed config does not enable layer dropping; add "progressive_layer_drop": {"enabled": true, "theta": 0.5, "gamma": 0.001}`,
    ]);
  if (!a.progressive_layer_drop && ds.pld.enabled)
    throw new ConfigError([
      `${ds.file}: progressive_layer_drop.enabled is true, but layer dropping needs the switchable (Pre-LN) model that --progressive_layer_drop selects; add the flag (or disable the block)`,
    ]);
  return { cf, ds, pldActive: a.progressive_layer_drop && ds.pld.enabled };
}

function checkWritable(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new ConfigError([
      `--output_dir ${dir}: cannot write there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    ]);
  }
}

class JsonlLog {
  private readonly fd: number;
  constructor(path: string) {
    // a run killed mid-line leaves a partial record: end it so the appended records stay parseable line by line
    const partial = existsSync(path) && !readFileSync(path, "utf8").endsWith("\n") && readFileSync(path).length > 0;
    this.fd = openSync(path, "a");
    if (partial) writeSync(this.fd, "\n");
  }
  write(record: Record<string, unknown>): void {
    writeSync(this.fd, JSON.stringify(record) + "\n");
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** A one-line progress display on a terminal's stderr: step, loss, samples/s, θ, lr, ETA. */
class ProgressLine {
  private readonly started = performance.now();
  private first = -1;
  constructor(
    private readonly total: number,
    private readonly batch: number,
  ) {}
  update(step: number, loss: number, theta: number, lr: number, ms: number): void {
    if (this.first < 0) this.first = step - 1;
    const done = step - this.first;
    const perStep = (performance.now() - this.started) / 1000 / done;
    const eta = Math.max(0, (this.total - step) * perStep);
    const line = `step ${step}/${this.total}  loss ${loss.toFixed(4)}  ${((1000 * this.batch) / ms).toFixed(1)} samples/s  θ ${theta.toFixed(3)}  lr ${lr.toExponential(2)}  ETA ${Math.floor(eta / 60)}m${String(Math.round(eta % 60)).padStart(2, "0")}s`;
    process.stderr.write(`\r${line}\x1b[K`);
  }
  done(): void {
    process.stderr.write("\n");
  }
}

export async function pretrain(
  a: PretrainArgs,
  output: Output,
  signal?: { stop: boolean },
  world: World = joinWorld(),
): Promise<PretrainResult> {
  // rank 0 speaks for the job; the other ranks only report what stops them (as errors)
  const out = rootOutput(world, output);
  const { cf, ds, pldActive } = planRun(a, world.size);
  for (const key of ds.ignored)
    out.warn(`[bert-train] ${ds.file}: "${key}" is a GPU/DeepSpeed-runtime setting with no effect here; ignored`);
  const vocab = readVocab(a.vocab_file ?? join(projectRoot(), "data", "bert-base-uncased-vocab.txt"));
  if (vocab.tokens.length > cf.model.vocab_size)
    throw new ConfigError([
      `${cf.file}: bert_model_config.vocab_size_or_config_json_file ${cf.model.vocab_size} is smaller than the vocabulary ${vocab.path} (${vocab.tokens.length} tokens)`,
    ]);
  checkWritable(a.output_dir);

  // data
  const corpora = corporaFromCf(cf.raw, a.max_seq_length, a.data_path_prefix, cf.file);
  const loaderOptions: LoaderOptions = {
    batchSize: ds.microBatchSize,
    seed: a.seed,
    maxPredictionsPerSeq: a.max_predictions_per_seq,
    maskedLmProb: 0.15,
    vocabSize: vocab.tokens.length,
    special: specialIds(vocab),
    rank: world.rank,
    worldSize: world.size,
  };
  const loaders = new Map<string, PretrainingLoader>();
  let records = 0;
  for (const [name, dir] of corpora) {
    if (!existsSync(dir))
      throw new ConfigError([
        `${cf.file}: data.mixed_seq_datasets.${a.max_seq_length}.${name}: ${dir} does not exist (--data_path_prefix ${a.data_path_prefix})`,
      ]);
    const shards = CorpusShards.open(dir, {
      skipCorrupt: a.skip_corrupt_shards,
      warn: (line: string) => out.warn(line),
    });
    const loader = new PretrainingLoader(shards, loaderOptions);
    if (loader.seqLen !== a.max_seq_length)
      throw new ConfigError([
        `${dir}: the shards hold sequences of ${loader.seqLen}, but --max_seq_length is ${a.max_seq_length}`,
      ]);
    loaders.set(name, loader);
    records += shards.records.length;
  }
  const mixer = new CorpusMixer(loaders, a.seed);
  const stepsPerEpoch = Math.max(1, Math.floor(records / ds.trainBatchSize));

  // model
  const engine: NativeEngine = createEngine({
    config: { ...cf.model, pre_layer_norm: a.progressive_layer_drop, num_labels: 0 },
    precision: ds.precision,
    seed: a.seed,
    threads: a.threads,
    ...gradientSyncOption(world, {
      overlap: !a.delay_allreduce,
      prescale: ds.prescaleGradients,
      predivideFactor: ds.gradientPredivideFactor,
    }),
  });
  if (world.size > 1)
    out.log(
      `[bert-train] data parallel over ${world.size} ranks: micro-batch ${ds.microBatchSize} × accumulation ${ds.gradientAccumulationSteps} × ${world.size} ranks = ${ds.trainBatchSize}; gradients reduced ${a.delay_allreduce ? "after the backward pass (--delay_allreduce)" : "during the backward pass"}`,
    );
  const layers = cf.model.num_hidden_layers;
  const scaler =
    ds.precision === "fp16"
      ? new LossScaler({
          lossScale: ds.fp16.lossScale,
          initialScalePower: ds.fp16.initialScalePower,
          lossScaleWindow: ds.fp16.lossScaleWindow,
          hysteresis: ds.fp16.hysteresis,
          minLossScale: ds.fp16.minLossScale,
          consecutiveHysteresis: ds.fp16.consecutiveHysteresis,
        })
      : undefined;
  const learningRate = cf.training.learning_rate ?? ds.lr;
  const schedule = {
    schedule: a.lr_schedule,
    learningRate,
    warmupProportion: cf.training.warmup_proportion,
    decayRate: cf.training.decay_rate,
    decayStep: cf.training.decay_step,
    totalTrainingSteps: cf.training.total_training_steps,
    lrOffset: a.lr_offset,
  };

  // state, possibly restored
  let globalSteps = 0;
  let skippedSteps = 0;
  let optimizerSteps = 0;
  let globalSamples = 0;
  let resumedAt = 0;
  const dir = jobDir(a.output_dir, a.job_name);
  let scalerState: LossScalerState | undefined;
  if (a.init_from !== undefined && a.load_training_checkpoint === undefined) {
    const { missing, unexpected } = loadExportedWeights(engine, a.init_from);
    out.log(`initial weights from ${a.init_from}`);
    if (missing.length)
      out.warn(`[bert-train] ${a.init_from}: not in the folder, left at their initial values: ${missing.join(", ")}`);
    if (unexpected.length)
      out.warn(`[bert-train] ${a.init_from}: not in this model, ignored: ${unexpected.join(", ")}`);
  }
  if (a.load_training_checkpoint !== undefined) {
    const path = resolveCheckpointDir(a.load_training_checkpoint, a.load_checkpoint_id);
    const state = loadCheckpoint(engine, path, true);
    globalSteps = state.global_steps;
    skippedSteps = state.skipped_steps;
    optimizerSteps = state.optimizer_steps;
    globalSamples = state.global_samples;
    resumedAt = globalSteps;
    const savedWorld = state.world_size ?? 1;
    mixer.restore(rescaleMixerPosition(state.data_position as MixerPosition, savedWorld, world.size));
    if (savedWorld !== world.size) out.log(`resuming a ${savedWorld}-rank run on ${world.size} ranks`);
    scalerState = state.loss_scaler as LossScalerState | undefined;
    out.log(`resumed from ${path} at step ${globalSteps}`);
  }
  const activeScaler = scaler && scalerState ? new LossScaler(scaler.config, scalerState) : scaler;

  mkdirSync(dir, { recursive: true });
  const jsonl = world.isRoot ? new JsonlLog(join(a.output_dir, `${a.job_name}.metrics.jsonl`)) : undefined;
  const tensorboard = world.isRoot ? new TensorBoardWriter(a.output_dir) : undefined;
  if (pldActive) out.log(`[INFO] [Rank 0] Enabled progressive layer dropping (theta = ${ds.pld.theta})`);

  const maxSteps = a.max_steps ?? stepsPerEpoch * cf.training.num_epochs;
  const saveAt = new Set(a.ckpt_to_save ?? []);
  const configs = { cf: cf.raw, deepspeed: ds.raw, args: a };
  let lastCheckpoint: string | undefined;
  const losses: number[] = [];
  const stepMs: number[] = [];
  const keptFraction: number[] = [];
  const stepEnds: number[] = [];
  const progress = process.stderr.isTTY && world.isRoot ? new ProgressLine(maxSteps, ds.trainBatchSize) : undefined;
  const checkpoint = (tag: string) => {
    const state: TrainingState = {
      format: CHECKPOINT_FORMAT,
      tag,
      global_steps: globalSteps,
      skipped_steps: skippedSteps,
      optimizer_steps: optimizerSteps,
      global_samples: globalSamples,
      epoch: Math.floor(globalSteps / stepsPerEpoch),
      last_global_step: globalSteps,
      last_global_data_samples: globalSamples,
      data_position: mixer.position(),
      world_size: world.size,
      theta: pldActive ? thetaForStep(ds.pld, globalSteps) : 1,
      loss_scaler: activeScaler?.state(),
      configs,
    };
    if (!world.isRoot) return; // every rank holds the same weights; rank 0 writes them
    lastCheckpoint = saveCheckpoint(engine, dir, state);
    out.log(`checkpointing: PATH=${lastCheckpoint}, ckpt_id=${tag}`);
  };

  let interrupted = false;
  try {
    while (globalSteps < maxSteps) {
      // a signal may reach one rank only (or the ranks at different steps): stop together
      const stopVote = new Float64Array([signal?.stop ? 1 : 0]);
      world.max(stopVote);
      if (stopVote[0] === 1) {
        interrupted = true;
        break;
      }
      const theta = pldActive ? thetaForStep(ds.pld, globalSteps) : 1;
      const { batches } = mixer.nextStep(ds.gradientAccumulationSteps);
      // One gate draw per optimizer step, the same for all its micro-batches and on every rank; dropout streams
      // numbered by the micro-batch's place in the global batch (as the loader deals them to the ranks), so N
      // ranks reproduce one rank accumulating N times as many micro-batches.
      const gates = pldActive ? sampleGates(ds.pld, layers, theta, a.seed, globalSteps, 0) : allLayersKept(layers);
      const micro = batches.map((batch, m) => ({
        batch,
        gates,
        dropoutStream: (globalSteps * ds.gradientAccumulationSteps + m) * world.size + world.rank,
      }));
      const lr = bingBertLearningRate(schedule, scheduleStep(globalSteps, resumedAt, a.rewarmup));
      const started = performance.now();
      const r = await trainStep(engine, micro, {
        optimizer: ds.optimizer,
        lr,
        stepNumber: optimizerSteps + 1,
        maxGradNorm: ds.gradientClipping,
        scaler: activeScaler,
        world,
      });
      const milliseconds = performance.now() - started;
      globalSteps++;
      globalSamples += ds.trainBatchSize;
      if (r.skipped) {
        skippedSteps++;
        out.log(
          `Overflow detected. Skipping step. Attempted loss scale: ${r.lossScale}, reducing to ${activeScaler?.scale ?? r.lossScale}`,
        );
      } else optimizerSteps++;
      losses.push(r.loss);
      const kept = micro.reduce((s, m) => s + m.gates.keep.filter(Boolean).length, 0) / (micro.length * layers);
      stepMs.push(milliseconds);
      keptFraction.push(kept);
      progress?.update(globalSteps, r.loss, theta, lr, milliseconds);
      const metrics = {
        step: globalSteps,
        loss: r.loss,
        mlm_loss: r.mlmLoss,
        nsp_loss: r.nspLoss,
        lr,
        theta,
        kept_layers: kept,
        grad_norm: r.gradNorm,
        loss_scale: r.lossScale,
        skipped: r.skipped,
        samples: globalSamples,
        step_ms: milliseconds,
        wall_time: Date.now() / 1000,
        ...(world.size > 1 ? { allreduce_ms: r.allreduceMs, allreduce_wait_ms: r.allreduceWaitMs } : {}),
      };
      jsonl?.write(metrics);
      tensorboard?.scalars(globalSteps, {
        "train/loss": r.loss,
        "train/mlm_loss": r.mlmLoss,
        "train/nsp_loss": r.nspLoss,
        "train/lr": lr,
        "train/theta": theta,
        "train/grad_norm": r.gradNorm,
        "train/kept_layers": kept,
      });
      if (globalSteps % a.print_steps === 0)
        out.log(`bing_bert_progress: step=${globalSteps}, loss=${r.loss}, lr=${lr}, sample_count=${globalSamples}`);
      if (globalSteps % ds.stepsPerPrint === 0) {
        out.log(
          `[Rank 0] step=${globalSteps}, skipped=${skippedSteps}, lr=[${lr}], mom=[(${ds.optimizer.beta1}, ${ds.optimizer.beta2})]`,
        );
        if (ds.wallClockBreakdown)
          out.log(
            `[Rank 0] time (ms) | forward+backward+step: ${milliseconds.toFixed(2)} | allreduce: ${r.allreduceMs.toFixed(2)} | allreduce wait: ${r.allreduceWaitMs.toFixed(2)}`,
          );
      }
      const epochEnd = globalSteps % stepsPerEpoch === 0;
      const epoch = globalSteps / stepsPerEpoch;
      if (epochEnd && a.validation_data_path_prefix && world.isRoot) {
        const v = await evaluateMlm(
          engine,
          CorpusShards.open(a.validation_data_path_prefix),
          loaderOptions,
          layers,
          50,
        );
        out.log(
          `validation: step=${globalSteps}, mlm_loss=${v.mlm_loss.toFixed(4)}, mlm_accuracy=${v.mlm_accuracy.toFixed(4)}`,
        );
        jsonl?.write({ step: globalSteps, validation: v });
        tensorboard?.scalars(globalSteps, {
          "validation/mlm_loss": v.mlm_loss,
          "validation/mlm_accuracy": v.mlm_accuracy,
        });
      }
      if ((epochEnd && (saveAt.size === 0 || saveAt.has(epoch))) || (a.ckpt_steps && globalSteps % a.ckpt_steps === 0))
        checkpoint(`epoch${Math.floor(epoch)}_step${globalSteps}`);
      stepEnds.push(performance.now());
    }
    if (interrupted || !lastCheckpoint?.endsWith(`_step${globalSteps}`))
      checkpoint(`epoch${Math.floor(globalSteps / stepsPerEpoch)}_step${globalSteps}`);
  } finally {
    progress?.done();
    jsonl?.close();
    tensorboard?.close();
  }
  return { globalSteps, losses, stepMs, keptFraction, stepEnds, lastCheckpoint, interrupted };
}
