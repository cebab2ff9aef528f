// The TypeScript face of the native engine: validates options before they cross into C++ (messages in the form
// "Expected <what> for <key> but received <value> of type <type>"), fills defaults, and builds layer gates.
import { loadNative } from "./load.js";
import type { EngineOptions, GradientSyncSettings, LayerGates, ModelConfig, NativeEngine, Precision } from "./types.js";

export type {
  Batch,
  LayerGates,
  ModelConfig,
  NativeEngine,
  OptimizerSettings,
  ParamInfo,
  PassOptions,
  PassResult,
  Precision,
  StepOutcome,
  StepSettings,
} from "./types.js";

export class EngineConfigError extends Error {
  readonly code = "ERR_INVALID_CONFIG";
}

/** BERT-base's values: the defaults of `bert_model_config` in DeepSpeed's bing_bert files. */
export const DEFAULT_MODEL_CONFIG: ModelConfig = {
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  hidden_act: "gelu",
  layer_norm_eps: 1e-12,
  pre_layer_norm: true,
  num_labels: 0,
};

function describe(value: unknown): string {
  return `${JSON.stringify(value) ?? String(value)} of type ${value === null ? "null" : typeof value}`;
}

function expectInteger(key: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min)
    throw new EngineConfigError(`Expected an integer >= ${min} for ${key} but received ${describe(value)}`);
  return value;
}

function expectProbability(key: string, value: unknown): number {
  if (typeof value !== "number" || !(value >= 0 && value < 1))
    throw new EngineConfigError(`Expected a number in [0, 1) for ${key} but received ${describe(value)}`);
  return value;
}

/** Checks a (partial) model config and completes it with defaults. */
export function resolveModelConfig(partial: Partial<ModelConfig>): ModelConfig {
  const c = { ...DEFAULT_MODEL_CONFIG, ...partial };
  expectInteger("vocab_size", c.vocab_size, 8);
  expectInteger("hidden_size", c.hidden_size, 1);
  expectInteger("num_hidden_layers", c.num_hidden_layers, 1);
  expectInteger("num_attention_heads", c.num_attention_heads, 1);
  expectInteger("intermediate_size", c.intermediate_size, 1);
  expectInteger("max_position_embeddings", c.max_position_embeddings, 2);
  expectInteger("type_vocab_size", c.type_vocab_size, 1);
  expectInteger("num_labels", c.num_labels, 0);
  expectProbability("hidden_dropout_prob", c.hidden_dropout_prob);
  expectProbability("attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  if (c.hidden_size % c.num_attention_heads !== 0)
    throw new EngineConfigError(
      `Expected num_attention_heads to divide hidden_size but received num_attention_heads = ${c.num_attention_heads}, hidden_size = ${c.hidden_size}`,
    );
  if (!["gelu", "gelu_tanh", "gelu_new"].includes(c.hidden_act))
    throw new EngineConfigError(`Expected "gelu" or "gelu_tanh" for hidden_act but received ${describe(c.hidden_act)}`);
  if (typeof c.layer_norm_eps !== "number" || !(c.layer_norm_eps > 0))
    throw new EngineConfigError(
      `Expected a positive number for layer_norm_eps but received ${describe(c.layer_norm_eps)}`,
    );
  if (typeof c.pre_layer_norm !== "boolean")
    throw new EngineConfigError(`Expected a boolean for pre_layer_norm but received ${describe(c.pre_layer_norm)}`);
  return c;
}

export interface CreateEngineOptions {
  config: Partial<ModelConfig>;
  precision?: Precision;
  seed?: number;
  threads?: number;
  kernels?: "fast" | "reference";
  gradientSync?: GradientSyncSettings;
}

export function createEngine(options: CreateEngineOptions): NativeEngine {
  const config = resolveModelConfig(options.config);
  const precision = options.precision ?? "fp32";
  if (precision !== "fp32" && precision !== "bf16" && precision !== "fp16")
    throw new EngineConfigError(`Expected "fp32", "bf16" or "fp16" for precision but received ${describe(precision)}`);
  const full: EngineOptions = {
    config,
    precision,
    seed: expectInteger("seed", options.seed ?? 42, 0),
    threads: expectInteger("threads", options.threads ?? 0, 0),
    kernels: options.kernels ?? "fast",
    ...(options.gradientSync ? { gradientSync: options.gradientSync } : {}),
  };
  const { Engine } = loadNative();
  return new Engine(full);
}

/** Gates with every layer kept and unscaled: evaluation, and training without PLD. */
export function allLayersKept(numLayers: number): LayerGates {
  return { keep: new Array<boolean>(numLayers).fill(true), scale: new Array<number>(numLayers).fill(1) };
}
