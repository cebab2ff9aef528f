// One optimizer step of training: the micro-batches of an accumulation window through forward+backward (each
// seeded with lossScale / n), then the engine's fused step (overflow check, unscale, clip, update), then the loss
// scaler. Returns the figures a trainer logs.
import type { Batch, LayerGates, NativeEngine, OptimizerSettings } from "../native/types.js";
import type { World } from "../parallel/world.js";
import type { LossScaler } from "./loss-scaler.js";

export interface MicroBatch {
  batch: Batch;
  gates: LayerGates;
  /** Distinct per micro-batch over the whole run (dropout masks are a function of it). */
  dropoutStream: number;
}

export interface TrainStepOptions {
  optimizer: OptimizerSettings;
  lr: number;
  /** 1-based count of updates applied so far plus this one (drives bias correction). */
  stepNumber: number;
  maxGradNorm: number;
  /** fp16 needs one; fp32 and bf16 train without (a scale of 1). */
  scaler?: LossScaler;
  /** Multi-process runs: the reported losses are averaged over the ranks (the engine averages the gradients). */
  world?: World;
  /** After each micro-batch: `done` of `of`. */
  onMicroBatch?: (done: number, of: number) => void;
}

export interface TrainStepResult {
  /** Mean unscaled loss over the micro-batches. */
  loss: number;
  mlmLoss: number;
  nspLoss: number;
  /** Masked positions the MLM loss was taken over, in the whole step (all micro-batches and ranks). */
  mlmTokens: number;
  gradNorm: number;
  skipped: boolean;
  /** The loss scale this step ran with. */
  lossScale: number;
  /** Multi-process runs: time spent in gradient allreduce, and the part of it the step waited for. */
  allreduceMs: number;
  allreduceWaitMs: number;
}

export class LossScaleStuckError extends Error {
  readonly code = "ERR_LOSS_SCALE_STUCK";
}

/** The loss itself is not finite step after step: the weights no longer give numbers (skipping cannot help). */
export class DivergedError extends Error {
  readonly code = "ERR_DIVERGED";
}

export async function trainStep(
  engine: NativeEngine,
  micro: MicroBatch[],
  o: TrainStepOptions,
): Promise<TrainStepResult> {
  if (micro.length === 0) throw new Error("trainStep needs at least one micro-batch");
  const lossScale = o.scaler?.scale ?? 1;
  let loss = 0;
  let mlmLoss = 0;
  let nspLoss = 0;
  let mlmTokens = 0;
  for (const [i, m] of micro.entries()) {
    const r = await engine.run(m.batch, m.gates, {
      train: true,
      gradScale: lossScale / micro.length,
      dropoutStream: m.dropoutStream,
      syncGradients: i === micro.length - 1,
    });
    loss += r.loss / micro.length;
    mlmLoss += r.mlmLoss / micro.length;
    nspLoss += r.nspLoss / micro.length;
    mlmTokens += r.mlmCount;
    if (micro.length > 1) o.onMicroBatch?.(i + 1, micro.length);
  }
  const outcome = await engine.step(o.optimizer, {
    lr: o.lr,
    stepNumber: o.stepNumber,
    lossScale,
    maxGradNorm: o.maxGradNorm,
  });
  // after step(): the gradient reductions it waits for are collectives too, and every rank must issue the same
  // collectives in the same order
  if (o.world && o.world.size > 1) {
    const sums = new Float64Array([loss, mlmLoss, nspLoss, mlmTokens]);
    o.world.sum(sums);
    const size = o.world.size;
    [loss, mlmLoss, nspLoss] = [(sums[0] as number) / size, (sums[1] as number) / size, (sums[2] as number) / size];
    mlmTokens = sums[3] as number;
  }
  if (o.scaler) {
    const update = o.scaler.update(outcome.overflow);
    if (update.stuck)
      throw new LossScaleStuckError(
        `every step overflows even at the minimum loss scale (${update.scale}): the last ${o.scaler.config.maxConsecutiveOverflowsAtMin} ` +
          "steps were all skipped, so training cannot make progress. Lower the learning rate, check the data for " +
          "extreme values, or train in bf16 or fp32.",
      );
  } else if (outcome.overflow) {
    throw new LossScaleStuckError(`the gradients are not finite (NaN or inf) at a loss scale of 1: training diverged`);
  }
  return {
    loss,
    mlmLoss,
    nspLoss,
    mlmTokens,
    gradNorm: outcome.gradNorm,
    skipped: outcome.overflow,
    lossScale,
    allreduceMs: outcome.allreduceMs,
    allreduceWaitMs: outcome.allreduceWaitMs,
  };
}
