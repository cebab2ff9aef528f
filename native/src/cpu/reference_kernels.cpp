// Reference CPU kernels: the plainest loops that implement each op, single-threaded, with double accumulators.
// They define what the fast kernels must compute.
#include <cmath>
#include <cstring>
#include <vector>

#include "bert/bf16_bits.h"
#include "cpu/kernels.h"

namespace bert::ref {
namespace {

constexpr double kSqrt2OverPi = 0.7978845608028654;

double gelu(double x, GeluForm form) {
  if (form == GeluForm::kErf) return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
}

double gelu_derivative(double x, GeluForm form) {
  if (form == GeluForm::kErf) {
    double cdf = 0.5 * (1.0 + std::erf(x / std::sqrt(2.0)));
    double pdf = std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
    return cdf + x * pdf;
  }
  double u = kSqrt2OverPi * (x + 0.044715 * x * x * x);
  double t = std::tanh(u);
  double du = kSqrt2OverPi * (1.0 + 3.0 * 0.044715 * x * x);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
}

// Writes one output element to the fp32 tensor, its bf16 copy, or both (either may be null).
void store(float* out, uint16_t* out_bf16, int64_t i, float value) {
  if (out) out[i] = value;
  if (out_bf16) out_bf16[i] = bf16_bits(value);
}

float dropout_factor(uint64_t base, uint64_t i, uint32_t threshold, float p) {
  if (p <= 0.0f) return 1.0f;
  return dropout_bits(base, i) >= threshold ? 1.0f / (1.0f - p) : 0.0f;
}

}  // namespace

void embeddings_forward(Stream, const int32_t* ids, const int32_t* segments, int B, int T, int C, const float* word,
                        const float* pos, const float* type, float* out) {
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      int64_t row = static_cast<int64_t>(b) * T + t;
      const float* w = word + static_cast<int64_t>(ids[row]) * C;
      const float* p = pos + static_cast<int64_t>(t) * C;
      const float* s = type + static_cast<int64_t>(segments[row]) * C;
      for (int c = 0; c < C; c++) out[row * C + c] = w[c] + p[c] + s[c];
    }
}

void embeddings_backward(Stream, const float* dout, const int32_t* ids, const int32_t* segments, int B, int T, int C,
                         float* dword, float* dpos, float* dtype) {
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      int64_t row = static_cast<int64_t>(b) * T + t;
      for (int c = 0; c < C; c++) {
        float g = dout[row * C + c];
        dword[static_cast<int64_t>(ids[row]) * C + c] += g;
        dpos[static_cast<int64_t>(t) * C + c] += g;
        dtype[static_cast<int64_t>(segments[row]) * C + c] += g;
      }
    }
}

void layernorm_forward(Stream, const float* in, const float* w, const float* b, float* out, uint16_t* out_bf16,
                       float* mean, float* rstd, int64_t N, int C, float eps) {
  for (int64_t n = 0; n < N; n++) {
    const float* x = in + n * C;
    double m = 0;
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    double v = 0;
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= C;
    double r = 1.0 / std::sqrt(v + eps);
    for (int c = 0; c < C; c++) store(out, out_bf16, n * C + c, static_cast<float>((x[c] - m) * r * w[c] + b[c]));
    mean[n] = static_cast<float>(m);
    rstd[n] = static_cast<float>(r);
  }
}

void layernorm_backward(Stream, const float* dout, const float* in, const float* w, const float* mean,
                        const float* rstd, float* din, float* dw, float* db, int64_t N, int C) {
  for (int64_t n = 0; n < N; n++) {
    const float* x = in + n * C;
    const float* dy = dout + n * C;
    double sum_dxhat = 0, sum_dxhat_xhat = 0;
    for (int c = 0; c < C; c++) {
      double xhat = (x[c] - mean[n]) * rstd[n];
      double dxhat = static_cast<double>(dy[c]) * w[c];
      sum_dxhat += dxhat;
      sum_dxhat_xhat += dxhat * xhat;
      dw[c] += static_cast<float>(dy[c] * xhat);
      db[c] += dy[c];
    }
    for (int c = 0; c < C; c++) {
      double xhat = (x[c] - mean[n]) * rstd[n];
      double dxhat = static_cast<double>(dy[c]) * w[c];
      din[n * C + c] += static_cast<float>(rstd[n] * (dxhat - sum_dxhat / C - xhat * sum_dxhat_xhat / C));
    }
  }
}

void bias_gelu_forward(Stream, float* pre, const float* bias, float* act, uint16_t* act_bf16, int64_t N, int F,
                       GeluForm form) {
  for (int64_t n = 0; n < N; n++)
    for (int f = 0; f < F; f++) {
      float x = pre[n * F + f] + bias[f];
      pre[n * F + f] = x;
      store(act, act_bf16, n * F + f, static_cast<float>(gelu(x, form)));
    }
}

void gelu_backward(Stream, const float* dact, const float* pre, float* dpre, uint16_t* dpre_bf16, int64_t N, int F,
                   GeluForm form) {
  for (int64_t i = 0; i < N * F; i++)
    store(dpre, dpre_bf16, i, static_cast<float>(dact[i] * gelu_derivative(pre[i], form)));
}

void bias_tanh_forward(Stream, float* pre, const float* bias, float* act, int64_t N, int F) {
  for (int64_t n = 0; n < N; n++)
    for (int f = 0; f < F; f++) {
      float x = pre[n * F + f] + bias[f];
      pre[n * F + f] = x;
      act[n * F + f] = std::tanh(x);
    }
}

void tanh_backward(Stream, const float* dact, const float* act, float* dpre, int64_t N, int F) {
  for (int64_t i = 0; i < N * F; i++) dpre[i] = dact[i] * (1.0f - act[i] * act[i]);
}

void bias_dropout_residual_forward(Stream, const float* branch, const float* bias, const float* residual, float* out,
                                   int64_t N, int C, float scale, float p, DropoutKey key) {
  uint64_t base = dropout_base(key);
  uint32_t threshold = dropout_threshold(p);
  for (int64_t n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      int64_t i = n * C + c;
      out[i] = residual[i] + scale * dropout_factor(base, i, threshold, p) * (branch[i] + bias[c]);
    }
}

void dropout_apply(Stream, const float* in, float* out, uint16_t* out_bf16, int64_t n, float scale, float p,
                   DropoutKey key) {
  uint64_t base = dropout_base(key);
  uint32_t threshold = dropout_threshold(p);
  for (int64_t i = 0; i < n; i++) store(out, out_bf16, i, in[i] * scale * dropout_factor(base, i, threshold, p));
}

void add_bias(Stream, float* x, const float* bias, int64_t N, int F) {
  for (int64_t n = 0; n < N; n++)
    for (int f = 0; f < F; f++) x[n * F + f] += bias[f];
}

void column_sum_accumulate(Stream, const float* x, int64_t N, int F, float* out) {
  for (int f = 0; f < F; f++) {
    double s = 0;
    for (int64_t n = 0; n < N; n++) s += x[n * F + f];
    out[f] += static_cast<float>(s);
  }
}

void softmax_dropout_forward(Stream, const float* scores, const float* mask, float* probs, float* probs_dropped,
                             uint16_t* used_bf16, int B, int NH, int T, float attn_scale, float p, DropoutKey key) {
  uint64_t base = dropout_base(key);
  uint32_t threshold = dropout_threshold(p);
  std::vector<double> row(T);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int i = 0; i < T; i++) {
        int64_t off = ((static_cast<int64_t>(b) * NH + h) * T + i) * T;
        double mx = -1e300;
        for (int j = 0; j < T; j++) {
          row[j] = static_cast<double>(scores[off + j]) * attn_scale + (1.0 - mask[b * T + j]) * -10000.0;
          mx = row[j] > mx ? row[j] : mx;
        }
        double sum = 0;
        for (int j = 0; j < T; j++) sum += (row[j] = std::exp(row[j] - mx));
        for (int j = 0; j < T; j++) {
          const float prob = static_cast<float>(row[j] / sum);
          probs[off + j] = prob;
          const float used = p > 0 ? prob * dropout_factor(base, off + j, threshold, p) : prob;
          store(p > 0 ? probs_dropped : nullptr, used_bf16, off + j, used);
        }
      }
}

void softmax_dropout_backward(Stream, const float* dprobs_dropped, const float* probs, float* dscores,
                              uint16_t* dscores_bf16, int B, int NH, int T, float attn_scale, float p, DropoutKey key) {
  uint64_t base = dropout_base(key);
  uint32_t threshold = dropout_threshold(p);
  std::vector<double> dp(T);
  int64_t rows = static_cast<int64_t>(B) * NH * T;
  for (int64_t r = 0; r < rows; r++) {
    int64_t off = r * T;
    double dot = 0;
    for (int j = 0; j < T; j++) {
      dp[j] = dprobs_dropped[off + j] * dropout_factor(base, off + j, threshold, p);
      dot += dp[j] * probs[off + j];
    }
    for (int j = 0; j < T; j++)
      store(dscores, dscores_bf16, off + j, static_cast<float>(attn_scale * probs[off + j] * (dp[j] - dot)));
  }
}

void tokens_to_heads(Stream, const float* in, const float* bias, float* out, uint16_t* out_bf16, int G, int B, int T,
                     int NH, int HS) {
  for (int g = 0; g < G; g++)
    for (int b = 0; b < B; b++)
      for (int t = 0; t < T; t++)
        for (int h = 0; h < NH; h++)
          for (int d = 0; d < HS; d++) {
            int64_t src = ((((static_cast<int64_t>(b) * T + t) * G + g) * NH + h) * HS) + d;
            int64_t dst = ((((static_cast<int64_t>(g) * B + b) * NH + h) * T + t) * HS) + d;
            int64_t column = (static_cast<int64_t>(g) * NH + h) * HS + d;
            store(out, out_bf16, dst, bias ? in[src] + bias[column] : in[src]);
          }
}

void heads_to_tokens(Stream, const float* in, float* out, uint16_t* out_bf16, int G, int B, int T, int NH, int HS) {
  for (int g = 0; g < G; g++)
    for (int b = 0; b < B; b++)
      for (int t = 0; t < T; t++)
        for (int h = 0; h < NH; h++)
          for (int d = 0; d < HS; d++) {
            int64_t dst = ((((static_cast<int64_t>(b) * T + t) * G + g) * NH + h) * HS) + d;
            int64_t src = ((((static_cast<int64_t>(g) * B + b) * NH + h) * T + t) * HS) + d;
            store(out, out_bf16, dst, in[src]);
          }
}

void transpose_add_bias(Stream, const float* in, const float* bias, float* out, int64_t R, int64_t C) {
  for (int64_t c = 0; c < C; c++)
    for (int64_t r = 0; r < R; r++) out[c * R + r] = in[r * C + c] + bias[r];
}

void gather_rows(Stream, const float* src, const int32_t* index, int64_t n, int C, float* out) {
  for (int64_t i = 0; i < n; i++) std::memcpy(out + i * C, src + static_cast<int64_t>(index[i]) * C, sizeof(float) * C);
}

void scatter_add_rows(Stream, const float* src, const int32_t* index, int64_t n, int C, float* dst) {
  for (int64_t i = 0; i < n; i++)
    for (int c = 0; c < C; c++) dst[static_cast<int64_t>(index[i]) * C + c] += src[i * C + c];
}

void cross_entropy_forward_backward(Stream, const float* logits, const int32_t* labels, int64_t M, int V, float dscale,
                                    float* dlogits, uint16_t* dlogits_bf16, double* loss_sum, int64_t* correct) {
  for (int64_t m = 0; m < M; m++) {
    const float* z = logits + m * V;
    if (labels[m] < 0) {
      for (int v = 0; v < V; v++) store(dlogits, dlogits_bf16, m * V + v, 0.0f);
      continue;
    }
    double mx = z[0];
    int arg = 0;
    for (int v = 1; v < V; v++)
      if (z[v] > mx) mx = z[v], arg = v;
    double sum = 0;
    for (int v = 0; v < V; v++) sum += std::exp(z[v] - mx);
    double logsum = mx + std::log(sum);
    *loss_sum += logsum - z[labels[m]];
    *correct += arg == labels[m];
    for (int v = 0; v < V; v++) {
      double prob = std::exp(z[v] - logsum);
      store(dlogits, dlogits_bf16, m * V + v, static_cast<float>((prob - (v == labels[m] ? 1.0 : 0.0)) * dscale));
    }
  }
}

void mse_forward_backward(Stream, const float* pred, const float* target, int64_t n, float grad_scale, float* dpred,
                          double* loss_sum) {
  for (int64_t i = 0; i < n; i++) {
    const double diff = static_cast<double>(pred[i]) - target[i];
    *loss_sum += diff * diff;
    dpred[i] = static_cast<float>(2.0 * diff * grad_scale / static_cast<double>(n));
  }
}

void convert_to_bf16(Stream, const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] = bf16_bits(src[i]);
}

namespace {

// fp32 -> nearest fp16 (round half to even) -> fp32, by bit manipulation so it needs no F16C.
float round_one_to_fp16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  const uint32_t sign = bits & 0x80000000u;
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs >= 0x7f800000u) return x;                            // inf and NaN pass through
  if (abs >= 0x477ff000u) return sign ? -INFINITY : INFINITY;  // >= 65520 rounds to inf
  const int exponent = static_cast<int>(abs >> 23) - 127;
  if (exponent < -25) return sign ? -0.0f : 0.0f;  // below half the smallest subnormal
  // fp16 keeps 10 mantissa bits for normals (exponent >= -14); subnormals keep fewer: quantum 2^-24
  const int drop = exponent >= -14 ? 13 : 13 + (-14 - exponent);
  uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;  // with the implicit bit
  const uint32_t half = 1u << (drop - 1), mask = (1u << drop) - 1u;
  uint32_t rest = mantissa & mask;
  mantissa >>= drop;
  if (rest > half || (rest == half && (mantissa & 1u))) mantissa++;
  const double value = std::ldexp(static_cast<double>(mantissa), exponent - 23 + drop);
  return static_cast<float>(sign ? -value : value);
}

}  // namespace

void round_to_fp16(Stream, const float* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = round_one_to_fp16(in[i]);
}

double sum_of_squares(Stream, const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += static_cast<double>(x[i]) * x[i];
  return s;
}

void adam_update(Stream, float* p, uint16_t* p_bf16, const float* g, float* m, float* v, int64_t n,
                 const AdamStepArgs& a) {
  for (int64_t i = 0; i < n; i++) {
    double grad = static_cast<double>(g[i]) * a.grad_mul;
    if (!a.adam_w_mode) grad += static_cast<double>(a.weight_decay) * p[i];
    m[i] = stored_moment(static_cast<float>(a.beta1 * static_cast<double>(m[i]) + a.one_minus_beta1 * grad));
    v[i] = stored_moment(static_cast<float>(a.beta2 * static_cast<double>(v[i]) + a.one_minus_beta2 * grad * grad));
    double update = (m[i] / a.bias_correction1) / (std::sqrt(v[i] / a.bias_correction2) + a.eps);
    if (a.adam_w_mode) update += static_cast<double>(a.weight_decay) * p[i];
    store(p, p_bf16, i, static_cast<float>(p[i] - a.lr * update));
  }
}

void lamb_direction(Stream, const float* p, const float* g, float* m, float* v, float* u, int64_t n,
                    const AdamStepArgs& a) {
  for (int64_t i = 0; i < n; i++) {
    double grad = static_cast<double>(g[i]) * a.grad_mul;
    m[i] = stored_moment(static_cast<float>(a.beta1 * static_cast<double>(m[i]) + a.one_minus_beta1 * grad));
    v[i] = stored_moment(static_cast<float>(a.beta2 * static_cast<double>(v[i]) + a.one_minus_beta2 * grad * grad));
    u[i] = static_cast<float>(m[i] / (std::sqrt(static_cast<double>(v[i])) + a.eps) +
                              static_cast<double>(a.weight_decay) * p[i]);
  }
}

void axpy(Stream, float* y, uint16_t* y_bf16, const float* x, int64_t n, float a) {
  for (int64_t i = 0; i < n; i++) store(y, y_bf16, i, y[i] + a * x[i]);
}

}  // namespace bert::ref
