// `convert-shards`: pre-training shards from one format to the other (TFRecord of tf.train.Example, NVIDIA's HDF5),
// record for record and shard for shard, so the converted folder gives the loader the same batches. The source
// may be ours, Google's or NVIDIA's; the output is written as prepare-data writes (staged, committed over an
// earlier dataset, a dataset.json last).
import { mkdirSync, realpathSync } from "node:fs";
import { basename, join, resolve } from "node:path";

import { CorpusShards, type OpenOptions } from "./corpus-shards.js";
import { CorpusError } from "./corpus.js";
import { commitStaged, openOutputFolder, writeManifest, type ShardFormat } from "./dataset-folder.js";
import type { PretrainingInstance } from "./example.js";
import type { DatasetManifest } from "./prepare.js";
import { ShardError } from "./record-checks.js";
import { openShardWriters, type ShardWriter } from "./shard-writers.js";

export interface ConvertOptions extends Pick<OpenOptions, "skipCorrupt" | "warn" | "vocabSize"> {
  input: string;
  outputDir: string;
  outputFormat: ShardFormat;
  progress?: (line: string) => void;
}

/** An instance's static masks padded with 0 (weight 0) to `width` entries, as Google's fixed-length lists are. */
function padMasks(inst: PretrainingInstance, width: number): PretrainingInstance {
  const m = inst.masked;
  if (!m) return inst;
  const pad = (xs: number[]) => [...xs, ...new Array<number>(width - xs.length).fill(0)];
  return { ...inst, masked: { positions: pad(m.positions), ids: pad(m.ids), weights: pad(m.weights) } };
}

/** The widest masked-position list of the source (its manifest says, or the records do). */
function predictionsWidth(source: CorpusShards): number {
  let widest = source.manifest?.maxPredictionsPerSeq ?? 0;
  for (let i = 0; i < source.count; i++) widest = Math.max(widest, source.instance(i).masked?.positions.length ?? 0);
  return widest;
}

function sameFolder(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
}

export async function convertShards(o: ConvertOptions): Promise<{ records: number; shards: number }> {
  const say = o.progress ?? (() => {});
  if (sameFolder(o.input, o.outputDir))
    throw new CorpusError(`--output_dir ${o.outputDir} is the --input folder; convert into another folder`);
  const source = await CorpusShards.open(o.input, { skipCorrupt: o.skipCorrupt, warn: o.warn, vocabSize: o.vocabSize });
  const staticMasks = source.instance(0).masked !== undefined;
  if (o.outputFormat === "hdf5" && !staticMasks)
    throw new ShardError(
      `${o.input}: its records carry no static masks, which NVIDIA's layout needs; make HDF5 shards from the text with prepare-data --output_format hdf5`,
    );
  const lock = openOutputFolder(o.outputDir, say);
  try {
    const staging = join(o.outputDir, `.prepare-${process.pid}`);
    mkdirSync(staging);
    const width = predictionsWidth(source);
    const writers = await writeConverted(source, staging, o.outputFormat, width);
    writeManifest(staging, convertedManifest(source, o, writers, { staticMasks, width }));
    commitStaged(o.outputDir, staging);
    return { records: source.count, shards: writers.length };
  } finally {
    lock.release();
  }
}

/** One output shard per source shard, the records in their order. */
async function writeConverted(source: CorpusShards, dir: string, format: ShardFormat, width: number) {
  const ranges = source.ranges();
  const seqLen = source.seqLen;
  const writers = await openShardWriters(dir, format, ranges.length, { seqLen, maxPredictions: width });
  try {
    ranges.forEach((range, i) => {
      for (let r = 0; r < range.count; r++)
        (writers[i] as ShardWriter).write(padMasks(source.instance(range.start + r), width));
    });
    for (const w of writers) w.close();
  } catch (err) {
    for (const w of writers) w.abort();
    throw err;
  }
  return writers;
}

function convertedManifest(
  source: CorpusShards,
  o: ConvertOptions,
  writers: ShardWriter[],
  masks: { staticMasks: boolean; width: number },
): DatasetManifest {
  const m = source.manifest;
  return {
    format: "bert-train-pretraining-shards",
    version: 1,
    shardFormat: o.outputFormat,
    shards: writers.map((w) => ({ file: basename(w.path), records: w.count })),
    records: source.count,
    maxSeqLength: source.seqLen,
    maxPredictionsPerSeq: masks.width,
    staticMasks: masks.staticMasks,
    vocabSize: m?.vocabSize ?? o.vocabSize,
    lowerCase: m?.lowerCase,
    settings: m?.settings,
    inputs: m?.inputs,
    convertedFrom: resolve(o.input),
  };
}
