// The fused optimizer step: overflow check and global gradient norm in one pass, clipping, Adam/AdamW or LAMB on
// every tensor (the update writes the bf16 weight mirror in the same pass), then the gradients cleared.
#include <algorithm>
#include <cmath>

#include "model/engine_impl.h"

namespace bert {
namespace {

// The global norm as PyTorch's clip_grad_norm_ and DeepSpeed compute it: the norm of the per-tensor norms, each
// rounded to fp32. The same pass is the overflow check: a NaN or inf anywhere makes the sum non-finite (squares
// are summed in double, so finite fp32 gradients cannot overflow it).
float global_grad_norm(const Kernels& k, Stream stream, const std::vector<ParamInfo>& layout, const float* grads) {
  double sum_of_tensor_norms_squared = 0;
  for (const ParamInfo& p : layout) {
    const float tensor_norm = static_cast<float>(std::sqrt(k.sum_of_squares(stream, grads + p.offset, p.size)));
    sum_of_tensor_norms_squared += static_cast<double>(tensor_norm) * tensor_norm;
  }
  return static_cast<float>(std::sqrt(sum_of_tensor_norms_squared));
}

// The kernel arguments shared by every tensor (weight decay is set per tensor).
AdamStepArgs adam_args(const OptimizerOptions& o, const StepOptions& step, double clip_factor) {
  AdamStepArgs a;
  a.lr = static_cast<float>(step.lr);
  a.beta1 = static_cast<float>(o.beta1);
  a.beta2 = static_cast<float>(o.beta2);
  a.one_minus_beta1 = static_cast<float>(1.0 - o.beta1);  // in double: 1.0f - 0.999f is 1.3e-5 off
  a.one_minus_beta2 = static_cast<float>(1.0 - o.beta2);
  a.eps = static_cast<float>(o.eps);
  a.adam_w_mode = o.adam_w_mode;
  a.grad_mul = static_cast<float>(clip_factor / step.loss_scale);
  if (o.bias_correction) {
    a.bias_correction1 = static_cast<float>(1.0 - std::pow(o.beta1, static_cast<double>(step.step_number)));
    a.bias_correction2 = static_cast<float>(1.0 - std::pow(o.beta2, static_cast<double>(step.step_number)));
  }
  return a;
}

// LAMB on one tensor: the Adam direction, then a step of lr × trust ratio ||p|| / ||u|| (clamped; 1 when either
// norm is zero).
void lamb_update(const Kernels& k, Stream stream, const OptimizerOptions& o, const StepOptions& step,
                 const AdamStepArgs& a, int64_t n, float* w, uint16_t* w_bf16, const float* g, float* m1, float* m2,
                 float* direction) {
  k.lamb_direction(stream, w, g, m1, m2, direction, n, a);
  const double w_norm = std::sqrt(k.sum_of_squares(stream, w, n));
  const double u_norm = std::sqrt(k.sum_of_squares(stream, direction, n));
  double trust = 1.0;
  if (w_norm > 0 && u_norm > 0) trust = std::min(std::max(w_norm / u_norm, o.min_coeff), o.max_coeff);
  const double t = static_cast<double>(step.step_number);
  const double step_size = step.lr * std::sqrt(1.0 - (o.bias_correction ? std::pow(o.beta2, t) : 0.0)) /
                           (o.bias_correction ? 1.0 - std::pow(o.beta1, t) : 1.0);
  k.axpy(stream, w, w_bf16, direction, n, static_cast<float>(-step_size * trust));
}

}  // namespace

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

bool Engine::has_optimizer_state() const { return impl_->moment1 != nullptr; }

Status Engine::optimizer_step(const OptimizerOptions& o, const StepOptions& step, StepResult* result) {
  Impl& m = *impl_;
  const Kernels& k = m.backend->kernels();
  const Stream stream = m.backend->stream();
  *result = StepResult{};
  if (!(step.loss_scale > 0) || !std::isfinite(step.loss_scale))
    return Status(StatusCode::kInvalidArgument, "loss_scale must be a positive finite number");
  if (step.step_number < 1) return Status(StatusCode::kInvalidArgument, "step_number counts from 1");
  BERT_RETURN_IF_ERROR(m.backend->bind_thread());
  BERT_RETURN_IF_ERROR(ensure_optimizer_state());
  if (m.sync) BERT_RETURN_IF_ERROR(m.sync_gradients(result));

  float scaled_norm = global_grad_norm(k, stream, m.layout, m.grads);
  if (m.sync) {  // the reduced gradients agree, but a collective's rounding need not: one decision for all ranks
    double agreed = std::isfinite(scaled_norm) ? scaled_norm : INFINITY;
    BERT_RETURN_IF_ERROR(m.sync->communicator()->allreduce_max(&agreed, 1));
    scaled_norm = static_cast<float>(agreed);
  }
  if (!std::isfinite(scaled_norm)) {
    result->overflow = true;
    result->grad_norm = scaled_norm;  // reported as it is (inf or NaN), never as 0
    zero_grads();
    return Status::ok();
  }
  const float norm = scaled_norm / step.loss_scale;
  result->grad_norm = norm;
  if (step.max_grad_norm > 0 && norm + 1e-6f > step.max_grad_norm)
    result->clip_factor = step.max_grad_norm / (norm + 1e-6f);

  AdamStepArgs a = adam_args(o, step, result->clip_factor);
  if (o.kind == OptimizerKind::kLamb && !m.lamb_direction) {
    int64_t largest = 0;
    for (const ParamInfo& p : m.layout) largest = std::max(largest, p.size);
    m.lamb_direction = static_cast<float*>(m.backend->alloc_bytes(static_cast<size_t>(largest) * sizeof(float)));
    if (!m.lamb_direction) return Status(StatusCode::kOutOfMemory, "could not allocate LAMB's scratch");
  }
  for (const ParamInfo& p : m.layout) {
    a.weight_decay = p.no_decay ? 0.0f : static_cast<float>(o.weight_decay);
    float* w = m.params + p.offset;
    uint16_t* w_bf16 = m.params_bf16 ? m.params_bf16 + p.offset : nullptr;
    const float* g = m.grads + p.offset;
    if (o.kind == OptimizerKind::kAdam)
      k.adam_update(stream, w, w_bf16, g, m.moment1 + p.offset, m.moment2 + p.offset, p.size, a);
    else
      lamb_update(k, stream, o, step, a, p.size, w, w_bf16, g, m.moment1 + p.offset, m.moment2 + p.offset,
                  m.lamb_direction);
  }
  zero_grads();
  return m.backend->synchronize();
}

}  // namespace bert
