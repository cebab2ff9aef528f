// Declarations of the two CPU kernel sets: `ref` (plain loops, the definition of each op) and `fast` (OpenMP and
// AVX-512; tested against `ref`). Both implement every kernel of bert/kernel_list.inc with the same signature.
#pragma once
#include <cstdint>

#include "bert/dropout_rng.h"
#include "bert/model_config.h"
#include "bert/optimizer_args.h"
#include "bert/stream.h"

namespace bert::ref {
#define BERT_KERNEL(ret, name, params) ret name params;
#include "bert/kernel_list.inc"
#undef BERT_KERNEL
}  // namespace bert::ref

namespace bert::fast {
#define BERT_KERNEL(ret, name, params) ret name params;
#include "bert/kernel_list.inc"
#undef BERT_KERNEL
}  // namespace bert::fast
