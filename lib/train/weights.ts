// Weights into an engine from the folders bert-train writes: a training checkpoint (state.json +
// model.safetensors, or its job folder, meaning the checkpoint `latest` names) and an exported folder
// (config.json + model.safetensors). One loader maps a file's tensors onto the engine's parameters and says what
// did not fit; each caller decides what a mismatch means (an error on resume, a note when a new head is added).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { readSafetensors, tensorFloat32 } from "../formats/safetensors.js";
import type { ModelConfig, NativeEngine } from "../native/types.js";
import { CheckpointError, readTrainingState, resolveCheckpointFolder } from "./checkpoint.js";
import type { Output } from "./trainer.js";

/** The architecture without the choices a run makes (Pre-LN or Post-LN, which head). */
export type ModelShape = Omit<ModelConfig, "pre_layer_norm" | "num_labels">;

/** The export writes the word embeddings a second time under the decoder's name (HuggingFace expects it). */
export const TIED_DECODER_NAMES = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"];

export interface ModelFolder {
  /** The checkpoint or exported folder itself. */
  path: string;
  kind: "checkpoint" | "exported";
  model: ModelShape;
  preLn: boolean;
  /** Its model.safetensors. */
  weights: string;
}

/** The architecture a checkpoint was trained with, from the resolved configs its state.json keeps. */
export function modelConfigFromCheckpointState(state: { configs: unknown }): { model: ModelShape; preLn: boolean } {
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
function modelConfigFromExported(config: ModelConfig & { pre_layer_norm?: boolean }): {
  model: ModelShape;
  preLn: boolean;
} {
  return {
    preLn: config.pre_layer_norm ?? false,
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
export function openModelFolder(path: string): ModelFolder {
  const checkpoint = resolveCheckpointFolder(path);
  if (checkpoint !== undefined) {
    const state = readTrainingState(checkpoint);
    const { model, preLn } = modelConfigFromCheckpointState(state);
    return { path: checkpoint, kind: "checkpoint", model, preLn, weights: join(checkpoint, "model.safetensors") };
  }
  const exported = join(path, "config.json");
  if (existsSync(exported)) {
    const config = JSON.parse(readFileSync(exported, "utf8")) as ModelConfig & { pre_layer_norm?: boolean };
    const { model, preLn } = modelConfigFromExported(config);
    return { path, kind: "exported", model, preLn, weights: join(path, "model.safetensors") };
  }
  throw new CheckpointError(
    `${path}: neither a bert-train checkpoint (state.json) nor an exported folder (config.json)`,
  );
}

export interface LoadedWeights {
  loaded: string[];
  /** The engine's parameters the file does not have: left at their initial values. */
  missing: string[];
  /** In the file, but asked to stay at their initial values. */
  keptInitial: string[];
  /** In the file, not in the engine (the tied decoder copies aside). */
  unexpected: string[];
}

/** Copies every tensor of `file` the engine has into it, except those `keepInitial` names. */
export function loadWeights(
  engine: NativeEngine,
  file: string,
  keepInitial: (name: string) => boolean = () => false,
): LoadedWeights {
  const weights = readSafetensors(file);
  const names = engine.paramInfos().map((p) => p.name);
  const known = new Set([...names, ...TIED_DECODER_NAMES]);
  const r: LoadedWeights = { loaded: [], missing: [], keptInitial: [], unexpected: [] };
  for (const n of names) {
    if (!weights.tensors.has(n)) r.missing.push(n);
    else if (keepInitial(n)) r.keptInitial.push(n);
    else {
      engine.setParam(n, tensorFloat32(weights, n));
      r.loaded.push(n);
    }
  }
  r.unexpected = [...weights.tensors.keys()].filter((n) => !known.has(n));
  return r;
}

/**
 * What a load did, for the person watching: a count, then the names that did not fit. `mismatch` says how
 * surprising they are: "log" where a new head is expected (fine-tuning), "warn" where every tensor should fit.
 */
export function reportLoadedWeights(
  out: Output,
  file: string,
  r: LoadedWeights,
  o: { mismatch: "log" | "warn"; keptInitialReason: string },
): void {
  const say = (line: string) => (o.mismatch === "warn" ? out.warn(`[bert-train] ${line}`) : out.log(line));
  out.log(`loaded ${r.loaded.length} tensors from ${file}`);
  if (r.missing.length) say(`newly initialised (not in the checkpoint): ${r.missing.join(", ")}`);
  if (r.keptInitial.length) say(`newly initialised (${o.keptInitialReason}): ${r.keptInitial.join(", ")}`);
  if (r.unexpected.length) say(`not used (not in this model): ${r.unexpected.join(", ")}`);
}
