// `prepare-data`: raw text -> documents -> WordPiece ids -> NSP instances (optionally statically masked) ->
// TFRecord shards of tf.train.Example, or HDF5 shards in NVIDIA's layout (static masks only), plus a
// `dataset.json` manifest written last. Shards and manifest are staged
// and committed over an earlier dataset (lib/data/dataset-folder.ts), so an interrupted run leaves the earlier
// dataset complete, or a folder the loader refuses, never stale shards under a manifest.
import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";

import { CorpusError, documentsFromFile, listInputFiles, readUtf8, type InputKind } from "./corpus.js";
import { commitStaged, openOutputFolder, writeManifest, type ShardFormat } from "./dataset-folder.js";
import { createInstances, maskTokens, padInstance, type RawInstance, type SpecialIds } from "./instances.js";
import { SeededRandom } from "./random.js";
import { openShardWriters, type ShardWriter } from "./shard-writers.js";
import { createBertTokenizer, specialIds, type BertTokenizer, type Vocab } from "./tokenizer.js";
import { MASKED_LM_PROB } from "./instances.js";

export { MANIFEST } from "./dataset-folder.js";

export interface PrepareOptions {
  inputs: string[];
  outputDir: string;
  vocab: string;
  lowerCase: boolean;
  maxSeqLength: number;
  shortSeqProb: number;
  dupeFactor: number;
  masking: "static" | "dynamic";
  maxPredictionsPerSeq: number;
  maskedLmProb: number;
  seed: number;
  numShards: number;
  /** The field of a JSON-lines input that holds the text (default "text"). */
  textField?: string;
  /** TFRecord (default) or HDF5 in NVIDIA's layout. */
  outputFormat?: ShardFormat;
  progress?: (line: string) => void;
}

export interface DatasetManifest {
  format: "bert-train-pretraining-shards";
  version: 1;
  /** Absent in manifests written before HDF5 output existed: TFRecord. */
  shardFormat?: ShardFormat;
  shards: { file: string; records: number }[];
  records: number;
  maxSeqLength: number;
  maxPredictionsPerSeq: number;
  staticMasks: boolean;
  vocabSize?: number;
  /** The SHA-256 of the vocabulary file the shards were made with (absent in older manifests). */
  vocabSha256?: string;
  /** prepare-data's: how the text became shards. A converted dataset carries its source's, if it had them. */
  lowerCase?: boolean;
  settings?: Omit<PrepareOptions, "progress" | "inputs" | "outputDir">;
  inputs?: { file: string; kind: InputKind; documents: number }[];
  /** convert-shards: the folder the records came from. */
  convertedFrom?: string;
}

export interface PrepareStats {
  files: number;
  bytes: number;
  documents: number;
  units: number;
  tokens: number;
  instances: number;
  randomNext: number;
  seconds: { read: number; tokenize: number; instances: number; write: number };
}

/** The settings of Google's tool for sequence 128 with dynamic masking and one pass: what the benchmarks use. */
export function seq128Options(inputs: string[], outputDir: string, vocab: string, numShards: number): PrepareOptions {
  return {
    inputs,
    outputDir,
    vocab,
    lowerCase: true,
    maxSeqLength: 128,
    shortSeqProb: 0.1,
    dupeFactor: 1,
    masking: "dynamic",
    maxPredictionsPerSeq: 20,
    maskedLmProb: MASKED_LM_PROB,
    seed: 1,
    numShards,
  };
}

/** Every input file's documents (lists of sentence-like units), with what each file was read as. */
function readInputs(o: PrepareOptions, files: string[], say: (line: string) => void) {
  const texts: string[][] = [];
  const inputs: DatasetManifest["inputs"] = [];
  let bytes = 0;
  for (const file of files) {
    const text = readUtf8(file);
    bytes += Buffer.byteLength(text);
    const { kind, documents } = documentsFromFile(file, text, o.textField ?? "text");
    inputs.push({ file, kind, documents: documents.length });
    texts.push(...documents);
    say(`read ${file}: ${kind}, ${documents.length} documents`);
  }
  if (texts.length === 0) throw new CorpusError(`the inputs hold no text (${files.join(", ")})`);
  return { texts, inputs, bytes };
}

/** Token ids of every unit, documents without empty units, and empty documents dropped. */
async function tokenizeDocuments(tokenizer: BertTokenizer, texts: string[][], say: (line: string) => void) {
  // tokenize every unit; the Rust engine spreads a batch over all cores
  const units = texts.flat();
  const ids: number[][] = [];
  const chunk = 16384; // large batches keep both cores of the Rust engine busy
  for (let i = 0; i < units.length; i += chunk) {
    ids.push(...(await tokenizer.encodeBatch(units.slice(i, i + chunk))));
    if ((i / chunk) % 25 === 0) say(`tokenized ${Math.min(i + chunk, units.length)} of ${units.length} units`);
  }
  let k = 0;
  const docs = texts
    .map((d) => d.map(() => ids[k++] as number[]).filter((u) => u.length > 0))
    .filter((d) => d.length > 0);
  return { docs, units: units.length, tokens: docs.reduce((s, d) => s + d.reduce((a, u) => a + u.length, 0), 0) };
}

/** The instances dealt round-robin into the shards (static masks drawn here when asked); returns the writers. */
async function writeShards(
  o: PrepareOptions,
  raw: RawInstance[],
  special: SpecialIds,
  vocabSize: number,
  rng: SeededRandom,
): Promise<ShardWriter[]> {
  const numShards = Math.min(o.numShards, raw.length);
  const writers = await openShardWriters(o.outputDir, o.outputFormat ?? "tfrecord", numShards, {
    seqLen: o.maxSeqLength,
    maxPredictions: o.maxPredictionsPerSeq,
  });
  try {
    raw.forEach((r, i) => {
      const masked =
        o.masking === "static"
          ? maskTokens(r.tokens, special, vocabSize, o.maxPredictionsPerSeq, o.maskedLmProb, rng)
          : undefined;
      (writers[i % numShards] as ShardWriter).write(
        padInstance(r, o.maxSeqLength, masked, o.maxPredictionsPerSeq, special.pad),
      );
    });
    for (const w of writers) w.close();
  } catch (err) {
    for (const w of writers) w.abort();
    throw err;
  }
  return writers;
}

/** dataset.json of prepare-data's shards, with every setting. */
function writePrepareManifest(
  o: PrepareOptions,
  writers: ShardWriter[],
  records: number,
  vocab: Vocab,
  inputs: DatasetManifest["inputs"],
): void {
  const settings: DatasetManifest["settings"] = {
    vocab: o.vocab,
    lowerCase: o.lowerCase,
    maxSeqLength: o.maxSeqLength,
    shortSeqProb: o.shortSeqProb,
    dupeFactor: o.dupeFactor,
    masking: o.masking,
    maxPredictionsPerSeq: o.maxPredictionsPerSeq,
    maskedLmProb: o.maskedLmProb,
    seed: o.seed,
    numShards: o.numShards,
    textField: o.textField,
    outputFormat: o.outputFormat,
  };
  const manifest: DatasetManifest = {
    format: "bert-train-pretraining-shards",
    version: 1,
    shardFormat: o.outputFormat ?? "tfrecord",
    shards: writers.map((w) => ({ file: basename(w.path), records: w.count })),
    records,
    maxSeqLength: o.maxSeqLength,
    maxPredictionsPerSeq: o.maxPredictionsPerSeq,
    staticMasks: o.masking === "static",
    vocabSize: vocab.tokens.length,
    vocabSha256: vocab.sha256,
    lowerCase: o.lowerCase,
    settings,
    inputs,
  };
  writeManifest(o.outputDir, manifest);
}

/** A stopwatch: each call returns the seconds since the previous one. */
function lapTimer(): () => number {
  let t = performance.now();
  return () => {
    const now = performance.now();
    const s = (now - t) / 1000;
    t = now;
    return s;
  };
}

export async function prepareData(o: PrepareOptions): Promise<PrepareStats> {
  const say = o.progress ?? (() => {});
  if (o.maxSeqLength < 5)
    throw new CorpusError(
      `max_seq_length ${o.maxSeqLength} is too small for a pair: [CLS] A [SEP] B [SEP] needs at least 5 positions`,
    );
  if (!(o.numShards >= 1)) throw new CorpusError(`num_shards must be at least 1, got ${o.numShards}`);
  if (o.outputFormat === "hdf5" && o.masking !== "static")
    throw new CorpusError(
      "--output_format hdf5 writes NVIDIA's layout, whose shards carry static masks: use --masking static (the default with hdf5)",
    );
  const tokenizer = await createBertTokenizer(o.vocab, o.lowerCase);
  const files = listInputFiles(o.inputs);
  if (files.length === 0) throw new CorpusError(`no input files under ${o.inputs.join(", ")}`);
  const lock = openOutputFolder(o.outputDir, say);
  try {
    return await prepareLocked(o, tokenizer, files, say);
  } finally {
    lock.release();
  }
}

async function prepareLocked(
  o: PrepareOptions,
  tokenizer: BertTokenizer,
  files: string[],
  say: (line: string) => void,
): Promise<PrepareStats> {
  const lap = lapTimer();
  const { texts, inputs, bytes } = readInputs(o, files, say);
  const read = lap();
  const { docs, units, tokens } = await tokenizeDocuments(tokenizer, texts, say);
  const tokenize = lap();
  const special: SpecialIds = specialIds(tokenizer.vocab);
  const rng = new SeededRandom(o.seed);
  const raw = createInstances(docs, o, special, rng);
  if (raw.length === 0) throw new CorpusError(`the inputs are too short to make a single instance (${tokens} tokens)`);
  const instances = lap();

  const vocabSize = tokenizer.vocab.tokens.length;
  const staging = join(o.outputDir, `.prepare-${process.pid}`);
  mkdirSync(staging);
  const writers = await writeShards({ ...o, outputDir: staging }, raw, special, vocabSize, rng);
  writePrepareManifest({ ...o, outputDir: staging }, writers, raw.length, tokenizer.vocab, inputs);
  commitStaged(o.outputDir, staging);
  const write = lap();
  say(`wrote ${raw.length} instances into ${writers.length} shards in ${o.outputDir}`);
  return {
    files: files.length,
    bytes,
    documents: docs.length,
    units,
    tokens,
    instances: raw.length,
    randomNext: raw.filter((r) => r.isRandomNext).length,
    seconds: { read, tokenize, instances, write },
  };
}
