// The CPU's fused attention for bf16 runs (bert/backend.h, FusedAttention): bf16 products (AMX or AVX512-BF16) over
// operands packed per head, the scores and their softmax kept in cache.
#pragma once
#include "bert/backend.h"

namespace bert {

// Null in a build for a CPU without AVX512-BF16 (the model then runs the batched path).
const FusedAttention* cpu_fused_attention();

// The same kernel with its products on vdpbf16ps even where AMX is there (the tests check both product paths).
const FusedAttention* cpu_fused_attention_without_amx();

}  // namespace bert
