// TFRecord and tf.Example: shards written by Google's layout load; what we write reads back identically and
// passes an independent checker; damage is reported with the file name and record index.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { crc32c, maskCrc } from "../../lib/data/crc32c.js";
import {
  decodeExample,
  encodeExample,
  exampleFromInstance,
  instanceFromExample,
  type PretrainingInstance,
} from "../../lib/data/example.js";
import { countTfRecords, readTfRecordFile, TfRecordError, TfRecordWriter, tfRecords } from "../../lib/data/tfrecord.js";
import { projectRoot } from "../../lib/native/load.js";
import { needsShared, TFRECORD_CHECKER } from "../helpers/shared-data.js";

const fixture = join(projectRoot(), "test", "fixtures", "google_format_sample_seq128.tfrecord");

describe("CRC-32C", () => {
  it("matches the standard check value and TensorFlow's masking", () => {
    assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    assert.equal(maskCrc(0), 0xa282ead8);
  });
});

describe("a shard in Google's layout", () => {
  it("loads: 14 instances with Google's feature names and static masks", () => {
    const records = readTfRecordFile(fixture);
    assert.equal(records.length, 14);
    assert.equal(countTfRecords(readFileSync(fixture), fixture), 14);
    for (const r of records) {
      const i = instanceFromExample(decodeExample(r));
      assert.equal(i.inputIds.length, 128);
      assert.equal(i.inputIds[0], 101); // [CLS] in bert-base-uncased
      assert.ok(i.inputIds.includes(102)); // [SEP]
      assert.ok(i.masked);
      assert.equal(i.masked.positions.length, 20);
      assert.equal(i.masked.weights.length, 20);
      assert.ok([0, 1].includes(i.nextSentenceLabel));
    }
  });
});

describe("round trip", () => {
  const instances: PretrainingInstance[] = [
    {
      inputIds: [101, 7592, 103, 102, 2088, 102, 0],
      inputMask: [1, 1, 1, 1, 1, 1, 0],
      segmentIds: [0, 0, 0, 0, 1, 1, 0],
      nextSentenceLabel: 1,
      masked: { positions: [2, 0], ids: [2088, 0], weights: [1, 0] },
    },
    {
      inputIds: [101, 30521, 102, 1, 102],
      inputMask: [1, 1, 1, 1, 1],
      segmentIds: [0, 0, 0, 1, 1],
      nextSentenceLabel: 0,
    },
  ];
  const write = (): string => {
    const path = join(mkdtempSync(join(tmpdir(), "bert-train-tfrecord-")), "shard.tfrecord");
    const w = new TfRecordWriter(path);
    for (const i of instances) w.write(encodeExample(exampleFromInstance(i)));
    assert.equal(existsSync(path), false, "nothing under the final name before close()");
    w.close();
    return path;
  };
  it("records written then read are identical", () => {
    const back = readTfRecordFile(write()).map((r) => instanceFromExample(decodeExample(r)));
    assert.deepEqual(back, instances);
  });
  it("an independent checker accepts the file", { skip: needsShared(TFRECORD_CHECKER, "its TFRecord checker") }, () => {
    const run = spawnSync("python3", [TFRECORD_CHECKER, write()], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /2 records, all CRCs valid/);
  });
  it("an aborted writer leaves nothing behind", () => {
    const dir = mkdtempSync(join(tmpdir(), "bert-train-tfrecord-"));
    const w = new TfRecordWriter(join(dir, "partial.tfrecord"));
    w.write(encodeExample(exampleFromInstance(instances[0] as PretrainingInstance)));
    w.abort();
    assert.deepEqual(readdirSync(dir), []);
  });
});

function flipped(bytes: Uint8Array, at: number, mask: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[at] = (copy[at] as number) ^ mask;
  return copy;
}

describe("damage", () => {
  const bytes = readFileSync(fixture);
  const offsets: number[] = [];
  for (let o = 0; o < bytes.length;) {
    offsets.push(o);
    o += 16 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(o, true));
  }
  const expectError = (data: Uint8Array, record: number, pattern: RegExp) =>
    assert.throws(
      () => [...tfRecords(data, "shard-7.tfrecord")],
      (e: unknown) =>
        e instanceof TfRecordError &&
        e.recordIndex === record &&
        /^shard-7\.tfrecord: record \d+: /.test(e.message) &&
        pattern.test(e.message),
    );
  it("a flipped bit in a record's data names the record", () => {
    expectError(flipped(bytes, (offsets[5] as number) + 40, 0x10), 5, /data checksum/);
  });
  it("a flipped bit in a length names the record", () => {
    expectError(flipped(bytes, (offsets[9] as number) + 1, 0x01), 9, /length checksum/);
  });
  it("a truncated file names the last record", () => {
    expectError(bytes.subarray(0, (offsets[13] as number) + 100), 13, /truncated/);
    expectError(bytes.subarray(0, (offsets[13] as number) + 5), 13, /truncated/);
  });
  it("bytes that are not a tf.Example", () => {
    assert.throws(() => decodeExample(Uint8Array.from([0x0a, 0xff, 0xff])), /not a tf.train.Example/);
  });
});
