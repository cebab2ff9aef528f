// Activation memory: buffers are requested by size, then carved out of one allocation, sized once per batch
// shape (and grown, never shrunk, when a larger shape arrives).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "bert/backend.h"
#include "model/bert_model.h"

namespace bert {

class Arena {
 public:
  explicit Arena(Backend* backend) : backend_(backend) {}
  ~Arena() { release(); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  void request(float** slot, int64_t count) {
    requests_.push_back({[slot](float* p) { *slot = p; }, count});
  }
  void request_bf16(uint16_t** slot, int64_t count) {
    requests_.push_back({[slot](float* p) { *slot = reinterpret_cast<uint16_t*>(p); }, (count + 1) / 2});
  }
  Status allocate();  // binds every requested slot; forgets the requests
  void release();

 private:
  struct Request {
    std::function<void(float*)> bind;  // stores the buffer's address in its slot
    int64_t count;                     // in floats
  };
  Backend* backend_;
  std::vector<Request> requests_;
  void* block_ = nullptr;
};

// Buffers outside the encoder layers: embeddings, the final LayerNorm, the pooler and heads, the gradient flowing
// between layers.
struct HeadActs {
  float* emb_sum;                             // (B*T, C)
  float *emb_ln, *emb_mean, *emb_rstd;        // (B*T, C), (B*T), (B*T)
  float* emb_out;                             // (B*T, C) after dropout
  float *final_ln, *final_mean, *final_rstd;  // Pre-LN only
  float* d_seq;                               // (B*T, C) gradient at the encoder output
  float *d_layer_a, *d_layer_b;               // (B*T, C) gradient between layers, ping-pong
  float* cls_rows;                            // (B, C) [CLS] hidden states
  float *pool_pre, *pooled, *pooled_dropped;  // (B, C)
  float* head_logits;                         // (B, max(2, num_labels))
  float *d_pooled, *d_pool_pre, *d_cls_rows;  // (B, C)
};

// Buffers of the MLM head, sized by the number of masked positions M.
struct MlmActs {
  float* gathered;          // (M, C)
  float *pre, *act;         // (M, C) dense before / after GELU
  float *ln, *mean, *rstd;  // (M, C), (M), (M)
  float* logits_t;          // (V, M) the logits as their GEMM makes them, vocabulary-major
  float* logits;            // (M, V), overwritten by its gradient
  float *d_a, *d_b;         // (M, C)
  // bf16 runs: the operands two GEMMs read, made once (ln then has no fp32 copy)
  uint16_t *gathered_bf16, *ln_bf16, *d_b_bf16;  // (M, C)
  uint16_t* logits_bf16;                         // (M, V) the logits' gradient
};

// bf16_operands: a bf16 run's layout (LayerActs' bf16 activations, LayerScratch::dy_bf16).
void request_layer_acts(Arena& arena, const ModelConfig& c, int B, int T, bool bf16_operands, LayerActs* a);
// fused_attention: the backend's fused attention runs (it needs none of the batched path's T x T scratch).
void request_layer_scratch(Arena& arena, const ModelConfig& c, int B, int T, bool bf16_operands, bool fused_attention,
                           LayerScratch* s);
void request_head_acts(Arena& arena, const ModelConfig& c, int B, int T, HeadActs* h);
void request_mlm_acts(Arena& arena, const ModelConfig& c, int M, bool bf16_operands, MlmActs* m);

}  // namespace bert
