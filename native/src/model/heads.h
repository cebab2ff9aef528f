// The output heads on top of the encoder: pooler, MLM (only at masked positions, decoder tied to the word
// embeddings), NSP, and the sequence-classification head. Each runs forward, computes its loss and, when asked,
// its backward pass, which adds into h.d_seq (the gradient at the encoder output; zeroed by the caller).
#pragma once
#include "bert/engine.h"
#include "model/activations.h"
#include "model/bert_model.h"

namespace bert {

struct HeadInputs {
  const Batch* batch;
  const int32_t* cls_index;  // (B) flat row of each sequence's [CLS]: b*T
  const float* seq;          // (B*T, C) encoder output (after the final LayerNorm in Pre-LN)
  bool backward;
  float grad_scale;
};

Status pretraining_heads(const LayerContext& ctx, const ModelParams& p, const ModelParams& g, const HeadInputs& in,
                         HeadActs& h, MlmActs& m, PassResult* result);
Status classification_head(const LayerContext& ctx, const ModelParams& p, const ModelParams& g, const HeadInputs& in,
                           HeadActs& h, PassResult* result);

}  // namespace bert
