// Engine: owns the parameters (one fp32 allocation, a bf16 mirror in bf16 mode), the gradients (one allocation,
// same layout) and the activations, and runs embeddings -> encoder layers -> heads, then the backward pass in
// reverse. A layer its PLD gate drops is skipped in both directions: no compute, no activations written. The
// optimizer step, batch validation and the embeddings have files of their own.
#include "bert/engine.h"

#include <algorithm>
#include <cstring>

#include "model/alignment.h"
#include "model/engine_impl.h"
#include "model/heads.h"

namespace bert {

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Status Engine::create(const ModelConfig& config, const EngineOptions& options, std::unique_ptr<Engine>* out) {
  std::unique_ptr<Backend> backend;
  if (options.device == Device::kCuda)
    BERT_RETURN_IF_ERROR(make_cuda_backend(options.cuda_device, &backend));
  else
    backend = make_cpu_backend();
  return create(config, options, std::move(backend), out);
}

Status Engine::create(const ModelConfig& config, const EngineOptions& options, std::unique_ptr<Backend> backend,
                      std::unique_ptr<Engine>* out) {
  BERT_RETURN_IF_ERROR(config.validate());
  BERT_RETURN_IF_ERROR(backend->bind_thread());
  auto impl = std::make_unique<Impl>(std::move(backend));
  impl->config = config;
  impl->options = options;
  impl->backend->set_precision(options.precision);
  impl->layout = build_param_layout(config);
  const ParamInfo& last = impl->layout.back();
  impl->total = aligned_floats(last.offset + last.size);
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
  std::vector<float> initial(impl->total, 0.0f);  // drawn on the host (one definition for every backend)
  init_params(config, impl->layout, options.seed, initial.data());
  impl->backend->upload(impl->params, initial.data(), bytes);
  out->reset(new Engine(std::move(impl)));
  (*out)->refresh_low_precision_weights();
  return (*out)->impl_->backend->synchronize();
}

const ModelConfig& Engine::config() const { return impl_->config; }
const std::vector<ParamInfo>& Engine::params() const { return impl_->layout; }
int64_t Engine::num_params() const {
  int64_t n = 0;
  for (const ParamInfo& p : impl_->layout) n += p.size;
  return n;
}
const Backend& Engine::backend() const { return *impl_->backend; }
int64_t Engine::layout_floats() const { return impl_->total; }
void Engine::zero_grads() {
  impl_->backend->bind_thread();
  impl_->backend->memset_zero(impl_->grads, sizeof(float) * impl_->total);
}

namespace {
Status check_range(const char* what, int64_t offset, int64_t count, int64_t total) {
  if (offset < 0 || count < 0 || offset + count > total)
    return Status(StatusCode::kInvalidArgument, std::string(what) + ": floats [" + std::to_string(offset) + ", " +
                                                    std::to_string(offset + count) + ") are outside the layout");
  return Status::ok();
}
}  // namespace

Status Engine::read(EngineArray which, int64_t offset, int64_t count, float* host) const {
  BERT_RETURN_IF_ERROR(check_range("read", offset, count, impl_->total));
  BERT_RETURN_IF_ERROR(impl_->backend->bind_thread());
  const float* base = impl_->array(which);
  if (!base) {                            // moments before the first step
    std::fill(host, host + count, 0.0f);  // host memory
    return Status::ok();
  }
  impl_->backend->download(host, base + offset, sizeof(float) * count);
  return impl_->backend->synchronize();
}

Status Engine::write(EngineArray which, int64_t offset, int64_t count, const float* host) {
  BERT_RETURN_IF_ERROR(check_range("write", offset, count, impl_->total));
  BERT_RETURN_IF_ERROR(impl_->backend->bind_thread());
  if (which == EngineArray::kMoment1 || which == EngineArray::kMoment2) BERT_RETURN_IF_ERROR(ensure_optimizer_state());
  float* base = impl_->array(which);
  impl_->backend->upload(base + offset, host, sizeof(float) * count);
  if (which == EngineArray::kParams && impl_->params_bf16)
    impl_->backend->kernels().convert_to_bf16(impl_->backend->stream(), impl_->params + offset,
                                              impl_->params_bf16 + offset, count);
  return impl_->backend->synchronize();
}

const ParamInfo* Engine::find_param(const std::string& name) const {
  for (const ParamInfo& p : impl_->layout)
    if (p.name == name) return &p;
  return nullptr;
}

void Engine::refresh_low_precision_weights() {
  impl_->backend->bind_thread();
  if (impl_->params_bf16)
    impl_->backend->kernels().convert_to_bf16(impl_->backend->stream(), impl_->params, impl_->params_bf16,
                                              impl_->total);
}

void Engine::enable_gradient_sync(Communicator* comm, const GradientSyncOptions& options) {
  Impl& m = *impl_;
  m.sync = std::make_unique<GradientSync>(comm, options, m.backend.get());
  m.layer_grad_ranges.assign(m.config.num_hidden_layers, {INT64_MAX, 0});
  for (const ParamInfo& p : m.layout) {
    if (p.layer < 0) continue;
    auto& range = m.layer_grad_ranges[p.layer];
    range.first = std::min(range.first, p.offset);
    range.second = std::max(range.second, p.offset + aligned_floats(p.size));
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

Status Engine::run(const Batch& batch, const std::vector<PldGate>& gates, const PassOptions& pass, PassResult* result) {
  return impl_->run(batch, gates, pass, result);
}

Status Engine::Impl::ensure_capacity(int B, int T, int M) {
  const bool bf16 = options.precision == Precision::kBf16;
  if (B > cap_B || T > cap_T) {
    cap_B = std::max(B, cap_B);
    cap_T = std::max(T, cap_T);
    layer_acts.assign(config.num_hidden_layers, LayerActs{});
    for (LayerActs& a : layer_acts) request_layer_acts(acts, config, cap_B, cap_T, bf16, &a);
    scratch = LayerScratch{};
    const bool fused_attention = bf16 && backend->fused_attention() != nullptr;
    request_layer_scratch(acts, config, cap_B, cap_T, bf16, fused_attention, &scratch);
    request_head_acts(acts, config, cap_B, cap_T, &head);
    BERT_RETURN_IF_ERROR(acts.allocate());
  }
  if (config.num_labels == 0 && M > cap_M) {
    cap_M = M;
    request_mlm_acts(mlm_arena, config, cap_M, bf16, &mlm);
    BERT_RETURN_IF_ERROR(mlm_arena.allocate());
  }
  return Status::ok();
}

LayerContext Engine::Impl::context(const Batch& batch, const DeviceBatch& dev, bool train, uint64_t dropout_stream) {
  LayerContext ctx;
  ctx.backend = backend.get();
  ctx.stream = backend->stream();
  ctx.config = &config;
  ctx.B = batch.batch_size;
  ctx.T = batch.seq_len;
  ctx.mask = dev.mask;
  ctx.train = train;
  ctx.seed = options.seed;
  ctx.dropout_stream = dropout_stream;
  ctx.param_base = params;
  ctx.bf16_base = params_bf16;
  ctx.bf16_operands = options.precision == Precision::kBf16;
  ctx.scratch = &scratch;
  return ctx;
}

Status Engine::Impl::encoder_forward(const LayerContext& ctx, const PldGates& gates, const float* h,
                                     const float** out) {
  const int L = config.num_hidden_layers;
  layer_inputs.assign(L, nullptr);
  for (int l = 0; l < L; l++) {
    layer_inputs[l] = h;
    if (!gates[l].keep) continue;  // dropped by PLD: the identity, nothing computed or stored
    BERT_RETURN_IF_ERROR(encoder_layer_forward(ctx, l, p.layers[l], gates[l], h, layer_acts[l], &h));
  }
  *out = h;
  return Status::ok();
}

// Walks the layers in reverse, skipping the dropped ones; with overlapping sync, each layer's gradients go to the
// reduction as soon as they are final (a dropped layer's zeros too: every rank submits the same ranges in order).
Status Engine::Impl::encoder_backward(const LayerContext& ctx, const PldGates& gates, const float* encoder_out,
                                      bool overlap_sync, float** d_in) {
  const Kernels& k = backend->kernels();
  const int64_t BT = static_cast<int64_t>(ctx.B) * ctx.T;
  const int C = config.hidden_size;
  float* d = head.d_seq;
  float* spare[2] = {head.d_layer_a, head.d_layer_b};
  int next_spare = 0;
  if (config.pre_ln()) {
    float* d_h = spare[next_spare++ % 2];
    backend->memset_zero(d_h, sizeof(float) * BT * C);
    k.layernorm_backward(ctx.stream, d, encoder_out, p.final_ln_w, head.final_mean, head.final_rstd, d_h, g.final_ln_w,
                         g.final_ln_b, BT, C);
    d = d_h;
  }
  for (int l = config.num_hidden_layers - 1; l >= 0; l--) {
    if (gates[l].keep) {
      float* d_h = spare[next_spare++ % 2];
      if (d_h == d) d_h = spare[next_spare++ % 2];
      BERT_RETURN_IF_ERROR(
          encoder_layer_backward(ctx, l, p.layers[l], g.layers[l], gates[l], layer_inputs[l], layer_acts[l], d, d_h));
      d = d_h;
    }
    if (overlap_sync) submit_layer(l);
  }
  *d_in = d;
  return Status::ok();
}

namespace {
// The mean losses and hit counts from the pass's device scalars (counts of labelled rows came from the host).
void fill_losses(const PassScalars& s, bool classification, PassResult* r) {
  r->nsp_correct = s.nsp_correct;
  r->mlm_correct = s.mlm_correct;
  r->class_correct = s.class_correct;
  r->nsp_loss = r->nsp_count > 0 ? s.nsp_loss_sum / r->nsp_count : 0.0;
  r->mlm_loss = r->mlm_count > 0 ? s.mlm_loss_sum / r->mlm_count : 0.0;
  r->classification_loss = r->class_count > 0 ? s.class_loss_sum / r->class_count : 0.0;
  r->loss = classification ? r->classification_loss : r->mlm_loss + r->nsp_loss;
}
}  // namespace

Status Engine::Impl::run(const Batch& batch, const PldGates& gates, const PassOptions& pass, PassResult* result) {
  BERT_RETURN_IF_ERROR(validate(batch, gates));
  BERT_RETURN_IF_ERROR(backend->bind_thread());
  const ModelConfig& c = config;
  const int B = batch.batch_size, T = batch.seq_len;
  const int64_t BT = static_cast<int64_t>(B) * T;
  BERT_RETURN_IF_ERROR(ensure_capacity(B, T, batch.num_masked));
  const bool overlap_sync = sync && pass.backward && pass.sync_gradients && sync->options().overlap;
  if (overlap_sync && step_submitted)
    return Status(StatusCode::kInvalidArgument,
                  "this step's gradients are already being reduced: only the last micro-batch before step() may "
                  "set sync_gradients");
  *result = PassResult{};
  DeviceBatch dev;
  BERT_RETURN_IF_ERROR(inputs.upload(batch, &dev));
  const LayerContext ctx = context(batch, dev, pass.train, pass.dropout_stream);

  const float* encoder_out = nullptr;
  BERT_RETURN_IF_ERROR(encoder_forward(ctx, gates, embeddings_forward(ctx, p, dev, head), &encoder_out));
  const float* seq = encoder_out;
  if (c.pre_ln()) {
    backend->kernels().layernorm_forward(ctx.stream, encoder_out, p.final_ln_w, p.final_ln_b, head.final_ln, nullptr,
                                         head.final_mean, head.final_rstd, BT, c.hidden_size, c.layer_norm_eps);
    seq = head.final_ln;
  }

  // heads (forward, loss, and their backward into d_seq)
  if (pass.backward) backend->memset_zero(head.d_seq, sizeof(float) * BT * c.hidden_size);
  PassScalars* scalars = nullptr;
  BERT_RETURN_IF_ERROR(inputs.reset_scalars(&scalars));
  HeadInputs in{&batch, &dev, scalars, seq, pass.backward, pass.grad_scale};
  if (c.num_labels == 0) {
    BERT_RETURN_IF_ERROR(pretraining_heads(ctx, p, g, in, head, mlm, result));
  } else {
    BERT_RETURN_IF_ERROR(classification_head(ctx, p, g, in, head, result));
  }
  fill_losses(inputs.download_scalars(), c.num_labels > 0, result);
  if (!pass.backward) return Status::ok();

  float* d_in = nullptr;
  BERT_RETURN_IF_ERROR(encoder_backward(ctx, gates, encoder_out, overlap_sync, &d_in));
  embeddings_backward(ctx, p, g, dev, head, d_in);
  if (overlap_sync) {
    submit_rest();
    step_submitted = true;
  }
  return backend->synchronize();
}

}  // namespace bert
