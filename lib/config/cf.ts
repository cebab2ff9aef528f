// The --cf file of DeepSpeed's bing_bert example: the model (`bert_model_config`), the corpora per sequence length
// (`data.mixed_seq_datasets`) and the training settings per sequence length (`mixed_seq_training`, or a single
// `training` block). Validated with ajv, defaults in the schema, errors naming file and key.
import { Ajv } from "ajv";

import type { ModelConfig } from "../native/types.js";
import { ConfigError, formatAjvErrors } from "./errors.js";
import { readJsonFile } from "./json-file.js";

const trainingBlock = {
  type: "object",
  additionalProperties: false,
  properties: {
    num_epochs: { type: "integer", minimum: 1, default: 1 },
    warmup_proportion: { type: "number", minimum: 0, maximum: 1, default: 0.01 },
    learning_rate: { type: "number", exclusiveMinimum: 0 },
    num_workers: { type: "integer", minimum: 0 },
    async_worker: { type: "boolean" },
    decay_rate: { type: "number", exclusiveMinimum: 0, maximum: 1, default: 0.99 },
    decay_step: { type: "integer", minimum: 1, default: 1000 },
    total_training_steps: { type: "integer", minimum: 1, default: 10000 },
  },
} as const;

export const cfSchema = {
  type: "object",
  additionalProperties: false,
  required: ["bert_model_config"],
  properties: {
    name: { type: "string" },
    bert_token_file: { type: "string" },
    bert_model_file: { type: "string" },
    bert_model_config: {
      type: "object",
      additionalProperties: false,
      required: ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"],
      properties: {
        vocab_size_or_config_json_file: { type: "integer", minimum: 8 },
        vocab_size: { type: "integer", minimum: 8 },
        hidden_size: { type: "integer", minimum: 1 },
        num_hidden_layers: { type: "integer", minimum: 1 },
        num_attention_heads: { type: "integer", minimum: 1 },
        intermediate_size: { type: "integer", minimum: 1 },
        hidden_act: { enum: ["gelu", "gelu_tanh", "gelu_new"], default: "gelu" },
        hidden_dropout_prob: { type: "number", minimum: 0, exclusiveMaximum: 1, default: 0.1 },
        attention_probs_dropout_prob: { type: "number", minimum: 0, exclusiveMaximum: 1, default: 0.1 },
        max_position_embeddings: { type: "integer", minimum: 2, default: 512 },
        type_vocab_size: { type: "integer", minimum: 1, default: 2 },
        initializer_range: { type: "number", exclusiveMinimum: 0, default: 0.02 },
        layer_norm_eps: { type: "number", exclusiveMinimum: 0, default: 1e-12 },
      },
    },
    data: {
      type: "object",
      additionalProperties: false,
      properties: {
        flags: { type: "object" },
        mixed_seq_datasets: {
          type: "object",
          additionalProperties: { type: "object", additionalProperties: { type: "string" } },
        },
        datasets: { type: "object", additionalProperties: { type: "string" } },
      },
    },
    mixed_seq_training: { type: "object", additionalProperties: trainingBlock },
    training: trainingBlock,
    validation: { type: "object", properties: { path: { type: "string" } } },
  },
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strictTuples: false, verbose: true });
const validate = ajv.compile(cfSchema);

export interface TrainingSettings {
  num_epochs: number;
  warmup_proportion: number;
  learning_rate?: number;
  decay_rate: number;
  decay_step: number;
  total_training_steps: number;
}

export interface CfConfig {
  file: string;
  raw: Record<string, unknown>;
  model: Omit<ModelConfig, "pre_layer_norm" | "num_labels">;
  training: TrainingSettings;
  validationPath?: string;
}

type RawCf = {
  bert_model_config: Record<string, number | string | undefined>;
  mixed_seq_training?: Record<string, TrainingSettings>;
  training?: TrainingSettings;
  validation?: { path?: string };
};

/** A --cf file, validated by the schema. */
function readCf(file: string): { raw: RawCf; rawObject: Record<string, unknown> } {
  const data: unknown = readJsonFile(file, "--cf config");
  if (!validate(data)) throw new ConfigError(formatAjvErrors(file, "", data, validate.errors ?? []));
  return { raw: data, rawObject: data as unknown as Record<string, unknown> };
}

function modelOf(file: string, m: RawCf["bert_model_config"]): CfConfig["model"] {
  const vocab = (m.vocab_size ?? m.vocab_size_or_config_json_file) as number | undefined;
  if (vocab === undefined)
    throw new ConfigError([`${file}: bert_model_config.vocab_size_or_config_json_file: required but missing`]);
  return {
    vocab_size: vocab,
    hidden_size: m.hidden_size as number,
    num_hidden_layers: m.num_hidden_layers as number,
    num_attention_heads: m.num_attention_heads as number,
    intermediate_size: m.intermediate_size as number,
    max_position_embeddings: m.max_position_embeddings as number,
    type_vocab_size: m.type_vocab_size as number,
    hidden_dropout_prob: m.hidden_dropout_prob as number,
    attention_probs_dropout_prob: m.attention_probs_dropout_prob as number,
    hidden_act: m.hidden_act as ModelConfig["hidden_act"],
    layer_norm_eps: m.layer_norm_eps as number,
  };
}

/** The model a --cf file describes (its bert_model_config), without its training settings. */
export function loadCfModel(file: string): CfConfig["model"] {
  return modelOf(file, readCf(file).raw.bert_model_config);
}

export function loadCf(file: string, seqLen: number): CfConfig {
  const { raw, rawObject } = readCf(file);
  const model = modelOf(file, raw.bert_model_config);
  const training = raw.mixed_seq_training?.[String(seqLen)] ?? raw.training;
  if (!training)
    throw new ConfigError([
      `${file}: mixed_seq_training.${seqLen}: no training settings for --max_seq_length ${seqLen} (and no "training" block)`,
    ]);
  if (model.max_position_embeddings < seqLen)
    throw new ConfigError([
      `${file}: bert_model_config.max_position_embeddings ${model.max_position_embeddings} is shorter than --max_seq_length ${seqLen}`,
    ]);
  return { file, raw: rawObject, model, training, validationPath: raw.validation?.path };
}
