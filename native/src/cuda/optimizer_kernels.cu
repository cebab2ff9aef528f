// CUDA versions of the optimizer kernels, in the reference's double-precision arithmetic per element (the
// update is memory-bound, so double costs nothing measurable and keeps CPU and GPU steps alike). sum_of_squares
// is the one kernel whose result the host reads: it reduces into a device double and downloads it.
#include <mutex>

#include "cuda/cuda_util.cuh"
#include "cuda/kernels.h"

namespace bert::cuda {
namespace {

__global__ void sum_of_squares_k(const float* x, int64_t n, double* out) {
  __shared__ double shared[32];
  double s = 0;
  BERT_GRID_STRIDE(i, n) s += static_cast<double>(x[i]) * x[i];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) atomicAdd(out, s);  // NaN and inf propagate through the sums
}

__device__ inline void adam_moments(double grad, float* m, float* v, const AdamStepArgs& a) {
  *m = stored_moment(static_cast<float>(a.beta1 * static_cast<double>(*m) + a.one_minus_beta1 * grad));
  *v = stored_moment(static_cast<float>(a.beta2 * static_cast<double>(*v) + a.one_minus_beta2 * grad * grad));
}

__global__ void adam_update_k(float* p, uint16_t* p_bf16, const float* g, float* m, float* v, int64_t n,
                              AdamStepArgs a) {
  BERT_GRID_STRIDE(i, n) {
    double grad = static_cast<double>(g[i]) * a.grad_mul;
    if (!a.adam_w_mode) grad += static_cast<double>(a.weight_decay) * p[i];
    adam_moments(grad, m + i, v + i, a);
    double update = (m[i] / a.bias_correction1) / (sqrt(v[i] / a.bias_correction2) + a.eps);
    if (a.adam_w_mode) update += static_cast<double>(a.weight_decay) * p[i];
    store(p, p_bf16, i, static_cast<float>(p[i] - a.lr * update));
  }
}

__global__ void lamb_direction_k(const float* p, const float* g, float* m, float* v, float* u, int64_t n,
                                 AdamStepArgs a) {
  BERT_GRID_STRIDE(i, n) {
    adam_moments(static_cast<double>(g[i]) * a.grad_mul, m + i, v + i, a);
    u[i] = static_cast<float>(m[i] / (sqrt(static_cast<double>(v[i])) + a.eps) +
                              static_cast<double>(a.weight_decay) * p[i]);
  }
}

__global__ void axpy_k(float* y, uint16_t* y_bf16, const float* x, int64_t n, float a) {
  BERT_GRID_STRIDE(i, n) store(y, y_bf16, i, y[i] + a * x[i]);
}

// One device double per process for the reductions the host reads (calls on one stream are serialised).
double* reduction_slot() {
  static double* slot = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    if (cudaMalloc(&slot, sizeof(double)) != cudaSuccess) slot = nullptr;
  });
  return slot;
}

}  // namespace

double sum_of_squares(Stream s, const float* x, int64_t n) {
  if (n == 0) return 0.0;
  double* slot = reduction_slot();
  if (!slot) return NAN;  // reported as an overflow; the backend's synchronize() names the CUDA error
  cudaStream_t stream = to_cuda(s);
  cudaMemsetAsync(slot, 0, sizeof(double), stream);
  sum_of_squares_k<<<std::min(blocks_for(n), 1024u), kThreads, 0, stream>>>(x, n, slot);
  double result = NAN;
  cudaMemcpyAsync(&result, slot, sizeof(double), cudaMemcpyDeviceToHost, stream);
  if (cudaStreamSynchronize(stream) != cudaSuccess) return NAN;
  return result;
}

void adam_update(Stream s, float* p, uint16_t* p_bf16, const float* g, float* m, float* v, int64_t n,
                 const AdamStepArgs& args) {
  if (n == 0) return;
  adam_update_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(p, p_bf16, g, m, v, n, args);
}

void lamb_direction(Stream s, const float* p, const float* g, float* m, float* v, float* u, int64_t n,
                    const AdamStepArgs& args) {
  if (n == 0) return;
  lamb_direction_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(p, g, m, v, u, n, args);
}

void axpy(Stream s, float* y, uint16_t* y_bf16, const float* x, int64_t n, float a) {
  if (n == 0) return;
  axpy_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(y, y_bf16, x, n, a);
}

}  // namespace bert::cuda
