// DeepSpeed's `scheduler` block: {"type": "WarmupLR" | "WarmupDecayLR" | "WarmupCosineLR", "params": {...}},
// validated with ajv (DeepSpeed's defaults in the schema) and turned into a function of the optimizer step.
//
// DeepSpeed steps its scheduler after each optimizer step, starting from iteration -1, so optimizer step s
// (counted from 0) runs with the rate of iteration s - 1; iteration -1 gives warmup_min_lr (0 for the cosine
// schedule). With N = max(2, warmup_num_steps), i the iteration:
//   warm-up (i < N):  log: g = ln(i + 1) / ln(N)    linear: g = i / N
//   WarmupLR:        lr = min + (max - min) * (i < N ? g : 1)
//   WarmupDecayLR:   after warm-up g = max(0, (total - i) / max(1, total - N))
//   WarmupCosineLR:  lr = optimizer lr * ratio; warm-up ratio = min_ratio + g (1 - min_ratio), then
//                    ratio = max(0, cos_min + (1 - cos_min) (1 + cos(π (i - N + 1) / (total - N))) / 2)
import { Ajv } from "ajv";

import { ConfigError, formatAjvErrors } from "./errors.js";

const SUPPORTED = ["WarmupLR", "WarmupDecayLR", "WarmupCosineLR"] as const;
export type SchedulerType = (typeof SUPPORTED)[number];

const warmup = {
  warmup_num_steps: { type: "integer", minimum: 0, default: 1000 },
  warmup_type: { enum: ["log", "linear"], default: "log" },
  last_batch_iteration: { type: "integer", const: -1 },
};

const paramsSchema: Record<SchedulerType, object> = {
  WarmupLR: {
    warmup_min_lr: { type: "number", minimum: 0, default: 0 },
    warmup_max_lr: { type: "number", minimum: 0 },
    ...warmup,
  },
  WarmupDecayLR: {
    total_num_steps: { type: "integer", minimum: 1 },
    warmup_min_lr: { type: "number", minimum: 0, default: 0 },
    warmup_max_lr: { type: "number", minimum: 0, default: 0.001 },
    ...warmup,
  },
  WarmupCosineLR: {
    total_num_steps: { type: "integer", minimum: 1 },
    warmup_min_ratio: { type: "number", minimum: 0, maximum: 1, default: 0 },
    cos_min_ratio: { type: "number", minimum: 0, maximum: 1, default: 0.0001 },
    ...warmup,
  },
};

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true });
const validators = Object.fromEntries(
  SUPPORTED.map((t) => [
    t,
    ajv.compile({
      type: "object",
      additionalProperties: false,
      properties: paramsSchema[t],
      required: t === "WarmupLR" ? [] : ["total_num_steps"],
    }),
  ]),
) as Record<SchedulerType, ReturnType<typeof ajv.compile>>;

export interface SchedulerParams {
  warmup_num_steps: number;
  warmup_type: "log" | "linear";
  warmup_min_lr: number;
  warmup_max_lr?: number;
  total_num_steps: number;
  warmup_min_ratio: number;
  cos_min_ratio: number;
}

export interface Scheduler {
  type: SchedulerType;
  params: SchedulerParams;
}

/** Validates a `scheduler` block from `file`; every problem at once, naming the key. */
export function resolveScheduler(block: unknown, file: string): Scheduler {
  const b = structuredClone(block) as { type?: unknown; params?: unknown };
  if (typeof b !== "object" || b === null || typeof b.type !== "string")
    throw new ConfigError([`${file}: scheduler: expected {"type": ..., "params": {...}}`]);
  const type = SUPPORTED.find((t) => t.toLowerCase() === (b.type as string).toLowerCase());
  if (!type)
    throw new ConfigError([
      `${file}: scheduler.type: ${JSON.stringify(b.type)} is not supported here; use ${SUPPORTED.join(", ")} (or bing_bert's --lr_schedule)`,
    ]);
  const extra = Object.keys(b).filter((k) => k !== "type" && k !== "params");
  const params = (b.params ?? {}) as Record<string, unknown>;
  const validate = validators[type];
  const problems = extra.map((k) => `${file}: scheduler.${k}: unknown key (a scheduler has "type" and "params")`);
  if (!validate(params)) problems.push(...formatAjvErrors(file, "scheduler.params", params, validate.errors ?? []));
  if (problems.length) throw new ConfigError(problems);
  return { type, params: params as unknown as SchedulerParams };
}

function warmupGamma(p: SchedulerParams, i: number): number {
  const n = Math.max(2, p.warmup_num_steps);
  return p.warmup_type === "log" ? Math.log(i + 1) / Math.log(n) : i / n;
}

/** The learning rate of optimizer step `step` (from 0); `optimizerLr` is the optimizer block's `lr`. */
export function schedulerLearningRate(s: Scheduler, optimizerLr: number, step: number): number {
  const p = s.params;
  const i = step - 1;
  const n = Math.max(2, p.warmup_num_steps);
  if (s.type === "WarmupCosineLR") {
    if (i < 0) return 0;
    if (i < n) return optimizerLr * (p.warmup_min_ratio + warmupGamma(p, i) * (1 - p.warmup_min_ratio));
    const cosine = (1 + Math.cos((Math.PI * (i - n + 1)) / (p.total_num_steps - n))) / 2;
    return optimizerLr * Math.max(0, p.cos_min_ratio + (1 - p.cos_min_ratio) * cosine);
  }
  const min = p.warmup_min_lr;
  const max = p.warmup_max_lr ?? optimizerLr;
  if (i < 0) return min;
  let gamma = 1;
  if (i < n) gamma = warmupGamma(p, i);
  else if (s.type === "WarmupDecayLR")
    gamma = Math.max(0, (p.total_num_steps - i) / Math.max(1, p.total_num_steps - n));
  return min + (max - min) * gamma;
}
