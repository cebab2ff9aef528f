// The folders a model comes from, and the architecture each describes: a training checkpoint (state.json +
// model.safetensors, or its job folder, meaning the checkpoint `latest` names), an exported or HuggingFace-style
// folder (config.json + model.safetensors or pytorch_model.bin), or a DeepSpeed checkpoint
// (mp_rank_00_model_states.pt, or its job folder), whose architecture a config must give.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { readWeightFile, WEIGHT_FILE_NAMES } from "../formats/weight-file.js";
import type { ModelConfig } from "../native/types.js";
import {
  CheckpointError,
  readTrainingState,
  resolveCheckpointFolder,
  type ModelShape,
  type TrainingState,
} from "./checkpoint.js";
import { PRE_LN_MODEL_TYPE } from "./weights.js";

export type { ModelShape } from "./checkpoint.js";

export interface ModelFolder {
  /** A fine-tuned checkpoint's head: its labels (0: none) and the GLUE task it was trained on. */
  numLabels?: number;
  task?: string;
  /** The checkpoint or exported folder itself. */
  path: string;
  /** Ours, an exported or HuggingFace-style folder (config.json), or DeepSpeed's (given a config). */
  kind: "checkpoint" | "exported" | "deepspeed";
  model: ModelShape;
  preLn: boolean;
  /** Its weights file (model.safetensors, pytorch_model.bin, mp_rank_00_model_states.pt). */
  weights: string;
  /** The vocabulary that came with the model, and its casing where the folder says. */
  vocab?: { path: string; lowerCase?: boolean };
}

/** An exported or HuggingFace folder's vocab.txt, with do_lower_case from its tokenizer_config.json. */
function folderVocab(path: string): ModelFolder["vocab"] {
  const vocab = join(path, "vocab.txt");
  if (!existsSync(vocab)) return undefined;
  const tokenizerConfig = join(path, "tokenizer_config.json");
  if (!existsSync(tokenizerConfig)) return { path: vocab };
  let c: { do_lower_case?: unknown };
  try {
    c = JSON.parse(readFileSync(tokenizerConfig, "utf8")) as { do_lower_case?: unknown };
  } catch (err) {
    throw new CheckpointError(`${tokenizerConfig}: not readable JSON (${(err as Error).message})`);
  }
  return { path: vocab, lowerCase: typeof c.do_lower_case === "boolean" ? c.do_lower_case : undefined };
}

/** DeepSpeed's file of a checkpoint's weights (model parallel rank 0: the whole model without model parallelism). */
const DEEPSPEED_WEIGHTS = "mp_rank_00_model_states.pt";

/** A DeepSpeed checkpoint folder (`<job>/<tag>`), or a job folder whose `latest` names one; else undefined. */
function deepSpeedCheckpoint(path: string): string | undefined {
  if (existsSync(join(path, DEEPSPEED_WEIGHTS))) return path;
  const latest = join(path, "latest");
  if (!existsSync(latest)) return undefined;
  const tag = join(path, readFileSync(latest, "utf8").trim());
  return existsSync(join(tag, DEEPSPEED_WEIGHTS)) ? tag : undefined;
}

/** The architecture a checkpoint was trained with, from the resolved configs its state.json keeps. */
export function modelConfigFromCheckpointState(state: Pick<TrainingState, "configs" | "model">): {
  model: ModelShape;
  preLn: boolean;
} {
  if (state.model) return { model: state.model.config, preLn: state.model.pre_layer_norm };
  const c = state.configs as {
    cf: { bert_model_config: Record<string, number | string> };
    args: { progressive_layer_drop: boolean };
  };
  const m = c.cf.bert_model_config;
  return {
    preLn: c.args.progressive_layer_drop,
    model: {
      vocab_size: (m.vocab_size ?? m.vocab_size_or_config_json_file) as number,
      hidden_size: m.hidden_size as number,
      num_hidden_layers: m.num_hidden_layers as number,
      num_attention_heads: m.num_attention_heads as number,
      intermediate_size: m.intermediate_size as number,
      max_position_embeddings: (m.max_position_embeddings ?? 512) as number,
      type_vocab_size: (m.type_vocab_size ?? 2) as number,
      hidden_dropout_prob: (m.hidden_dropout_prob ?? 0.1) as number,
      attention_probs_dropout_prob: (m.attention_probs_dropout_prob ?? 0.1) as number,
      hidden_act: (m.hidden_act ?? "gelu") as ModelConfig["hidden_act"],
      layer_norm_eps: (m.layer_norm_eps ?? 1e-12) as number,
    },
  };
}

/** The architecture of an exported folder, from its config.json (HuggingFace keys, plus our pre_layer_norm). */
function modelConfigFromExported(config: ModelConfig & { pre_layer_norm?: boolean; model_type?: string }): {
  model: ModelShape;
  preLn: boolean;
} {
  return {
    preLn: config.pre_layer_norm ?? config.model_type === PRE_LN_MODEL_TYPE,
    model: {
      vocab_size: config.vocab_size,
      hidden_size: config.hidden_size,
      num_hidden_layers: config.num_hidden_layers,
      num_attention_heads: config.num_attention_heads,
      intermediate_size: config.intermediate_size,
      max_position_embeddings: config.max_position_embeddings,
      type_vocab_size: config.type_vocab_size,
      hidden_dropout_prob: config.hidden_dropout_prob,
      attention_probs_dropout_prob: config.attention_probs_dropout_prob,
      hidden_act: config.hidden_act === "gelu_new" ? "gelu_tanh" : config.hidden_act,
      layer_norm_eps: config.layer_norm_eps,
    },
  };
}

/** A checkpoint (or its job folder) or an exported folder, with the architecture its files describe. */
export function openModelFolder(path: string, given?: ModelShape): ModelFolder {
  const deepspeed = deepSpeedCheckpoint(path);
  if (deepspeed !== undefined) return openDeepSpeedFolder(deepspeed, given);
  const checkpoint = resolveCheckpointFolder(path);
  if (checkpoint !== undefined) {
    const state = readTrainingState(checkpoint);
    const { model, preLn } = modelConfigFromCheckpointState(state);
    const vocab = state.vocab && { path: join(checkpoint, state.vocab.file), lowerCase: state.vocab.do_lower_case };
    return {
      path: checkpoint,
      kind: "checkpoint",
      model,
      preLn,
      weights: join(checkpoint, "model.safetensors"),
      vocab,
      numLabels: state.model?.num_labels,
      task: state.glue?.task,
    };
  }
  const exported = join(path, "config.json");
  if (existsSync(exported)) {
    const config = JSON.parse(readFileSync(exported, "utf8")) as ModelConfig & { pre_layer_norm?: boolean };
    const { model, preLn } = modelConfigFromExported(config);
    // the first weights file present (none is an error when they are loaded; --random needs only the config)
    const file = WEIGHT_FILE_NAMES.find((n) => existsSync(join(path, n))) ?? WEIGHT_FILE_NAMES[0];
    return { path, kind: "exported", model, preLn, weights: join(path, file), vocab: folderVocab(path) };
  }
  throw new CheckpointError(
    `${path}: neither a bert-train checkpoint (state.json), an exported or HuggingFace folder (config.json), nor a DeepSpeed checkpoint (${DEEPSPEED_WEIGHTS})`,
  );
}

/**
 * A DeepSpeed checkpoint: its weights file records no architecture, so the model comes from a config.json
 * beside it or from the caller (a bing_bert --cf file); Pre-LN when the weights have Pre-LN LayerNorms.
 */
function openDeepSpeedFolder(path: string, given: ModelShape | undefined): ModelFolder {
  const weights = join(path, DEEPSPEED_WEIGHTS);
  const configFile = [join(path, "config.json"), join(path, "..", "config.json")].find((f) => existsSync(f));
  const model = configFile
    ? modelConfigFromExported(JSON.parse(readFileSync(configFile, "utf8")) as ModelConfig).model
    : given;
  if (!model)
    throw new CheckpointError(
      `${path} is a DeepSpeed checkpoint, which does not record the model's architecture: convert it with bert-train convert ${path} --cf <the bing_bert config it was trained with> --output_dir <folder>, and use that folder`,
    );
  const preLn = readWeightFile(weights).names.some((n) => n.includes("PreAttentionLayerNorm"));
  return { path, kind: "deepspeed", model, preLn, weights };
}

/** A model config without the run's choices, as checkpoints record it. */
export function modelShape(m: ModelConfig): ModelShape {
  const shape: Partial<ModelConfig> = { ...m };
  delete shape.pre_layer_norm;
  delete shape.num_labels;
  return shape as ModelShape;
}
