// prepare-data end to end on real text, then the loader: shapes, determinism, exact resume, rank splits,
// static masks from Google's shards, dynamic masks otherwise, and damaged shards.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { CorpusError } from "../../lib/data/corpus.js";
import {
  CorpusMixer,
  CorpusShards,
  corporaFromCf,
  PretrainingLoader,
  ShardError,
  type LoaderOptions,
} from "../../lib/data/loader.js";
import { MANIFEST, prepareData, type PrepareOptions } from "../../lib/data/prepare.js";
import { TfRecordError } from "../../lib/data/tfrecord.js";
import { VocabError } from "../../lib/data/tokenizer.js";
import { projectRoot } from "../../lib/native/load.js";

const vocab = join(projectRoot(), "data", "bert-base-uncased-vocab.txt");
const sample = join(projectRoot(), "test", "fixtures", "sample_text.txt");
const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-data-"));

function options(outputDir: string, overrides: Partial<PrepareOptions> = {}): PrepareOptions {
  return {
    inputs: [sample],
    outputDir,
    vocab,
    lowerCase: true,
    maxSeqLength: 64,
    shortSeqProb: 0.1,
    dupeFactor: 5,
    masking: "dynamic",
    maxPredictionsPerSeq: 10,
    maskedLmProb: 0.15,
    seed: 7,
    numShards: 3,
    ...overrides,
  };
}

const loaderOptions: LoaderOptions = {
  batchSize: 4,
  seed: 11,
  maxPredictionsPerSeq: 10,
  maskedLmProb: 0.15,
  vocabSize: 30522,
  special: { pad: 0, cls: 101, sep: 102, mask: 103 },
  rank: 0,
  worldSize: 1,
};

/** Shards of the sample text, prepared once by whichever test needs them first (each test stands alone). */
let prepared: Promise<{ dir: string; instances: number }> | undefined;
function preparedShards(): Promise<{ dir: string; instances: number }> {
  prepared ??= (async () => {
    const dir = tmp();
    return { dir, instances: (await prepareData(options(dir))).instances };
  })();
  return prepared;
}

describe("prepare-data and the loader", () => {
  it("prepare-data writes shards and, last, a manifest", async () => {
    const { dir, instances } = await preparedShards();
    const stats = { instances };
    assert.ok(stats.instances > 40, `${stats.instances} instances`);
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as { records: number; shards: unknown[] };
    assert.equal(manifest.records, stats.instances);
    assert.equal(manifest.shards.length, 3);
  });
  it("the same seed gives the same batches; batches have the engine's shapes", async () => {
    const { dir } = await preparedShards();
    const a = new PretrainingLoader(await CorpusShards.open(dir), loaderOptions);
    const b = new PretrainingLoader(await CorpusShards.open(dir), loaderOptions);
    for (let i = 0; i < 5; i++) {
      const x = a.next();
      assert.deepEqual(x, b.next());
      assert.equal(x.inputIds.length, 4 * 64);
      assert.equal(x.maskedPositions?.length, x.numMasked);
      assert.ok((x.numMasked ?? 0) >= 4, "dynamic masks: at least one per sequence");
      for (const label of x.maskedLabels ?? [])
        assert.ok(![0, 101, 102].includes(label), "[CLS], [SEP] and padding are never masked");
    }
  });
  it("restoring a position continues exactly, across an epoch boundary", async () => {
    const { dir } = await preparedShards();
    const a = new PretrainingLoader(await CorpusShards.open(dir), loaderOptions);
    const steps = a.batchesPerEpoch + 3;
    for (let i = 0; i < steps - 4; i++) a.next();
    const saved = a.position();
    const expected = [a.next(), a.next(), a.next(), a.next()];
    const b = new PretrainingLoader(await CorpusShards.open(dir), loaderOptions);
    b.restore(saved);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next()], expected);
    assert.equal(b.position().epoch, 1);
  });
  it("ranks get disjoint records and the same number of batches", async () => {
    const { dir } = await preparedShards();
    const shards = await CorpusShards.open(dir);
    const r0 = new PretrainingLoader(shards, { ...loaderOptions, rank: 0, worldSize: 2 });
    const r1 = new PretrainingLoader(shards, { ...loaderOptions, rank: 1, worldSize: 2 });
    assert.equal(r0.batchesPerEpoch, r1.batchesPerEpoch);
    assert.equal(r0.batchesPerEpoch, Math.floor(shards.count / 8));
    const of = (l: PretrainingLoader) =>
      new Set(Array.from({ length: l.batchesPerEpoch }, (_, i) => l.recordIndices(0, i)).flat());
    const a = of(r0);
    const b = of(r1);
    assert.equal(a.size, r0.batchesPerEpoch * 4);
    assert.equal([...a].filter((x) => b.has(x)).length, 0);
  });
});

describe("Google's shards", () => {
  it("load with their static masks", async () => {
    const dir = tmp();
    copyFileSync(
      join(projectRoot(), "test", "fixtures", "google_format_sample_seq128.tfrecord"),
      join(dir, "part-00000.tfrecord"),
    );
    const loader = new PretrainingLoader(await CorpusShards.open(dir), { ...loaderOptions, batchSize: 2 });
    const b = loader.next();
    assert.equal(b.seqLen, 128);
    assert.ok((b.numMasked ?? 0) > 0 && (b.numMasked ?? 0) <= 40);
  });
});

describe("bad input", () => {
  it("a missing input", async () => {
    await assert.rejects(
      prepareData(options(tmp(), { inputs: ["/nonexistent/corpus"] })),
      (e: unknown) => e instanceof CorpusError && /does not exist/.test(e.message),
    );
  });
  it("an empty input folder, and an input without text", async () => {
    const empty = tmp();
    await assert.rejects(
      prepareData(options(tmp(), { inputs: [empty] })),
      (e: unknown) => e instanceof CorpusError && /no input files/.test(e.message),
    );
    writeFileSync(join(empty, "blank.txt"), "\n\n   \n");
    await assert.rejects(
      prepareData(options(tmp(), { inputs: [empty] })),
      (e: unknown) => e instanceof CorpusError && /hold no text/.test(e.message),
    );
  });
  it("bytes that are not UTF-8, named with the file and offset", async () => {
    const d = tmp();
    writeFileSync(join(d, "latin1.txt"), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    await assert.rejects(
      prepareData(options(tmp(), { inputs: [d] })),
      (e: unknown) =>
        e instanceof CorpusError && /latin1\.txt: not valid UTF-8 \(first bad byte near offset 3\)/.test(e.message),
    );
  });
  it("a vocabulary without the special tokens", async () => {
    const d = tmp();
    writeFileSync(join(d, "vocab.txt"), "a\nb\n");
    await assert.rejects(
      prepareData(options(tmp(), { vocab: join(d, "vocab.txt") })),
      (e: unknown) => e instanceof VocabError,
    );
  });
  it("a max_seq_length too small for a pair; nothing looks complete afterwards", async () => {
    const out = tmp();
    await assert.rejects(
      prepareData(options(out, { maxSeqLength: 4 })),
      (e: unknown) => e instanceof CorpusError && /too small for a pair/.test(e.message),
    );
    assert.equal(existsSync(join(out, MANIFEST)), false);
  });
  it("a damaged shard: an error naming file and record, or skipped on request with a warning", async () => {
    const dir = tmp();
    await prepareData(options(dir));
    const shard = join(dir, "shard_00001.tfrecord");
    const bytes = readFileSync(shard);
    bytes[200] = (bytes[200] as number) ^ 0xff;
    writeFileSync(shard, bytes);
    await assert.rejects(
      () => CorpusShards.open(dir),
      (e: unknown) => e instanceof TfRecordError && e.file === shard && e.recordIndex >= 0,
    );
    const warnings: string[] = [];
    const shards = await CorpusShards.open(dir, { skipCorrupt: true, warn: (w) => warnings.push(w) });
    assert.deepEqual(shards.skipped, [shard]);
    assert.match(warnings[0] ?? "", /skipping the damaged shard .*shard_00001\.tfrecord: record \d+/);
  });
  it("a folder without shards", async () => {
    const d = tmp();
    mkdirSync(join(d, "x"));
    await assert.rejects(
      () => CorpusShards.open(d),
      (e: unknown) => e instanceof ShardError && /holds no shards/.test(e.message),
    );
  });
});

describe("several corpora", () => {
  it("reads the corpora a DeepSpeed --cf file lists", () => {
    const cf = JSON.parse(readFileSync(join(projectRoot(), "configs", "bert_base.json"), "utf8")) as unknown;
    const corpora = corporaFromCf(cf, 128, "/data", "bert_base.json");
    assert.deepEqual(Object.fromEntries(corpora), {
      wiki_pretrain_dataset: "/data/bnorick_format/128/wiki_pretrain",
      bc_pretrain_dataset: "/data/bnorick_format/128/bookcorpus_pretrain",
    });
    assert.throws(
      () => corporaFromCf(cf, 256, "/data", "bert_base.json"),
      /bert_base\.json: data\.mixed_seq_datasets\.256/,
    );
  });
  it("draw each step's micro-batches from one corpus, in proportion to size, reproducibly", async () => {
    const small = tmp();
    const large = tmp();
    await prepareData(options(small, { dupeFactor: 2, seed: 1 }));
    await prepareData(options(large, { dupeFactor: 8, seed: 2 }));
    const [smallShards, largeShards] = [await CorpusShards.open(small), await CorpusShards.open(large)];
    const make = () =>
      new CorpusMixer(
        new Map([
          ["bc_pretrain_dataset", new PretrainingLoader(smallShards, loaderOptions)],
          ["wiki_pretrain_dataset", new PretrainingLoader(largeShards, loaderOptions)],
        ]),
        5,
      );
    const a = make();
    const picks: string[] = [];
    for (let s = 0; s < 400; s++) {
      const step = a.nextStep(2);
      assert.equal(step.batches.length, 2);
      picks.push(step.corpus);
    }
    const share = picks.filter((p) => p === "wiki_pretrain_dataset").length / picks.length;
    const expected = largeShards.count / (largeShards.count + smallShards.count);
    assert.ok(Math.abs(share - expected) < 0.08, `wiki share ${share}, expected about ${expected}`);
    // resume mid-run: the same corpora and batches follow
    const b = make();
    for (let s = 0; s < 100; s++) b.nextStep(2);
    const saved = b.position();
    const next = [b.nextStep(2), b.nextStep(2)];
    const c = make();
    c.restore(saved);
    assert.deepEqual([c.nextStep(2), c.nextStep(2)], next);
  });
});
