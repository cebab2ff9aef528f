// The arithmetic-bound CPU kernels (exp, erf, tanh, dropout bits, bf16 rounding) in plain C++: fp32 math from
// portable_math.h in `#pragma omp simd` loops, threaded with OpenMP. The compiler turns them into the CPU's own
// vectors, so a build without AVX-512 (AVX2 on x86, NEON on Arm) runs these instead of the double-precision
// reference loops. Tested against the reference on every CPU (test_kernels).
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bert/bf16_bits.h"
#include "cpu/kernels.h"
#include "cpu/portable_math.h"

namespace bert::portable {
namespace {

// The flat kernels' unit of work per thread: a chunk's bf16 copy is written while the chunk is still in L1.
constexpr int64_t kChunk = 4096;

// One dropout site's draws: kept(i) is 1 where dropout keeps element i (dropout_bits(base, i) >= threshold), 0
// where it drops it; keep_scale is what a kept element is multiplied by (scale / (1 - p)).
struct Dropout {
  uint64_t base;
  uint32_t threshold;
  float keep_scale;
  Dropout(DropoutKey key, float p, float scale)
      : base(dropout_base(key)), threshold(dropout_threshold(p)), keep_scale(p > 0 ? scale / (1.0f - p) : scale) {}
  float kept(uint64_t i) const { return dropout_bits(base, i) >= threshold ? 1.0f : 0.0f; }
};

template <GeluForm form>
inline float gelu(float x) {
  if constexpr (form == GeluForm::kErf) return 0.5f * x * (1.0f + erf(x * 0.70710678118654752f));
  return 0.5f * x * (1.0f + tanh(0.7978845608028654f * (x * x * x * 0.044715f + x)));
}

template <GeluForm form>
inline float gelu_derivative(float x) {
  if constexpr (form == GeluForm::kErf) {
    const float cdf = 0.5f * (1.0f + erf(x * 0.70710678118654752f));
    const float pdf = 0.3989422804014327f * exp(-0.5f * x * x);
    return x * pdf + cdf;
  }
  const float x2 = x * x;
  const float t = tanh(0.7978845608028654f * (x2 * x * 0.044715f + x));
  const float du = 0.7978845608028654f * (x2 * (3.0f * 0.044715f) + 1.0f);
  return 0.5f * x * (1.0f - t * t) * du + 0.5f * (1.0f + t);
}

template <GeluForm form>
void gelu_rows(float* pre, const float* bias, float* act, uint16_t* act_bf16, int64_t N, int F) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    float* u = pre + n * F;
    float* y = output_row(act, n, F);
#pragma omp simd
    for (int f = 0; f < F; f++) {
      const float x = u[f] + bias[f];
      u[f] = x;
      y[f] = gelu<form>(x);
    }
    if (act_bf16) convert_row(y, act_bf16 + n * F, F);
  }
}

template <GeluForm form>
void gelu_backward_chunks(const float* dact, const float* pre, float* dpre, uint16_t* dpre_bf16, int64_t total) {
#pragma omp parallel for schedule(static)
  for (int64_t i0 = 0; i0 < total; i0 += kChunk) {
    const int64_t end = std::min(total, i0 + kChunk);
#pragma omp simd
    for (int64_t i = i0; i < end; i++) dpre[i] = dact[i] * gelu_derivative<form>(pre[i]);
    if (dpre_bf16) convert_row(dpre + i0, dpre_bf16 + i0, end - i0);
  }
}

// One softmax row in place over z(T): z = softmax(z).
void softmax_row(float* z, int T) {
  float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
  for (int j = 0; j < T; j++) mx = std::max(mx, z[j]);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < T; j++) {
    z[j] = exp(z[j] - mx);
    sum += z[j];
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int j = 0; j < T; j++) z[j] *= inv;
}

}  // namespace

float* output_row(float* out, int64_t row, int n) {
  thread_local std::vector<float> scratch;
  if (out) return out + row * n;
  if (static_cast<int>(scratch.size()) < n) scratch.resize(n);
  return scratch.data();
}

int argmax(const float* z, int n) {
  int arg = 0;
  for (int i = 1; i < n; i++)
    if (z[i] > z[arg]) arg = i;
  return arg;
}

void clear_row(float* out, uint16_t* out_bf16, int n) {
  std::memset(out, 0, sizeof(float) * n);
  if (out_bf16) std::memset(out_bf16, 0, sizeof(uint16_t) * n);
}

void convert_row(const float* src, uint16_t* dst, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) dst[i] = bf16_bits(src[i]);
}

void bias_gelu_forward(Stream, float* pre, const float* bias, float* act, uint16_t* act_bf16, int64_t N, int F,
                       GeluForm form) {
  if (form == GeluForm::kErf) return gelu_rows<GeluForm::kErf>(pre, bias, act, act_bf16, N, F);
  gelu_rows<GeluForm::kTanh>(pre, bias, act, act_bf16, N, F);
}

void gelu_backward(Stream, const float* dact, const float* pre, float* dpre, uint16_t* dpre_bf16, int64_t N, int F,
                   GeluForm form) {
  if (form == GeluForm::kErf) return gelu_backward_chunks<GeluForm::kErf>(dact, pre, dpre, dpre_bf16, N * F);
  gelu_backward_chunks<GeluForm::kTanh>(dact, pre, dpre, dpre_bf16, N * F);
}

void bias_dropout_residual_forward(Stream, const float* branch, const float* bias, const float* residual, float* out,
                                   int64_t N, int C, float scale, float p, DropoutKey key) {
  const Dropout drop(key, p, scale);
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    const int64_t row = n * C;
    if (p > 0) {
#pragma omp simd
      for (int c = 0; c < C; c++)
        out[row + c] = (branch[row + c] + bias[c]) * (drop.keep_scale * drop.kept(row + c)) + residual[row + c];
    } else {
#pragma omp simd
      for (int c = 0; c < C; c++) out[row + c] = (branch[row + c] + bias[c]) * drop.keep_scale + residual[row + c];
    }
  }
}

void dropout_apply(Stream, const float* in, float* out, uint16_t* out_bf16, int64_t n, float scale, float p,
                   DropoutKey key) {
  const Dropout drop(key, p, scale);
#pragma omp parallel for schedule(static)
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int len = static_cast<int>(std::min(kChunk, n - i0));
    float* y = out ? out + i0 : output_row(nullptr, 0, len);
    if (p > 0) {
#pragma omp simd
      for (int j = 0; j < len; j++) y[j] = in[i0 + j] * (drop.keep_scale * drop.kept(i0 + j));
    } else {
#pragma omp simd
      for (int j = 0; j < len; j++) y[j] = in[i0 + j] * drop.keep_scale;
    }
    if (out_bf16) convert_row(y, out_bf16 + i0, len);
  }
}

void softmax_dropout_forward(Stream, const float* scores, const float* mask, float* probs, float* probs_dropped,
                             uint16_t* used_bf16, int B, int NH, int T, float attn_scale, float p, DropoutKey key) {
  const Dropout drop(key, p, 1.0f);
  const int64_t rows = static_cast<int64_t>(B) * NH * T;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t off = r * T;
    const float* s = scores + off;
    const float* m = mask + (r / (static_cast<int64_t>(NH) * T)) * T;
    float* pr = probs + off;
#pragma omp simd
    for (int j = 0; j < T; j++) pr[j] = s[j] * attn_scale + (1.0f - m[j]) * -10000.0f;
    softmax_row(pr, T);
    if (p > 0) {
      float* dropped = output_row(probs_dropped, r, T);
#pragma omp simd
      for (int j = 0; j < T; j++) dropped[j] = pr[j] * (drop.keep_scale * drop.kept(off + j));
      if (used_bf16) convert_row(dropped, used_bf16 + off, T);
    } else if (used_bf16) {
      convert_row(pr, used_bf16 + off, T);
    }
  }
}

void softmax_dropout_backward(Stream, const float* dprobs_dropped, const float* probs, float* dscores,
                              uint16_t* dscores_bf16, int B, int NH, int T, float attn_scale, float p, DropoutKey key) {
  const Dropout drop(key, p, 1.0f);
  const int64_t rows = static_cast<int64_t>(B) * NH * T;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t off = r * T;
    const float* dpd = dprobs_dropped + off;
    const float* pr = probs + off;
    // dp: the gradient reaching the probabilities through dropout, its mask drawn once per row
    thread_local std::vector<float> dp_row;
    if (static_cast<int>(dp_row.size()) < T) dp_row.resize(T);
    float* dp = dp_row.data();
    if (p > 0) {
#pragma omp simd
      for (int j = 0; j < T; j++) dp[j] = dpd[j] * (drop.keep_scale * drop.kept(off + j));
    } else {
#pragma omp simd
      for (int j = 0; j < T; j++) dp[j] = dpd[j];
    }
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int j = 0; j < T; j++) dot += dp[j] * pr[j];
    float* ds = output_row(dscores, r, T);
#pragma omp simd
    for (int j = 0; j < T; j++) ds[j] = pr[j] * (dp[j] - dot) * attn_scale;
    if (dscores_bf16) convert_row(ds, dscores_bf16 + off, T);
  }
}

void cross_entropy_forward_backward(Stream, const float* logits, const int32_t* labels, int64_t M, int V, float dscale,
                                    float* dlogits, uint16_t* dlogits_bf16, double* loss_sum, int64_t* correct) {
  double loss = 0.0;
  int64_t hits = 0;
#pragma omp parallel for schedule(static) reduction(+ : loss, hits)
  for (int64_t m = 0; m < M; m++) {
    const float* z = logits + m * V;
    float* dz = dlogits + m * V;
    const int label = labels[m];
    if (label < 0) {
      clear_row(dz, dlogits_bf16 ? dlogits_bf16 + m * V : nullptr, V);
      continue;
    }
    const int arg = argmax(z, V);
    const float mx = z[arg];
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; v++) sum += exp(z[v] - mx);
    const float logsum = mx + std::log(sum);
    loss += static_cast<double>(logsum) - z[label];
    hits += arg == label;
#pragma omp simd
    for (int v = 0; v < V; v++) dz[v] = exp(z[v] - logsum) * dscale;
    dz[label] -= dscale;
    if (dlogits_bf16) convert_row(dz, dlogits_bf16 + m * V, V);
  }
  *loss_sum += loss;
  *correct += hits;
}

}  // namespace bert::portable
