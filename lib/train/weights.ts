// Weights into an engine from a model folder's file (lib/train/model-folder.ts finds it), in any common BERT
// layout (lib/train/weight-names.ts maps the names). One loader copies the tensors that fit and says what did not;
// each caller decides what a mismatch means (an error on resume, a note when a new head is added), and a load that
// would leave the embeddings or encoder random is refused unless the user allows it.
import { existsSync } from "node:fs";

import { readWeightFile, WEIGHT_FILE_NAMES } from "../formats/weight-file.js";
import type { NativeEngine } from "../native/types.js";
import { CheckpointError } from "./checkpoint.js";
import { BODY_GROUPS, mapNames, weightGroup, type WeightGroup } from "./weight-names.js";
import type { Output } from "./trainer.js";

/** The export writes the word embeddings a second time under the decoder's name (HuggingFace expects it). */
export const TIED_DECODER_NAMES = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"];

/**
 * The model_type of a Pre-LN export. HuggingFace has no Pre-LN BERT class; under "bert" it would load the weights
 * into a Post-LN model, dropping the Pre-LN LayerNorms without an error. Its own type makes HuggingFace refuse it.
 */
export const PRE_LN_MODEL_TYPE = "bert_pre_ln";

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
  if (!existsSync(file))
    throw new CheckpointError(`${file} does not exist: the folder has no weights (${WEIGHT_FILE_NAMES.join(" or ")})`);
  const weights = readWeightFile(file);
  const infos = engine.paramInfos();
  const map = mapNames(
    weights.names,
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
      const stored = weights.shape(source);
      if (stored.reduce((a, b) => a * b, 1) !== size)
        throw new CheckpointError(
          `${file}: ${source} has shape [${stored.join(", ")}], this model's ${name} is [${shape.join(", ")}]: the weights are of another model size`,
        );
      engine.setParam(name, weights.float32(source));
      const dtype = weights.dtype(source);
      if (dtype !== "F32") r.cast.set(dtype, (r.cast.get(dtype) ?? 0) + 1);
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
