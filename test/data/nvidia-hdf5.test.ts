// NVIDIA's HDF5 shards: read as the TFRecord they came from (h5py's conversion, an implementation independent of
// ours), written by prepare-data in the layout h5py reads back, a round trip that gives identical batches, and
// damaged or wrongly shaped files named by file and dataset.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { CorpusShards, PretrainingLoader, ShardError, type LoaderOptions } from "../../lib/data/loader.js";
import { hdf5 } from "../../lib/data/hdf5.js";
import { Hdf5ShardWriter } from "../../lib/data/nvidia-hdf5.js";
import { prepareData, type PrepareOptions } from "../../lib/data/prepare.js";
import { CorpusError } from "../../lib/data/corpus.js";
import { convertShards } from "../../lib/data/convert.js";
import { projectRoot } from "../../lib/native/load.js";
import { convertWithH5py, dumpWithH5py, needsH5py } from "../helpers/h5py.js";

const root = projectRoot();
const googleShard = join(root, "test", "fixtures", "google_format_sample_seq128.tfrecord");
const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-hdf5-"));

const loaderOptions = (batchSize: number): LoaderOptions => ({
  batchSize,
  seed: 5,
  maxPredictionsPerSeq: 20,
  maskedLmProb: 0.15,
  vocabSize: 30522,
  special: { pad: 0, cls: 101, sep: 102, mask: 103 },
  rank: 0,
  worldSize: 1,
});

function prepareOptions(outputDir: string, overrides: Partial<PrepareOptions>): PrepareOptions {
  return {
    inputs: [join(root, "test", "fixtures", "sample_text.txt")],
    outputDir,
    vocab: join(root, "data", "bert-base-uncased-vocab.txt"),
    lowerCase: true,
    maxSeqLength: 64,
    shortSeqProb: 0.1,
    dupeFactor: 3,
    masking: "static",
    maxPredictionsPerSeq: 10,
    maskedLmProb: 0.15,
    seed: 9,
    numShards: 2,
    ...overrides,
  };
}

/** Two epochs of batches from each folder, compared batch by batch. */
async function assertSameBatches(a: string, b: string, batchSize: number, onlyHdf5 = false): Promise<void> {
  const shardsA = await CorpusShards.open(a, { vocabSize: 30522 });
  const shardsB = await CorpusShards.open(b, { vocabSize: 30522, onlyHdf5 });
  assert.equal(shardsB.count, shardsA.count);
  const la = new PretrainingLoader(shardsA, loaderOptions(batchSize));
  const lb = new PretrainingLoader(shardsB, loaderOptions(batchSize));
  for (let i = 0; i < 2 * la.batchesPerEpoch; i++) assert.deepEqual(lb.next(), la.next(), `batch ${i}`);
}

/** Writes an HDF5 file of the given integer (or float) datasets, for the damaged-file cases. */
async function writeHdf5(path: string, datasets: Record<string, { data: Int32Array | Float32Array; shape: number[] }>) {
  const h5 = await hdf5();
  const f = new h5.File(path, "w");
  for (const [name, d] of Object.entries(datasets))
    f.create_dataset({ name, data: d.data, shape: d.shape, dtype: d.data instanceof Float32Array ? "<f" : "<i" });
  f.close();
}

/** NVIDIA's six datasets for `rows` rows of sequence `seq`, valid, with `change` applied. */
function layout(rows: number, seq: number, change: (d: Record<string, { data: Int32Array; shape: number[] }>) => void) {
  const d = {
    input_ids: { data: new Int32Array(rows * seq).fill(2000), shape: [rows, seq] },
    input_mask: { data: new Int32Array(rows * seq).fill(1), shape: [rows, seq] },
    segment_ids: { data: new Int32Array(rows * seq), shape: [rows, seq] },
    masked_lm_positions: { data: new Int32Array(rows * 4).fill(3), shape: [rows, 4] },
    masked_lm_ids: { data: new Int32Array(rows * 4).fill(2001), shape: [rows, 4] },
    next_sentence_labels: { data: new Int32Array(rows), shape: [rows] },
  };
  change(d);
  return d;
}

describe("NVIDIA's HDF5 shards are read as the TFRecord shards they came from", () => {
  it("h5py's conversion of Google's statically masked shard gives the same batches", { skip: needsH5py }, async () => {
    const tf = tmp();
    copyFileSync(googleShard, join(tf, "sample.tfrecord"));
    const h5 = tmp();
    convertWithH5py(googleShard, join(h5, "sample_0.hdf5"));
    await assertSameBatches(tf, h5, 3);
    await assertSameBatches(tf, h5, 3, true);
  });

  it("prepare-data --output_format hdf5 and static TFRecord of the same text give identical batches", async () => {
    const tf = tmp();
    const h5 = tmp();
    await prepareData(prepareOptions(tf, {}));
    await prepareData(prepareOptions(h5, { outputFormat: "hdf5" }));
    assert.deepEqual(readdirSync(h5).sort(), ["dataset.json", "shard_00000.hdf5", "shard_00001.hdf5"]);
    await assertSameBatches(tf, h5, 4);
  });

  it(
    "our HDF5 shards are NVIDIA's layout as h5py reads it: dtypes, gzip, the same rows",
    { skip: needsH5py },
    async () => {
      const h5 = tmp();
      await prepareData(prepareOptions(h5, { outputFormat: "hdf5", numShards: 1 }));
      const dumped = dumpWithH5py(join(h5, "shard_00000.hdf5"));
      const dtypes = Object.fromEntries(Object.entries(dumped).map(([k, v]) => [k, v.dtype]));
      assert.deepEqual(dtypes, {
        input_ids: "<i4",
        input_mask: "|i1",
        segment_ids: "|i1",
        masked_lm_positions: "<i4",
        masked_lm_ids: "<i4",
        next_sentence_labels: "|i1",
      });
      assert.ok(Object.values(dumped).every((d) => d.compression === "gzip"));
      const shards = await CorpusShards.open(h5);
      const rows = dumped.input_ids?.values as number[][];
      assert.equal(rows.length, shards.count);
      rows.forEach((ids, r) => {
        const inst = shards.instance(r);
        assert.deepEqual(ids, inst.inputIds);
        const positions = (dumped.masked_lm_positions?.values as number[][])[r] as number[];
        assert.deepEqual(positions.slice(0, inst.masked?.positions.length), inst.masked?.positions);
        assert.ok(
          positions.slice(inst.masked?.positions.length).every((p) => p === 0),
          "padded with 0",
        );
      });
    },
  );

  it("a shard of many blocks reads back row for row", async () => {
    const dir = tmp();
    const rows = 5000; // more than two read/write blocks
    const w = await Hdf5ShardWriter.create(join(dir, "big.hdf5"), 16, 3);
    const row = (r: number) => ({
      inputIds: Array.from({ length: 16 }, (_, t) => (r * 7 + t) % 30000),
      inputMask: Array.from({ length: 16 }, (_, t) => (t < 4 + (r % 12) ? 1 : 0)),
      segmentIds: Array.from({ length: 16 }, (_, t) => (t >= 8 ? 1 : 0)),
      nextSentenceLabel: r % 2,
      masked: { positions: [1, 2 + (r % 5), 0], ids: [r % 30000, 5, 0], weights: [1, 1, 0] },
    });
    for (let r = 0; r < rows; r++) w.write(row(r));
    w.close();
    const shards = await CorpusShards.open(dir, { vocabSize: 30522 });
    assert.equal(shards.count, rows);
    for (const r of [0, 2047, 2048, 4095, 4096, 4999]) {
      const expected = row(r);
      assert.deepEqual(shards.instance(r), {
        ...expected,
        masked: { positions: [1, 2 + (r % 5)], ids: [r % 30000, 5], weights: [1, 1] },
      });
    }
  });

  it("convert-shards: TFRecord -> HDF5 -> TFRecord, identical batches at every stage", async () => {
    const google = tmp();
    copyFileSync(googleShard, join(google, "sample.tfrecord"));
    const h5 = join(tmp(), "h5");
    const back = join(tmp(), "back");
    assert.deepEqual(await convertShards({ input: google, outputDir: h5, outputFormat: "hdf5", vocabSize: 30522 }), {
      records: 14,
      shards: 1,
    });
    await assertSameBatches(google, h5, 3);
    await convertShards({ input: h5, outputDir: back, outputFormat: "tfrecord", vocabSize: 30522 });
    await assertSameBatches(google, back, 3);
    // Google's fixed-length mask lists come back: every record decodes to the original's features
    const original = await CorpusShards.open(google);
    const again = await CorpusShards.open(back);
    for (let i = 0; i < original.count; i++) assert.deepEqual(again.instance(i), original.instance(i));
    const manifest = JSON.parse(readFileSync(join(h5, "dataset.json"), "utf8")) as Record<string, unknown>;
    assert.equal(manifest.shardFormat, "hdf5");
    assert.equal(manifest.maxPredictionsPerSeq, 20);
    assert.equal(manifest.convertedFrom, google);
  });

  it("convert-shards refuses dynamic-mask sources for HDF5, and its own input folder as output", async () => {
    const dynamic = tmp();
    await prepareData(prepareOptions(dynamic, { masking: "dynamic" }));
    await assert.rejects(
      () => convertShards({ input: dynamic, outputDir: join(tmp(), "x"), outputFormat: "hdf5" }),
      (e: unknown) => e instanceof ShardError && /carry no static masks, which NVIDIA's layout needs/.test(e.message),
    );
    await assert.rejects(
      () => convertShards({ input: dynamic, outputDir: dynamic, outputFormat: "tfrecord" }),
      (e: unknown) => e instanceof CorpusError && /is the --input folder/.test(e.message),
    );
  });

  it("prepare-data refuses HDF5 with dynamic masks", async () => {
    await assert.rejects(
      () => prepareData(prepareOptions(tmp(), { outputFormat: "hdf5", masking: "dynamic" })),
      (e: unknown) => e instanceof CorpusError && /--output_format hdf5 .* static masks/.test(e.message),
    );
  });
});

describe("damaged or wrongly shaped HDF5 shards: one error naming the file and the dataset or row", () => {
  const cases: [string, (d: Record<string, { data: Int32Array; shape: number[] }>) => void, RegExp][] = [
    ["a missing dataset", (d) => delete d.masked_lm_ids, /: no dataset masked_lm_ids \(NVIDIA's layout has /],
    [
      "a dataset of the wrong width",
      (d) => (d.segment_ids = { data: new Int32Array(5 * 7), shape: [5, 7] }),
      /: dataset segment_ids has shape \[5, 7\], but input_ids \[5, 8\] .* say \[5, 8\]/,
    ],
    [
      "a dataset of the wrong rank",
      (d) => (d.input_mask = { data: new Int32Array(40), shape: [40] }),
      /: dataset input_mask has shape \[40\], expected \[rows, sequence\]/,
    ],
    [
      "a value outside its range",
      (d) => ((d.segment_ids as { data: Int32Array }).data[3 * 8 + 2] = 2),
      /: row 3: segment_ids holds a value other than 0 and 1$/,
    ],
    [
      "a masked position past the sequence",
      (d) => ((d.masked_lm_positions as { data: Int32Array }).data[4 * 4] = 9),
      /: row 4: masked_lm_positions holds 9, outside the sequence \[0, 8\)$/,
    ],
  ];
  for (const [what, change, message] of cases)
    it(what, async () => {
      const dir = tmp();
      const file = join(dir, "part_0.hdf5");
      await writeHdf5(file, layout(5, 8, change));
      await assert.rejects(
        () => CorpusShards.open(dir, { vocabSize: 30522 }),
        (e: unknown) => e instanceof ShardError && e.message.startsWith(`${file}: `) && message.test(e.message),
      );
    });

  it("float data", async () => {
    const dir = tmp();
    const file = join(dir, "part_0.hdf5");
    const d = layout(2, 8, () => {});
    await writeHdf5(file, { ...d, input_mask: { data: new Float32Array(16), shape: [2, 8] } });
    await assert.rejects(
      () => CorpusShards.open(dir),
      (e: unknown) => e instanceof ShardError && e.message === `${file}: dataset input_mask holds <f, not integers`,
    );
  });

  it("not HDF5, truncated, or a damaged compressed chunk; --skip_corrupt_shards skips such a file", async () => {
    const dir = tmp();
    await prepareData(prepareOptions(dir, { outputFormat: "hdf5", dupeFactor: 40, numShards: 1, maxSeqLength: 128 }));
    const good = readFileSync(join(dir, "shard_00000.hdf5"));
    const foreign = tmp();
    const variants: [string, Uint8Array, RegExp][] = [
      [
        "text.hdf5",
        new TextEncoder().encode("input_ids\n"),
        /: not a readable HDF5 file \(file signature not found\)$/,
      ],
      ["cut.hdf5", good.subarray(0, good.length >> 1), /: not a readable HDF5 file \(truncated file: /],
      [
        "flipped.hdf5",
        good.map((b, i) => (i > good.length * 0.3 && i < good.length * 0.3 + 64 ? b ^ 0x5a : b)),
        /: dataset \w+, rows \d+-\d+: /,
      ],
    ];
    for (const [name, bytes, message] of variants) {
      const d = join(foreign, name.replace(".hdf5", ""));
      mkdirSync(d);
      writeFileSync(join(d, name), bytes);
      await assert.rejects(
        () => CorpusShards.open(d),
        (e: unknown) => e instanceof ShardError && e.message.startsWith(join(d, name)) && message.test(e.message),
        name,
      );
      const both = join(foreign, `${name}-and-good`);
      mkdirSync(both);
      writeFileSync(join(both, name), bytes);
      writeFileSync(join(both, "good.hdf5"), good);
      const warnings: string[] = [];
      const shards = await CorpusShards.open(both, { skipCorrupt: true, warn: (w) => warnings.push(w) });
      assert.deepEqual(shards.skipped, [join(both, name)]);
      assert.equal(warnings.length, 1);
    }
  });

  it("a folder of both kinds is ambiguous; --use_nvidia_dataset reads its HDF5 shards, and refuses TFRecord", async () => {
    const dir = tmp();
    copyFileSync(googleShard, join(dir, "sample.tfrecord"));
    const tfOnly = tmp();
    copyFileSync(googleShard, join(tfOnly, "sample.tfrecord"));
    const w = await Hdf5ShardWriter.create(join(dir, "sample_0.hdf5"), 128, 20);
    const first = (await CorpusShards.open(tfOnly)).instance(0);
    w.write(first);
    w.close();
    await assert.rejects(
      () => CorpusShards.open(dir),
      (e: unknown) =>
        e instanceof ShardError &&
        /holds both TFRecord shards \(1\) and HDF5 shards \(1\); pass --use_nvidia_dataset/.test(e.message),
    );
    assert.equal((await CorpusShards.open(dir, { onlyHdf5: true })).count, 1);
    await assert.rejects(
      () => CorpusShards.open(tfOnly, { onlyHdf5: true }),
      (e: unknown) => e instanceof ShardError && /holds no HDF5 shards \(\*\.hdf5, \*\.h5\)/.test(e.message),
    );
    const ours = tmp();
    await prepareData(prepareOptions(ours, {}));
    await assert.rejects(
      () => CorpusShards.open(ours, { onlyHdf5: true }),
      (e: unknown) => e instanceof ShardError && /prepare-data's TFRecord shards, not HDF5 ones/.test(e.message),
    );
  });
});
