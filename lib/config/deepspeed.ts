// The --deepspeed_config file (DeepSpeed's JSON), validated with ajv: every problem reported at once, naming the
// file and key path, with "did you mean" for misspelt keys. Defaults live in the schema. Keys DeepSpeed has for
// GPUs that mean nothing here are accepted and reported as ignored, one line each.
import { Ajv } from "ajv";

import type { OptimizerSettings } from "../native/types.js";
import { ConfigError, formatAjvErrors } from "./errors.js";
import { readJsonFile } from "./json-file.js";
import { optimizerSchema, resolveOptimizer } from "./optimizer.js";
import { resolveScheduler, type Scheduler } from "./scheduler.js";

const positiveInt = { type: "integer", minimum: 1 };

export const deepspeedSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    train_batch_size: positiveInt,
    train_micro_batch_size_per_gpu: positiveInt,
    gradient_accumulation_steps: positiveInt,
    steps_per_print: { ...positiveInt, default: 10 },
    prescale_gradients: { type: "boolean", default: false },
    gradient_predivide_factor: { type: "number", exclusiveMinimum: 0, default: 1 },
    gradient_clipping: { type: "number", minimum: 0, default: 0 },
    wall_clock_breakdown: { type: "boolean", default: false },
    optimizer: optimizerSchema,
    scheduler: { type: "object" },
    fp16: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: "boolean", default: false },
        loss_scale: { type: "number", minimum: 0, default: 0 },
        initial_scale_power: { type: "integer", minimum: 0, maximum: 64, default: 16 },
        loss_scale_window: { ...positiveInt, default: 1000 },
        hysteresis: { ...positiveInt, default: 2 },
        min_loss_scale: { type: "number", exclusiveMinimum: 0, default: 1 },
        consecutive_hysteresis: { type: "boolean", default: false },
        auto_cast: { type: "boolean" },
      },
    },
    bf16: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: { enabled: { type: "boolean", default: false } },
    },
    progressive_layer_drop: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: "boolean", default: false },
        theta: { type: "number", exclusiveMinimum: 0, maximum: 1, default: 0.5 },
        gamma: { type: "number", minimum: 0, default: 0.001 },
        sampling: { enum: ["paper", "deepspeed"], default: "paper" },
        gate_scope: { enum: ["micro_batch", "step"], default: "micro_batch" },
      },
    },
    // accepted, reported as ignored: GPU-only or not applicable here
    sparse_attention: { type: "object" },
    zero_optimization: { type: ["object", "boolean"] },
    zero_allow_untested_optimizer: { type: "boolean" },
    activation_checkpointing: { type: "object" },
    tensorboard: { type: "object" },
    amp: { type: "object" },
    flops_profiler: { type: "object" },
    dump_state: { type: "boolean" },
    memory_breakdown: { type: "boolean" },
  },
} as const;

const IGNORED = [
  "sparse_attention",
  "zero_optimization",
  "zero_allow_untested_optimizer",
  "activation_checkpointing",
  "tensorboard",
  "amp",
  "flops_profiler",
  "dump_state",
  "memory_breakdown",
];

const ajv = new Ajv({ allErrors: true, useDefaults: true, strictTuples: false, verbose: true, allowUnionTypes: true });
const validate = ajv.compile(deepspeedSchema);

export interface DeepSpeedConfig {
  file: string;
  trainBatchSize: number;
  microBatchSize: number;
  gradientAccumulationSteps: number;
  stepsPerPrint: number;
  prescaleGradients: boolean;
  gradientPredivideFactor: number;
  gradientClipping: number;
  wallClockBreakdown: boolean;
  optimizer: OptimizerSettings;
  lr: number;
  /** The `scheduler` block, if any (bing_bert's --lr_schedule supersedes it). */
  scheduler?: Scheduler;
  /** Lines a run prints once at its start: settings accepted in a reduced form (a 1-bit optimizer). */
  notices: string[];
  precision: "fp32" | "bf16" | "fp16";
  fp16: {
    lossScale: number;
    initialScalePower: number;
    lossScaleWindow: number;
    hysteresis: number;
    minLossScale: number;
    consecutiveHysteresis: boolean;
  };
  pld: {
    enabled: boolean;
    theta: number;
    gamma: number;
    sampling: "paper" | "deepspeed";
    gate_scope: "micro_batch" | "step";
  };
  ignored: string[];
  raw: Record<string, unknown>;
}

interface RawDs {
  train_batch_size?: number;
  train_micro_batch_size_per_gpu?: number;
  gradient_accumulation_steps?: number;
  steps_per_print: number;
  prescale_gradients: boolean;
  gradient_predivide_factor: number;
  gradient_clipping: number;
  wall_clock_breakdown: boolean;
  optimizer?: unknown;
  scheduler?: unknown;
  fp16: {
    enabled: boolean;
    loss_scale: number;
    initial_scale_power: number;
    loss_scale_window: number;
    hysteresis: number;
    min_loss_scale: number;
    consecutive_hysteresis: boolean;
  };
  bf16: { enabled: boolean };
  progressive_layer_drop: {
    enabled: boolean;
    theta: number;
    gamma: number;
    sampling: "paper" | "deepspeed";
    gate_scope: "micro_batch" | "step";
  };
}

/**
 * Batch arithmetic as DeepSpeed does it: train_batch_size = micro × accumulation × world_size; any two determine
 * the third; all three must agree. Overrides come from the command line.
 */
export function resolveBatch(
  file: string,
  given: { train?: number; micro?: number; accumulation?: number },
  worldSize: number,
): { train: number; micro: number; accumulation: number } {
  const { train, micro, accumulation } = given;
  const problem = (msg: string) => new ConfigError([`${file}: ${msg}`]);
  if (train !== undefined && micro !== undefined && accumulation !== undefined) {
    if (train !== micro * accumulation * worldSize)
      throw problem(
        `train_batch_size ${train} must equal train_micro_batch_size_per_gpu ${micro} × gradient_accumulation_steps ${accumulation} × world size ${worldSize} = ${micro * accumulation * worldSize}`,
      );
    return { train, micro, accumulation };
  }
  if (train !== undefined && micro !== undefined) {
    if (train % (micro * worldSize) !== 0)
      throw problem(
        `train_batch_size ${train} is not a multiple of train_micro_batch_size_per_gpu ${micro} × world size ${worldSize}`,
      );
    return { train, micro, accumulation: train / (micro * worldSize) };
  }
  if (train !== undefined && accumulation !== undefined) {
    if (train % (accumulation * worldSize) !== 0)
      throw problem(
        `train_batch_size ${train} is not a multiple of gradient_accumulation_steps ${accumulation} × world size ${worldSize}`,
      );
    return { train, micro: train / (accumulation * worldSize), accumulation };
  }
  if (micro !== undefined)
    return { train: micro * (accumulation ?? 1) * worldSize, micro, accumulation: accumulation ?? 1 };
  if (train !== undefined) return { train, micro: train / worldSize, accumulation: 1 };
  throw problem("needs train_batch_size or train_micro_batch_size_per_gpu");
}

export function loadDeepSpeedConfig(
  file: string,
  overrides: { train?: number; accumulation?: number } = {},
  worldSize = 1,
): DeepSpeedConfig {
  const data = readJsonFile(file, "DeepSpeed config");
  const problems: string[] = [];
  if (!validate(data)) problems.push(...formatAjvErrors(file, "", data, validate.errors ?? []));
  const raw = data as RawDs;
  let optimizer: ReturnType<typeof resolveOptimizer> | undefined;
  if (raw && typeof raw === "object" && raw.optimizer !== undefined) {
    try {
      optimizer = resolveOptimizer(raw.optimizer, file);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems.filter((p) => !problems.includes(p)));
      else throw err;
    }
  } else if (raw && typeof raw === "object") problems.push(`${file}: optimizer: required but missing`);
  let scheduler: Scheduler | undefined;
  if (raw && typeof raw === "object" && raw.scheduler !== undefined) {
    try {
      scheduler = resolveScheduler(raw.scheduler, file);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (raw?.fp16?.enabled && raw?.bf16?.enabled)
    problems.push(`${file}: fp16.enabled and bf16.enabled are both true; choose one`);
  if (problems.length > 0 || !optimizer) throw new ConfigError(problems);
  const batch = resolveBatch(
    file,
    {
      train: overrides.train ?? raw.train_batch_size,
      micro: raw.train_micro_batch_size_per_gpu,
      accumulation: overrides.accumulation ?? raw.gradient_accumulation_steps,
    },
    worldSize,
  );
  return {
    file,
    trainBatchSize: batch.train,
    microBatchSize: batch.micro,
    gradientAccumulationSteps: batch.accumulation,
    stepsPerPrint: raw.steps_per_print,
    prescaleGradients: raw.prescale_gradients,
    gradientPredivideFactor: raw.gradient_predivide_factor,
    gradientClipping: raw.gradient_clipping,
    wallClockBreakdown: raw.wall_clock_breakdown,
    optimizer: optimizer.settings,
    lr: optimizer.lr,
    scheduler,
    notices: optimizer.oneBit
      ? [
          `[bert-train] ${file}: optimizer ${optimizer.oneBit} runs as ${optimizer.settings.type === "lamb" ? "LAMB" : "Adam"}: its 1-bit compression of the gradient exchange is not applied`,
        ]
      : [],
    precision: raw.fp16.enabled ? "fp16" : raw.bf16.enabled ? "bf16" : "fp32",
    fp16: {
      lossScale: raw.fp16.loss_scale,
      initialScalePower: raw.fp16.initial_scale_power,
      lossScaleWindow: raw.fp16.loss_scale_window,
      hysteresis: raw.fp16.hysteresis,
      minLossScale: raw.fp16.min_loss_scale,
      consecutiveHysteresis: raw.fp16.consecutive_hysteresis,
    },
    pld: { ...raw.progressive_layer_drop },
    ignored: IGNORED.filter((k) => (data as Record<string, unknown>)[k] !== undefined),
    raw: data as Record<string, unknown>,
  };
}

/**
 * The DeepSpeed settings a run actually used, as its checkpoints record them: the file's keys with the batch
 * arithmetic resolved (flags and world size applied) and the precision and clipping the flags chose.
 */
export function effectiveDeepSpeed(ds: DeepSpeedConfig): Record<string, unknown> {
  const fp16 = (ds.raw.fp16 ?? {}) as Record<string, unknown>;
  return {
    ...ds.raw,
    train_batch_size: ds.trainBatchSize,
    train_micro_batch_size_per_gpu: ds.microBatchSize,
    gradient_accumulation_steps: ds.gradientAccumulationSteps,
    gradient_clipping: ds.gradientClipping,
    fp16: { ...fp16, enabled: ds.precision === "fp16", loss_scale: ds.fp16.lossScale },
    bf16: { enabled: ds.precision === "bf16" },
  };
}

/** The one line a run in fp16 prints here: this CPU has no fp16 arithmetic, bf16 is the fast half precision. */
export const FP16_NOTICE =
  '[bert-train] fp16 on this CPU is emulated (fp32 arithmetic, fp16 rounding, loss scaling) and slower than bf16; bf16 ("bf16": {"enabled": true}) is the fast half precision here';
