// evaluate scores every record once, in order, the last batch partial: the result does not depend on the batch
// size, a shard file works as well as a folder, and --max_batches takes the first batches.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";

import { CorpusShards } from "../../lib/data/loader.js";
import { createEngine, DEFAULT_MODEL_CONFIG } from "../../lib/native/engine.js";
import { projectRoot } from "../../lib/native/load.js";
import { evaluateMlm } from "../../lib/train/evaluate.js";

const shard = join(projectRoot(), "test", "fixtures", "google_format_sample_seq128.tfrecord");
const options = (batchSize: number) => ({
  batchSize,
  seed: 1,
  maxPredictionsPerSeq: 20,
  maskedLmProb: 0.15,
  vocabSize: 30522,
  special: { pad: 0, cls: 101, sep: 102, mask: 103 },
});

describe("evaluate", () => {
  const engine = createEngine({
    config: {
      ...DEFAULT_MODEL_CONFIG,
      hidden_size: 32,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      intermediate_size: 64,
      max_position_embeddings: 128,
      pre_layer_norm: false,
      num_labels: 0,
    },
    threads: 1,
  });

  it("scores all 14 records of a shard file, whatever the batch size", async () => {
    const shards = await CorpusShards.open(shard, { vocabSize: 30522 });
    const byFour = await evaluateMlm(engine, shards, options(4), 2);
    const oneByOne = await evaluateMlm(engine, shards, options(1), 2);
    assert.equal(byFour.sequences, 14);
    assert.equal(oneByOne.sequences, 14);
    for (const k of ["mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy"] as const)
      assert.ok(Math.abs(byFour[k] - oneByOne[k]) < 1e-5, `${k}: ${byFour[k]} vs ${oneByOne[k]}`);
  });

  it("max_batches takes the first batches in order", async () => {
    const shards = await CorpusShards.open(shard, { vocabSize: 30522 });
    const firstTwo = await evaluateMlm(engine, shards, options(4), 2, 2);
    const firstEight = await evaluateMlm(engine, shards, options(8), 2, 1);
    assert.equal(firstTwo.sequences, 8);
    assert.ok(Math.abs(firstTwo.mlm_loss - firstEight.mlm_loss) < 1e-5);
  });
});
