// One transformer encoder layer, forward and backward, Pre-LN (switchable, PLD) or Post-LN:
//   Pre-LN:  x = h + s*Drop(Attn(LN1(h)));  out = x + s*Drop(FFN(LN2(x)))
//   Post-LN: x = LN1(h + s*Drop(Attn(h)));  out = LN2(x + s*Drop(FFN(x)))
// s is the layer's PLD residual scale (its PldGate); a layer PLD drops never reaches these functions: the
// engine passes its input through.
#include <cmath>

#include "model/bert_model.h"

namespace bert {

GemmOperand weight_operand(const LayerContext& ctx, const float* w) {
  GemmOperand op;
  op.f32 = w;
  if (ctx.bf16_base) op.bf16 = ctx.bf16_base + (w - ctx.param_base);
  return op;
}

DropoutKey dropout_key(const LayerContext& ctx, int layer, int site) {
  return DropoutKey{ctx.seed, mix64(ctx.dropout_stream + 0x9d2c5680ULL) + static_cast<uint64_t>(layer) * 8 + site};
}

Status linear_forward(const LayerContext& ctx, GemmOperand x, const float* w, float* y, int64_t N, int in, int out) {
  GemmArgs g;
  g.M = N, g.N = out, g.K = in;
  g.trans_b = true;
  g.lda = in, g.ldb = in, g.ldc = out;
  return ctx.backend->gemm(g, x, weight_operand(ctx, w), y);
}

Status linear_backward_input(const LayerContext& ctx, GemmOperand dy, const float* w, float* dx, int64_t N, int in,
                             int out, bool accumulate) {
  GemmArgs g;
  g.M = N, g.N = in, g.K = out;
  g.lda = out, g.ldb = in, g.ldc = in;
  g.accumulate = accumulate;
  return ctx.backend->gemm(g, dy, weight_operand(ctx, w), dx);
}

Status linear_backward_weight(const LayerContext& ctx, GemmOperand dy, GemmOperand x, float* dw, int64_t N, int in,
                              int out) {
  GemmArgs g;
  g.M = out, g.N = in, g.K = N;
  g.trans_a = true;
  g.lda = out, g.ldb = in, g.ldc = in;
  g.accumulate = true;
  return ctx.backend->gemm(g, dy, x, dw);
}

GemmOperand converted_operand(const LayerContext& ctx, const float* made, uint16_t* bf16, int64_t n) {
  if (!ctx.bf16_operands) return fp32_operand(made);
  ctx.backend->kernels().convert_to_bf16(ctx.stream, made, bf16, n);
  return GemmOperand{made, bf16};
}

namespace {

enum DropoutSite { kAttentionProbs = 0, kAttentionOutput = 1, kFfnOutput = 2 };

// Q, K and V of every head as GEMM operands, from the head-major (3, B, NH, T, HS) tensor in fp32 or bf16.
struct HeadOperands {
  GemmOperand q, k, v;
};

HeadOperands head_operands(const float* f32, const uint16_t* bf16, int64_t block) {
  auto at = [&](int i) { return bf16 ? GemmOperand{nullptr, bf16 + i * block} : fp32_operand(f32 + i * block); };
  return HeadOperands{at(0), at(1), at(2)};
}

// Batched attention GEMM over the B*NH heads: C(T, n) = op(A)(T, k) . op(B)(k, n)
Status head_gemm(const LayerContext& ctx, int64_t n, int64_t k, bool trans_a, bool trans_b, GemmOperand a, int64_t lda,
                 int64_t stride_a, GemmOperand b, int64_t ldb, int64_t stride_b, float* c, int64_t ldc,
                 int64_t stride_c) {
  GemmArgs g;
  g.batch = ctx.B * ctx.config->num_attention_heads;
  g.M = ctx.T, g.N = n, g.K = k;
  g.trans_a = trans_a, g.trans_b = trans_b;
  g.lda = lda, g.ldb = ldb, g.ldc = ldc;
  g.stride_a = stride_a, g.stride_b = stride_b, g.stride_c = stride_c;
  return ctx.backend->gemm(g, a, b, c);
}

AttentionShape attention_shape(const LayerContext& ctx, int layer) {
  const ModelConfig& c = *ctx.config;
  AttentionShape shape;
  shape.B = ctx.B, shape.NH = c.num_attention_heads, shape.T = ctx.T, shape.HS = c.head_size();
  shape.scale = 1.0f / std::sqrt(static_cast<float>(shape.HS));
  shape.p = ctx.train ? c.attention_probs_dropout_prob : 0.0f;
  shape.key = dropout_key(ctx, layer, kAttentionProbs);
  return shape;
}

// Scaled dot-product attention of every head, from a.qkv_heads to ctx_heads (head-major), keeping a.probs for the
// backward: the backend's fused kernel in bf16 runs where it has one, else batched GEMMs around the softmax kernel.
Status attention_core_forward(const LayerContext& ctx, int layer, LayerActs& a, float* ctx_heads) {
  const Kernels& k = ctx.backend->kernels();
  LayerScratch& s = *ctx.scratch;
  const AttentionShape sh = attention_shape(ctx, layer);
  const int B = sh.B, NH = sh.NH, T = sh.T, HS = sh.HS;
  const int64_t head_block = static_cast<int64_t>(B) * T * ctx.config->hidden_size;
  const FusedAttention* fused = ctx.bf16_operands ? ctx.backend->fused_attention() : nullptr;
  if (fused) {
    const uint16_t* qkv = a.qkv_heads_bf16;
    fused->forward(qkv, qkv + head_block, qkv + 2 * head_block, ctx.mask, a.probs, ctx_heads, sh);
    return Status::ok();
  }
  const HeadOperands qkv = head_operands(a.qkv_heads, a.qkv_heads_bf16, head_block);
  BERT_RETURN_IF_ERROR(head_gemm(ctx, T, HS, false, true, qkv.q, HS, T * HS, qkv.k, HS, T * HS, a.probs, T, T * T));
  // P.V reads the dropped probabilities (bf16 runs: only in bf16)
  float* dropped = ctx.bf16_operands ? nullptr : s.probs_dropped;
  k.softmax_dropout_forward(ctx.stream, a.probs, ctx.mask, a.probs, dropped, s.attn_bf16, B, NH, T, sh.scale, sh.p,
                            sh.key);
  const GemmOperand pd = written_operand(sh.p > 0 ? dropped : a.probs, s.attn_bf16);
  return head_gemm(ctx, HS, T, false, false, pd, T, T * T, qkv.v, HS, T * HS, ctx_heads, HS, T * HS);
}

}  // namespace

Status encoder_layer_forward(const LayerContext& ctx, int layer, const LayerParams& p, const PldGate& gate,
                             const float* h, LayerActs& a, const float** out) {
  const ModelConfig& c = *ctx.config;
  const Kernels& k = ctx.backend->kernels();
  LayerScratch& s = *ctx.scratch;
  const int B = ctx.B, T = ctx.T, C = c.hidden_size, F = c.intermediate_size, NH = c.num_attention_heads;
  const int HS = c.head_size();
  const int64_t BT = static_cast<int64_t>(B) * T;
  const float p_hidden = ctx.train ? c.hidden_dropout_prob : 0.0f;
  const bool pre = c.pre_ln();

  // attention block; in bf16 runs the kernels write the GEMM-only activations in bf16 alone
  GemmOperand attn_in = fp32_operand(h);
  if (pre) {
    k.layernorm_forward(ctx.stream, h, p.ln1_w, p.ln1_b, a.ln1, a.ln1_bf16, a.ln1_mean, a.ln1_rstd, BT, C,
                        c.layer_norm_eps);
    attn_in = written_operand(a.ln1, a.ln1_bf16);
  }
  BERT_RETURN_IF_ERROR(linear_forward(ctx, attn_in, p.qkv_w, s.qkv, BT, C, 3 * C));
  k.tokens_to_heads(ctx.stream, s.qkv, p.qkv_b, a.qkv_heads, a.qkv_heads_bf16, 3, B, T, NH, HS);
  BERT_RETURN_IF_ERROR(attention_core_forward(ctx, layer, a, s.ctx_heads));
  k.heads_to_tokens(ctx.stream, s.ctx_heads, a.ctx, a.ctx_bf16, 1, B, T, NH, HS);
  BERT_RETURN_IF_ERROR(linear_forward(ctx, written_operand(a.ctx, a.ctx_bf16), p.attn_out_w, s.proj, BT, C, C));
  k.bias_dropout_residual_forward(ctx.stream, s.proj, p.attn_out_b, h, a.resid1, BT, C, gate.scale, p_hidden,
                                  dropout_key(ctx, layer, kAttentionOutput));
  const float* x = a.resid1;
  if (!pre) {
    k.layernorm_forward(ctx.stream, a.resid1, p.ln1_w, p.ln1_b, a.x_post, nullptr, a.ln1_mean, a.ln1_rstd, BT, C,
                        c.layer_norm_eps);
    x = a.x_post;
  }

  // feed-forward block
  GemmOperand ffn_in = fp32_operand(x);
  if (pre) {
    k.layernorm_forward(ctx.stream, x, p.ln2_w, p.ln2_b, a.ln2, a.ln2_bf16, a.ln2_mean, a.ln2_rstd, BT, C,
                        c.layer_norm_eps);
    ffn_in = written_operand(a.ln2, a.ln2_bf16);
  }
  BERT_RETURN_IF_ERROR(linear_forward(ctx, ffn_in, p.ffn_in_w, a.ffn_pre, BT, C, F));
  k.bias_gelu_forward(ctx.stream, a.ffn_pre, p.ffn_in_b, a.ffn_act, a.ffn_act_bf16, BT, F, c.gelu);
  BERT_RETURN_IF_ERROR(linear_forward(ctx, written_operand(a.ffn_act, a.ffn_act_bf16), p.ffn_out_w, s.proj, BT, F, C));
  k.bias_dropout_residual_forward(ctx.stream, s.proj, p.ffn_out_b, x, a.resid2, BT, C, gate.scale, p_hidden,
                                  dropout_key(ctx, layer, kFfnOutput));
  *out = a.resid2;
  if (!pre) {
    k.layernorm_forward(ctx.stream, a.resid2, p.ln2_w, p.ln2_b, a.out_post, nullptr, a.ln2_mean, a.ln2_rstd, BT, C,
                        c.layer_norm_eps);
    *out = a.out_post;
  }
  return Status::ok();
}

namespace {

// The backward of a block's output projection, out = residual + scale * Drop(x W^T + b), from d_resid (the gradient at
// out): the branch gradient (fp32 for the bias gradient; in bf16 runs also bf16, which both GEMMs read), then db, dW
// and dx(N, in) written.
Status projection_backward(const LayerContext& ctx, DropoutKey key, float scale, const float* d_resid, GemmOperand x,
                           const float* w, float* dw, float* db, float* dx, int in) {
  LayerScratch& s = *ctx.scratch;
  const int C = ctx.config->hidden_size;
  const int64_t BT = static_cast<int64_t>(ctx.B) * ctx.T;
  const float p_hidden = ctx.train ? ctx.config->hidden_dropout_prob : 0.0f;
  const Kernels& k = ctx.backend->kernels();
  k.dropout_apply(ctx.stream, d_resid, s.d_branch, s.dy_bf16, BT * C, scale, p_hidden, key);
  k.column_sum_accumulate(ctx.stream, s.d_branch, BT, C, db);
  const GemmOperand d_branch{s.d_branch, s.dy_bf16};
  BERT_RETURN_IF_ERROR(linear_backward_weight(ctx, d_branch, x, dw, BT, in, C));
  return linear_backward_input(ctx, d_branch, w, dx, BT, in, C, false);
}

// The feed-forward block backward, from the gradient at the layer output to s.d_x, the gradient at the block's
// input x (the first residual sum, or its LayerNorm in Post-LN).
Status ffn_block_backward(const LayerContext& ctx, int layer, const LayerParams& p, const LayerParams& g,
                          const PldGate& gate, const LayerActs& a, const float* d_out) {
  const ModelConfig& c = *ctx.config;
  const Kernels& k = ctx.backend->kernels();
  LayerScratch& s = *ctx.scratch;
  const int C = c.hidden_size, F = c.intermediate_size;
  const int64_t BT = static_cast<int64_t>(ctx.B) * ctx.T;
  const bool pre = c.pre_ln();
  const size_t row_bytes = sizeof(float) * BT * C;
  const float* d_resid2 = d_out;  // the gradient at the second residual sum
  if (!pre) {
    ctx.backend->memset_zero(s.d_ln, row_bytes);
    k.layernorm_backward(ctx.stream, d_out, a.resid2, p.ln2_w, a.ln2_mean, a.ln2_rstd, s.d_ln, g.ln2_w, g.ln2_b, BT, C);
    d_resid2 = s.d_ln;
  }
  const float* x = pre ? a.resid1 : a.x_post;
  const GemmOperand ffn_in = pre ? written_operand(a.ln2, a.ln2_bf16) : fp32_operand(x);
  BERT_RETURN_IF_ERROR(projection_backward(ctx, dropout_key(ctx, layer, kFfnOutput), gate.scale, d_resid2,
                                           written_operand(a.ffn_act, a.ffn_act_bf16), p.ffn_out_w, g.ffn_out_w,
                                           g.ffn_out_b, s.d_ffn, F));
  k.gelu_backward(ctx.stream, s.d_ffn, a.ffn_pre, s.d_ffn, s.dy_bf16, BT, F, c.gelu);
  k.column_sum_accumulate(ctx.stream, s.d_ffn, BT, F, g.ffn_in_b);
  const GemmOperand d_pre{s.d_ffn, s.dy_bf16};
  BERT_RETURN_IF_ERROR(linear_backward_weight(ctx, d_pre, ffn_in, g.ffn_in_w, BT, C, F));
  ctx.backend->copy(s.d_x, d_resid2, row_bytes);
  if (!pre) return linear_backward_input(ctx, d_pre, p.ffn_in_w, s.d_x, BT, C, F, true);
  BERT_RETURN_IF_ERROR(linear_backward_input(ctx, d_pre, p.ffn_in_w, s.d_ln, BT, C, F, false));
  k.layernorm_backward(ctx.stream, s.d_ln, x, p.ln2_w, a.ln2_mean, a.ln2_rstd, s.d_x, g.ln2_w, g.ln2_b, BT, C);
  return Status::ok();
}

// Scaled dot-product attention backward, from s.d_ctx_heads to s.d_qkv (token-major): the dropped probabilities
// are regenerated from their key instead of having been stored.
Status attention_core_backward(const LayerContext& ctx, int layer, const LayerActs& a) {
  const ModelConfig& c = *ctx.config;
  const Kernels& k = ctx.backend->kernels();
  LayerScratch& s = *ctx.scratch;
  const int B = ctx.B, T = ctx.T, NH = c.num_attention_heads, HS = c.head_size();
  const int64_t head_block = static_cast<int64_t>(B) * T * c.hidden_size;
  const float p_attn = ctx.train ? c.attention_probs_dropout_prob : 0.0f;
  const HeadOperands qkv = head_operands(a.qkv_heads, a.qkv_heads_bf16, head_block);
  const GemmOperand d_ctx = written_operand(s.d_ctx_heads, s.d_ctx_heads_bf16);
  float* dq = s.d_qkv_heads;
  float* dk = s.d_qkv_heads + head_block;
  float* dv = s.d_qkv_heads + 2 * head_block;
  if (const FusedAttention* fused = ctx.bf16_operands ? ctx.backend->fused_attention() : nullptr) {
    const uint16_t* q = a.qkv_heads_bf16;
    fused->backward(s.d_ctx_heads_bf16, a.probs, q, q + head_block, q + 2 * head_block, dq, dk, dv,
                    attention_shape(ctx, layer));
    k.heads_to_tokens(ctx.stream, s.d_qkv_heads, s.d_qkv, s.dy_bf16, 3, B, T, NH, HS);
    return Status::ok();
  }
  const int64_t attn_size = static_cast<int64_t>(B) * NH * T * T;
  // the probabilities P.V read, regenerated from their dropout key (bf16 runs: in bf16 only, even where p is 0)
  GemmOperand pd = fp32_operand(a.probs);
  if (ctx.bf16_operands || p_attn > 0) {
    float* dropped = ctx.bf16_operands ? nullptr : s.probs_dropped;
    k.dropout_apply(ctx.stream, a.probs, dropped, s.attn_bf16, attn_size, 1.0f, p_attn,
                    dropout_key(ctx, layer, kAttentionProbs));
    pd = written_operand(dropped, s.attn_bf16);
  }
  // d_probs_dropped = d_ctx . V^T ; dV = Pd^T . d_ctx
  BERT_RETURN_IF_ERROR(head_gemm(ctx, T, HS, false, true, d_ctx, HS, T * HS, qkv.v, HS, T * HS, s.d_probs, T, T * T));
  BERT_RETURN_IF_ERROR(head_gemm(ctx, HS, T, true, false, pd, T, T * T, d_ctx, HS, T * HS, dv, HS, T * HS));
  const float attn_scale = 1.0f / std::sqrt(static_cast<float>(HS));
  // dS: in place in fp32 runs, into the bf16 scratch alone in bf16 runs (Pd there is no longer needed)
  float* ds32 = ctx.bf16_operands ? nullptr : s.d_probs;
  k.softmax_dropout_backward(ctx.stream, s.d_probs, a.probs, ds32, s.attn_bf16, B, NH, T, attn_scale, p_attn,
                             dropout_key(ctx, layer, kAttentionProbs));
  // dQ = dS . K ; dK = dS^T . Q
  const GemmOperand ds = written_operand(ds32, s.attn_bf16);
  BERT_RETURN_IF_ERROR(head_gemm(ctx, HS, T, false, false, ds, T, T * T, qkv.k, HS, T * HS, dq, HS, T * HS));
  BERT_RETURN_IF_ERROR(head_gemm(ctx, HS, T, true, false, ds, T, T * T, qkv.q, HS, T * HS, dk, HS, T * HS));
  // d_qkv in fp32 (the bias gradients) and, in bf16 runs, bf16 (the two GEMMs that read it)
  k.heads_to_tokens(ctx.stream, s.d_qkv_heads, s.d_qkv, s.dy_bf16, 3, B, T, NH, HS);
  return Status::ok();
}

}  // namespace

Status encoder_layer_backward(const LayerContext& ctx, int layer, const LayerParams& p, const LayerParams& g,
                              const PldGate& gate, const float* h, const LayerActs& a, const float* d_out, float* d_h) {
  const ModelConfig& c = *ctx.config;
  const Kernels& k = ctx.backend->kernels();
  LayerScratch& s = *ctx.scratch;
  const int B = ctx.B, T = ctx.T, C = c.hidden_size, NH = c.num_attention_heads;
  const int64_t BT = static_cast<int64_t>(B) * T;
  const bool pre = c.pre_ln();
  const size_t row_bytes = sizeof(float) * BT * C;
  BERT_RETURN_IF_ERROR(ffn_block_backward(ctx, layer, p, g, gate, a, d_out));

  // attention block, backward: d_resid1 is the gradient at the first residual sum
  const float* d_resid1 = s.d_x;
  if (!pre) {
    ctx.backend->memset_zero(s.d_ln, row_bytes);
    k.layernorm_backward(ctx.stream, s.d_x, a.resid1, p.ln1_w, a.ln1_mean, a.ln1_rstd, s.d_ln, g.ln1_w, g.ln1_b, BT, C);
    d_resid1 = s.d_ln;
  }
  BERT_RETURN_IF_ERROR(projection_backward(ctx, dropout_key(ctx, layer, kAttentionOutput), gate.scale, d_resid1,
                                           written_operand(a.ctx, a.ctx_bf16), p.attn_out_w, g.attn_out_w, g.attn_out_b,
                                           s.d_ctx, C));
  k.tokens_to_heads(ctx.stream, s.d_ctx, nullptr, s.d_ctx_heads, s.d_ctx_heads_bf16, 1, B, T, NH, c.head_size());
  BERT_RETURN_IF_ERROR(attention_core_backward(ctx, layer, a));
  // Bias gradients of q and v. The key bias gets none: its gradient is analytically zero (softmax ignores a
  // per-row constant), and the rounding noise a column sum would leave there is what Adam turns into steps of
  // about lr in random directions.
  ctx.backend->memset_zero(s.qkv_bias_grad, sizeof(float) * 3 * C);
  k.column_sum_accumulate(ctx.stream, s.d_qkv, BT, 3 * C, s.qkv_bias_grad);
  k.axpy(ctx.stream, g.qkv_b, nullptr, s.qkv_bias_grad, C, 1.0f);
  k.axpy(ctx.stream, g.qkv_b + 2 * C, nullptr, s.qkv_bias_grad + 2 * C, C, 1.0f);
  const GemmOperand attn_in = pre ? written_operand(a.ln1, a.ln1_bf16) : fp32_operand(h);
  const GemmOperand d_qkv{s.d_qkv, s.dy_bf16};  // attention_core_backward wrote both
  BERT_RETURN_IF_ERROR(linear_backward_weight(ctx, d_qkv, attn_in, g.qkv_w, BT, C, 3 * C));
  ctx.backend->copy(d_h, d_resid1, row_bytes);
  if (!pre) return linear_backward_input(ctx, d_qkv, p.qkv_w, d_h, BT, C, 3 * C, true);
  BERT_RETURN_IF_ERROR(linear_backward_input(ctx, d_qkv, p.qkv_w, s.d_ln, BT, C, 3 * C, false));
  k.layernorm_backward(ctx.stream, s.d_ln, h, p.ln1_w, a.ln1_mean, a.ln1_rstd, d_h, g.ln1_w, g.ln1_b, BT, C);
  return Status::ok();
}

}  // namespace bert
