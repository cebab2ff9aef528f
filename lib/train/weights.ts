// Weights into an engine from the folders bert-train writes: a training checkpoint (state.json +
// model.safetensors, or its job folder, meaning the checkpoint `latest` names) and an exported folder
// (config.json + model.safetensors). One loader maps a file's tensors onto the engine's parameters and says what
// did not fit; each caller decides what a mismatch means (an error on resume, a note when a new head is added).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { readSafetensors, tensorFloat32 } from "../formats/safetensors.js";
import type { ModelConfig, NativeEngine } from "../native/types.js";
import { CheckpointError, readTrainingState, resolveCheckpointFolder } from "./checkpoint.js";
import { BODY_GROUPS, mapNames, weightGroup, type WeightGroup } from "./weight-names.js";
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
  /** Weights in the file the engine has no place for. */
  unexpected: string[];
  /** Tensors that are not weights: buffers (position_ids) and the decoder tied to the word embeddings. */
  ignored: string[];
  /** Tensors widened to fp32, by their stored dtype. */
  cast: Map<string, number>;
}

export class PartialLoadError extends Error {
  readonly code = "ERR_PARTIAL_LOAD";
}

/** Copies every tensor of `file` the engine has into it (in any common BERT layout), except those `keepInitial` names. */
export function loadWeights(
  engine: NativeEngine,
  file: string,
  keepInitial: (name: string) => boolean = () => false,
): LoadedWeights {
  const weights = readSafetensors(file);
  const infos = engine.paramInfos();
  const map = mapNames(
    weights.tensors.keys(),
    infos.map((p) => p.name),
  );
  const r: LoadedWeights = {
    loaded: [],
    missing: [],
    keptInitial: [],
    unexpected: map.unused,
    ignored: map.ignored,
    cast: new Map(),
  };
  for (const { name, shape, size } of infos) {
    const source = map.sources.get(name);
    if (source === undefined) r.missing.push(name);
    else if (keepInitial(name)) r.keptInitial.push(name);
    else {
      const t = weights.tensors.get(source) as { dtype: string; shape: number[] };
      if (t.shape.reduce((a, b) => a * b, 1) !== size)
        throw new CheckpointError(
          `${file}: ${source} has shape [${t.shape.join(", ")}], this model's ${name} is [${shape.join(", ")}]: the weights are of another model size`,
        );
      engine.setParam(name, tensorFloat32(weights, source));
      if (t.dtype !== "F32") r.cast.set(t.dtype, (r.cast.get(t.dtype) ?? 0) + 1);
      r.loaded.push(name);
    }
  }
  return r;
}

/**
 * Refuses a load that leaves embedding or encoder weights at their random start (a training run would carry on
 * from scratch in all but name), unless the user said so (`--allow_partial_load`).
 */
export function requireBody(file: string, r: LoadedWeights, allowPartial: boolean): void {
  const left = r.missing.filter((n) => BODY_GROUPS.has(weightGroup(n)));
  if (left.length === 0 || allowPartial) return;
  const shown = left.slice(0, 6).join(", ") + (left.length > 6 ? `, ... (${left.length} in all)` : "");
  throw new PartialLoadError(
    `${file} has no weights for ${shown}; they would stay random. Check that it is a BERT checkpoint of this architecture (Pre-LN for --progressive_layer_drop), or pass --allow_partial_load to start them from random`,
  );
}

/** Counts per group, e.g. "embeddings 5, encoder 64, pooler 2". */
function groupCounts(names: string[]): string {
  const counts = new Map<WeightGroup, number>();
  for (const n of names) counts.set(weightGroup(n), (counts.get(weightGroup(n)) ?? 0) + 1);
  return [...counts].map(([g, c]) => `${g} ${c}`).join(", ");
}

/**
 * What a load did, for the person watching: counts per group, then the names that did not fit. `mismatch` says
 * how surprising they are: "log" where a new head is expected (fine-tuning), "warn" where every tensor should fit.
 */
export function reportLoadedWeights(
  out: Output,
  file: string,
  r: LoadedWeights,
  o: { mismatch: "log" | "warn"; keptInitialReason: string },
): void {
  const say = (line: string) => (o.mismatch === "warn" ? out.warn(`[bert-train] ${line}`) : out.log(line));
  out.log(`loaded ${r.loaded.length} tensors from ${file} (${groupCounts(r.loaded)})`);
  for (const [dtype, count] of r.cast) out.log(`  ${count} of them stored as ${dtype}, widened to fp32`);
  if (r.missing.length) say(`newly initialised (not in the checkpoint): ${r.missing.join(", ")}`);
  if (r.keptInitial.length) say(`newly initialised (${o.keptInitialReason}): ${r.keptInitial.join(", ")}`);
  if (r.unexpected.length) say(`not used (not in this model): ${r.unexpected.join(", ")}`);
}
