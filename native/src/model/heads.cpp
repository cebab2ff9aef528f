#include "model/heads.h"

namespace bert {
namespace {

constexpr int kClassifierDropoutSite = 1;  // sites of the layer index L, after the encoder's

// pooled(B, C) = tanh(seq[CLS] . Wp^T + bp)
Status pooler_forward(const LayerContext& ctx, const ModelParams& p, const HeadInputs& in, HeadActs& h) {
  const Kernels& k = ctx.backend->kernels();
  const int B = ctx.B, C = ctx.config->hidden_size;
  k.gather_rows(ctx.stream, in.seq, in.dev->cls_index, B, C, h.cls_rows);
  BERT_RETURN_IF_ERROR(linear_forward(ctx, fp32_operand(h.cls_rows), p.pooler_w, h.pool_pre, B, C, C));
  k.bias_tanh_forward(ctx.stream, h.pool_pre, p.pooler_b, h.pooled, B, C);
  return Status::ok();
}

// m.logits(M, V) = ln(M, C) . E(V, C)^T + bias, by the GEMM E . ln^T into m.logits_t (V, M) and a transpose: with
// only M (the masked positions, 640 at batch 32) rows, oneDNN runs the vocabulary-major shape faster (3.3x for the
// BERT-mini logits in bf16, docs/benchmarks.md), and the transpose is one pass over the logits.
Status mlm_logits(const LayerContext& ctx, const ModelParams& p, GemmOperand ln, int64_t M, MlmActs& m) {
  const int C = ctx.config->hidden_size, V = ctx.config->vocab_size;
  GemmArgs g;
  g.M = V, g.N = M, g.K = C;
  g.trans_b = true;
  g.lda = C, g.ldb = C, g.ldc = M;
  BERT_RETURN_IF_ERROR(ctx.backend->gemm(g, weight_operand(ctx, p.word_emb), ln, m.logits_t));
  ctx.backend->kernels().transpose_add_bias(ctx.stream, m.logits_t, p.mlm_bias, m.logits, V, M);
  return Status::ok();
}

// From h.d_pooled back to d_seq at the [CLS] rows.
Status pooler_backward(const LayerContext& ctx, const ModelParams& p, const ModelParams& g, const HeadInputs& in,
                       HeadActs& h) {
  const Kernels& k = ctx.backend->kernels();
  const int B = ctx.B, C = ctx.config->hidden_size;
  k.tanh_backward(ctx.stream, h.d_pooled, h.pooled, h.d_pool_pre, B, C);
  k.column_sum_accumulate(ctx.stream, h.d_pool_pre, B, C, g.pooler_b);
  BERT_RETURN_IF_ERROR(
      linear_backward_weight(ctx, fp32_operand(h.d_pool_pre), fp32_operand(h.cls_rows), g.pooler_w, B, C, C));
  BERT_RETURN_IF_ERROR(
      linear_backward_input(ctx, fp32_operand(h.d_pool_pre), p.pooler_w, h.d_cls_rows, B, C, C, false));
  k.scatter_add_rows(ctx.stream, h.d_cls_rows, in.dev->cls_index, B, C, h.d_seq);
  return Status::ok();
}

int64_t count_labels(const int32_t* labels, int64_t n) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; i++) count += labels[i] >= 0;
  return count;
}

}  // namespace

Status pretraining_heads(const LayerContext& ctx, const ModelParams& p, const ModelParams& g, const HeadInputs& in,
                         HeadActs& h, MlmActs& m, PassResult* r) {
  const Kernels& k = ctx.backend->kernels();
  const ModelConfig& c = *ctx.config;
  const Batch& batch = *in.batch;
  const int B = ctx.B, C = c.hidden_size, V = c.vocab_size;
  const int M = batch.num_masked;

  // NSP: logits(B, 2) from the pooled [CLS]
  BERT_RETURN_IF_ERROR(pooler_forward(ctx, p, in, h));
  BERT_RETURN_IF_ERROR(linear_forward(ctx, fp32_operand(h.pooled), p.nsp_w, h.head_logits, B, C, 2));
  k.add_bias(ctx.stream, h.head_logits, p.nsp_b, B, 2);
  const int64_t nsp_count = count_labels(batch.next_sentence_labels, B);
  const float nsp_dscale = nsp_count > 0 ? in.grad_scale / static_cast<float>(nsp_count) : 0.0f;
  k.cross_entropy_forward_backward(ctx.stream, h.head_logits, in.dev->next_sentence_labels, B, 2, nsp_dscale,
                                   h.head_logits, nullptr, &in.scalars->nsp_loss_sum, &in.scalars->nsp_correct);
  r->nsp_count = nsp_count;

  // MLM at the masked positions only: logits(M, V) = LN(gelu(x Wt^T + bt)) . E^T + bias
  const int64_t mlm_count = M > 0 ? count_labels(batch.masked_labels, M) : 0;
  if (M > 0) {
    k.gather_rows(ctx.stream, in.seq, in.dev->masked_positions, M, C, m.gathered);
    const GemmOperand gathered = converted_operand(ctx, m.gathered, m.gathered_bf16, M * C);
    BERT_RETURN_IF_ERROR(linear_forward(ctx, gathered, p.mlm_dense_w, m.pre, M, C, C));
    k.bias_gelu_forward(ctx.stream, m.pre, p.mlm_dense_b, m.act, nullptr, M, C, c.gelu);
    k.layernorm_forward(ctx.stream, m.act, p.mlm_ln_w, p.mlm_ln_b, m.ln, m.ln_bf16, m.mean, m.rstd, M, C,
                        c.layer_norm_eps);
    BERT_RETURN_IF_ERROR(mlm_logits(ctx, p, written_operand(m.ln, m.ln_bf16), M, m));
    const float mlm_dscale = mlm_count > 0 ? in.grad_scale / static_cast<float>(mlm_count) : 0.0f;
    k.cross_entropy_forward_backward(ctx.stream, m.logits, in.dev->masked_labels, M, V, mlm_dscale, m.logits,
                                     m.logits_bf16, &in.scalars->mlm_loss_sum, &in.scalars->mlm_correct);
  }
  r->mlm_count = mlm_count;
  if (!in.backward) return Status::ok();

  // backward, in reverse: MLM, then NSP and the pooler
  if (M > 0) {
    k.column_sum_accumulate(ctx.stream, m.logits, M, V, g.mlm_bias);
    const GemmOperand d_logits{m.logits, m.logits_bf16};  // fp32 for the bias gradient, bf16 for the GEMMs
    BERT_RETURN_IF_ERROR(linear_backward_weight(ctx, d_logits, written_operand(m.ln, m.ln_bf16), g.word_emb, M, C, V));
    BERT_RETURN_IF_ERROR(linear_backward_input(ctx, d_logits, p.word_emb, m.d_a, M, C, V, false));
    ctx.backend->memset_zero(m.d_b, sizeof(float) * M * C);
    k.layernorm_backward(ctx.stream, m.d_a, m.act, p.mlm_ln_w, m.mean, m.rstd, m.d_b, g.mlm_ln_w, g.mlm_ln_b, M, C);
    k.gelu_backward(ctx.stream, m.d_b, m.pre, m.d_b, m.d_b_bf16, M, C, c.gelu);
    k.column_sum_accumulate(ctx.stream, m.d_b, M, C, g.mlm_dense_b);
    const GemmOperand d_pre{m.d_b, m.d_b_bf16};
    const GemmOperand gathered = written_operand(m.gathered, m.gathered_bf16);
    BERT_RETURN_IF_ERROR(linear_backward_weight(ctx, d_pre, gathered, g.mlm_dense_w, M, C, C));
    BERT_RETURN_IF_ERROR(linear_backward_input(ctx, d_pre, p.mlm_dense_w, m.d_a, M, C, C, false));
    k.scatter_add_rows(ctx.stream, m.d_a, in.dev->masked_positions, M, C, h.d_seq);
  }
  k.column_sum_accumulate(ctx.stream, h.head_logits, B, 2, g.nsp_b);
  BERT_RETURN_IF_ERROR(
      linear_backward_weight(ctx, fp32_operand(h.head_logits), fp32_operand(h.pooled), g.nsp_w, B, C, 2));
  BERT_RETURN_IF_ERROR(linear_backward_input(ctx, fp32_operand(h.head_logits), p.nsp_w, h.d_pooled, B, C, 2, false));
  return pooler_backward(ctx, p, g, in, h);
}

Status classification_head(const LayerContext& ctx, const ModelParams& p, const ModelParams& g, const HeadInputs& in,
                           HeadActs& h, PassResult* r) {
  const Kernels& k = ctx.backend->kernels();
  const ModelConfig& c = *ctx.config;
  const Batch& batch = *in.batch;
  const int B = ctx.B, C = c.hidden_size, L = c.num_labels;
  const float p_drop = ctx.train ? c.hidden_dropout_prob : 0.0f;
  const DropoutKey key = dropout_key(ctx, c.num_hidden_layers, kClassifierDropoutSite);

  BERT_RETURN_IF_ERROR(pooler_forward(ctx, p, in, h));
  k.dropout_apply(ctx.stream, h.pooled, h.pooled_dropped, nullptr, static_cast<int64_t>(B) * C, 1.0f, p_drop, key);
  BERT_RETURN_IF_ERROR(linear_forward(ctx, fp32_operand(h.pooled_dropped), p.cls_w, h.head_logits, B, C, L));
  k.add_bias(ctx.stream, h.head_logits, p.cls_b, B, L);
  r->class_logits.resize(static_cast<size_t>(B) * L);
  ctx.backend->download(r->class_logits.data(), h.head_logits, sizeof(float) * B * L);
  if (L == 1) {  // regression: mean squared error
    k.mse_forward_backward(ctx.stream, h.head_logits, in.dev->regression_targets, B, in.grad_scale, h.head_logits,
                           &in.scalars->class_loss_sum);
    r->class_count = B;
  } else {
    const int64_t count = count_labels(batch.class_labels, B);
    const float dscale = count > 0 ? in.grad_scale / static_cast<float>(count) : 0.0f;
    k.cross_entropy_forward_backward(ctx.stream, h.head_logits, in.dev->class_labels, B, L, dscale, h.head_logits,
                                     nullptr, &in.scalars->class_loss_sum, &in.scalars->class_correct);
    r->class_count = count;
  }
  if (!in.backward) return Status::ok();

  k.column_sum_accumulate(ctx.stream, h.head_logits, B, L, g.cls_b);
  BERT_RETURN_IF_ERROR(
      linear_backward_weight(ctx, fp32_operand(h.head_logits), fp32_operand(h.pooled_dropped), g.cls_w, B, C, L));
  BERT_RETURN_IF_ERROR(linear_backward_input(ctx, fp32_operand(h.head_logits), p.cls_w, h.d_pooled, B, C, L, false));
  k.dropout_apply(ctx.stream, h.d_pooled, h.d_pooled, nullptr, static_cast<int64_t>(B) * C, 1.0f, p_drop, key);
  return pooler_backward(ctx, p, g, in, h);
}

}  // namespace bert
