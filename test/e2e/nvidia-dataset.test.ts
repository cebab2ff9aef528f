// A bing_bert user's NVIDIA HDF5 shards through the command line: `pretrain --use_nvidia_dataset` on shards that
// h5py converted from statically masked TFRecord shards gives the same per-step losses as the run on the TFRecord
// shards, and `evaluate` gives the same MLM/NSP losses on either.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";

import { projectRoot } from "../../lib/native/load.js";
import { convertWithH5py, needsH5py } from "../helpers/h5py.js";
import { prepareTiny } from "../helpers/tiny-data.js";
import { tinyPretrainArgs } from "../helpers/tiny-pretrain.js";

const root = projectRoot();
const cli = join(root, "dist", "bin", "bert-train.js");
const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-nvidia-"));
let tfRoot = "";
let h5Root = "";

before(async () => {
  if (needsH5py) return;
  tfRoot = tmp();
  h5Root = tmp();
  const tf = join(tfRoot, "tiny", "64");
  mkdirSync(join(tfRoot, "tiny"));
  mkdirSync(join(h5Root, "tiny", "64"), { recursive: true });
  await prepareTiny([join(root, "test", "fixtures", "sample_text.txt")], tf, 2, {
    dupeFactor: 2,
    masking: "static",
    seed: 4,
  });
  // NVIDIA's shard names, in the order of the TFRecord shards
  for (const i of [0, 1])
    convertWithH5py(join(tf, `shard_0000${i}.tfrecord`), join(h5Root, "tiny", "64", `books_wiki_en_corpus_${i}.hdf5`));
});

function pretrain(out: string, dataRoot: string, extra: string[]): number[] {
  const args = tinyPretrainArgs({
    out,
    dataRoot,
    ds: "tiny_ds_fp32_pld.json",
    pld: true,
    extra: ["--max_steps", "6", ...extra],
  });
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return readFileSync(join(out, "tiny.metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { loss?: number })
    .flatMap((m) => (m.loss === undefined ? [] : [m.loss]));
}

function evaluate(checkpoint: string, data: string): Record<string, number> {
  const r = spawnSync(
    process.execPath,
    [
      cli,
      "evaluate",
      "--checkpoint",
      checkpoint,
      "--data",
      data,
      "--batch_size",
      "4",
      "--max_predictions_per_seq",
      "10",
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, number>;
}

describe("pretrain --use_nvidia_dataset and evaluate on NVIDIA's HDF5 shards", { skip: needsH5py }, () => {
  it("the same per-step losses as on the TFRecord shards, and the same evaluation", () => {
    const onTf = tmp();
    const onH5 = tmp();
    const tfLosses = pretrain(onTf, tfRoot, []);
    const h5Losses = pretrain(onH5, h5Root, ["--use_nvidia_dataset"]);
    assert.equal(tfLosses.length, 6);
    assert.deepEqual(h5Losses, tfLosses);

    const saved = join(onTf, "saved_models", "tiny");
    const checkpoint = join(saved, readFileSync(join(saved, "latest"), "utf8").trim());
    const fromTf = evaluate(checkpoint, join(tfRoot, "tiny", "64"));
    const fromH5 = evaluate(checkpoint, join(h5Root, "tiny", "64"));
    for (const k of ["mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy", "sequences"])
      assert.equal(fromH5[k], fromTf[k], k);
  });

  it("a file that is not HDF5: one line naming it, exit 2, no stack trace", () => {
    const dataRoot = tmp();
    mkdirSync(join(dataRoot, "tiny", "64"), { recursive: true });
    writeFileSync(join(dataRoot, "tiny", "64", "part_0.hdf5"), "input_ids\n");
    const args = tinyPretrainArgs({
      out: tmp(),
      dataRoot,
      ds: "tiny_ds_fp32.json",
      pld: false,
      extra: ["--use_nvidia_dataset"],
    });
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /part_0\.hdf5: not a readable HDF5 file \(file signature not found\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at |HDF5-DIAG/);
  });

  it("--use_nvidia_dataset on TFRecord shards: one line naming the folder, exit 2", () => {
    const out = tmp();
    const args = tinyPretrainArgs({
      out,
      dataRoot: tfRoot,
      ds: "tiny_ds_fp32.json",
      pld: false,
      extra: ["--use_nvidia_dataset"],
    });
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /tiny\/64 holds prepare-data's TFRecord shards, not HDF5 ones; drop --use_nvidia_dataset/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
