// The model FLOPs of one training step (forward and backward, 3x the forward's multiply-adds counted as 2 FLOPs),
// the one definition of the count: the CLI's metrics and benchmarks read it through the addon, the C++
// benchmarks directly. Per layer: the QKV, output and FFN GEMMs over the sequence and the two attention GEMMs;
// the pooler and NSP (or classifier) head per sequence; the MLM transform and decoder at the masked tokens only.
// A PLD-dropped layer executes nothing, so `kept_fraction` of the layers count.
#pragma once
#include <cstdint>

namespace bert {

struct FlopShape {
  double sequences = 1;
  double seq = 128;
  double masked_tokens = 0;  // over all sequences
  double kept_fraction = 1;
  int num_labels = -1;  // -1: the pre-training heads (MLM + NSP); >0: a classification head of that width
};

inline double training_flops(double hidden, double intermediate, double layers, double vocab, const FlopShape& s) {
  const double H = hidden;
  const double layer = 2 * (4 * H * H + 2 * H * intermediate) * s.seq + 4 * s.seq * s.seq * H;
  const double pooled = s.num_labels > 0 ? 2 * H * H + 2 * H * s.num_labels : 2 * H * H + 2 * H * 2;
  const double encoder = s.kept_fraction * layers * layer;
  const double mlm = s.masked_tokens * (2 * H * H + 2 * H * vocab);
  return 3 * (s.sequences * (encoder + pooled) + mlm);
}

}  // namespace bert
