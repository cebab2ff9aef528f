// The TypeScript face of the native engine: validates options before they cross into C++ (messages in the form
// "Expected <what> for <key> but received <value> of type <type>"), fills defaults, and builds layer gates.
import { loadNative } from "./load.js";
import type {
  Device,
  EngineOptions,
  GradientSyncSettings,
  LayerGates,
  ModelConfig,
  NativeEngine,
  Precision,
} from "./types.js";

export type {
  Batch,
  Device,
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

/**
 * Completes a (partial) model config with BERT-base's values and checks it. The rules and their messages are the
 * C++ core's (ModelConfig::validate), so a config is judged the same wherever it comes from.
 */
export function resolveModelConfig(partial: Partial<ModelConfig>): ModelConfig {
  const config = { ...DEFAULT_MODEL_CONFIG, ...partial };
  try {
    loadNative().validateModelConfig(config);
  } catch (err) {
    throw new EngineConfigError((err as Error).message);
  }
  return config;
}

export interface CreateEngineOptions {
  config: Partial<ModelConfig>;
  precision?: Precision;
  seed?: number;
  threads?: number;
  kernels?: "fast" | "reference";
  device?: Device;
  cudaDevice?: number;
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
    device: options.device ?? "cpu",
    cudaDevice: expectInteger("cudaDevice", options.cudaDevice ?? 0, 0),
    ...(options.gradientSync ? { gradientSync: options.gradientSync } : {}),
  };
  const { Engine } = loadNative();
  return new Engine(full);
}

/** Gates with every layer kept and unscaled: evaluation, and training without PLD. */
export function allLayersKept(numLayers: number): LayerGates {
  return { keep: new Array<boolean>(numLayers).fill(true), scale: new Array<number>(numLayers).fill(1) };
}
