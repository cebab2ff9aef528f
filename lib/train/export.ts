// Export of a checkpoint's model to a HuggingFace-style folder: config.json, model.safetensors, vocab.txt. A
// Post-LN model's names are HuggingFace BertForPreTraining's already; the tied decoder weight is written as
// cls.predictions.decoder.weight too (and its bias), as HuggingFace expects to find them. Such a folder is also
// accepted as the initial weights of a new run (--init_from).
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { readSafetensors, tensorFloat32, writeSafetensors, type TensorToWrite } from "../formats/safetensors.js";
import type { ModelConfig, NativeEngine } from "../native/types.js";
import { CheckpointError } from "./checkpoint.js";

export interface ExportedConfig {
  architectures: string[];
  model_type: "bert";
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: string;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  initializer_range: number;
  layer_norm_eps: number;
  /** Ours: true for the Pre-LN (PLD) model, which HuggingFace's BertForPreTraining does not implement. */
  pre_layer_norm: boolean;
}

export function modelConfigFromCheckpointState(state: { configs: unknown }): {
  model: Omit<ModelConfig, "pre_layer_norm" | "num_labels">;
  preLn: boolean;
} {
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

export function exportModel(checkpoint: string, out: string, vocabPath: string): void {
  const statePath = join(checkpoint, "state.json");
  if (!existsSync(statePath)) throw new CheckpointError(`${checkpoint} is not a checkpoint (no state.json)`);
  const state = JSON.parse(readFileSync(statePath, "utf8")) as { configs: unknown };
  const { model, preLn } = modelConfigFromCheckpointState(state);
  const weights = readSafetensors(join(checkpoint, "model.safetensors"));
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of weights.tensors) tensors.set(name, { dtype: t.dtype, shape: t.shape, data: t.data });
  const word = weights.tensors.get("bert.embeddings.word_embeddings.weight");
  const bias = weights.tensors.get("cls.predictions.bias");
  if (word) tensors.set("cls.predictions.decoder.weight", { dtype: word.dtype, shape: word.shape, data: word.data });
  if (bias) tensors.set("cls.predictions.decoder.bias", { dtype: bias.dtype, shape: bias.shape, data: bias.data });
  const config: ExportedConfig = {
    architectures: [preLn ? "BertForPreTrainingPreLN" : "BertForPreTraining"],
    model_type: "bert",
    ...model,
    hidden_act: model.hidden_act === "gelu_tanh" ? "gelu_new" : model.hidden_act,
    initializer_range: 0.02,
    pre_layer_norm: preLn,
  };
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeSafetensors(join(tmp, "model.safetensors"), tensors, { format: "pt", producer: "bert-train" });
  writeFileSync(join(tmp, "config.json"), JSON.stringify(config, null, 2) + "\n");
  copyFileSync(vocabPath, join(tmp, "vocab.txt"));
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
}

/** Loads an exported folder's weights into an engine of the same architecture; returns what did not fit. */
export function loadExportedWeights(engine: NativeEngine, folder: string): { missing: string[]; unexpected: string[] } {
  const file = readSafetensors(join(folder, "model.safetensors"));
  const names = new Set(engine.paramInfos().map((p) => p.name));
  const missing = [...names].filter((n) => !file.tensors.has(n));
  const tied = new Set(["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]);
  const unexpected = [...file.tensors.keys()].filter((n) => !names.has(n) && !tied.has(n));
  for (const n of names) if (file.tensors.has(n)) engine.setParam(n, tensorFloat32(file, n));
  return { missing, unexpected };
}
