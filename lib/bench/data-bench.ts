// Data pipeline throughput: tokenization + instance creation (+ shard writing) in MB/s of input text beside the
// `tokenizers` engine's encode-only rate on the same text, measured in the same run; then the loader's sequences
// per second from the shards just written.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { documentsFromText, listInputFiles, readUtf8 } from "../data/corpus.js";
import { CorpusShards, PretrainingLoader } from "../data/loader.js";
import { prepareData, seq128Options } from "../data/prepare.js";
import { createBertTokenizer, specialIds } from "../data/tokenizer.js";
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

    const loader = new PretrainingLoader(await CorpusShards.open(out), {
      batchSize: o.batchSize,
      seed: 1,
      maxPredictionsPerSeq: 20,
      maskedLmProb: MASKED_LM_PROB,
      vocabSize: tokenizer.vocab.tokens.length,
      special: specialIds(tokenizer.vocab),
      rank: 0,
      worldSize: 1,
    });
    loader.next();
    t0 = performance.now();
    for (let i = 0; i < o.loaderBatches; i++) loader.next();
    const loaderSeconds = (performance.now() - t0) / 1000;
    const sequencesPerSecond = (o.loaderBatches * o.batchSize) / loaderSeconds;
    print(
      `loader (decode, dynamic masking, batch ${o.batchSize}): ${sequencesPerSecond.toFixed(0)} sequences/s on one thread`,
    );
    print(
      JSON.stringify({
        input_mb: Number(megabytes.toFixed(2)),
        encode_only_mb_per_s: Number((megabytes / encodeSeconds).toFixed(3)),
        tokenize_and_instances_mb_per_s: Number((megabytes / (s.tokenize + s.instances)).toFixed(3)),
        prepare_end_to_end_mb_per_s: Number((megabytes / prepareSeconds).toFixed(3)),
        loader_sequences_per_s: Math.round(sequencesPerSecond),
      }),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
