// The CPU's fused attention for bf16 runs (bert/backend.h, FusedAttention): AVX512-BF16 dot products over operands
// packed per head, the scores and their softmax kept in cache.
#pragma once
#include "bert/backend.h"

namespace bert {

// Null in a build for a CPU without AVX512-BF16 (the model then runs the batched path).
const FusedAttention* cpu_fused_attention();

// Whether the fused attention is the faster path on this build's CPU: it has AVX512-BF16 and no AMX (oneDNN's
// batched GEMMs on AMX tiles outrun vdpbf16ps products by far).
bool cpu_fused_attention_preferred();

}  // namespace bert
