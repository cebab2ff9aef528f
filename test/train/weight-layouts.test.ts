// The weight loader against test/fixtures/weights (scripts/make_weight_fixtures.py: one set of random weights
// saved by PyTorch in every common BERT layout): each layout loads to the same weights, bit for bit after the
// fp32 cast, and gives PyTorch's loss on those weights; a load that would leave the body random is refused.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { loadCfModel } from "../../lib/config/cf.js";
import { readSafetensors, tensorFloat32, tensorFloat64, tensorInt32 } from "../../lib/formats/safetensors.js";
import { TorchCheckpointError } from "../../lib/formats/torch-checkpoint.js";
import { readWeightFile } from "../../lib/formats/weight-file.js";
import { createEngine, type Batch, type NativeEngine } from "../../lib/native/engine.js";
import { projectRoot } from "../../lib/native/load.js";
import { CheckpointError } from "../../lib/train/checkpoint.js";
import { openModelFolder } from "../../lib/train/model-folder.js";
import { loadWeights, PartialLoadError, requireBody } from "../../lib/train/weights.js";
import { tolerance } from "../helpers/tolerances.js";

const FIXTURES = join(projectRoot(), "test", "fixtures", "weights");
const DS_CF = join(FIXTURES, "deepspeed_cf.json");
const reference = readSafetensors(join(FIXTURES, "reference.safetensors"));
const CLI = join(projectRoot(), "dist", "bin", "bert-train.js");
const ALL_KEPT = { keep: [true, true], scale: [1, 1] };

function batchFrom(prefix: string): Batch {
  const ids = reference.tensors.get(`${prefix}/input_ids`);
  const [batchSize, seqLen] = ids?.shape as [number, number];
  const b: Batch = {
    batchSize,
    seqLen,
    inputIds: tensorInt32(reference, `${prefix}/input_ids`),
    segmentIds: tensorInt32(reference, `${prefix}/segment_ids`),
    inputMask: tensorInt32(reference, `${prefix}/input_mask`),
  };
  if (prefix === "input") {
    b.maskedPositions = tensorInt32(reference, "input/masked_positions");
    b.maskedLabels = tensorInt32(reference, "input/masked_labels");
    b.numMasked = b.maskedPositions.length;
    b.nextSentenceLabels = tensorInt32(reference, "input/next_sentence_labels");
  } else b.classLabels = tensorInt32(reference, "class_input/class_labels");
  return b;
}

function engineFor(layout: string, o: { numLabels?: number; preLn?: boolean; hidden?: number } = {}): NativeEngine {
  const folder = openModelFolder(join(FIXTURES, layout), layout === "deepspeed_job" ? loadCfModel(DS_CF) : undefined);
  const model = { ...folder.model, hidden_size: o.hidden ?? folder.model.hidden_size };
  return createEngine({
    config: { ...model, pre_layer_norm: o.preLn ?? folder.preLn, num_labels: o.numLabels ?? 0 },
    threads: 1,
  });
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

/** Layout, where its weights come from in the reference file, and the loss to compare with (if it has the heads). */
const LAYOUTS: [string, "param" | "f16" | "bf16", string | undefined][] = [
  ["bert_for_pretraining", "param", "fp32"],
  ["gamma_beta", "param", "fp32"],
  ["module_prefix", "param", "fp32"],
  ["fp16", "f16", "f16"],
  ["bf16", "bf16", "bf16"],
  ["pytorch_model_bin", "param", "fp32"],
  ["bert_model", "param", undefined],
  ["bert_for_masked_lm", "param", undefined],
];

describe("every common BERT layout loads to the same weights", () => {
  for (const [layout, source, loss] of LAYOUTS)
    it(layout, async () => {
      const engine = engineFor(layout);
      const file = openModelFolder(join(FIXTURES, layout)).weights;
      const r = loadWeights(engine, file);
      requireBody(file, r, false);
      assert.deepEqual(r.unexpected, []);
      for (const name of r.loaded)
        assert.deepEqual(engine.getParam(name), tensorFloat32(reference, `${source}/${name}`), name);
      const heads = r.missing.filter((n) => !n.startsWith("bert.embeddings.") && !n.startsWith("bert.encoder."));
      assert.deepEqual(r.missing, heads, "only heads may be missing");
      if (source !== "param") assert.equal(r.cast.get(source === "f16" ? "F16" : "BF16"), r.loaded.length);
      if (loss === undefined) return;
      assert.deepEqual(r.missing, []);
      const result = await engine.run(batchFrom("input"), ALL_KEPT, { train: false });
      const expected = tensorFloat64(reference, `output/${loss}/loss`)[0] as number;
      assert.ok(relative(result.loss, expected) < tolerance("golden_fp32_loss_rel"), `${result.loss} vs ${expected}`);
    });

  it("bert_for_sequence_classification, with its classifier, gives PyTorch's classification loss", async () => {
    const engine = engineFor("bert_for_sequence_classification", { numLabels: 2 });
    const file = join(FIXTURES, "bert_for_sequence_classification", "model.safetensors");
    const r = loadWeights(engine, file);
    assert.deepEqual(r.missing, []);
    assert.deepEqual(engine.getParam("classifier.weight"), tensorFloat32(reference, "classifier/classifier.weight"));
    const result = await engine.run(batchFrom("class_input"), ALL_KEPT, { train: false });
    const expected = tensorFloat64(reference, "output/classify/loss")[0] as number;
    assert.ok(relative(result.loss, expected) < tolerance("golden_fp32_loss_rel"), `${result.loss} vs ${expected}`);
  });

  it("HuggingFace's buffers and tied decoder are set aside, not reported as unexpected", () => {
    const r = loadWeights(
      engineFor("bert_for_pretraining"),
      join(FIXTURES, "bert_for_pretraining", "model.safetensors"),
    );
    assert.deepEqual(r.ignored.sort(), [
      "bert.embeddings.position_ids",
      "cls.predictions.decoder.bias",
      "cls.predictions.decoder.weight",
    ]);
  });
});

/** A copy of a zip64 archive whose end record claims `count` entries (the unzip once looped over all of them). */
function withZip64EntryCount(zip: Uint8Array, count: number): Uint8Array {
  const copy = Uint8Array.from(zip);
  const view = new DataView(copy.buffer);
  for (let at = copy.length - 56; at >= 0; at--)
    if (view.getUint32(at, true) === 0x06064b50) {
      view.setBigUint64(at + 32, BigInt(count), true); // the total number of entries
      return copy;
    }
  throw new Error("no zip64 end record");
}

describe("PyTorch checkpoint files, read without Python", () => {
  const job = join(FIXTURES, "deepspeed_job");

  it("a DeepSpeed job folder (latest, mp_rank_00_model_states.pt) loads with its --cf file's architecture", async () => {
    assert.throws(
      () => openModelFolder(job),
      (e: unknown) =>
        e instanceof CheckpointError &&
        /global_step10 is a DeepSpeed checkpoint, which does not record the model's architecture: convert it with bert-train convert .* --cf/.test(
          e.message,
        ),
    );
    const folder = openModelFolder(job, loadCfModel(DS_CF));
    assert.equal(folder.kind, "deepspeed");
    assert.equal(folder.weights, join(job, "global_step10", "mp_rank_00_model_states.pt"));
    const engine = engineFor("deepspeed_job");
    const r = loadWeights(engine, folder.weights);
    assert.deepEqual([r.missing, r.unexpected], [[], []]);
    for (const name of r.loaded)
      assert.deepEqual(engine.getParam(name), tensorFloat32(reference, `param/${name}`), name);
    const result = await engine.run(batchFrom("input"), ALL_KEPT, { train: false });
    const expected = tensorFloat64(reference, "output/fp32/loss")[0] as number;
    assert.ok(relative(result.loss, expected) < tolerance("golden_fp32_loss_rel"));
  });

  it("bert-train convert writes it as an exported folder that loads to the same weights", () => {
    const out = join(mkdtempSync(join(tmpdir(), "bert-train-convert-")), "exported");
    const r = spawnSync(
      process.execPath,
      [CLI, "convert", job, "--cf", DS_CF, "--vocab_file", join(FIXTURES, "vocab.txt"), "--output_dir", out],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /loaded 46 tensors from .*mp_rank_00_model_states\.pt \(embeddings 5, encoder 32, pooler 2, MLM head 5, NSP head 2\)/,
    );
    const engine = createEngine({
      config: { ...openModelFolder(out).model, pre_layer_norm: false, num_labels: 0 },
      threads: 1,
    });
    const loaded = loadWeights(engine, join(out, "model.safetensors"));
    assert.deepEqual(loaded.missing, []);
    for (const name of loaded.loaded)
      assert.deepEqual(engine.getParam(name), tensorFloat32(reference, `param/${name}`), name);
  });

  it("a pickle that asks for os.system is refused, and nothing runs", () => {
    const marker = "/tmp/bert-train-evil-pickle-ran";
    rmSync(marker, { force: true });
    const file = join(FIXTURES, "evil", "pytorch_model.bin");
    assert.throws(
      () => readWeightFile(file),
      (e: unknown) =>
        e instanceof TorchCheckpointError &&
        e.message ===
          `${file}: it asks for posix.system, which a checkpoint of weights never needs; refused (unpickling it could run code)`,
    );
    const r = spawnSync(
      process.execPath,
      [CLI, "convert", join(FIXTURES, "evil"), "--output_dir", join(tmpdir(), "never")],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /refused \(unpickling it could run code\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(existsSync(marker), false);
  });

  it("damaged and foreign files: one error naming the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "bert-train-torch-"));
    const good = readFileSync(join(FIXTURES, "pytorch_model_bin", "pytorch_model.bin"));
    const cases: [string, Uint8Array, RegExp][] = [
      ["text.bin", new TextEncoder().encode("not a checkpoint"), /: not a PyTorch checkpoint \(no zip archive\)$/],
      ["legacy.bin", Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c]), /: an older PyTorch file/],
      ["cut.bin", good.subarray(0, good.length >> 1), /: a damaged PyTorch archive/],
      ["entries.bin", withZip64EntryCount(good, 0xfffffff0), /: a damaged PyTorch archive \(more entries than/],
    ];
    for (const [name, bytes, message] of cases) {
      writeFileSync(join(dir, name), bytes);
      assert.throws(
        () => readWeightFile(join(dir, name)),
        (e: unknown) =>
          e instanceof TorchCheckpointError && e.message.startsWith(join(dir, name)) && message.test(e.message),
        name,
      );
    }
  });
});

describe("no silent partial load", () => {
  it("Post-LN weights into the Pre-LN (PLD) model: refused, naming the LayerNorms it lacks", () => {
    const file = join(FIXTURES, "bert_for_pretraining", "model.safetensors");
    const r = loadWeights(engineFor("bert_for_pretraining", { preLn: true }), file);
    assert.ok(r.loaded.includes("bert.encoder.layer.0.intermediate.dense_act.weight"), "dense is dense_act");
    assert.throws(
      () => requireBody(file, r, false),
      (e: unknown) =>
        e instanceof PartialLoadError &&
        e.message.startsWith(`${file} has no weights for bert.encoder.layer.0.PreAttentionLayerNorm.weight`) &&
        /--allow_partial_load/.test(e.message),
    );
    requireBody(file, r, true);
  });

  it("through the command line: one line, exit 2, no stack trace; --allow_partial_load goes on", () => {
    const folder = mkdtempSync(join(tmpdir(), "bert-train-partial-"));
    const config = JSON.parse(readFileSync(join(FIXTURES, "bert_for_pretraining", "config.json"), "utf8")) as object;
    writeFileSync(join(folder, "config.json"), JSON.stringify({ ...config, pre_layer_norm: true }));
    for (const file of ["model.safetensors", "vocab.txt"])
      writeFileSync(join(folder, file), readFileSync(join(FIXTURES, "bert_for_pretraining", file)));
    const convert = (extra: string[]) =>
      spawnSync(process.execPath, [CLI, "convert", folder, "--output_dir", join(folder, "out"), ...extra], {
        encoding: "utf8",
      });
    const refused = convert([]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /has no weights for bert\.encoder\.layer\.0\.PreAttentionLayerNorm\.weight, .*--allow_partial_load/,
    );
    assert.doesNotMatch(refused.stderr, /\n\s+at /);
    assert.equal(existsSync(join(folder, "out")), false);
    const allowed = convert(["--allow_partial_load"]);
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.match(allowed.stderr, /newly initialised \(not in the checkpoint\): .*PreAttentionLayerNorm/);
  });

  it("weights of another model size: one error naming the tensor and both shapes", () => {
    const file = join(FIXTURES, "bert_model", "model.safetensors");
    assert.throws(
      () => loadWeights(engineFor("bert_model", { hidden: 32 }), file),
      (e: unknown) =>
        e instanceof CheckpointError &&
        e.message ===
          `${file}: embeddings.word_embeddings.weight has shape [101, 16], this model's bert.embeddings.word_embeddings.weight is [101, 32]: the weights are of another model size`,
    );
  });

  it("the fixtures were made by the committed script's format", () => {
    assert.equal(reference.metadata.format_version, "1");
    assert.equal(reference.metadata.generator, "scripts/make_weight_fixtures.py");
    const config = JSON.parse(readFileSync(join(FIXTURES, "bert_model", "config.json"), "utf8")) as {
      architectures: string[];
    };
    assert.deepEqual(config.architectures, ["BertModel"]);
  });
});
