// The per-step arguments of the fused optimizer kernels (see kernel_list.inc: adam_update, lamb_direction).
#pragma once
#include <cfloat>

#include "bert/host_device.h"

namespace bert {

struct AdamStepArgs {
  float lr = 0.0f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  // 1 - beta, computed in double from the user's (double) beta before rounding: 1.0f - 0.999f would be off by
  // 1.3e-5 relative, enough to move Adam's steps visibly against PyTorch, which computes it in double.
  float one_minus_beta1 = 0.1f;
  float one_minus_beta2 = 0.001f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;      // already 0 for parameters excluded from decay
  float bias_correction1 = 1.0f;  // 1 - beta1^t, or 1 without bias correction
  float bias_correction2 = 1.0f;  // 1 - beta2^t, or 1 without bias correction
  float grad_mul = 1.0f;          // applied to each gradient first: 1/loss_scale times the clipping factor
  bool adam_w_mode = true;        // decoupled weight decay (AdamW); false: L2, decay added to the gradient
};

// An Adam/LAMB moment as every backend stores it: one below the smallest normal float is stored as 0. With no
// gradient, a moment decays by beta each step and, rounded to nearest, sticks at a few subnormal units for good
// (0.9 x 1 unit rounds back to 1 unit). Each subnormal read costs an Intel core a microcode assist: Adam's update
// of 8.4M such parameters took 30-45x as long on a Xeon (build/bench_optimizer). A fine-tuning run's embedding rows
// of tokens its data has not shown for about 750 steps are such moments. 0 instead moves no weight by over 1e-32.
BERT_HOST_DEVICE inline float stored_moment(float x) { return x < FLT_MIN && x > -FLT_MIN ? 0.0f : x; }

}  // namespace bert
