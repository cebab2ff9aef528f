// DeepSpeed's `optimizer` block: {"type": "Adam" | "AdamW" | "Lamb", "params": {...}} validated with ajv (defaults
// live in the schema) and resolved into what the engine takes. Type names are case-insensitive, as in DeepSpeed.
import { Ajv } from "ajv";

import type { OptimizerSettings } from "../native/types.js";
import { ConfigError, formatAjvErrors } from "./errors.js";

export interface ResolvedOptimizer {
  settings: OptimizerSettings;
  /** The optimizer's own learning rate (`params.lr`); a schedule scales it. */
  lr: number;
  /** LAMB's `max_grad_norm` param, if given (DeepSpeed's `gradient_clipping` is the general switch). */
  maxGradNorm?: number;
  /** The 1-bit type the file named (OneBitAdam, OneBitLamb): run as Adam or LAMB without the compression. */
  oneBit?: string;
}

/** AdamW with PyTorch's defaults and weight decay 0.01: used when no DeepSpeed config names an optimizer. */
export const DEFAULT_ADAMW: OptimizerSettings = {
  type: "adam",
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  adamWMode: true,
  biasCorrection: true,
  minCoeff: 0.01,
  maxCoeff: 10,
};

const probability = { type: "number", minimum: 0, exclusiveMaximum: 1 };

export const optimizerSchema = {
  type: "object",
  additionalProperties: false,
  required: ["type"],
  properties: {
    type: { type: "string" },
    params: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        lr: { type: "number", minimum: 0, default: 1e-3 },
        betas: { type: "array", items: [probability, probability], minItems: 2, maxItems: 2, default: [0.9, 0.999] },
        eps: { type: "number", exclusiveMinimum: 0, default: 1e-8 },
        weight_decay: { type: "number", minimum: 0, default: 0 },
        bias_correction: { type: "boolean", default: true },
        adam_w_mode: { type: "boolean", default: true },
        max_coeff: { type: "number", exclusiveMinimum: 0, default: 10 },
        min_coeff: { type: "number", minimum: 0, default: 0.01 },
        max_grad_norm: { type: "number", minimum: 0 },
        torch_adam: { type: "boolean" },
        amsgrad: { type: "boolean", const: false },
        // OneBitAdam/OneBitLamb: their compression settings, accepted and not applied (no compressed allreduce)
        freeze_step: { type: "integer", minimum: 0 },
        cuda_aware: { type: "boolean" },
        comm_backend_name: { type: "string" },
        coeff_beta: { type: "number" },
        factor_max: { type: "number" },
        factor_min: { type: "number" },
        factor_threshold: { type: "number" },
      },
    },
  },
} as const;

// verbose: the error formatter reads parentSchema to suggest the nearest known key
const ajv = new Ajv({ allErrors: true, useDefaults: true, strictTuples: false, verbose: true });
const validate = ajv.compile(optimizerSchema);

const KNOWN_TYPES: Record<string, OptimizerSettings["type"]> = {
  adam: "adam",
  adamw: "adam",
  lamb: "lamb",
  onebitadam: "adam",
  onebitlamb: "lamb",
};

interface OptimizerParams {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  bias_correction: boolean;
  adam_w_mode: boolean;
  max_coeff: number;
  min_coeff: number;
  max_grad_norm?: number;
}

/** Validates a DeepSpeed `optimizer` block from `file`; throws ConfigError listing every problem. */
export function resolveOptimizer(block: unknown, file: string): ResolvedOptimizer {
  const data: unknown = structuredClone(block);
  const problems: string[] = [];
  if (!validate(data)) problems.push(...formatAjvErrors(file, "optimizer", data, validate.errors ?? []));
  const raw = data as { type?: unknown; params?: OptimizerParams };
  const typeName = typeof raw.type === "string" ? raw.type : undefined;
  const kind = typeName !== undefined ? KNOWN_TYPES[typeName.toLowerCase()] : undefined;
  if (typeName !== undefined && kind === undefined)
    problems.push(
      `${file}: optimizer.type: expected "Adam", "AdamW", "Lamb", "OneBitAdam" or "OneBitLamb", found ${JSON.stringify(typeName)}`,
    );
  const p = raw.params;
  if (p && typeof p.min_coeff === "number" && typeof p.max_coeff === "number" && p.min_coeff > p.max_coeff)
    problems.push(`${file}: optimizer.params.min_coeff: ${p.min_coeff} is larger than max_coeff ${p.max_coeff}`);
  if (problems.length > 0 || !p || kind === undefined) throw new ConfigError(problems);
  return {
    lr: p.lr,
    maxGradNorm: p.max_grad_norm,
    oneBit: typeName?.toLowerCase().startsWith("onebit") ? typeName : undefined,
    settings: {
      type: kind,
      beta1: p.betas[0],
      beta2: p.betas[1],
      eps: p.eps,
      weightDecay: p.weight_decay,
      // DeepSpeed: "AdamW" always decouples weight decay; "Adam" follows adam_w_mode (default true)
      adamWMode: typeName?.toLowerCase() === "adamw" ? true : p.adam_w_mode,
      biasCorrection: p.bias_correction,
      minCoeff: p.min_coeff,
      maxCoeff: p.max_coeff,
    },
  };
}
