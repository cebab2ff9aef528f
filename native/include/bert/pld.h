// Progressive Layer Dropping as the core sees it: one gate per encoder layer for each forward/backward pass. The
// gates are drawn by the caller (the trainer owns θ(t) and the keep probabilities); the engine honours them: a
// dropped layer is the identity in both directions (no compute, no activations, zero gradients), a kept one scales
// its two residual branches by `scale` (1/p in the paper's form, so the expected output is unchanged).
#pragma once
#include <vector>

#include "bert/status.h"

namespace bert {

struct PldGate {
  bool keep = true;
  float scale = 1.0f;
};

using PldGates = std::vector<PldGate>;

// Every layer kept at scale 1: evaluation, and training without PLD.
inline PldGates all_layers_kept(int num_layers) { return PldGates(num_layers); }

// One gate per layer; a kept layer's scale is a positive finite number.
Status validate_pld_gates(const PldGates& gates, int num_layers);

}  // namespace bert
