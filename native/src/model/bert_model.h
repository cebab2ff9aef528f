// Internal structures of the model: named pointers into the one parameter allocation (and, bound the same way,
// the gradient allocation), per-layer activations, and the shared scratch of the backward pass.
// Dimensions: B batch, T sequence, C hidden, NH heads, HS head size, F intermediate, V vocab, L layers, M masked.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bert/backend.h"
#include "bert/engine.h"

namespace bert {

struct LayerParams {
  float* qkv_w;       // (3C, C) query, key, value weights stacked
  float* qkv_b;       // (3C)
  float* attn_out_w;  // (C, C)
  float* attn_out_b;  // (C)
  float* ln1_w;       // (C) PreAttentionLayerNorm (Pre-LN) or attention.output.LayerNorm (Post-LN)
  float* ln1_b;       // (C)
  float* ffn_in_w;    // (F, C)
  float* ffn_in_b;    // (F)
  float* ffn_out_w;   // (C, F)
  float* ffn_out_b;   // (C)
  float* ln2_w;       // (C) PostAttentionLayerNorm (Pre-LN) or output.LayerNorm (Post-LN)
  float* ln2_b;       // (C)
};

struct ModelParams {
  float* word_emb;  // (V, C), also the MLM decoder
  float* pos_emb;   // (P, C)
  float* type_emb;  // (TV, C)
  float* emb_ln_w;  // (C)
  float* emb_ln_b;  // (C)
  std::vector<LayerParams> layers;
  float* final_ln_w = nullptr;  // (C) Pre-LN only
  float* final_ln_b = nullptr;
  float* pooler_w;  // (C, C)
  float* pooler_b;  // (C)
  // pre-training heads (num_labels == 0)
  float* mlm_dense_w = nullptr;  // (C, C)
  float* mlm_dense_b = nullptr;
  float* mlm_ln_w = nullptr;
  float* mlm_ln_b = nullptr;
  float* mlm_bias = nullptr;  // (V)
  float* nsp_w = nullptr;     // (2, C)
  float* nsp_b = nullptr;
  // classification head (num_labels > 0)
  float* cls_w = nullptr;  // (num_labels, C)
  float* cls_b = nullptr;
};

// The parameter table in checkpoint order, and pointers bound into a base allocation.
std::vector<ParamInfo> build_param_layout(const ModelConfig& config);
void bind_params(const ModelConfig& config, const std::vector<ParamInfo>& layout, float* base, ModelParams* out);
// N(0, 0.02) weights (output projections N(0, 0.02/sqrt(2L))), LayerNorm weights 1, biases 0.
void init_params(const ModelConfig& config, const std::vector<ParamInfo>& layout, uint64_t seed, float* base);

// What one kept layer keeps from its forward pass for its backward pass.
struct LayerActs {
  float* ln1;        // (B*T, C) LN1(h), Pre-LN only
  float* ln1_mean;   // (B*T)
  float* ln1_rstd;   // (B*T)
  float* qkv_heads;  // (3, B, NH, T, HS)
  float* probs;      // (B, NH, T, T) attention probabilities before dropout
  float* ctx;        // (B*T, C) attention context, token-major
  float* resid1;     // (B*T, C) h + s*drop(attn): x in Pre-LN, LN1's input in Post-LN
  float* x_post;     // (B*T, C) LN1(resid1), Post-LN only
  float* ln2;        // (B*T, C) LN2(x), Pre-LN only
  float* ln2_mean;   // (B*T)
  float* ln2_rstd;   // (B*T)
  float* ffn_pre;    // (B*T, F) before GELU
  float* ffn_act;    // (B*T, F) after GELU
  float* resid2;     // (B*T, C) x + s*drop(ffn): the output in Pre-LN, LN2's input in Post-LN
  float* out_post;   // (B*T, C) LN2(resid2), Post-LN only
  // bf16 runs keep the activations that only GEMMs read in bf16 instead of fp32 (ln1, qkv_heads, ctx, ln2, ffn_act
  // are then null): the kernel that makes each writes it in bf16, in half the memory, and no GEMM converts it again.
  uint16_t *ln1_bf16, *qkv_heads_bf16, *ctx_bf16, *ln2_bf16, *ffn_act_bf16;
};

// Buffers used by one layer at a time, in either direction.
struct LayerScratch {
  float* qkv;            // (B*T, 3C)
  float* probs_dropped;  // (B, NH, T, T), fp32 runs
  float* ctx_heads;      // (B, NH, T, HS)
  float* proj;           // (B*T, C) output of a projection GEMM before bias
  // backward
  float* d_ffn;          // (B*T, F)
  float* d_x;            // (B*T, C)
  float* d_branch;       // (B*T, C)
  float* d_ln;           // (B*T, C)
  float* d_ctx;          // (B*T, C)
  float* d_qkv;          // (B*T, 3C)
  float* qkv_bias_grad;  // (3C)
  float* d_qkv_heads;    // (3, B, NH, T, HS)
  float* d_probs;        // (B, NH, T, T)
  float* d_ctx_heads;    // (B, NH, T, HS), fp32 runs
  // bf16 runs: GEMM operands made once and read by two GEMMs (or by one GEMM in each direction)
  uint16_t* d_ctx_heads_bf16;  // (B, NH, T, HS) replaces d_ctx_heads
  uint16_t* attn_bf16;         // (B, NH, T, T) the probabilities P.V reads, then the score gradient
  uint16_t* dy_bf16;           // (B*T, max(3C, F)) a gradient: the weight and the input gradient GEMMs read it
};

// Everything the encoder layer functions need besides their own activations.
struct LayerContext {
  Backend* backend;
  Stream stream;  // every kernel and GEMM of the pass runs on it
  const ModelConfig* config;
  int B, T;
  const float* mask;  // (B, T) 0/1 as floats
  bool train;
  uint64_t seed;
  uint64_t dropout_stream;
  const float* param_base;    // to find a weight's bf16 copy
  const uint16_t* bf16_base;  // nullptr in fp32
  bool bf16_operands;         // bf16 runs: GEMM operands are written in bf16 by their kernels, or converted once
  LayerScratch* scratch;
};

GemmOperand weight_operand(const LayerContext& ctx, const float* w);
DropoutKey dropout_key(const LayerContext& ctx, int layer, int site);

// y(N, out) = x(N, in) . W(out, in)^T
Status linear_forward(const LayerContext& ctx, GemmOperand x, const float* w, float* y, int64_t N, int in, int out);
// dx(N, in) (+)= dy(N, out) . W(out, in)
Status linear_backward_input(const LayerContext& ctx, GemmOperand dy, const float* w, float* dx, int64_t N, int in,
                             int out, bool accumulate);
// dW(out, in) += dy(N, out)^T . x(N, in)
Status linear_backward_weight(const LayerContext& ctx, GemmOperand dy, GemmOperand x, float* dw, int64_t N, int in,
                              int out);
// An fp32 tensor as a GEMM operand (the backend converts it in bf16 runs).
inline GemmOperand fp32_operand(const float* x) { return GemmOperand{x, nullptr}; }
// A GEMM operand made in fp32 at `made` and read by more than one GEMM: in bf16 runs converted once into `bf16`.
GemmOperand converted_operand(const LayerContext& ctx, const float* made, uint16_t* bf16, int64_t n);
// An operand as its kernel wrote it: the bf16 copy where there is one (bf16 runs), else the fp32 tensor.
inline GemmOperand written_operand(const float* f32, const uint16_t* bf16) {
  return GemmOperand{bf16 ? nullptr : f32, bf16};
}

// One encoder layer. `h` is the layer input; the output pointer is returned through *out.
Status encoder_layer_forward(const LayerContext& ctx, int layer, const LayerParams& p, const PldGate& gate,
                             const float* h, LayerActs& a, const float** out);
// d_out (B*T, C) in, d_h (B*T, C) out (overwritten). Parameter gradients accumulate into g.
Status encoder_layer_backward(const LayerContext& ctx, int layer, const LayerParams& p, const LayerParams& g,
                              const PldGate& gate, const float* h, const LayerActs& a, const float* d_out, float* d_h);

}  // namespace bert
