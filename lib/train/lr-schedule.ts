// Learning-rate schedules as pure functions of the optimizer step.
//
// bing_bert (DeepSpeed's BERT example), with s = optimizer steps since the start (or since a resume with
// --rewarmup), T = total_training_steps, x = s / T, w = warmup_proportion, W = w * T:
//   LE: x < w ? x / w     : decay_rate ^ ((s - W) / decay_step)
//   EE: x < w ? (x / w)^2 : decay_rate ^ ((s - W) / decay_step)
//   EP: x < w ? (x/w)^1.5 : (1 - x)^2
//   lr = learning_rate * f + lr_offset
// T does not stop training; --max_steps and epochs do.

export type LrScheduleName = "LE" | "EE" | "EP";

export interface BingBertSchedule {
  schedule: LrScheduleName;
  learningRate: number;
  warmupProportion: number;
  decayRate: number;
  decayStep: number;
  totalTrainingSteps: number;
  lrOffset: number;
}

export function bingBertFactor(s: BingBertSchedule, step: number): number {
  const x = step / s.totalTrainingSteps;
  const w = s.warmupProportion;
  const warmupEnd = w * s.totalTrainingSteps;
  if (x < w) {
    const r = x / w;
    return s.schedule === "LE" ? r : s.schedule === "EE" ? r * r : Math.pow(r, 1.5);
  }
  if (s.schedule === "EP") return Math.pow(1 - x, 2);
  return Math.pow(s.decayRate, (step - warmupEnd) / s.decayStep);
}

/** The learning rate of optimizer step `step` (counted from 0, or from the re-warm-up point). */
export function bingBertLearningRate(s: BingBertSchedule, step: number): number {
  return s.learningRate * bingBertFactor(s, step) + s.lrOffset;
}

/** The step the schedule sees: with --rewarmup the warm-up restarts at the resumed step. */
export function scheduleStep(globalStep: number, resumedAtStep: number, rewarmup: boolean): number {
  return rewarmup ? globalStep - resumedAtStep : globalStep;
}

/**
 * The GLUE fine-tuning schedule of BERT's reference code: linear warm-up over the first `warmup` fraction of
 * training, then linear decay to 0 at the end. `x` is the fraction of training done.
 */
export function warmupLinear(x: number, warmup: number): number {
  if (x < warmup) return x / warmup;
  return Math.max((x - 1) / (warmup - 1), 0);
}
