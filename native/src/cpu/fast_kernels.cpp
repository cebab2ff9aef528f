// Fast CPU kernels: the same ops as reference_kernels.cpp, threaded with OpenMP (the pool oneDNN also uses) and
// vectorised with AVX-512 where the op is bound by arithmetic (exp, erf, dropout bits). Loops whose inner
// dimension is contiguous are left to the compiler's vectoriser (`omp simd`). Built without AVX-512, the
// arithmetic-bound kernels run their portable forms (portable_kernels.cpp: the same math in plain C++ that the
// compiler vectorises for the CPU at hand).
#include <omp.h>
#if defined(__F16C__) && !defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/vec_math.h"

namespace bert::fast {
namespace {

// Sums rows of x(N,F) into out(F) with one partial row per thread, then adds the partials in thread order (so
// the result does not depend on scheduling, only on the thread count).
template <typename RowFn>
void accumulate_rows(int64_t N, int F, int outputs, float* const* out, RowFn row_fn) {
  int threads = omp_get_max_threads();
  std::vector<float> partial(static_cast<size_t>(threads) * outputs * F, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    int tid = omp_get_thread_num();
    float* mine = partial.data() + static_cast<size_t>(tid) * outputs * F;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; n++) row_fn(n, mine);
  }
  for (int t = 0; t < threads; t++)
    for (int o = 0; o < outputs; o++) {
      const float* src = partial.data() + (static_cast<size_t>(t) * outputs + o) * F;
      float* dst = out[o];
#pragma omp simd
      for (int f = 0; f < F; f++) dst[f] += src[f];
    }
}

// The parameter updates go in blocks that stay in L1 while their bf16 mirror is written from them.
constexpr int64_t kMirrorBlock = 2048;

// One row of n floats to bf16, rounded as convert_to_bf16 rounds (single-threaded: called inside parallel loops).
void convert_row(const float* src, uint16_t* dst, int64_t n) {
#ifdef __AVX512F__
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = vec::tail_mask(n - i);
    vec::store(nullptr, dst + i, k, _mm512_maskz_loadu_ps(k, src + i));
  }
#else
  portable::convert_row(src, dst, n);
#endif
}

}  // namespace

void embeddings_forward(Stream, const int32_t* ids, const int32_t* segments, int B, int T, int C, const float* word,
                        const float* pos, const float* type, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < static_cast<int64_t>(B) * T; row++) {
    const float* w = word + static_cast<int64_t>(ids[row]) * C;
    const float* p = pos + (row % T) * C;
    const float* s = type + static_cast<int64_t>(segments[row]) * C;
    float* o = out + row * C;
#pragma omp simd
    for (int c = 0; c < C; c++) o[c] = w[c] + p[c] + s[c];
  }
}

void embeddings_backward(Stream, const float* dout, const int32_t* ids, const int32_t* segments, int B, int T, int C,
                         float* dword, float* dpos, float* dtype) {
  // Tokens repeat, so threads split the columns, never the rows: no two threads touch one gradient element.
  int64_t rows = static_cast<int64_t>(B) * T;
#pragma omp parallel
  {
    int threads = omp_get_num_threads(), tid = omp_get_thread_num();
    int c0 = static_cast<int>(static_cast<int64_t>(C) * tid / threads);
    int c1 = static_cast<int>(static_cast<int64_t>(C) * (tid + 1) / threads);
    for (int64_t row = 0; row < rows; row++) {
      const float* g = dout + row * C;
      float* w = dword + static_cast<int64_t>(ids[row]) * C;
      float* p = dpos + (row % T) * C;
      float* s = dtype + static_cast<int64_t>(segments[row]) * C;
#pragma omp simd
      for (int c = c0; c < c1; c++) {
        w[c] += g[c];
        p[c] += g[c];
        s[c] += g[c];
      }
    }
  }
}

void layernorm_forward(Stream, const float* in, const float* w, const float* b, float* out, uint16_t* out_bf16,
                       float* mean, float* rstd, int64_t N, int C, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    const float* x = in + n * C;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < C; c++) sum += x[c];
    float m = sum / C;
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
    float r = 1.0f / std::sqrt(var / C + eps);
    float* y = portable::output_row(out, n, C);
#pragma omp simd
    for (int c = 0; c < C; c++) y[c] = (x[c] - m) * r * w[c] + b[c];
    if (out_bf16) convert_row(y, out_bf16 + n * C, C);
    mean[n] = m;
    rstd[n] = r;
  }
}

void layernorm_backward(Stream, const float* dout, const float* in, const float* w, const float* mean,
                        const float* rstd, float* din, float* dw, float* db, int64_t N, int C) {
  float* outs[2] = {dw, db};
  accumulate_rows(N, C, 2, outs, [&](int64_t n, float* partial) {
    const float* x = in + n * C;
    const float* dy = dout + n * C;
    float* pdw = partial;
    float* pdb = partial + C;
    const float m = mean[n], r = rstd[n];
    float sum_dxhat = 0.0f, sum_dxhat_xhat = 0.0f;
#pragma omp simd reduction(+ : sum_dxhat, sum_dxhat_xhat)
    for (int c = 0; c < C; c++) {
      float xhat = (x[c] - m) * r;
      float dxhat = dy[c] * w[c];
      sum_dxhat += dxhat;
      sum_dxhat_xhat += dxhat * xhat;
      pdw[c] += dy[c] * xhat;
      pdb[c] += dy[c];
    }
    const float a = sum_dxhat / C, bb = sum_dxhat_xhat / C;
    float* dx = din + n * C;
#pragma omp simd
    for (int c = 0; c < C; c++) {
      float xhat = (x[c] - m) * r;
      dx[c] += r * (dy[c] * w[c] - a - xhat * bb);
    }
  });
}

void bias_gelu_forward(Stream, float* pre, const float* bias, float* act, uint16_t* act_bf16, int64_t N, int F,
                       GeluForm form) {
#ifdef __AVX512F__
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    float* u = pre + n * F;
    float* g = act ? act + n * F : nullptr;
    uint16_t* g16 = act_bf16 ? act_bf16 + n * F : nullptr;
    for (int f = 0; f < F; f += 16) {
      __mmask16 k = vec::tail_mask(F - f);
      __m512 x = _mm512_add_ps(_mm512_maskz_loadu_ps(k, u + f), _mm512_maskz_loadu_ps(k, bias + f));
      _mm512_mask_storeu_ps(u + f, k, x);
      __m512 inner;
      if (form == GeluForm::kErf) {
        inner = vec::erf(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
      } else {
        __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
        inner = vec::tanh(
            _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f), _mm512_fmadd_ps(x3, _mm512_set1_ps(0.044715f), x)));
      }
      __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(_mm512_set1_ps(1.0f), inner));
      vec::store(g ? g + f : nullptr, g16 ? g16 + f : nullptr, k, y);
    }
  }
#else
  portable::bias_gelu_forward(Stream{}, pre, bias, act, act_bf16, N, F, form);
#endif
}

void gelu_backward(Stream, const float* dact, const float* pre, float* dpre, uint16_t* dpre_bf16, int64_t N, int F,
                   GeluForm form) {
#ifdef __AVX512F__
  int64_t total = N * F;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < total; i += 16) {
    __mmask16 k = vec::tail_mask(total - i);
    __m512 x = _mm512_maskz_loadu_ps(k, pre + i);
    __m512 d;
    if (form == GeluForm::kErf) {
      __m512 cdf = _mm512_mul_ps(
          _mm512_set1_ps(0.5f),
          _mm512_add_ps(_mm512_set1_ps(1.0f), vec::erf(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)))));
      __m512 pdf = _mm512_mul_ps(_mm512_set1_ps(0.3989422804014327f),
                                 vec::exp(_mm512_mul_ps(_mm512_set1_ps(-0.5f), _mm512_mul_ps(x, x))));
      d = _mm512_fmadd_ps(x, pdf, cdf);
    } else {
      __m512 x2 = _mm512_mul_ps(x, x);
      __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f),
                               _mm512_fmadd_ps(_mm512_mul_ps(x2, x), _mm512_set1_ps(0.044715f), x));
      __m512 t = vec::tanh(u);
      __m512 du = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f),
                                _mm512_fmadd_ps(x2, _mm512_set1_ps(3.0f * 0.044715f), _mm512_set1_ps(1.0f)));
      __m512 one_minus_t2 = _mm512_fnmadd_ps(t, t, _mm512_set1_ps(1.0f));
      d = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), one_minus_t2), du,
                          _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_add_ps(_mm512_set1_ps(1.0f), t)));
    }
    vec::store(dpre + i, dpre_bf16 ? dpre_bf16 + i : nullptr, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dact + i), d));
  }
#else
  portable::gelu_backward(Stream{}, dact, pre, dpre, dpre_bf16, N, F, form);
#endif
}

void bias_tanh_forward(Stream, float* pre, const float* bias, float* act, int64_t N, int F) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++)
    for (int f = 0; f < F; f++) {
      float x = pre[n * F + f] + bias[f];
      pre[n * F + f] = x;
      act[n * F + f] = std::tanh(x);
    }
}

void tanh_backward(Stream, const float* dact, const float* act, float* dpre, int64_t N, int F) {
  int64_t total = N * F;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < total; i++) dpre[i] = dact[i] * (1.0f - act[i] * act[i]);
}

void bias_dropout_residual_forward(Stream, const float* branch, const float* bias, const float* residual, float* out,
                                   int64_t N, int C, float scale, float p, DropoutKey key) {
#ifdef __AVX512F__
  const uint64_t base = dropout_base(key);
  const uint32_t threshold = dropout_threshold(p);
  const __m512 keep_scale = _mm512_set1_ps(p > 0 ? scale / (1.0f - p) : scale);
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    for (int c = 0; c < C; c += 16) {
      int64_t i = n * C + c;
      __mmask16 k = vec::tail_mask(C - c);
      if (p > 0) k &= vec::dropout_keep16(base, static_cast<uint64_t>(i), threshold);
      __m512 y = _mm512_add_ps(_mm512_maskz_loadu_ps(k, branch + i), _mm512_maskz_loadu_ps(k, bias + c));
      __mmask16 all = vec::tail_mask(C - c);
      __m512 r = _mm512_maskz_loadu_ps(all, residual + i);
      _mm512_mask_storeu_ps(out + i, all, _mm512_fmadd_ps(y, keep_scale, r));
    }
  }
#else
  portable::bias_dropout_residual_forward(Stream{}, branch, bias, residual, out, N, C, scale, p, key);
#endif
}

void dropout_apply(Stream, const float* in, float* out, uint16_t* out_bf16, int64_t n, float scale, float p,
                   DropoutKey key) {
#ifdef __AVX512F__
  const uint64_t base = dropout_base(key);
  const uint32_t threshold = dropout_threshold(p);
  const __m512 keep_scale = _mm512_set1_ps(p > 0 ? scale / (1.0f - p) : scale);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 all = vec::tail_mask(n - i);
    __mmask16 k = p > 0 ? static_cast<__mmask16>(all & vec::dropout_keep16(base, i, threshold)) : all;
    __m512 x = _mm512_maskz_loadu_ps(k, in + i);
    vec::store(out ? out + i : nullptr, out_bf16 ? out_bf16 + i : nullptr, all, _mm512_mul_ps(x, keep_scale));
  }
#else
  portable::dropout_apply(Stream{}, in, out, out_bf16, n, scale, p, key);
#endif
}

void add_bias(Stream, float* x, const float* bias, int64_t N, int F) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    float* row = x + n * F;
#pragma omp simd
    for (int f = 0; f < F; f++) row[f] += bias[f];
  }
}

void column_sum_accumulate(Stream, const float* x, int64_t N, int F, float* out) {
  float* outs[1] = {out};
  accumulate_rows(N, F, 1, outs, [&](int64_t n, float* partial) {
    const float* row = x + n * F;
#pragma omp simd
    for (int f = 0; f < F; f++) partial[f] += row[f];
  });
}

void softmax_dropout_forward(Stream, const float* scores, const float* mask, float* probs, float* probs_dropped,
                             uint16_t* used_bf16, int B, int NH, int T, float attn_scale, float p, DropoutKey key) {
#ifdef __AVX512F__
  const uint64_t base = dropout_base(key);
  const uint32_t threshold = dropout_threshold(p);
  const __m512 keep_scale = _mm512_set1_ps(p > 0 ? 1.0f / (1.0f - p) : 1.0f);
  const int64_t rows = static_cast<int64_t>(B) * NH * T;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const int b = static_cast<int>(r / (static_cast<int64_t>(NH) * T));
    const float* s = scores + r * T;
    const float* m = mask + static_cast<int64_t>(b) * T;
    float* out = probs + r * T;
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < T; j += 16) {
      __mmask16 k = vec::tail_mask(T - j);
      __m512 bias = _mm512_mul_ps(_mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_maskz_loadu_ps(k, m + j)),
                                  _mm512_set1_ps(-10000.0f));
      __m512 z = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, s + j), _mm512_set1_ps(attn_scale), bias);
      _mm512_mask_storeu_ps(out + j, k, z);
      vmax = _mm512_mask_max_ps(vmax, k, vmax, z);
    }
    const __m512 mx = _mm512_set1_ps(vec::reduce_max(vmax));
    __m512 vsum = _mm512_setzero_ps();
    for (int j = 0; j < T; j += 16) {
      __mmask16 k = vec::tail_mask(T - j);
      __m512 e = vec::exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, out + j), mx));
      _mm512_mask_storeu_ps(out + j, k, e);
      vsum = _mm512_mask_add_ps(vsum, k, vsum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / vec::reduce_add(vsum));
    for (int j = 0; j < T; j += 16) {
      __mmask16 k = vec::tail_mask(T - j);
      __m512 pr = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, out + j), inv);
      _mm512_mask_storeu_ps(out + j, k, pr);
      uint16_t* used16 = used_bf16 ? used_bf16 + r * T + j : nullptr;
      if (p > 0) {
        __mmask16 keep = k & vec::dropout_keep16(base, static_cast<uint64_t>(r * T + j), threshold);
        vec::store(probs_dropped ? probs_dropped + r * T + j : nullptr, used16, k,
                   _mm512_maskz_mul_ps(keep, pr, keep_scale));
      } else {
        vec::store(nullptr, used16, k, pr);
      }
    }
  }
#else
  portable::softmax_dropout_forward(Stream{}, scores, mask, probs, probs_dropped, used_bf16, B, NH, T, attn_scale, p,
                                    key);
#endif
}

void softmax_dropout_backward(Stream, const float* dprobs_dropped, const float* probs, float* dscores,
                              uint16_t* dscores_bf16, int B, int NH, int T, float attn_scale, float p, DropoutKey key) {
#ifdef __AVX512F__
  const uint64_t base = dropout_base(key);
  const uint32_t threshold = dropout_threshold(p);
  const __m512 keep_scale = _mm512_set1_ps(p > 0 ? 1.0f / (1.0f - p) : 1.0f);
  const int64_t rows = static_cast<int64_t>(B) * NH * T;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* dpd = dprobs_dropped + r * T;
    const float* pr = probs + r * T;
    float* ds = dscores ? dscores + r * T : nullptr;
    __m512 vdot = _mm512_setzero_ps();
    for (int j = 0; j < T; j += 16) {
      __mmask16 k = vec::tail_mask(T - j);
      if (p > 0) k &= vec::dropout_keep16(base, static_cast<uint64_t>(r * T + j), threshold);
      __m512 dp = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dpd + j), keep_scale);
      vdot = _mm512_fmadd_ps(dp, _mm512_maskz_loadu_ps(k, pr + j), vdot);
    }
    const __m512 dot = _mm512_set1_ps(vec::reduce_add(vdot));
    for (int j = 0; j < T; j += 16) {
      __mmask16 all = vec::tail_mask(T - j);
      __mmask16 k = p > 0 ? static_cast<__mmask16>(all & vec::dropout_keep16(base, r * T + j, threshold)) : all;
      __m512 dp = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dpd + j), keep_scale);
      __m512 g = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(all, pr + j), _mm512_sub_ps(dp, dot)),
                               _mm512_set1_ps(attn_scale));
      vec::store(ds ? ds + j : nullptr, dscores_bf16 ? dscores_bf16 + r * T + j : nullptr, all, g);
    }
  }
#else
  portable::softmax_dropout_backward(Stream{}, dprobs_dropped, probs, dscores, dscores_bf16, B, NH, T, attn_scale, p,
                                     key);
#endif
}

void tokens_to_heads(Stream, const float* in, const float* bias, float* out, uint16_t* out_bf16, int G, int B, int T,
                     int NH, int HS) {
  const int64_t blocks = static_cast<int64_t>(G) * B * NH;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; blk++) {
    const int h = static_cast<int>(blk % NH);
    const int b = static_cast<int>((blk / NH) % B);
    const int g = static_cast<int>(blk / (static_cast<int64_t>(NH) * B));
    const float* head_bias = bias ? bias + (static_cast<int64_t>(g) * NH + h) * HS : nullptr;
    for (int t = 0; t < T; t++) {
      const float* src = in + (((static_cast<int64_t>(b) * T + t) * G + g) * NH + h) * HS;
      const int64_t row = blk * T + t;
      if (head_bias) {
        float* y = portable::output_row(out, row, HS);
#pragma omp simd
        for (int d = 0; d < HS; d++) y[d] = src[d] + head_bias[d];
        src = y;
      } else if (out) {
        std::memcpy(out + row * HS, src, sizeof(float) * HS);
      }
      if (out_bf16) convert_row(src, out_bf16 + row * HS, HS);
    }
  }
}

void heads_to_tokens(Stream, const float* in, float* out, uint16_t* out_bf16, int G, int B, int T, int NH, int HS) {
  const int64_t blocks = static_cast<int64_t>(G) * B * NH;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; blk++) {
    const int h = static_cast<int>(blk % NH);
    const int b = static_cast<int>((blk / NH) % B);
    const int g = static_cast<int>(blk / (static_cast<int64_t>(NH) * B));
    for (int t = 0; t < T; t++) {
      const float* src = in + (blk * T + t) * HS;
      const int64_t dst = (((static_cast<int64_t>(b) * T + t) * G + g) * NH + h) * HS;
      if (out) std::memcpy(out + dst, src, sizeof(float) * HS);
      if (out_bf16) convert_row(src, out_bf16 + dst, HS);
    }
  }
}

void transpose_add_bias(Stream, const float* in, const float* bias, float* out, int64_t R, int64_t C) {
  // 64 x 64 blocks: each block's rows of in and of out stay in L1 while it is transposed
  constexpr int64_t kBlock = 64;
  const int64_t row_blocks = (R + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t rb = 0; rb < row_blocks; rb++) {
    const int64_t r0 = rb * kBlock, r1 = std::min(R, r0 + kBlock);
    for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
      const int64_t c1 = std::min(C, c0 + kBlock);
      for (int64_t c = c0; c < c1; c++) {
        float* o = out + c * R;
#pragma omp simd
        for (int64_t r = r0; r < r1; r++) o[r] = in[r * C + c] + bias[r];
      }
    }
  }
}

void gather_rows(Stream, const float* src, const int32_t* index, int64_t n, int C, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) std::memcpy(out + i * C, src + static_cast<int64_t>(index[i]) * C, sizeof(float) * C);
}

void scatter_add_rows(Stream, const float* src, const int32_t* index, int64_t n, int C, float* dst) {
  // Indices may repeat: threads split the columns.
#pragma omp parallel
  {
    int threads = omp_get_num_threads(), tid = omp_get_thread_num();
    int c0 = static_cast<int>(static_cast<int64_t>(C) * tid / threads);
    int c1 = static_cast<int>(static_cast<int64_t>(C) * (tid + 1) / threads);
    for (int64_t i = 0; i < n; i++) {
      float* d = dst + static_cast<int64_t>(index[i]) * C;
      const float* s = src + i * C;
#pragma omp simd
      for (int c = c0; c < c1; c++) d[c] += s[c];
    }
  }
}

void cross_entropy_forward_backward(Stream, const float* logits, const int32_t* labels, int64_t M, int V, float dscale,
                                    float* dlogits, uint16_t* dlogits_bf16, double* loss_sum, int64_t* correct) {
#ifdef __AVX512F__
  double loss = 0.0;
  int64_t hits = 0;
#pragma omp parallel for schedule(static) reduction(+ : loss, hits)
  for (int64_t m = 0; m < M; m++) {
    const float* z = logits + m * V;
    float* dz = dlogits + m * V;
    const int label = labels[m];
    if (label < 0) {
      portable::clear_row(dz, dlogits_bf16 ? dlogits_bf16 + m * V : nullptr, V);
      continue;
    }
    const int arg = portable::argmax(z, V);
    const float mx = z[arg];
    const __m512 vmx = _mm512_set1_ps(mx);
    __m512 vsum = _mm512_setzero_ps();
    for (int v = 0; v < V; v += 16) {
      __mmask16 k = vec::tail_mask(V - v);
      vsum = _mm512_mask_add_ps(vsum, k, vsum, vec::exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, z + v), vmx)));
    }
    const float logsum = mx + std::log(vec::reduce_add(vsum));
    const float zl = z[label];
    loss += static_cast<double>(logsum) - zl;
    hits += arg == label;
    const __m512 vlog = _mm512_set1_ps(logsum), vscale = _mm512_set1_ps(dscale);
    for (int v = 0; v < V; v += 16) {
      __mmask16 k = vec::tail_mask(V - v);
      __m512 prob = vec::exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, z + v), vlog));
      _mm512_mask_storeu_ps(dz + v, k, _mm512_mul_ps(prob, vscale));
    }
    dz[label] -= dscale;
    if (dlogits_bf16) convert_row(dz, dlogits_bf16 + m * V, V);
  }
  *loss_sum += loss;
  *correct += hits;
#else
  portable::cross_entropy_forward_backward(Stream{}, logits, labels, M, V, dscale, dlogits, dlogits_bf16, loss_sum,
                                           correct);
#endif
}

// A handful of values per batch: the reference loop is the fast version.
void mse_forward_backward(Stream, const float* pred, const float* target, int64_t n, float grad_scale, float* dpred,
                          double* loss_sum) {
  ref::mse_forward_backward(Stream{}, pred, target, n, grad_scale, dpred, loss_sum);
}

void convert_to_bf16(Stream, const float* src, uint16_t* dst, int64_t n) {
  constexpr int64_t kChunk = 4096;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i += kChunk) convert_row(src + i, dst + i, std::min(kChunk, n - i));
}

void round_to_fp16(Stream, const float* in, float* out, int64_t n) {
#ifdef __AVX512F__
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 k = vec::tail_mask(n - i);
    __m256i half = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(k, in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm512_mask_storeu_ps(out + i, k, _mm512_cvtph_ps(half));
  }
#elif defined(__F16C__)
  // AVX2-era x86: the same conversion 8 lanes at a time, the tail by the reference loop
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i += 8) {
    if (n - i < 8) {
      ref::round_to_fp16(Stream{}, in + i, out + i, n - i);
      continue;
    }
    __m128i half = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(half));
  }
#else
  ref::round_to_fp16(Stream{}, in, out, n);
#endif
}

double sum_of_squares(Stream, const float* x, int64_t n) {
  double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (int64_t block = 0; block < n; block += 4096) {
    const int64_t end = std::min(n, block + 4096);
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = block; i < end; i++) s += static_cast<double>(x[i]) * x[i];
    total += s;
  }
  return total;
}

void adam_update(Stream, float* p, uint16_t* p_bf16, const float* g, float* m, float* v, int64_t n,
                 const AdamStepArgs& a) {
  const float b1 = a.beta1, b2 = a.beta2, c1 = a.one_minus_beta1, c2 = a.one_minus_beta2;
  const float inv_bc1 = 1.0f / a.bias_correction1, inv_sqrt_bc2 = 1.0f / std::sqrt(a.bias_correction2);
  const float lr = a.lr, eps = a.eps, wd = a.weight_decay, mul = a.grad_mul;
  const bool w_mode = a.adam_w_mode;
#pragma omp parallel for schedule(static)
  for (int64_t block = 0; block < n; block += kMirrorBlock) {
    const int64_t end = std::min(n, block + kMirrorBlock);
#pragma omp simd
    for (int64_t i = block; i < end; i++) {
      float grad = g[i] * mul;
      if (!w_mode) grad += wd * p[i];
      const float mi = stored_moment(b1 * m[i] + c1 * grad);
      const float vi = stored_moment(b2 * v[i] + c2 * grad * grad);
      m[i] = mi;
      v[i] = vi;
      float update = (mi * inv_bc1) / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
      if (w_mode) update += wd * p[i];
      p[i] -= lr * update;
    }
    if (p_bf16) convert_row(p + block, p_bf16 + block, end - block);
  }
}

void lamb_direction(Stream, const float* p, const float* g, float* m, float* v, float* u, int64_t n,
                    const AdamStepArgs& a) {
  const float b1 = a.beta1, b2 = a.beta2, c1 = a.one_minus_beta1, c2 = a.one_minus_beta2;
  const float eps = a.eps, wd = a.weight_decay, mul = a.grad_mul;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float grad = g[i] * mul;
    const float mi = stored_moment(b1 * m[i] + c1 * grad);
    const float vi = stored_moment(b2 * v[i] + c2 * grad * grad);
    m[i] = mi;
    v[i] = vi;
    u[i] = mi / (std::sqrt(vi) + eps) + wd * p[i];
  }
}

void axpy(Stream, float* y, uint16_t* y_bf16, const float* x, int64_t n, float a) {
#pragma omp parallel for schedule(static)
  for (int64_t block = 0; block < n; block += kMirrorBlock) {
    const int64_t end = std::min(n, block + kMirrorBlock);
#pragma omp simd
    for (int64_t i = block; i < end; i++) y[i] += a * x[i];
    if (y_bf16) convert_row(y + block, y_bf16 + block, end - block);
  }
}

}  // namespace bert::fast
