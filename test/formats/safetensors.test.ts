// The safetensors reader trusts nothing in a header: every malformed entry is a SafetensorsError naming the file
// and the tensor, never a TypeError, and no tensor may read bytes outside the data section. A bounded fuzz run
// (bit flips of a real file, random headers) keeps it so.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import {
  parseSafetensors,
  SafetensorsError,
  writeSafetensors,
  type TensorToWrite,
} from "../../lib/formats/safetensors.js";
import { SeededRandom } from "../../lib/data/random.js";

/** The bytes writeSafetensors puts in a file. */
function serializeSafetensors(tensors: Map<string, TensorToWrite>, metadata: Record<string, string>): Uint8Array {
  const path = join(mkdtempSync(join(tmpdir(), "bert-train-st-")), "t.safetensors");
  writeSafetensors(path, tensors, metadata);
  return readFileSync(path);
}

function withHeader(header: unknown, data = new Uint8Array(16)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const rejects = (bytes: Uint8Array, pattern: RegExp) =>
  assert.throws(
    () => parseSafetensors(bytes, "bad.safetensors"),
    (e: unknown) => e instanceof SafetensorsError && /^bad\.safetensors: /.test(e.message) && pattern.test(e.message),
  );

describe("safetensors reader", () => {
  it("names the file and the tensor for every malformed entry", () => {
    rejects(withHeader({ w: null }), /tensor w: its entry is not an object/);
    rejects(withHeader({ w: { dtype: "F32", data_offsets: [0, 4] } }), /tensor w: shape undefined/);
    rejects(withHeader({ w: { dtype: "F32", shape: "4", data_offsets: [0, 16] } }), /shape "4"/);
    rejects(withHeader({ w: { dtype: "F32", shape: [4], data_offsets: 16 } }), /data_offsets 16 is not/);
    rejects(withHeader({ w: { dtype: "F32", shape: [1], data_offsets: [-8, -4] } }), /data_offsets \[-8,-4\]/);
    rejects(withHeader({ w: { dtype: "F32", shape: [0], data_offsets: [8, 4] } }), /data_offsets \[8,4\]/);
    rejects(withHeader({ w: { dtype: "constructor", shape: [1], data_offsets: [0, 4] } }), /unknown dtype/);
    rejects(withHeader({ w: { dtype: "F32", shape: [8], data_offsets: [0, 32] } }), /runs past the end/);
    rejects(withHeader([1, 2]), /not a JSON object/);
    rejects(withHeader({ __metadata__: { a: 1 } }), /__metadata__ is not a map of strings/);
  });
  it("reads back what it writes", () => {
    const bytes = serializeSafetensors(
      new Map<string, TensorToWrite>([["w", { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) }]]),
      { a: "b" },
    );
    const file = parseSafetensors(bytes);
    assert.deepEqual(file.metadata, { a: "b" });
    assert.deepEqual(file.tensors.get("w")?.shape, [2]);
  });
  it("fuzz: 3,000 mutated files give a SafetensorsError or a file whose tensors lie inside its data", () => {
    const good = serializeSafetensors(
      new Map<string, TensorToWrite>([
        ["a", { dtype: "F32", shape: [3, 2], data: new Float32Array(6).fill(1) }],
        ["b", { dtype: "I32", shape: [4], data: new Int32Array([1, 2, 3, 4]) }],
      ]),
      { producer: "test" },
    );
    const rng = new SeededRandom(17);
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = Uint8Array.from(good);
      for (let k = 0; k <= rng.randint(0, 3); k++) {
        const at = rng.randint(0, bytes.length - 1);
        bytes[at] = (bytes[at] as number) ^ (1 << rng.randint(0, 7));
      }
      try {
        const file = parseSafetensors(bytes, "fuzz");
        for (const t of file.tensors.values())
          assert.ok(
            t.data.byteOffset >= 8 && t.data.byteOffset + t.data.byteLength <= bytes.byteOffset + bytes.byteLength,
          );
      } catch (e) {
        assert.ok(e instanceof SafetensorsError, `mutation ${i}: a foreign exception: ${String(e)}`);
        rejected++;
      }
    }
    assert.ok(rejected > 0);
  });
});
