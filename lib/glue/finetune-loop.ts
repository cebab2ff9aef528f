// The fine-tuning epochs: a seeded shuffle per epoch, the warm-up-linear schedule over all steps, a checkpoint
// at each epoch's end (before its evaluation) and on a stop, dev metrics after each epoch. A resumed run
// continues mid-epoch in the same order with the same dropout streams, so it ends where an uninterrupted one does.
import { effectiveDeepSpeed } from "../config/deepspeed.js";
import { DEFAULT_ADAMW } from "../config/optimizer.js";
import { SeededRandom } from "../data/random.js";
import { allLayersKept } from "../native/engine.js";
import { CHECKPOINT_FORMAT, loadCheckpoint, saveCheckpoint, type TrainingState } from "../train/checkpoint.js";
import { keepLastCheckpoints, recordedArgs } from "../train/job-outputs.js";
import type { LossScalerState } from "../train/loss-scaler.js";
import { warmupLinear } from "../train/lr-schedule.js";
import { MetricsSink, type StepRecord } from "../train/metrics.js";
import { modelShape } from "../train/model-folder.js";
import { round } from "../train/numbers.js";
import { stopAgreed, type StopSignal } from "../train/trainer.js";
import type { TrainStepResult } from "../train/train-step.js";
import { batchOf, type Features } from "./features.js";
import type { Run } from "./finetune-run.js";
import { evaluateDev } from "./glue-eval.js";

const TENSORBOARD_KEYS = ["loss", "lr", "grad_norm", "loss_scale", "model_flops", "utilisation"];

/** Trains until the last epoch or --max_steps; false when a signal stopped it (a checkpoint was saved). */
export async function train(run: Run, signal?: StopSignal): Promise<boolean> {
  run.metrics = new MetricsSink({
    world: run.world,
    out: run.out,
    jsonlPath: run.outputs.jsonl,
    tensorboardDir: run.outputs.tensorboard,
    totalSteps: run.totalSteps,
    globalBatch: run.a.train_batch_size,
    tensorboardKeys: TENSORBOARD_KEYS,
    resumedAt: run.position.step > 0 ? run.position.step : undefined,
  });
  try {
    signal?.listen?.();
    return await trainEpochs(run, run.data.train as Features, signal);
  } finally {
    run.metrics.close();
  }
}

async function trainEpochs(run: Run, data: Features, signal?: StopSignal): Promise<boolean> {
  const p = run.position;
  for (; p.epoch <= run.a.num_train_epochs && p.step < run.totalSteps; p.epoch++) {
    const order = SeededRandom.forKey(run.a.seed, p.epoch).shuffle(
      Array.from({ length: data.ids.length }, (_, i) => i),
    );
    const started = performance.now();
    const firstStep = p.stepInEpoch;
    while (p.stepInEpoch < run.stepsPerEpoch && p.step < run.totalSteps) {
      if (stopAgreed(run.world, signal)) {
        checkpoint(run);
        return false;
      }
      await trainOneStep(run, data, order);
    }
    const steps = p.stepInEpoch;
    const seconds = (performance.now() - started) / 1000;
    const meanLoss = p.epochLossSum / Math.max(steps, 1);
    run.out.log(
      `${run.task.name} epoch ${p.epoch}: mean training loss ${round(meanLoss, 4)} over ${steps} steps (${round(((steps - firstStep) * run.a.train_batch_size) / seconds, 3)} samples/s)`,
    );
    const epoch = p.epoch;
    // a whole epoch's checkpoint records the next epoch's start; one --max_steps ended early, the place in it
    const whole = p.stepInEpoch >= run.stepsPerEpoch;
    if (whole) Object.assign(p, { epoch: epoch + 1, stepInEpoch: 0, epochLossSum: 0 });
    checkpoint(run, whole ? epoch : epoch - 1); // before the evaluation, which then cannot cost it
    if (run.a.do_eval) await evaluateDev(run, epoch, meanLoss);
    p.epoch = epoch; // the for loop moves it on
  }
  return true;
}

async function trainOneStep(run: Run, data: Features, order: number[]): Promise<void> {
  const { a, task, trainer, position: p } = run;
  const micro = trainer.batch.micro;
  const s = p.stepInEpoch;
  const batches = Array.from({ length: a.gradient_accumulation_steps }, (_, m) => {
    const k = trainer.globalMicroBatch(s, m); // the epoch order's micro-batch k goes to rank k mod world size
    return batchOf(data, order.slice(k * micro, (k + 1) * micro), a.max_seq_length, task.regression);
  });
  const lr = a.learning_rate * warmupLinear(p.step / run.totalSteps, a.warmup_proportion);
  const started = performance.now();
  const r = await trainer.step(
    trainer.microBatches(p.step, batches, () => allLayersKept(run.layers)),
    {
      optimizer: run.ds?.optimizer ?? DEFAULT_ADAMW,
      lr,
      stepNumber: p.step + 1,
      maxGradNorm: run.ds?.gradientClipping ?? 1,
      onMicroBatch: (done, of) => run.metrics?.microBatch(p.step, done, of),
    },
  );
  p.step++;
  p.stepInEpoch++;
  p.epochLossSum += r.loss;
  if (r.skipped) run.skippedSteps++;
  run.metrics?.step(stepRecord(run, r, lr, performance.now() - started), `epoch ${p.epoch}  lr ${round(lr, 3)}`);
  const every = a.print_steps ?? 50;
  if (p.step % every === 0)
    run.out.log(
      `${task.name} step ${p.step}/${run.totalSteps} (epoch ${p.epoch}, ${p.stepInEpoch}/${run.stepsPerEpoch}): loss=${round(r.loss)}, lr=${round(lr)}`,
    );
}

function stepRecord(run: Run, r: TrainStepResult, lr: number, ms: number): StepRecord {
  const p = run.position;
  return {
    step: p.step,
    epoch: p.epoch,
    loss: r.loss,
    lr,
    grad_norm: r.gradNorm,
    loss_scale: r.lossScale,
    skipped: r.skipped,
    samples: p.step * run.a.train_batch_size,
    step_ms: ms,
    wall_time: Date.now() / 1000,
    ...run.compute.step(
      {
        sequences: run.a.train_batch_size,
        seq: run.a.max_seq_length,
        maskedTokens: 0,
        keptFraction: 1,
        numLabels: run.numLabels,
      },
      ms,
    ),
  };
}

/** A checkpoint of the run where it stands (rank 0 writes; every rank holds the same weights). */
function checkpoint(run: Run, completedEpoch?: number): void {
  const p = run.position;
  if (!run.trainer.lossIsFinite) {
    run.out.warn(`[bert-train] step ${p.step}: the loss is not finite; no checkpoint`);
    return;
  }
  if (!run.world.isRoot) return;
  const epochs = completedEpoch ?? p.epoch - 1;
  const state: TrainingState = {
    format: CHECKPOINT_FORMAT,
    tag: `epoch${epochs}_step${p.step}`,
    global_steps: p.step,
    skipped_steps: run.skippedSteps,
    optimizer_steps: p.step - run.skippedSteps,
    global_samples: p.step * run.a.train_batch_size,
    epoch: epochs,
    last_global_step: p.step,
    last_global_data_samples: p.step * run.a.train_batch_size,
    data_position: { epoch: p.epoch, step_in_epoch: p.stepInEpoch },
    world_size: run.world.size,
    theta: 1,
    loss_scaler: run.trainer.scaler?.state(),
    configs: { deepspeed: run.ds ? effectiveDeepSpeed(run.ds) : undefined, args: recordedArgs(run.a) },
    vocab: { file: "vocab.txt", sha256: run.vocab.sha256, do_lower_case: run.vocab.lowerCase },
    model: { config: modelShape(run.trainer.model), pre_layer_norm: run.folder.preLn, num_labels: run.numLabels },
    glue: { task: run.task.name, results: { ...run.results }, epoch_loss_sum: p.epochLossSum },
  };
  run.lastCheckpoint = saveCheckpoint(run.trainer.engine, run.outputs.checkpoints, state, run.vocab.path);
  run.out.log(`checkpointing: PATH=${run.lastCheckpoint}, ckpt_id=${state.tag}`);
  if (run.a.keep_last !== undefined)
    keepLastCheckpoints(run.outputs.checkpoints, run.a.keep_last, run.lastCheckpoint, run.out);
}

/** Continues the run a fine-tuning checkpoint saved: weights, head, optimizer moments, loss scale, position. */
export function resumeFrom(run: Run, path: string, state: TrainingState): void {
  loadCheckpoint(run.trainer.engine, path, true);
  const pos = state.data_position as { epoch: number; step_in_epoch: number };
  const glue = state.glue as NonNullable<TrainingState["glue"]>;
  run.position = {
    step: state.global_steps,
    epoch: pos.epoch,
    stepInEpoch: pos.step_in_epoch,
    epochLossSum: glue.epoch_loss_sum,
  };
  run.skippedSteps = state.skipped_steps;
  Object.assign(run.results, glue.results);
  run.trainer.restoreScaler(state.loss_scaler as LossScalerState | undefined);
  run.out.log(
    `resumed from ${path} at step ${state.global_steps} (epoch ${pos.epoch}, step ${pos.step_in_epoch} of it)`,
  );
}
