// PLD is a pre-training method: fine-tuning and evaluation run every layer, even for a Pre-LN (PLD) model whose
// DeepSpeed config still enables layer dropping. Every engine pass is recorded (the addon's Engine
// subclassed) and its gates checked.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { CorpusShards } from "../../lib/data/loader.js";
import { specialIds, readVocab } from "../../lib/data/tokenizer.js";
import { finetune } from "../../lib/glue/finetune.js";
import { createEngine } from "../../lib/native/engine.js";
import { loadNative, projectRoot } from "../../lib/native/load.js";
import type { LayerGates, ModelConfig, NativeEngine } from "../../lib/native/types.js";
import { defaultVocabFile } from "../../lib/paths.js";
import { evaluateMlm } from "../../lib/train/evaluate.js";
import { collect, finetuneArgs, tinyModelFolder } from "../helpers/finetune-fixture.js";
import { prepareTiny } from "../helpers/tiny-data.js";
import { FIXTURE_CONFIGS } from "../helpers/tiny-pretrain.js";

const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-no-pld-"));
const passes: LayerGates[] = [];
const addon = loadNative();
const NativeEngineClass = addon.Engine;

before(() => {
  // every engine created from here on records the gates of its passes
  addon.Engine = class extends NativeEngineClass {
    override run(...args: Parameters<NativeEngine["run"]>): ReturnType<NativeEngine["run"]> {
      passes.push(args[1]);
      return super.run(...args);
    }
  };
});
after(() => {
  addon.Engine = NativeEngineClass;
});

describe("outside pre-training every layer runs", () => {
  it("finetune, a Pre-LN model with a DeepSpeed config that enables PLD", async () => {
    const dir = tmp();
    const model = tinyModelFolder(dir);
    const config = JSON.parse(readFileSync(join(model, "config.json"), "utf8")) as object;
    writeFileSync(join(model, "config.json"), JSON.stringify({ ...config, pre_layer_norm: true }));
    const data = join(dir, "glue", "SST-2");
    mkdirSync(data, { recursive: true });
    const rows = Array.from({ length: 16 }, (_, i) => `sentence number ${i}\t${i % 2}`);
    writeFileSync(join(data, "train.tsv"), ["sentence\tlabel", ...rows].join("\n") + "\n");
    writeFileSync(join(data, "dev.tsv"), ["sentence\tlabel", ...rows.slice(0, 4)].join("\n") + "\n");
    const ds = join(dir, "ds.json");
    const pldDs = JSON.parse(readFileSync(join(FIXTURE_CONFIGS, "tiny_ds_fp32_pld.json"), "utf8")) as object;
    writeFileSync(ds, JSON.stringify({ ...pldDs, train_batch_size: 4, train_micro_batch_size_per_gpu: 2 }));
    passes.length = 0;
    const args = finetuneArgs({
      task: "SST-2",
      job_name: "job",
      checkpoint: model,
      data_dir: join(dir, "glue"),
      output_dir: join(dir, "out"),
      train_batch_size: 4,
      gradient_accumulation_steps: 2,
      num_train_epochs: 1,
      do_eval: true,
      deepspeed_config: ds,
    });
    await finetune(args, collect().output);
    assert.ok(passes.length >= 8 + 1, `${passes.length} passes`);
    assert.ok(passes.every((g) => g.keep.every(Boolean) && g.scale.every((s) => s === 1)));
  });
  it("evaluate", async () => {
    const dir = tmp();
    await prepareTiny([join(projectRoot(), "test", "fixtures", "sample_text.txt")], join(dir, "64"), 1);
    const config = JSON.parse(readFileSync(join(tinyModelFolder(dir), "config.json"), "utf8")) as ModelConfig;
    const engine = createEngine({ config: { ...config, pre_layer_norm: true } });
    const vocab = readVocab(defaultVocabFile());
    passes.length = 0;
    await evaluateMlm(
      engine,
      await CorpusShards.open(join(dir, "64")),
      {
        batchSize: 4,
        seed: 1,
        maxPredictionsPerSeq: 10,
        maskedLmProb: 0.15,
        vocabSize: 30522,
        special: specialIds(vocab),
      },
      2,
      3,
    );
    assert.equal(passes.length, 3);
    assert.ok(passes.every((g) => g.keep.every(Boolean)));
  });
});
