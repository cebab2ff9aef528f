// The CUDA kernel set: every kernel of bert/kernel_list.inc, with the reference kernels' semantics (the op table
// test holds them to it). Host functions that launch on the given stream; the pointers are device memory.
#pragma once
#include <cstdint>

#include "bert/dropout_rng.h"
#include "bert/model_config.h"
#include "bert/optimizer_args.h"
#include "bert/stream.h"

namespace bert::cuda {
#define BERT_KERNEL(ret, name, params) ret name params;
#include "bert/kernel_list.inc"
#undef BERT_KERNEL
}  // namespace bert::cuda
