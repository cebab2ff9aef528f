// The embeddings: word + position + token-type lookups summed, LayerNorm, dropout (its masks regenerated from the
// same key in the backward pass), and the gradient back into the three tables.
#include "model/engine_impl.h"

namespace bert {
namespace {

constexpr int kEmbeddingDropoutSite = 0;  // a site of the layer index L, after the encoder's

float hidden_dropout(const LayerContext& ctx) { return ctx.train ? ctx.config->hidden_dropout_prob : 0.0f; }

DropoutKey embedding_dropout_key(const LayerContext& ctx) {
  return dropout_key(ctx, ctx.config->num_hidden_layers, kEmbeddingDropoutSite);
}

}  // namespace

const float* embeddings_forward(const LayerContext& ctx, const ModelParams& p, const DeviceBatch& batch,
                                HeadActs& head) {
  const ModelConfig& c = *ctx.config;
  const Kernels& k = ctx.backend->kernels();
  const int64_t BT = static_cast<int64_t>(ctx.B) * ctx.T;
  const int C = c.hidden_size;
  k.embeddings_forward(ctx.stream, batch.input_ids, batch.segment_ids, ctx.B, ctx.T, C, p.word_emb, p.pos_emb,
                       p.type_emb, head.emb_sum);
  k.layernorm_forward(ctx.stream, head.emb_sum, p.emb_ln_w, p.emb_ln_b, head.emb_ln, nullptr, head.emb_mean,
                      head.emb_rstd, BT, C, c.layer_norm_eps);
  if (hidden_dropout(ctx) == 0) return head.emb_ln;
  k.dropout_apply(ctx.stream, head.emb_ln, head.emb_out, nullptr, BT * C, 1.0f, hidden_dropout(ctx),
                  embedding_dropout_key(ctx));
  return head.emb_out;
}

void embeddings_backward(const LayerContext& ctx, const ModelParams& p, const ModelParams& g, const DeviceBatch& batch,
                         HeadActs& head, float* d_h) {
  const ModelConfig& c = *ctx.config;
  const Kernels& k = ctx.backend->kernels();
  const int64_t BT = static_cast<int64_t>(ctx.B) * ctx.T;
  const int C = c.hidden_size;
  // d_seq is free again and takes the gradient at the embedding sum; the spares hold d_h and the dropout's
  float* spare[2] = {head.d_layer_a, head.d_layer_b};
  float* d_emb_ln = d_h;
  if (hidden_dropout(ctx) > 0) {
    d_emb_ln = (d_h == spare[0]) ? spare[1] : spare[0];
    k.dropout_apply(ctx.stream, d_h, d_emb_ln, nullptr, BT * C, 1.0f, hidden_dropout(ctx), embedding_dropout_key(ctx));
  }
  float* d_sum = (d_emb_ln == head.d_seq) ? spare[0] : head.d_seq;
  ctx.backend->memset_zero(d_sum, sizeof(float) * BT * C);
  k.layernorm_backward(ctx.stream, d_emb_ln, head.emb_sum, p.emb_ln_w, head.emb_mean, head.emb_rstd, d_sum, g.emb_ln_w,
                       g.emb_ln_b, BT, C);
  k.embeddings_backward(ctx.stream, d_sum, batch.input_ids, batch.segment_ids, ctx.B, ctx.T, C, g.word_emb, g.pos_emb,
                        g.type_emb);
}

}  // namespace bert
