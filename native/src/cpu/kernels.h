// Declarations of the two CPU kernel sets: `ref` (plain loops, the definition of each op) and `fast` (OpenMP and
// AVX-512; tested against `ref`). Both implement every kernel of bert/kernel_list.inc with the same signature.
// `portable` holds the arithmetic-bound ones again in plain C++ that the compiler vectorises: what `fast` runs in a
// build without AVX-512.
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

namespace bert::portable {
void bias_gelu_forward(Stream, float* pre, const float* bias, float* act, uint16_t* act_bf16, int64_t N, int F,
                       GeluForm form);
void gelu_backward(Stream, const float* dact, const float* pre, float* dpre, uint16_t* dpre_bf16, int64_t N, int F,
                   GeluForm form);
void bias_dropout_residual_forward(Stream, const float* branch, const float* bias, const float* residual, float* out,
                                   int64_t N, int C, float scale, float p, DropoutKey key);
void dropout_apply(Stream, const float* in, float* out, uint16_t* out_bf16, int64_t n, float scale, float p,
                   DropoutKey key);
void softmax_dropout_forward(Stream, const float* scores, const float* mask, float* probs, float* probs_dropped,
                             uint16_t* used_bf16, int B, int NH, int T, float attn_scale, float p, DropoutKey key);
void softmax_dropout_backward(Stream, const float* dprobs_dropped, const float* probs, float* dscores,
                              uint16_t* dscores_bf16, int B, int NH, int T, float attn_scale, float p, DropoutKey key);
void cross_entropy_forward_backward(Stream, const float* logits, const int32_t* labels, int64_t M, int V, float dscale,
                                    float* dlogits, uint16_t* dlogits_bf16, double* loss_sum, int64_t* correct);

// The index of the largest of z(n), the lowest on ties, as the reference's cross-entropy counts a hit.
int argmax(const float* z, int n);
// Zeros a row of n floats and, if not null, its bf16 copy (an ignored label's logit gradients).
void clear_row(float* out, uint16_t* out_bf16, int n);
// One row of n floats to bf16, rounded as convert_to_bf16 rounds (single-threaded: called inside parallel loops).
void convert_row(const float* src, uint16_t* dst, int64_t n);
// Row `row` of an output of rows of n floats whose fp32 tensor may be absent (a bf16-only GEMM operand): that row,
// or this thread's scratch row to convert from.
float* output_row(float* out, int64_t row, int n);
}  // namespace bert::portable
