// What a pre-training record must hold before it reaches the engine, checked once when a corpus opens so that a
// bad record is named by shard and record (not by a batch index mid-run), and what a corpus folder's manifest
// promises about its shards.
import { basename } from "node:path";

import type { PretrainingInstance } from "./example.js";
import type { DatasetManifest } from "./prepare.js";

export class ShardError extends Error {
  readonly code = "ERR_SHARDS";
}

export interface RecordLimits {
  seqLen: number;
  /** Token ids must lie below it (the vocabulary of the run). */
  vocabSize?: number;
}

function allIn(values: number[], low: number, high: number): number | undefined {
  return values.find((v) => !(Number.isInteger(v) && v >= low && v < high));
}

/** The first thing wrong with a record, or undefined. */
export function recordProblem(inst: PretrainingInstance, limits: RecordLimits): string | undefined {
  const T = limits.seqLen;
  const vocab = limits.vocabSize ?? 2 ** 31;
  if (inst.inputIds.length !== T) return `sequence length ${inst.inputIds.length}, the corpus's is ${T}`;
  const badId = allIn(inst.inputIds, 0, vocab);
  if (badId !== undefined) return `input_ids holds ${badId}, outside the vocabulary [0, ${vocab})`;
  if (allIn(inst.inputMask, 0, 2) !== undefined) return "input_mask holds a value other than 0 and 1";
  if (allIn(inst.segmentIds, 0, 2) !== undefined) return "segment_ids holds a value other than 0 and 1";
  if (allIn([inst.nextSentenceLabel], 0, 2) !== undefined)
    return `next_sentence_labels is ${inst.nextSentenceLabel}, not 0 or 1`;
  const m = inst.masked;
  if (!m) return undefined;
  if (m.ids.length !== m.positions.length || m.weights.length !== m.positions.length)
    return `masked_lm_positions, _ids and _weights differ in length (${m.positions.length}, ${m.ids.length}, ${m.weights.length})`;
  const used = m.positions.filter((_, j) => (m.weights[j] as number) > 0);
  const badPosition = allIn(used, 0, T);
  if (badPosition !== undefined) return `masked_lm_positions holds ${badPosition}, outside the sequence [0, ${T})`;
  const badLabel = allIn(
    m.ids.filter((_, j) => (m.weights[j] as number) > 0),
    0,
    vocab,
  );
  if (badLabel !== undefined) return `masked_lm_ids holds ${badLabel}, outside the vocabulary [0, ${vocab})`;
  return undefined;
}

/** A shard whose record count is not the manifest's (a truncated or replaced file), or undefined. */
export function countProblem(file: string, found: number, manifest: DatasetManifest | undefined): string | undefined {
  const expected = manifest?.shards.find((s) => s.file === basename(file))?.records;
  return expected !== undefined && expected !== found
    ? `${file} holds ${found} records, dataset.json says ${expected}`
    : undefined;
}

/** The run's vocabulary, as far as the caller knows it. */
export interface RunVocab {
  size: number;
  sha256?: string;
  path?: string;
}

/** Shards made with another vocabulary than the run's (size, or the file's hash), or undefined. */
export function vocabularyProblem(dir: string, manifest: DatasetManifest, vocab: RunVocab): string | undefined {
  const fix = "use the same --vocab_file, or prepare the data again with this one";
  const theirs = manifest.settings?.vocab ?? "another vocabulary";
  if (manifest.vocabSize !== undefined && manifest.vocabSize !== vocab.size)
    return `${dir} was made with a vocabulary of ${manifest.vocabSize} tokens (dataset.json), this run's has ${vocab.size}: ${fix}`;
  if (manifest.vocabSha256 !== undefined && vocab.sha256 !== undefined && manifest.vocabSha256 !== vocab.sha256)
    return `${dir} was made with ${theirs} (sha256 ${manifest.vocabSha256.slice(0, 12)}, dataset.json), this run's vocabulary ${vocab.path ?? ""} is another file (sha256 ${vocab.sha256.slice(0, 12)}) of the same size: ${fix}`;
  return undefined;
}
