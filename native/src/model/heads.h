// The output heads on top of the encoder: pooler, MLM (only at masked positions, decoder tied to the word
// embeddings), NSP, and the sequence-classification head. Each runs forward, computes its loss and, when asked,
// its backward pass, which adds into h.d_seq (the gradient at the encoder output; zeroed by the caller). The loss
// sums and hit counts land in the device scalars; the caller downloads them and fills the PassResult's losses.
#pragma once
#include "bert/engine.h"
#include "model/activations.h"
#include "model/bert_model.h"
#include "model/device_batch.h"

namespace bert {

struct HeadInputs {
  const Batch* batch;      // on the host: label counts, the number of masked positions
  const DeviceBatch* dev;  // the same batch on the device: what the kernels read
  PassScalars* scalars;    // device scalars the loss kernels add into (zeroed)
  const float* seq;        // (B*T, C) encoder output (after the final LayerNorm in Pre-LN)
  bool backward;
  float grad_scale;
};

Status pretraining_heads(const LayerContext& ctx, const ModelParams& p, const ModelParams& g, const HeadInputs& in,
                         HeadActs& h, MlmActs& m, PassResult* result);
Status classification_head(const LayerContext& ctx, const ModelParams& p, const ModelParams& g, const HeadInputs& in,
                           HeadActs& h, PassResult* result);

}  // namespace bert
