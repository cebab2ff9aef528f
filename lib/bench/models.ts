// The model sizes the benchmark runs, and the arithmetic of their cost.
import type { ModelConfig } from "../native/types.js";
import { trainingFlops, type FlopModel } from "../train/flops.js";

export interface BenchModel {
  layers: number;
  hidden: number;
}

export const BENCH_MODELS: Record<string, BenchModel> = {
  mini: { layers: 4, hidden: 256 },
  small: { layers: 4, hidden: 512 },
  base: { layers: 12, hidden: 768 },
};

export const BENCH_VOCAB = 30522;
/** Masked positions per 128 positions, as the pre-training recipe produces (15%, capped). */
export const MASKED_PER_SEQUENCE = 20;

export function benchConfig(model: BenchModel): Partial<ModelConfig> {
  return {
    vocab_size: BENCH_VOCAB,
    hidden_size: model.hidden,
    num_hidden_layers: model.layers,
    num_attention_heads: Math.max(1, model.hidden / 64),
    intermediate_size: 4 * model.hidden,
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
  };
}

/** Masked positions per sequence of length `seq`: bing_bert's 20 of 128 and 80 of 512. */
export function maskedPerSequence(seq: number): number {
  return Math.round((seq * MASKED_PER_SEQUENCE) / 128);
}

/** Forward+backward matrix-multiply FLOPs of one sequence (lib/train/flops.ts), for a bench model. */
export function trainingFlopsPerSequence(
  model: BenchModel,
  seq: number,
  masked: number,
  keptLayers = model.layers,
): number {
  const config = { ...benchConfig(model), num_hidden_layers: model.layers } as FlopModel;
  return trainingFlops(config, { sequences: 1, seq, maskedTokens: masked, keptFraction: keptLayers / model.layers });
}
