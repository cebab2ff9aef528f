// The model sizes the benchmark runs, and the arithmetic of their cost.
import type { ModelConfig } from "../native/types.js";

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
/** Masked positions per sequence: 15% of 128, as the pre-training recipe produces. */
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

/**
 * Matrix-multiply FLOPs of one forward+backward pass over one sequence (backward = 2x forward), counting the
 * encoder's projections and attention, the pooler/NSP and the MLM head at the masked positions. Element-wise work
 * is not counted, as is usual for model FLOP utilisation.
 */
export function trainingFlopsPerSequence(
  model: BenchModel,
  seq: number,
  masked: number,
  keptLayers = model.layers,
): number {
  const H = model.hidden;
  const F = 4 * H;
  const perToken = 2 * (4 * H * H + 2 * H * F); // QKV, output projection, the two FFN GEMMs
  const attention = 2 * 2 * seq * H; // QK^T and PV, per token
  const encoder = keptLayers * seq * (perToken + attention);
  const heads = 2 * H * H + 2 * H * 2 + masked * (2 * H * H + 2 * H * BENCH_VOCAB);
  return 3 * (encoder + heads);
}
