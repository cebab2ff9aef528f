// Engine: one BERT (parameters, gradients, activations) on one backend. The public face of the core: the addon,
// the C++ tests and the benchmarks all drive the model through this class.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bert/backend.h"
#include "bert/communicator.h"
#include "bert/model_config.h"
#include "bert/pld.h"
#include "bert/status.h"

namespace bert {

struct EngineOptions {
  Precision precision = Precision::kFp32;
  uint64_t seed = 42;  // weight initialisation and dropout
  // The backend Engine::create makes when none is given: the CPU with its defaults, or CUDA GPU `cuda_device`.
  Device device = Device::kCpu;
  int cuda_device = 0;
};

// The engine's fp32 arrays, all in the parameter layout (ParamInfo::offset).
enum class EngineArray { kParams, kGrads, kMoment1, kMoment2 };

// One micro-batch, in host memory. Arrays are row-major (B, T) unless noted; the engine checks them, uploads them
// once and reads them during the call only.
struct Batch {
  int batch_size = 0;  // B
  int seq_len = 0;     // T
  const int32_t* input_ids = nullptr;
  const int32_t* segment_ids = nullptr;
  const int32_t* input_mask = nullptr;  // 1 = real token, 0 = padding
  // Pre-training: masked positions as flat indices b*T + t, their true token ids (< 0: ignored), and NSP labels (B).
  int num_masked = 0;
  const int32_t* masked_positions = nullptr;
  const int32_t* masked_labels = nullptr;
  const int32_t* next_sentence_labels = nullptr;
  // Classification: class labels (B) when num_labels > 1, regression targets (B) when num_labels == 1.
  const int32_t* class_labels = nullptr;
  const float* regression_targets = nullptr;
};

// The dimensions of a batch this model can take (the addon checks them before it reads the arrays).
Status validate_batch_shape(const ModelConfig& config, int batch_size, int seq_len);

struct PassOptions {
  bool train = true;            // dropout on
  bool backward = true;         // compute and accumulate gradients
  float grad_scale = 1.0f;      // d(total loss) seeds the backward pass with this (accumulation, loss scaling)
  uint64_t dropout_stream = 0;  // distinct per micro-batch: dropout masks are a function of (seed, stream)
  // The last micro-batch before an optimizer step: with gradient sync enabled (and overlapping), each layer's
  // gradients are handed to the allreduce as soon as this backward pass has finished them.
  bool sync_gradients = false;
};

struct PassResult {
  double loss = 0;  // mlm + nsp, or the classification loss
  double mlm_loss = 0, nsp_loss = 0, classification_loss = 0;
  int64_t mlm_correct = 0, mlm_count = 0, nsp_correct = 0, nsp_count = 0, class_correct = 0, class_count = 0;
  std::vector<float> class_logits;  // (B, num_labels) for classification
};

enum class OptimizerKind { kAdam, kLamb };

// DeepSpeed's optimizer settings ("optimizer": {"type", "params"}). The learning rate comes per step.
struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::kAdam;
  // doubles, as users write them: derived constants (1 - beta, bias corrections) are computed before rounding
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // applied to every parameter except biases and LayerNorm parameters
  bool adam_w_mode = true;    // Adam: decoupled weight decay; false: L2 (decay added to the gradient)
  bool bias_correction = true;
  double min_coeff = 0.01, max_coeff = 10.0;  // LAMB trust-ratio clamp
};

struct StepOptions {
  double lr = 0.0;
  int64_t step_number = 1;     // 1-based count of applied (not skipped) updates: drives bias correction
  float loss_scale = 1.0f;     // the gradients hold loss_scale x the true gradient
  float max_grad_norm = 0.0f;  // global L2 clipping; 0 = off
};

struct StepResult {
  bool overflow = false;     // a gradient was NaN or inf: nothing was updated (the caller's scaler decides)
  double grad_norm = 0.0;    // global L2 norm of the unscaled gradient, before clipping
  double clip_factor = 1.0;  // min(1, max_grad_norm / (grad_norm + 1e-6)) when clipping
  // Data-parallel runs: time the step waited for gradient reductions still in flight, and time spent in them.
  double allreduce_wait_ms = 0;
  double allreduce_ms = 0;
};

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // in floats, into each EngineArray
  int64_t size = 0;
  bool no_decay = false;  // biases and LayerNorm parameters
  int layer = -1;         // the encoder layer it belongs to; -1 for the embeddings and the heads
};

class Engine {
 public:
  static Status create(const ModelConfig& config, const EngineOptions& options, std::unique_ptr<Engine>* out);
  // On a backend the caller made (a CPU backend with its own thread count or kernel choice, say).
  static Status create(const ModelConfig& config, const EngineOptions& options, std::unique_ptr<Backend> backend,
                       std::unique_ptr<Engine>* out);
  ~Engine();

  Status run(const Batch& batch, const std::vector<PldGate>& gates, const PassOptions& pass, PassResult* result);

  const ModelConfig& config() const;
  const std::vector<ParamInfo>& params() const;
  const ParamInfo* find_param(const std::string& name) const;
  int64_t num_params() const;
  const Backend& backend() const;
  // Copies between an engine array and host memory: `count` floats from float `offset` of the layout. Writing
  // parameters refreshes their low-precision copy. The moments exist after ensure_optimizer_state(); before,
  // reading them gives zeros.
  Status read(EngineArray array, int64_t offset, int64_t count, float* host) const;
  Status write(EngineArray array, int64_t offset, int64_t count, const float* host);
  int64_t layout_floats() const;  // the arrays' length, padding included
  void zero_grads();
  // Check the gradients for overflow, clip by global norm, update the weights with the optimizer, refresh the
  // low-precision copies and clear the gradients. On overflow the gradients are cleared and nothing else changes.
  Status optimizer_step(const OptimizerOptions& optimizer, const StepOptions& step, StepResult* result);
  // Adam/LAMB moments (same layout as the parameters); allocated at the first step or by this call.
  Status ensure_optimizer_state();
  bool has_optimizer_state() const;

  // Average the gradients over the communicator's ranks before every optimizer step. `comm` must outlive the
  // engine.
  void enable_gradient_sync(Communicator* comm, const GradientSyncOptions& options);

  // Re-derive low-precision weight copies after the fp32 weights changed (optimizer step, loading).
  void refresh_low_precision_weights();

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bert
