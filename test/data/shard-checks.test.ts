// What a corpus folder must agree with before training starts: the manifest's record counts and vocabulary, and
// every record's ids, labels and masked positions. Each problem names the shard and the record, and
// --skip_corrupt_shards covers records that pass the checksum but are not usable.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";

import { encodeExample, exampleFromInstance, type PretrainingInstance } from "../../lib/data/example.js";
import { CorpusShards, ShardError } from "../../lib/data/loader.js";
import { MANIFEST, prepareData } from "../../lib/data/prepare.js";
import { TfRecordWriter } from "../../lib/data/tfrecord.js";
import { projectRoot } from "../../lib/native/load.js";

const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-shard-checks-"));
const T = 8;

function instance(overrides: Partial<PretrainingInstance> = {}): PretrainingInstance {
  return {
    inputIds: [101, 7, 8, 102, 9, 102, 0, 0],
    inputMask: [1, 1, 1, 1, 1, 1, 0, 0],
    segmentIds: [0, 0, 0, 0, 1, 1, 0, 0],
    nextSentenceLabel: 0,
    ...overrides,
  };
}

/** A Google-layout folder (no manifest) of one shard: good records around `bad` (raw bytes or an instance). */
function folderWith(bad: PretrainingInstance | Uint8Array): { dir: string; file: string } {
  const dir = tmp();
  const file = join(dir, "part-00000-of-00001");
  const w = new TfRecordWriter(file);
  w.write(encodeExample(exampleFromInstance(instance())));
  w.write(bad instanceof Uint8Array ? bad : encodeExample(exampleFromInstance(bad)));
  w.write(encodeExample(exampleFromInstance(instance())));
  w.close();
  // a second, good shard so that skipping the bad one leaves records to train on
  const good = new TfRecordWriter(join(dir, "part-00001-of-00001"));
  good.write(encodeExample(exampleFromInstance(instance())));
  good.close();
  return { dir, file };
}

const masked = (positions: number[], ids: number[]) => ({ positions, ids, weights: positions.map(() => 1) });

const BAD_RECORDS: [string, PretrainingInstance | Uint8Array, RegExp][] = [
  [
    "an id at or above 2^32 (it would wrap)",
    instance({ inputIds: [101, 2 ** 32 + 7, 8, 102, 9, 102, 0, 0] }),
    /input_ids holds 4294967303, outside the vocabulary \[0, 30522\)/,
  ],
  [
    "a token id past the vocabulary",
    instance({ inputIds: [101, 30522, 8, 102, 9, 102, 0, 0] }),
    /input_ids holds 30522/,
  ],
  ["a negative id", instance({ inputIds: [101, -1, 8, 102, 9, 102, 0, 0] }), /input_ids holds -1/],
  [
    "a static masked position outside the sequence",
    instance({ masked: masked([2, T], [8, 9]) }),
    /masked_lm_positions holds 8, outside the sequence \[0, 8\)/,
  ],
  ["a masked label past the vocabulary", instance({ masked: masked([2], [40000]) }), /masked_lm_ids holds 40000/],
  [
    "a segment id of 2",
    instance({ segmentIds: [0, 0, 0, 0, 2, 1, 0, 0] }),
    /segment_ids holds a value other than 0 and 1/,
  ],
  ["an NSP label of 3", instance({ nextSentenceLabel: 3 }), /next_sentence_labels is 3/],
  [
    "another sequence length",
    instance({ inputIds: [101, 102], inputMask: [1, 1], segmentIds: [0, 0] }),
    /sequence length 2, the corpus's is 8/,
  ],
  [
    "bytes that pass the checksum but are no tf.Example",
    Uint8Array.from([0xff, 0xff, 0xff, 0x0f, 0x01]),
    /not a tf\.train\.Example/,
  ],
  [
    "a tf.Example without input_ids",
    encodeExample(new Map([["x", { kind: "int64", values: [1] }]])),
    /missing feature input_ids/,
  ],
];

describe("records are checked when a corpus opens, named by shard and record", () => {
  for (const [what, bad, message] of BAD_RECORDS)
    it(what, async () => {
      const { dir, file } = folderWith(bad);
      await assert.rejects(
        () => CorpusShards.open(dir, { vocabSize: 30522 }),
        (e: unknown) =>
          e instanceof ShardError && e.message.startsWith(`${file}: record 1: `) && message.test(e.message),
      );
      const warnings: string[] = [];
      const shards = await CorpusShards.open(dir, {
        vocabSize: 30522,
        skipCorrupt: true,
        warn: (w) => warnings.push(w),
      });
      assert.deepEqual(shards.skipped, [file]);
      assert.equal(shards.count, 1);
      assert.match(warnings.join("\n"), /skipping the damaged shard .*record 1/);
    });
});

describe("the manifest and the shards agree", () => {
  let dir = "";
  before(async () => {
    dir = tmp();
    await prepareData({
      inputs: [join(projectRoot(), "test", "fixtures", "sample_text.txt")],
      outputDir: dir,
      vocab: join(projectRoot(), "data", "bert-base-uncased-vocab.txt"),
      lowerCase: true,
      maxSeqLength: 64,
      shortSeqProb: 0.1,
      dupeFactor: 2,
      masking: "dynamic",
      maxPredictionsPerSeq: 10,
      maskedLmProb: 0.15,
      seed: 7,
      numShards: 2,
    });
  });
  it("a shard emptied to 0 bytes is an error, not skipped silently", async () => {
    const copy = tmp();
    for (const f of [MANIFEST, "shard_00000.tfrecord", "shard_00001.tfrecord"])
      writeFileSync(join(copy, f), readFileSync(join(dir, f)));
    writeFileSync(join(copy, "shard_00001.tfrecord"), "");
    const expected = (JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as { shards: { records: number }[] })
      .shards[1]?.records;
    await assert.rejects(
      () => CorpusShards.open(copy),
      (e: unknown) =>
        e instanceof ShardError &&
        e.message === `${join(copy, "shard_00001.tfrecord")} holds 0 records, dataset.json says ${expected}`,
    );
    const shards = await CorpusShards.open(copy, { skipCorrupt: true });
    assert.deepEqual(shards.skipped, [join(copy, "shard_00001.tfrecord")]);
  });
  it("shards made with another vocabulary are refused", async () => {
    await assert.rejects(
      () => CorpusShards.open(dir, { vocabSize: 30000 }),
      (e: unknown) =>
        e instanceof ShardError &&
        /made with a vocabulary of 30522 tokens \(dataset\.json\), this run's has 30000/.test(e.message),
    );
    assert.equal((await CorpusShards.open(dir, { vocabSize: 30522 })).skipped.length, 0);
  });
  it("a malformed manifest names the file", async () => {
    const copy = tmp();
    writeFileSync(join(copy, MANIFEST), JSON.stringify({ shards: [{ file: "../../etc/passwd", records: 1 }] }));
    await assert.rejects(
      () => CorpusShards.open(copy),
      (e: unknown) =>
        e instanceof ShardError && e.message.startsWith(`${join(copy, MANIFEST)}: "shards" is not a list`),
    );
  });
});
