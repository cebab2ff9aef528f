// Data pipeline throughput: tokenization + instance creation (+ shard writing) in MB/s of input text beside the
// `tokenizers` engine's encode-only rate on the same text, measured in the same run; then the loader's sequences
// per second from the shards just written, and, for the same statically masked instances written as TFRecord and
// as NVIDIA's HDF5, each format's open (read and check) time and loader rate.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { documentsFromText, listInputFiles, readUtf8 } from "../data/corpus.js";
import { CorpusShards, PretrainingLoader, type LoaderOptions } from "../data/loader.js";
import { prepareData, seq128Options } from "../data/prepare.js";
import { createBertTokenizer, specialIds, type Vocab } from "../data/tokenizer.js";
import type { ShardFormat } from "../data/dataset-folder.js";
import { MASKED_LM_PROB } from "../data/instances.js";

export interface DataBenchOptions {
  inputs: string[];
  vocab: string;
  batchSize: number;
  loaderBatches: number;
}

export async function runDataBench(o: DataBenchOptions, print: (line: string) => void): Promise<void> {
  const files = listInputFiles(o.inputs);
  const units = files.flatMap((f) => documentsFromText(readUtf8(f)).documents.flat());
  const megabytes = files.reduce((s, f) => s + Buffer.byteLength(readUtf8(f)), 0) / 1e6;
  print(`input: ${files.length} files, ${megabytes.toFixed(1)} MB, ${units.length} sentences`);

  const tokenizer = await createBertTokenizer(o.vocab, true);
  let t0 = performance.now();
  for (let i = 0; i < units.length; i += 4096) await tokenizer.encodeBatch(units.slice(i, i + 4096));
  const encodeSeconds = (performance.now() - t0) / 1000;
  print(`tokenizers encode only: ${(megabytes / encodeSeconds).toFixed(2)} MB/s (${encodeSeconds.toFixed(2)} s)`);

  const out = mkdtempSync(join(tmpdir(), "bert-train-bench-data-"));
  try {
    t0 = performance.now();
    const stats = await prepareData(seq128Options(o.inputs, out, o.vocab, 4));
    const prepareSeconds = (performance.now() - t0) / 1000;
    const s = stats.seconds;
    print(
      `prepare-data (dupe_factor 1): ${(megabytes / prepareSeconds).toFixed(2)} MB/s end to end (${prepareSeconds.toFixed(2)} s: ` +
        `read ${s.read.toFixed(2)}, tokenize ${s.tokenize.toFixed(2)}, instances ${s.instances.toFixed(2)}, write ${s.write.toFixed(2)}); ` +
        `tokenize + instances ${(megabytes / (s.tokenize + s.instances)).toFixed(2)} MB/s; ${stats.instances} instances`,
    );

    const dynamic = await loaderRate(out, o, tokenizer.vocab);
    print(
      `loader (decode, dynamic masking, batch ${o.batchSize}): ${dynamic.sequencesPerSecond.toFixed(0)} sequences/s on one thread`,
    );
    const formats = await staticFormatRates(o, tokenizer.vocab, out);
    print(
      `static masks, batch ${o.batchSize}: TFRecord ${formats.tfrecord.sequencesPerSecond.toFixed(0)} sequences/s (open ${formats.tfrecord.openSeconds.toFixed(2)} s), ` +
        `HDF5 ${formats.hdf5.sequencesPerSecond.toFixed(0)} sequences/s (open ${formats.hdf5.openSeconds.toFixed(2)} s); ` +
        `HDF5/TFRecord ${(formats.hdf5.sequencesPerSecond / formats.tfrecord.sequencesPerSecond).toFixed(2)} (loader), ` +
        `${(formats.hdf5.openSeconds / formats.tfrecord.openSeconds).toFixed(2)} (open)`,
    );
    print(
      JSON.stringify({
        input_mb: Number(megabytes.toFixed(2)),
        encode_only_mb_per_s: Number((megabytes / encodeSeconds).toFixed(3)),
        tokenize_and_instances_mb_per_s: Number((megabytes / (s.tokenize + s.instances)).toFixed(3)),
        prepare_end_to_end_mb_per_s: Number((megabytes / prepareSeconds).toFixed(3)),
        loader_sequences_per_s: Math.round(dynamic.sequencesPerSecond),
        static_tfrecord_sequences_per_s: Math.round(formats.tfrecord.sequencesPerSecond),
        static_hdf5_sequences_per_s: Math.round(formats.hdf5.sequencesPerSecond),
        tfrecord_open_s: Number(formats.tfrecord.openSeconds.toFixed(3)),
        hdf5_open_s: Number(formats.hdf5.openSeconds.toFixed(3)),
      }),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Seconds to open (read and check) a shard folder, and the loader's sequences per second over it. */
async function loaderRate(dir: string, o: DataBenchOptions, vocab: Vocab) {
  let t0 = performance.now();
  const shards = await CorpusShards.open(dir, { vocabSize: vocab.tokens.length });
  const openSeconds = (performance.now() - t0) / 1000;
  const loader = new PretrainingLoader(shards, benchLoaderOptions(vocab, o.batchSize));
  loader.next();
  t0 = performance.now();
  for (let i = 0; i < o.loaderBatches; i++) loader.next();
  const seconds = (performance.now() - t0) / 1000;
  return { openSeconds, sequencesPerSecond: (o.loaderBatches * o.batchSize) / seconds };
}

/** The same statically masked instances as TFRecord and as NVIDIA's HDF5, each opened and loaded. */
async function staticFormatRates(o: DataBenchOptions, vocab: Vocab, work: string) {
  const rate = async (format: ShardFormat) => {
    const dir = join(work, `static-${format}`);
    await prepareData({ ...seq128Options(o.inputs, dir, o.vocab, 4), masking: "static", outputFormat: format });
    return loaderRate(dir, o, vocab);
  };
  return { tfrecord: await rate("tfrecord"), hdf5: await rate("hdf5") };
}

/** One rank's loader at sequence 128's 20 predictions, seed 1: what the benchmarks load with. */
export function benchLoaderOptions(vocab: Vocab, batchSize: number): LoaderOptions {
  return {
    batchSize,
    seed: 1,
    maxPredictionsPerSeq: 20,
    maskedLmProb: MASKED_LM_PROB,
    vocabSize: vocab.tokens.length,
    special: specialIds(vocab),
    rank: 0,
    worldSize: 1,
  };
}
