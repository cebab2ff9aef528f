// MLM/NSP loss and accuracy of the current weights on a corpus: every record once, in order, no dropout, no PLD.
// Shards without static masks are masked as the loader masks epoch 0.
import { assembleBatch, type CorpusShards, type LoaderOptions } from "../data/loader.js";
import { allLayersKept } from "../native/engine.js";
import type { NativeEngine } from "../native/types.js";

export interface EvalResult {
  mlm_loss: number;
  mlm_accuracy: number;
  nsp_loss: number;
  nsp_accuracy: number;
  sequences: number;
}

/** Every record once, in order, in batches of `o.batchSize` (the last one partial); the first `maxBatches` only. */
export async function evaluateMlm(
  engine: NativeEngine,
  shards: CorpusShards,
  o: Omit<LoaderOptions, "rank" | "worldSize">,
  layers: number,
  maxBatches = Infinity,
): Promise<EvalResult> {
  const gates = allLayersKept(layers);
  let mlmLoss = 0;
  let mlmCount = 0;
  let mlmCorrect = 0;
  let nspLoss = 0;
  let nspCount = 0;
  let nspCorrect = 0;
  let sequences = 0;
  for (let start = 0, b = 0; start < shards.count && b < maxBatches; start += o.batchSize, b++) {
    const indices = Array.from({ length: Math.min(o.batchSize, shards.count - start) }, (_, k) => start + k);
    const r = await engine.run(assembleBatch(shards, o, indices, 0), gates, { train: false, backward: false });
    mlmLoss += r.mlmLoss * r.mlmCount;
    mlmCount += r.mlmCount;
    mlmCorrect += r.mlmCorrect;
    nspLoss += r.nspLoss * r.nspCount;
    nspCount += r.nspCount;
    nspCorrect += r.nspCorrect;
    sequences += indices.length;
  }
  return {
    mlm_loss: mlmLoss / Math.max(mlmCount, 1),
    mlm_accuracy: mlmCorrect / Math.max(mlmCount, 1),
    nsp_loss: nspLoss / Math.max(nspCount, 1),
    nsp_accuracy: nspCorrect / Math.max(nspCount, 1),
    sequences,
  };
}
