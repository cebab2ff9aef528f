// MLM/NSP loss and accuracy of the current weights on a corpus: every record once, in order, no dropout, no PLD.
import { CorpusShards, PretrainingLoader, type LoaderOptions } from "../data/loader.js";
import { allLayersKept } from "../native/engine.js";
import type { NativeEngine } from "../native/types.js";

export interface EvalResult {
  mlm_loss: number;
  mlm_accuracy: number;
  nsp_loss: number;
  nsp_accuracy: number;
  sequences: number;
}

export async function evaluateMlm(
  engine: NativeEngine,
  shards: CorpusShards,
  o: Omit<LoaderOptions, "rank" | "worldSize">,
  layers: number,
  maxBatches = Infinity,
): Promise<EvalResult> {
  const loader = new PretrainingLoader(shards, { ...o, rank: 0, worldSize: 1 });
  const gates = allLayersKept(layers);
  let mlmLoss = 0;
  let mlmCount = 0;
  let mlmCorrect = 0;
  let nspLoss = 0;
  let nspCount = 0;
  let nspCorrect = 0;
  const batches = Math.min(loader.batchesPerEpoch, maxBatches);
  for (let i = 0; i < batches; i++) {
    const r = await engine.run(loader.next(), gates, { train: false, backward: false });
    mlmLoss += r.mlmLoss * r.mlmCount;
    mlmCount += r.mlmCount;
    mlmCorrect += r.mlmCorrect;
    nspLoss += r.nspLoss * r.nspCount;
    nspCount += r.nspCount;
    nspCorrect += r.nspCorrect;
  }
  return {
    mlm_loss: mlmLoss / Math.max(mlmCount, 1),
    mlm_accuracy: mlmCorrect / Math.max(mlmCount, 1),
    nsp_loss: nspLoss / Math.max(nspCount, 1),
    nsp_accuracy: nspCorrect / Math.max(nspCount, 1),
    sequences: batches * o.batchSize,
  };
}
