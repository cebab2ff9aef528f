// The engine's state, shared by the files that implement it: engine.cpp (creation, the forward and backward
// pass), embeddings.cpp, batch_validation.cpp and optimizer_step.cpp.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "bert/engine.h"
#include "model/activations.h"
#include "model/bert_model.h"
#include "model/device_batch.h"
#include "parallel/gradient_sync.h"

namespace bert {

struct Engine::Impl {
  explicit Impl(std::unique_ptr<Backend> b)
      : backend(std::move(b)), acts(backend.get()), mlm_arena(backend.get()), inputs(backend.get()) {}
  ~Impl() {
    backend->bind_thread();
    sync.reset();  // joins the reduction thread before the gradients it may touch are freed
    backend->free_bytes(params);
    backend->free_bytes(grads);
    backend->free_bytes(params_bf16);
    backend->free_bytes(moment1);
    backend->free_bytes(moment2);
    backend->free_bytes(lamb_direction);
  }

  ModelConfig config;
  EngineOptions options;
  std::unique_ptr<Backend> backend;
  std::vector<ParamInfo> layout;
  int64_t total = 0;  // floats in the parameter allocation, padding included
  float* params = nullptr;
  float* grads = nullptr;
  uint16_t* params_bf16 = nullptr;
  float* moment1 = nullptr;         // Adam/LAMB first moments, parameter layout
  float* moment2 = nullptr;         // second moments
  float* lamb_direction = nullptr;  // LAMB's update direction of one tensor, sized for the largest
  ModelParams p, g;

  Arena acts, mlm_arena;
  int cap_B = 0, cap_T = 0, cap_M = 0;
  std::vector<LayerActs> layer_acts;
  LayerScratch scratch{};
  HeadActs head{};
  MlmActs mlm{};
  BatchUploader inputs;
  std::vector<const float*> layer_inputs;

  // data parallelism: each layer's gradient range (contiguous in the layout), and whether this step's ranges
  // were already handed to the sync during the backward pass
  std::unique_ptr<GradientSync> sync;
  std::vector<std::pair<int64_t, int64_t>> layer_grad_ranges;  // [begin, end) in floats
  bool step_submitted = false;
  void submit_layer(int l) {
    sync->submit(grads + layer_grad_ranges[l].first, layer_grad_ranges[l].second - layer_grad_ranges[l].first);
  }
  float* array(EngineArray which) const {
    switch (which) {
      case EngineArray::kParams:
        return params;
      case EngineArray::kGrads:
        return grads;
      case EngineArray::kMoment1:
        return moment1;
      case EngineArray::kMoment2:
        return moment2;
    }
    return nullptr;
  }
  void submit_rest() {  // everything outside the encoder layers: embeddings (with the tied decoder), heads
    const int64_t first = layer_grad_ranges.front().first, last = layer_grad_ranges.back().second;
    sync->submit(grads, first);
    sync->submit(grads + last, total - last);
  }
  Status sync_gradients(StepResult* result);

  Status validate(const Batch& batch, const PldGates& gates) const;
  Status ensure_capacity(int B, int T, int M);
  LayerContext context(const Batch& batch, const DeviceBatch& dev, bool train, uint64_t dropout_stream);
  Status run(const Batch& batch, const PldGates& gates, const PassOptions& pass, PassResult* result);
  // The encoder layers; returns the output of the last (before the final LayerNorm).
  Status encoder_forward(const LayerContext& ctx, const PldGates& gates, const float* h, const float** out);
  // From the gradient at the encoder output back to the gradient at its input (returned through *d_in).
  Status encoder_backward(const LayerContext& ctx, const PldGates& gates, const float* encoder_out, bool overlap_sync,
                          float** d_in);
};

// The embedding sum (word + position + token type), its LayerNorm and dropout; and their backward pass from the
// gradient at the encoder input `d_h` (a pass-through scratch buffer is chosen among the spare ones).
const float* embeddings_forward(const LayerContext& ctx, const ModelParams& p, const DeviceBatch& batch,
                                HeadActs& head);
void embeddings_backward(const LayerContext& ctx, const ModelParams& p, const ModelParams& g, const DeviceBatch& batch,
                         HeadActs& head, float* d_h);

}  // namespace bert
