#include "model/activations.h"

#include <algorithm>

#include "model/alignment.h"

namespace bert {

Status Arena::allocate() {
  release();
  int64_t total = 0;
  for (const Request& r : requests_) total += aligned_floats(r.count);
  block_ = backend_->alloc_bytes(static_cast<size_t>(std::max<int64_t>(total, 16)) * sizeof(float));
  if (!block_) {
    requests_.clear();
    return Status(StatusCode::kOutOfMemory,
                  "could not allocate " + std::to_string(total * 4 / (1 << 20)) + " MiB of activations");
  }
  float* next = static_cast<float*>(block_);
  for (const Request& r : requests_) {
    r.bind(next);
    next += aligned_floats(r.count);
  }
  requests_.clear();
  return Status::ok();
}

void Arena::release() {
  if (block_) backend_->free_bytes(block_);
  block_ = nullptr;
}

void request_layer_acts(Arena& arena, const ModelConfig& c, int B, int T, bool bf16_operands, LayerActs* a) {
  const int64_t BT = static_cast<int64_t>(B) * T, C = c.hidden_size, F = c.intermediate_size;
  const int64_t NH = c.num_attention_heads;
  const bool pre = c.pre_ln();
  *a = LayerActs{};
  // the activations only GEMMs read: bf16 in bf16 runs, fp32 otherwise
  auto operand = [&](float** f32, uint16_t** bf16, int64_t n) {
    if (bf16_operands)
      arena.request_bf16(bf16, n);
    else
      arena.request(f32, n);
  };
  if (pre) operand(&a->ln1, &a->ln1_bf16, BT * C);
  arena.request(&a->ln1_mean, BT);
  arena.request(&a->ln1_rstd, BT);
  operand(&a->qkv_heads, &a->qkv_heads_bf16, 3 * BT * C);
  arena.request(&a->probs, BT * NH * T);
  operand(&a->ctx, &a->ctx_bf16, BT * C);
  arena.request(&a->resid1, BT * C);
  if (!pre) arena.request(&a->x_post, BT * C);
  if (pre) operand(&a->ln2, &a->ln2_bf16, BT * C);
  arena.request(&a->ln2_mean, BT);
  arena.request(&a->ln2_rstd, BT);
  arena.request(&a->ffn_pre, BT * F);
  operand(&a->ffn_act, &a->ffn_act_bf16, BT * F);
  arena.request(&a->resid2, BT * C);
  if (!pre) arena.request(&a->out_post, BT * C);
}

void request_layer_scratch(Arena& arena, const ModelConfig& c, int B, int T, bool bf16_operands, bool fused_attention,
                           LayerScratch* s) {
  const int64_t BT = static_cast<int64_t>(B) * T, C = c.hidden_size, F = c.intermediate_size;
  const int64_t NH = c.num_attention_heads;
  *s = LayerScratch{};
  arena.request(&s->qkv, BT * 3 * C);
  arena.request(&s->ctx_heads, BT * C);
  arena.request(&s->proj, BT * C);
  arena.request(&s->d_ffn, BT * F);
  arena.request(&s->d_x, BT * C);
  arena.request(&s->d_branch, BT * C);
  arena.request(&s->d_ln, BT * C);
  arena.request(&s->d_ctx, BT * C);
  arena.request(&s->d_qkv, BT * 3 * C);
  arena.request(&s->qkv_bias_grad, 3 * C);
  arena.request(&s->d_qkv_heads, BT * 3 * C);
  if (!fused_attention) arena.request(&s->d_probs, BT * NH * T);
  if (bf16_operands) {  // the dropped probabilities then live in attn_bf16 alone
    arena.request_bf16(&s->d_ctx_heads_bf16, BT * C);
    if (!fused_attention) arena.request_bf16(&s->attn_bf16, BT * NH * T);
    arena.request_bf16(&s->dy_bf16, BT * std::max<int64_t>(3 * C, F));
  } else {
    arena.request(&s->probs_dropped, BT * NH * T);
    arena.request(&s->d_ctx_heads, BT * C);
  }
}

void request_head_acts(Arena& arena, const ModelConfig& c, int B, int T, HeadActs* h) {
  const int64_t BT = static_cast<int64_t>(B) * T, C = c.hidden_size;
  *h = HeadActs{};
  arena.request(&h->emb_sum, BT * C);
  arena.request(&h->emb_ln, BT * C);
  arena.request(&h->emb_mean, BT);
  arena.request(&h->emb_rstd, BT);
  arena.request(&h->emb_out, BT * C);
  if (c.pre_ln()) {
    arena.request(&h->final_ln, BT * C);
    arena.request(&h->final_mean, BT);
    arena.request(&h->final_rstd, BT);
  }
  arena.request(&h->d_seq, BT * C);
  arena.request(&h->d_layer_a, BT * C);
  arena.request(&h->d_layer_b, BT * C);
  arena.request(&h->cls_rows, B * C);
  arena.request(&h->pool_pre, B * C);
  arena.request(&h->pooled, B * C);
  arena.request(&h->pooled_dropped, B * C);
  arena.request(&h->head_logits, B * std::max(2, c.num_labels));
  arena.request(&h->d_pooled, B * C);
  arena.request(&h->d_pool_pre, B * C);
  arena.request(&h->d_cls_rows, B * C);
}

void request_mlm_acts(Arena& arena, const ModelConfig& c, int M, bool bf16_operands, MlmActs* m) {
  const int64_t C = c.hidden_size, V = c.vocab_size;
  *m = MlmActs{};
  arena.request(&m->gathered, M * C);
  arena.request(&m->pre, M * C);
  arena.request(&m->act, M * C);
  if (bf16_operands) {
    arena.request_bf16(&m->gathered_bf16, M * C);
    arena.request_bf16(&m->ln_bf16, M * C);
    arena.request_bf16(&m->d_b_bf16, M * C);
    arena.request_bf16(&m->logits_bf16, M * V);
  } else {
    arena.request(&m->ln, M * C);
  }
  arena.request(&m->mean, M);
  arena.request(&m->rstd, M);
  arena.request(&m->logits_t, V * M);
  arena.request(&m->logits, M * V);
  arena.request(&m->d_a, M * C);
  arena.request(&m->d_b, M * C);
}

}  // namespace bert
