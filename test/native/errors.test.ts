// Bad input at the addon boundary: every mistake is a JS error with a stable `code` and a message that names the
// problem, never a crash. Also: run() is asynchronous and the engine refuses concurrent use.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { allLayersKept, createEngine, type Batch, type ModelConfig } from "../../lib/native/engine.js";
import { projectRoot } from "../../lib/native/load.js";

const tiny: Partial<ModelConfig> = {
  vocab_size: 40,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 24,
  max_position_embeddings: 8,
};

function batch(overrides: Partial<Batch> = {}): Batch {
  return {
    batchSize: 2,
    seqLen: 4,
    inputIds: Int32Array.from([2, 5, 6, 3, 2, 9, 3, 0]),
    segmentIds: new Int32Array(8),
    inputMask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 0]),
    numMasked: 2,
    maskedPositions: Int32Array.from([1, 5]),
    maskedLabels: Int32Array.from([7, 8]),
    nextSentenceLabels: Int32Array.from([0, 1]),
    ...overrides,
  };
}

function rejectsWith(code: string, pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    const e = err as { code?: string; message?: string };
    assert.equal(e.code, code, `code of: ${e.message}`);
    assert.match(e.message ?? "", pattern);
    return true;
  };
}

describe("configuration errors", () => {
  it("heads that do not divide hidden", () => {
    assert.throws(
      () => createEngine({ config: { ...tiny, num_attention_heads: 3 } }),
      rejectsWith("ERR_INVALID_CONFIG", /num_attention_heads to divide hidden_size/),
    );
  });
  it("a config key of the wrong type", () => {
    assert.throws(
      () => createEngine({ config: { ...tiny, hidden_size: "16" as unknown as number } }),
      rejectsWith("ERR_INVALID_CONFIG", /Expected an integer >= 1 for hidden_size but received "16" of type string/),
    );
  });
  it("a dropout probability outside [0, 1)", () => {
    assert.throws(
      () => createEngine({ config: { ...tiny, hidden_dropout_prob: 1.5 } }),
      rejectsWith("ERR_INVALID_CONFIG", /hidden_dropout_prob/),
    );
  });
  it("an unknown precision", () => {
    assert.throws(
      () => createEngine({ config: tiny, precision: "fp8" as "fp32" }),
      rejectsWith("ERR_INVALID_CONFIG", /"fp32", "bf16" or "fp16" for precision/),
    );
  });
});

describe("batch errors", () => {
  const engine = createEngine({ config: tiny });
  const gates = allLayersKept(2);
  it("ids outside the vocabulary", async () => {
    await assert.rejects(
      engine.run(batch({ inputIds: Int32Array.from([2, 5, 6, 3, 2, 40, 3, 0]) }), gates),
      rejectsWith("ERR_INVALID_ARGUMENT", /input_ids\[5\] = 40 is outside the vocabulary/),
    );
  });
  it("arrays shorter than batchSize x seqLen", async () => {
    await assert.rejects(
      async () => engine.run(batch({ segmentIds: new Int32Array(7) }), gates),
      rejectsWith("ERR_INVALID_ARGUMENT", /segmentIds has 7 elements, expected 8/),
    );
  });
  it("an array of the wrong element type", async () => {
    await assert.rejects(
      async () => engine.run(batch({ inputMask: new Float32Array(8) as unknown as Int32Array }), gates),
      rejectsWith("ERR_INVALID_ARGUMENT", /inputMask must be a Int32Array/),
    );
  });
  it("a masked position outside the batch", async () => {
    await assert.rejects(
      engine.run(batch({ maskedPositions: Int32Array.from([1, 8]) }), gates),
      rejectsWith("ERR_INVALID_ARGUMENT", /masked_positions\[1\] = 8 is outside/),
    );
  });
  it("the wrong number of layer gates", async () => {
    await assert.rejects(
      async () => engine.run(batch(), allLayersKept(3)),
      rejectsWith("ERR_INVALID_ARGUMENT", /one entry per layer \(2\)/),
    );
  });
  it("an unknown parameter name and a wrong-sized or non-finite value", () => {
    assert.throws(() => engine.getParam("bert.nope"), rejectsWith("ERR_NOT_FOUND", /no parameter named/));
    assert.throws(
      () => engine.setParam("bert.embeddings.LayerNorm.bias", new Float32Array(3)),
      rejectsWith("ERR_INVALID_ARGUMENT", /has 16 elements, got 3/),
    );
    assert.throws(
      () => engine.setParam("bert.embeddings.LayerNorm.bias", new Float32Array(16).fill(NaN)),
      rejectsWith("ERR_NON_FINITE", /is not finite/),
    );
  });
});

describe("asynchronous runs", () => {
  it("return before the work is done, and refuse other calls until it is", async () => {
    const engine = createEngine({
      config: { ...tiny, hidden_size: 64, num_attention_heads: 4, intermediate_size: 256 },
    });
    const pending = engine.run(batch(), allLayersKept(2));
    assert.ok(pending instanceof Promise);
    // still busy after run() returned: the batch runs on a worker thread, not on the event loop
    assert.throws(() => engine.getGrad("bert.embeddings.LayerNorm.bias"), rejectsWith("ERR_ENGINE_BUSY", /await it/));
    assert.throws(() => void engine.run(batch(), allLayersKept(2)), rejectsWith("ERR_ENGINE_BUSY", /running a batch/));
    const result = await pending;
    assert.ok(Number.isFinite(result.loss));
    engine.getGrad("bert.embeddings.LayerNorm.bias"); // usable again
  });
});

describe("loader", () => {
  it("explains how to fix an addon that cannot load", () => {
    const bogus = join(tmpdir(), `not-an-addon-${process.pid}.node`);
    writeFileSync(bogus, "this is not a shared object");
    const script = `import("${join(projectRoot(), "dist", "lib", "native", "load.js")}").then((m) => { try { m.loadNative(); } catch (e) { console.log(e.code + "\\n" + e.message); } })`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, BERT_TRAIN_ADDON: bogus },
      encoding: "utf8",
    });
    assert.match(run.stdout, /ERR_NATIVE_LOAD/);
    assert.match(run.stdout, /Possible solutions:/);
    assert.match(run.stdout, /not-an-addon/);
  });
});
