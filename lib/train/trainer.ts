// The mechanics both training loops share: the engine with its gradient sync over the ranks, the loss scaler,
// the micro-batches of one optimizer step with their dropout streams, and the step itself. `pretrain` and
// `finetune` are policies over it: what data, which heads, when to evaluate and save.
import type { DeepSpeedConfig } from "../config/deepspeed.js";
import type { DevicePlacement } from "../native/device.js";
import { createEngine } from "../native/engine.js";
import type { Batch, LayerGates, ModelConfig, NativeEngine, OptimizerSettings, Precision } from "../native/types.js";
import { gradientSyncOption, type World } from "../parallel/world.js";
import { DEFAULT_LOSS_SCALER, LossScaler, type LossScalerState } from "./loss-scaler.js";
import { round } from "./numbers.js";
import { DivergedError, trainStep, type MicroBatch, type TrainStepResult } from "./train-step.js";

export interface Output {
  log(line: string): void;
  warn(line: string): void;
  /** A terminal's status line (progress), replaced by each call; absent where output is not a terminal. */
  status?(line: string): void;
  clearStatus?(): void;
}

/**
 * How a signal reaches the run: `stop` asks it to finish the current step and save. The loop calls `listen` as it
 * begins; the command installs its handlers there, so a signal during setup (which may block in a read or a mkdir,
 * where no handler would run) keeps its default action and ends the process: there is nothing to save yet.
 */
export interface StopSignal {
  stop: boolean;
  listen?: () => void;
}

/** Every rank must stop at the same step: a signal may reach one rank only, or the ranks at different steps. */
export function stopAgreed(world: World, signal?: StopSignal): boolean {
  const vote = new Float64Array([signal?.stop ? 1 : 0]);
  world.max(vote);
  return vote[0] === 1;
}

/** One optimizer step's samples: micro-batch × accumulation × ranks = the global batch. */
export interface BatchShape {
  micro: number;
  accumulation: number;
  global: number;
}

/** The DeepSpeed settings a trainer uses (a run without a DeepSpeed file gets DEEPSPEED_DEFAULTS). */
export type TrainerDeepSpeed = Pick<DeepSpeedConfig, "prescaleGradients" | "gradientPredivideFactor" | "fp16">;

/** Steps in a row with a non-finite loss after which a run is declared diverged. */
export const MAX_NON_FINITE_LOSSES = 5;

export const DEEPSPEED_DEFAULTS: TrainerDeepSpeed = {
  prescaleGradients: false,
  gradientPredivideFactor: 1,
  fp16: { ...DEFAULT_LOSS_SCALER },
};

export interface TrainerOptions {
  model: ModelConfig;
  precision: Precision;
  seed: number;
  threads: number;
  /** Where the engine runs (--device, resolved). */
  placement: DevicePlacement;
  batch: BatchShape;
  deepspeed: TrainerDeepSpeed;
  /** Multi-process runs: reduce all gradients after the backward pass instead of overlapping with it. */
  delayAllreduce: boolean;
}

export interface StepSettings {
  optimizer: OptimizerSettings;
  lr: number;
  /** 1-based count of updates applied so far plus this one. */
  stepNumber: number;
  maxGradNorm: number;
  /** After each micro-batch's forward and backward pass: `done` of `of` (a long step's progress). */
  onMicroBatch?: (done: number, of: number) => void;
}

/** The fp16 loss scaler a DeepSpeed `fp16` block describes, with every one of its settings; none otherwise. */
export function lossScalerFor(
  precision: Precision,
  fp16: TrainerDeepSpeed["fp16"],
  state?: LossScalerState,
): LossScaler | undefined {
  return precision === "fp16" ? new LossScaler({ ...fp16 }, state) : undefined;
}

export class Trainer {
  readonly engine: NativeEngine;
  scaler: LossScaler | undefined;
  /** Steps in a row whose loss was NaN or infinite. */
  private nonFiniteLosses = 0;

  constructor(
    private readonly o: TrainerOptions,
    readonly world: World,
    private readonly out: Output,
  ) {
    this.engine = createEngine({
      config: o.model,
      precision: o.precision,
      seed: o.seed,
      threads: o.threads,
      device: o.placement.device,
      cudaDevice: o.placement.cudaDevice,
      ...gradientSyncOption(world, {
        overlap: !o.delayAllreduce,
        prescale: o.deepspeed.prescaleGradients,
        predivideFactor: o.deepspeed.gradientPredivideFactor,
      }),
    });
    this.scaler = lossScalerFor(o.precision, o.deepspeed.fp16);
    if (world.size > 1)
      out.log(
        `[bert-train] data parallel over ${world.size} ranks: micro-batch ${o.batch.micro} × accumulation ${o.batch.accumulation} × ${world.size} ranks = ${o.batch.global}; gradients reduced ${o.delayAllreduce ? "after the backward pass (--delay_allreduce)" : "during the backward pass"}`,
      );
  }

  get batch(): BatchShape {
    return this.o.batch;
  }

  get model(): ModelConfig {
    return this.o.model;
  }

  /** Trainable parameters of the model (all heads included). */
  get parameterCount(): number {
    return this.engine.paramInfos().reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0);
  }

  /** Continues a saved loss-scaler state (resume). */
  restoreScaler(state: LossScalerState | undefined): void {
    if (state !== undefined) this.scaler = lossScalerFor(this.o.precision, this.o.deepspeed.fp16, state);
  }

  /**
   * The place of this rank's micro-batch `m` of optimizer step `step` in the run's sequence of global micro-batches
   * (the loader deals global micro-batch k to rank k mod N). Dropout streams are numbered by it, so N ranks
   * reproduce one rank accumulating N times as many micro-batches.
   */
  globalMicroBatch(step: number, m: number): number {
    return step * this.microBatchesPerStep + this.indexInStep(m);
  }

  /** The place of this rank's micro-batch `m` in the step's global batch: m·ranks + rank. */
  indexInStep(m: number): number {
    return m * this.world.size + this.world.rank;
  }

  /** Micro-batches in one optimizer step over all ranks. */
  get microBatchesPerStep(): number {
    return this.o.batch.accumulation * this.world.size;
  }

  /** This rank's micro-batches of optimizer step `step` (counted from 0); `gatesOf` takes the index in the step. */
  microBatches(step: number, batches: Batch[], gatesOf: (indexInStep: number) => LayerGates): MicroBatch[] {
    return batches.map((batch, m) => ({
      batch,
      gates: gatesOf(this.indexInStep(m)),
      dropoutStream: this.globalMicroBatch(step, m),
    }));
  }

  /** One optimizer step; an overflowing (skipped) step is reported as DeepSpeed reports it. */
  async step(micro: MicroBatch[], s: StepSettings): Promise<TrainStepResult> {
    const r = await trainStep(this.engine, micro, { ...s, scaler: this.scaler, world: this.world });
    if (r.skipped)
      this.out.log(
        `Overflow detected. Skipping step. Attempted loss scale: ${r.lossScale}, reducing to ${this.scaler?.scale ?? r.lossScale} (grad_norm ${round(r.gradNorm)})`,
      );
    this.nonFiniteLosses = Number.isFinite(r.loss) ? 0 : this.nonFiniteLosses + 1;
    if (this.nonFiniteLosses >= MAX_NON_FINITE_LOSSES)
      throw new DivergedError(
        `training diverged: the loss was ${r.loss} on the last ${MAX_NON_FINITE_LOSSES} steps (the weights do not change while steps are skipped, so more steps cannot help). Lower the learning rate or warm up longer, or train in bf16 or fp32`,
      );
    return r;
  }

  /** Whether the last step's loss was finite: a checkpoint is only worth writing then. */
  get lossIsFinite(): boolean {
    return this.nonFiniteLosses === 0;
  }
}
