// Engine: owns the parameters (one fp32 allocation, a bf16 mirror in bf16 mode), the gradients (one allocation,
// same layout) and the activations, and runs embeddings -> encoder layers -> heads, then the backward pass in
// reverse. A layer whose gate says "drop" is skipped in both directions: no compute, no activations written.
#include "bert/engine.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "parallel/gradient_sync.h"
#include "model/activations.h"
#include "model/bert_model.h"
#include "model/heads.h"

namespace bert {

constexpr int kEmbeddingDropoutSite = 0;  // a site of the layer index L, after the encoder's

struct Engine::Impl {
  explicit Impl(std::unique_ptr<Backend> b) : backend(std::move(b)), acts(backend.get()), mlm_arena(backend.get()) {}
  ~Impl() {
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
  std::vector<int32_t> cls_index;
  std::vector<const float*> layer_inputs;

  // data parallelism: each layer's gradient range (contiguous in the layout), and whether this step's ranges
  // were already handed to the sync during the backward pass
  std::unique_ptr<GradientSync> sync;
  std::vector<std::pair<int64_t, int64_t>> layer_grad_ranges;  // [begin, end) in floats
  bool step_submitted = false;
  void submit_layer(int l) {
    sync->submit(grads + layer_grad_ranges[l].first, layer_grad_ranges[l].second - layer_grad_ranges[l].first);
  }
  void submit_rest() {  // everything outside the encoder layers: embeddings (with the tied decoder), heads
    const int64_t first = layer_grad_ranges.front().first, last = layer_grad_ranges.back().second;
    sync->submit(grads, first);
    sync->submit(grads + last, total - last);
  }
  Status sync_gradients(StepResult* result);

  Status validate(const Batch& batch, const std::vector<LayerGate>& gates) const;
  Status ensure_capacity(int B, int T, int M);
  Status run(const Batch& batch, const std::vector<LayerGate>& gates, const PassOptions& pass, PassResult* result);
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Status Engine::create(const ModelConfig& config, const EngineOptions& options, std::unique_ptr<Engine>* out) {
  BERT_RETURN_IF_ERROR(config.validate());
  if (options.threads < 0) return Status(StatusCode::kInvalidConfig, "threads must be 0 (default) or positive");
  if (options.threads > 0) omp_set_num_threads(options.threads);
  auto impl = std::make_unique<Impl>(make_cpu_backend(options.kernels));
  impl->config = config;
  impl->options = options;
  impl->backend->set_precision(options.precision);
  impl->layout = build_param_layout(config);
  const ParamInfo& last = impl->layout.back();
  impl->total = (last.offset + last.size + 15) / 16 * 16;
  const size_t bytes = static_cast<size_t>(impl->total) * sizeof(float);
  impl->params = static_cast<float*>(impl->backend->alloc_bytes(bytes));
  impl->grads = static_cast<float*>(impl->backend->alloc_bytes(bytes));
  if (options.precision == Precision::kBf16)
    impl->params_bf16 = static_cast<uint16_t*>(impl->backend->alloc_bytes(bytes / 2));
  if (!impl->params || !impl->grads || (options.precision == Precision::kBf16 && !impl->params_bf16))
    return Status(StatusCode::kOutOfMemory,
                  "could not allocate " + std::to_string(bytes >> 20) + " MiB for the parameters and gradients");
  bind_params(config, impl->layout, impl->params, &impl->p);
  bind_params(config, impl->layout, impl->grads, &impl->g);
  init_params(config, impl->layout, options.seed, impl->params);
  out->reset(new Engine(std::move(impl)));
  (*out)->refresh_low_precision_weights();
  return Status::ok();
}

const ModelConfig& Engine::config() const { return impl_->config; }
const std::vector<ParamInfo>& Engine::params() const { return impl_->layout; }
int64_t Engine::num_params() const {
  int64_t n = 0;
  for (const ParamInfo& p : impl_->layout) n += p.size;
  return n;
}
float* Engine::param_data() { return impl_->params; }
float* Engine::grad_data() { return impl_->grads; }
void Engine::zero_grads() { std::memset(impl_->grads, 0, sizeof(float) * impl_->total); }

const ParamInfo* Engine::find_param(const std::string& name) const {
  for (const ParamInfo& p : impl_->layout)
    if (p.name == name) return &p;
  return nullptr;
}

void Engine::refresh_low_precision_weights() {
  if (impl_->params_bf16) impl_->backend->kernels().convert_to_bf16(impl_->params, impl_->params_bf16, impl_->total);
}

Status Engine::ensure_optimizer_state() {
  Impl& m = *impl_;
  if (m.moment1) return Status::ok();
  const size_t bytes = static_cast<size_t>(m.total) * sizeof(float);
  m.moment1 = static_cast<float*>(m.backend->alloc_bytes(bytes));
  m.moment2 = static_cast<float*>(m.backend->alloc_bytes(bytes));
  if (!m.moment1 || !m.moment2)
    return Status(StatusCode::kOutOfMemory,
                  "could not allocate " + std::to_string(2 * bytes >> 20) + " MiB for the optimizer moments");
  return Status::ok();
}

void Engine::enable_gradient_sync(Communicator* comm, const GradientSyncOptions& options) {
  Impl& m = *impl_;
  m.sync = std::make_unique<GradientSync>(comm, options);
  m.layer_grad_ranges.assign(m.config.num_hidden_layers, {INT64_MAX, 0});
  for (const ParamInfo& p : m.layout) {
    const std::string prefix = "bert.encoder.layer.";
    if (p.name.compare(0, prefix.size(), prefix) != 0) continue;
    auto& range = m.layer_grad_ranges[std::stoi(p.name.substr(prefix.size()))];
    range.first = std::min(range.first, p.offset);
    range.second = std::max(range.second, p.offset + (p.size + 15) / 16 * 16);
  }
}

// Hands every range not yet submitted to the sync, waits for all of them, and makes the overflow decision and
// the norm the same on every rank (the reduced gradients agree, but a collective's rounding need not).
Status Engine::Impl::sync_gradients(StepResult* result) {
  if (!step_submitted) {
    for (int l = static_cast<int>(layer_grad_ranges.size()) - 1; l >= 0; l--) submit_layer(l);
    submit_rest();
  }
  step_submitted = false;
  GradientSyncStats stats;
  Status status = sync->finish(&stats);
  result->allreduce_wait_ms = stats.wait_ms;
  result->allreduce_ms = stats.allreduce_ms;
  return status;
}

float* Engine::moment1_data() { return impl_->moment1; }
float* Engine::moment2_data() { return impl_->moment2; }

Status Engine::optimizer_step(const OptimizerOptions& o, const StepOptions& step, StepResult* result) {
  Impl& m = *impl_;
  const Kernels& k = m.backend->kernels();
  *result = StepResult{};
  if (!(step.loss_scale > 0) || !std::isfinite(step.loss_scale))
    return Status(StatusCode::kInvalidArgument, "loss_scale must be a positive finite number");
  if (step.step_number < 1) return Status(StatusCode::kInvalidArgument, "step_number counts from 1");
  BERT_RETURN_IF_ERROR(ensure_optimizer_state());
  if (m.sync) BERT_RETURN_IF_ERROR(m.sync_gradients(result));

  // The global norm as PyTorch's clip_grad_norm_ and DeepSpeed compute it: the norm of the per-tensor norms, each
  // rounded to fp32, and the clipping factor in fp32. The same pass is the overflow check: a NaN or inf anywhere
  // makes the sum non-finite (squares are summed in double, so finite fp32 gradients cannot overflow it).
  double sum_of_tensor_norms_squared = 0;
  for (const ParamInfo& p : m.layout) {
    const float tensor_norm = static_cast<float>(std::sqrt(k.sum_of_squares(m.grads + p.offset, p.size)));
    sum_of_tensor_norms_squared += static_cast<double>(tensor_norm) * tensor_norm;
  }
  float scaled_norm = static_cast<float>(std::sqrt(sum_of_tensor_norms_squared));
  if (m.sync) {
    double agreed = std::isfinite(scaled_norm) ? scaled_norm : INFINITY;
    BERT_RETURN_IF_ERROR(m.sync->communicator()->allreduce_max(&agreed, 1));
    scaled_norm = static_cast<float>(agreed);
  }
  if (!std::isfinite(scaled_norm)) {
    result->overflow = true;
    zero_grads();
    return Status::ok();
  }
  const float norm = scaled_norm / step.loss_scale;
  result->grad_norm = norm;
  if (step.max_grad_norm > 0 && norm + 1e-6f > step.max_grad_norm)
    result->clip_factor = step.max_grad_norm / (norm + 1e-6f);

  AdamStepArgs a;
  a.lr = static_cast<float>(step.lr);
  a.beta1 = static_cast<float>(o.beta1);
  a.beta2 = static_cast<float>(o.beta2);
  a.one_minus_beta1 = static_cast<float>(1.0 - o.beta1);
  a.one_minus_beta2 = static_cast<float>(1.0 - o.beta2);
  a.eps = static_cast<float>(o.eps);
  a.adam_w_mode = o.adam_w_mode;
  a.grad_mul = static_cast<float>(result->clip_factor / step.loss_scale);
  if (o.bias_correction) {
    a.bias_correction1 = static_cast<float>(1.0 - std::pow(o.beta1, static_cast<double>(step.step_number)));
    a.bias_correction2 = static_cast<float>(1.0 - std::pow(o.beta2, static_cast<double>(step.step_number)));
  }
  if (o.kind == OptimizerKind::kLamb && !m.lamb_direction) {
    int64_t largest = 0;
    for (const ParamInfo& p : m.layout) largest = std::max(largest, p.size);
    m.lamb_direction = static_cast<float*>(m.backend->alloc_bytes(static_cast<size_t>(largest) * sizeof(float)));
    if (!m.lamb_direction) return Status(StatusCode::kOutOfMemory, "could not allocate LAMB's scratch");
  }
  for (const ParamInfo& p : m.layout) {
    a.weight_decay = p.no_decay ? 0.0f : static_cast<float>(o.weight_decay);
    float* w = m.params + p.offset;
    const float* g = m.grads + p.offset;
    float* m1 = m.moment1 + p.offset;
    float* m2 = m.moment2 + p.offset;
    if (o.kind == OptimizerKind::kAdam) {
      k.adam_update(w, g, m1, m2, p.size, a);
      continue;
    }
    // LAMB: per-tensor trust ratio ||p|| / ||u||, clamped; 1 when either norm is zero
    k.lamb_direction(w, g, m1, m2, m.lamb_direction, p.size, a);
    const double w_norm = std::sqrt(k.sum_of_squares(w, p.size));
    const double u_norm = std::sqrt(k.sum_of_squares(m.lamb_direction, p.size));
    double trust = 1.0;
    if (w_norm > 0 && u_norm > 0) trust = std::min(std::max(w_norm / u_norm, o.min_coeff), o.max_coeff);
    const double step_size =
        step.lr *
        std::sqrt(1.0 - (o.bias_correction ? std::pow(o.beta2, static_cast<double>(step.step_number)) : 0.0)) /
        (o.bias_correction ? 1.0 - std::pow(o.beta1, static_cast<double>(step.step_number)) : 1.0);
    k.axpy(w, m.lamb_direction, p.size, static_cast<float>(-step_size * trust));
  }
  zero_grads();
  refresh_low_precision_weights();
  return Status::ok();
}

void Engine::refresh_low_precision_weights(const ParamInfo& param) {
  if (impl_->params_bf16)
    impl_->backend->kernels().convert_to_bf16(impl_->params + param.offset, impl_->params_bf16 + param.offset,
                                              param.size);
}

Status Engine::run(const Batch& batch, const std::vector<LayerGate>& gates, const PassOptions& pass,
                   PassResult* result) {
  return impl_->run(batch, gates, pass, result);
}

Status Engine::Impl::validate(const Batch& b, const std::vector<LayerGate>& gates) const {
  auto bad = [](const std::string& msg) { return Status(StatusCode::kInvalidArgument, msg); };
  const ModelConfig& c = config;
  if (b.batch_size < 1 || b.seq_len < 1) return bad("batch_size and seq_len must be positive");
  if (b.seq_len > c.max_position_embeddings)
    return bad("seq_len " + std::to_string(b.seq_len) + " exceeds max_position_embeddings " +
               std::to_string(c.max_position_embeddings));
  if (!b.input_ids || !b.segment_ids || !b.input_mask) return bad("input_ids, segment_ids and input_mask are required");
  if (static_cast<int>(gates.size()) != c.num_hidden_layers)
    return bad("expected " + std::to_string(c.num_hidden_layers) + " layer gates, got " + std::to_string(gates.size()));
  for (size_t l = 0; l < gates.size(); l++)
    if (gates[l].keep && !(std::isfinite(gates[l].scale) && gates[l].scale > 0))
      return bad("layer " + std::to_string(l) + " has a residual scale that is not a positive finite number");
  const int64_t BT = static_cast<int64_t>(b.batch_size) * b.seq_len;
  for (int64_t i = 0; i < BT; i++) {
    if (b.input_ids[i] < 0 || b.input_ids[i] >= c.vocab_size)
      return bad("input_ids[" + std::to_string(i) + "] = " + std::to_string(b.input_ids[i]) +
                 " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    if (b.segment_ids[i] < 0 || b.segment_ids[i] >= c.type_vocab_size)
      return bad("segment_ids[" + std::to_string(i) + "] = " + std::to_string(b.segment_ids[i]) +
                 " is outside [0, type_vocab_size = " + std::to_string(c.type_vocab_size) + ")");
    if (b.input_mask[i] != 0 && b.input_mask[i] != 1)
      return bad("input_mask[" + std::to_string(i) + "] must be 0 or 1");
  }
  if (c.num_labels == 0) {
    if (b.num_masked < 0) return bad("num_masked must not be negative");
    if (b.num_masked > 0 && (!b.masked_positions || !b.masked_labels))
      return bad("masked_positions and masked_labels are required when num_masked > 0");
    for (int i = 0; i < b.num_masked; i++) {
      if (b.masked_positions[i] < 0 || b.masked_positions[i] >= BT)
        return bad("masked_positions[" + std::to_string(i) + "] = " + std::to_string(b.masked_positions[i]) +
                   " is outside [0, B*T = " + std::to_string(BT) + ")");
      if (b.masked_labels[i] >= c.vocab_size)
        return bad("masked_labels[" + std::to_string(i) + "] = " + std::to_string(b.masked_labels[i]) +
                   " is outside the vocabulary");
    }
    if (!b.next_sentence_labels) return bad("next_sentence_labels are required for pre-training");
    for (int i = 0; i < b.batch_size; i++)
      if (b.next_sentence_labels[i] > 1) return bad("next_sentence_labels must be 0, 1 (or negative: ignored)");
  } else if (c.num_labels == 1) {
    if (!b.regression_targets) return bad("regression_targets are required when num_labels is 1");
    for (int i = 0; i < b.batch_size; i++)
      if (!std::isfinite(b.regression_targets[i]))
        return bad("regression_targets[" + std::to_string(i) + "] is not finite");
  } else {
    if (!b.class_labels) return bad("class_labels are required for classification");
    for (int i = 0; i < b.batch_size; i++)
      if (b.class_labels[i] >= c.num_labels)
        return bad("class_labels[" + std::to_string(i) + "] = " + std::to_string(b.class_labels[i]) +
                   " is not below num_labels = " + std::to_string(c.num_labels));
  }
  return Status::ok();
}

Status Engine::Impl::ensure_capacity(int B, int T, int M) {
  if (B > cap_B || T > cap_T) {
    cap_B = std::max(B, cap_B);
    cap_T = std::max(T, cap_T);
    layer_acts.assign(config.num_hidden_layers, LayerActs{});
    for (LayerActs& a : layer_acts) request_layer_acts(acts, config, cap_B, cap_T, true, &a);
    request_layer_scratch(acts, config, cap_B, cap_T, &scratch);
    request_head_acts(acts, config, cap_B, cap_T, &head);
    BERT_RETURN_IF_ERROR(acts.allocate());
  }
  if (config.num_labels == 0 && M > cap_M) {
    cap_M = M;
    request_mlm_acts(mlm_arena, config, cap_M, &mlm);
    BERT_RETURN_IF_ERROR(mlm_arena.allocate());
  }
  return Status::ok();
}

Status Engine::Impl::run(const Batch& batch, const std::vector<LayerGate>& gates, const PassOptions& pass,
                         PassResult* result) {
  BERT_RETURN_IF_ERROR(validate(batch, gates));
  const ModelConfig& c = config;
  const Kernels& k = backend->kernels();
  const int B = batch.batch_size, T = batch.seq_len, C = c.hidden_size, L = c.num_hidden_layers;
  const int64_t BT = static_cast<int64_t>(B) * T;
  BERT_RETURN_IF_ERROR(ensure_capacity(B, T, batch.num_masked));
  const bool overlap_sync = sync && pass.backward && pass.sync_gradients && sync->options().overlap;
  if (overlap_sync && step_submitted)
    return Status(StatusCode::kInvalidArgument,
                  "this step's gradients are already being reduced: only the last micro-batch before step() may "
                  "set sync_gradients");
  *result = PassResult{};

  LayerContext ctx;
  ctx.backend = backend.get();
  ctx.config = &config;
  ctx.B = B;
  ctx.T = T;
  ctx.mask = head.mask;
  ctx.train = pass.train;
  ctx.seed = options.seed;
  ctx.dropout_stream = pass.dropout_stream;
  ctx.param_base = params;
  ctx.bf16_base = params_bf16;
  ctx.scratch = &scratch;
  for (int64_t i = 0; i < BT; i++) head.mask[i] = static_cast<float>(batch.input_mask[i]);

  // embeddings
  const float p_hidden = pass.train ? c.hidden_dropout_prob : 0.0f;
  const DropoutKey emb_key = dropout_key(ctx, L, kEmbeddingDropoutSite);
  k.embeddings_forward(batch.input_ids, batch.segment_ids, B, T, C, p.word_emb, p.pos_emb, p.type_emb, head.emb_sum);
  k.layernorm_forward(head.emb_sum, p.emb_ln_w, p.emb_ln_b, head.emb_ln, head.emb_mean, head.emb_rstd, BT, C,
                      c.layer_norm_eps);
  const float* h = head.emb_ln;
  if (p_hidden > 0) {
    k.dropout_apply(head.emb_ln, head.emb_out, BT * C, 1.0f, p_hidden, emb_key);
    h = head.emb_out;
  }

  // encoder, forward
  layer_inputs.assign(L, nullptr);
  for (int l = 0; l < L; l++) {
    layer_inputs[l] = h;
    if (!gates[l].keep) continue;  // dropped: the identity, nothing computed or stored
    BERT_RETURN_IF_ERROR(encoder_layer_forward(ctx, l, p.layers[l], gates[l], h, layer_acts[l], &h));
  }
  const float* encoder_out = h;
  const float* seq = h;
  if (c.pre_ln()) {
    k.layernorm_forward(h, p.final_ln_w, p.final_ln_b, head.final_ln, head.final_mean, head.final_rstd, BT, C,
                        c.layer_norm_eps);
    seq = head.final_ln;
  }

  // heads (forward, loss, and their backward into d_seq)
  cls_index.resize(B);
  for (int b = 0; b < B; b++) cls_index[b] = b * T;
  if (pass.backward) std::memset(head.d_seq, 0, sizeof(float) * BT * C);
  HeadInputs in{&batch, cls_index.data(), seq, pass.backward, pass.grad_scale};
  if (c.num_labels == 0) {
    BERT_RETURN_IF_ERROR(pretraining_heads(ctx, p, g, in, head, mlm, result));
  } else {
    BERT_RETURN_IF_ERROR(classification_head(ctx, p, g, in, head, result));
  }
  if (!pass.backward) return Status::ok();

  // encoder, backward: walk the layers in reverse, skipping the dropped ones
  float* d = head.d_seq;
  float* spare[2] = {head.d_layer_a, head.d_layer_b};
  int next_spare = 0;
  if (c.pre_ln()) {
    float* d_h = spare[next_spare++ % 2];
    std::memset(d_h, 0, sizeof(float) * BT * C);
    k.layernorm_backward(d, encoder_out, p.final_ln_w, head.final_mean, head.final_rstd, d_h, g.final_ln_w,
                         g.final_ln_b, BT, C);
    d = d_h;
  }
  for (int l = L - 1; l >= 0; l--) {
    if (!gates[l].keep) {
      if (overlap_sync) submit_layer(l);  // every rank submits the same ranges in the same order
      continue;
    }
    float* d_h = spare[next_spare++ % 2];
    if (d_h == d) d_h = spare[next_spare++ % 2];
    BERT_RETURN_IF_ERROR(
        encoder_layer_backward(ctx, l, p.layers[l], g.layers[l], gates[l], layer_inputs[l], layer_acts[l], d, d_h));
    d = d_h;
    if (overlap_sync) submit_layer(l);
  }

  // embeddings, backward (d_seq is free again and takes the gradient at the embedding sum)
  float* d_emb_ln = d;
  if (p_hidden > 0) {
    d_emb_ln = (d == spare[0]) ? spare[1] : spare[0];
    k.dropout_apply(d, d_emb_ln, BT * C, 1.0f, p_hidden, emb_key);
  }
  float* d_sum = (d_emb_ln == head.d_seq) ? spare[0] : head.d_seq;
  std::memset(d_sum, 0, sizeof(float) * BT * C);
  k.layernorm_backward(d_emb_ln, head.emb_sum, p.emb_ln_w, head.emb_mean, head.emb_rstd, d_sum, g.emb_ln_w, g.emb_ln_b,
                       BT, C);
  k.embeddings_backward(d_sum, batch.input_ids, batch.segment_ids, B, T, C, g.word_emb, g.pos_emb, g.type_emb);
  if (overlap_sync) {
    submit_rest();
    step_submitted = true;
  }
  return Status::ok();
}

}  // namespace bert
