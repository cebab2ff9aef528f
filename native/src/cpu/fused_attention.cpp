// Fused scaled dot-product attention for bf16 runs on CPUs with AVX512-BF16. Each (batch, head) is one task; its
// query rows go in blocks, so a block's scores, softmax and dropout stay in cache between the two products that
// bracket them. The products are vdpbf16ps loops: the instruction multiplies pairs of bf16 along the inner
// dimension, so the right-hand operand is packed with pairs of its rows interleaved ("VNNI" layout: element (k, n)
// at ((k / 2) * Np + n) * 2 + k % 2, Np a multiple of 16), and the left-hand one is read row-major, a pair at a time.
// The backward regenerates the dropped probabilities from the stored fp32 ones and their dropout key.
//
// It rounds where the batched path rounds (P and dS to bf16, every product accumulated in fp32), so that path (the
// batched GEMMs with the softmax kernels) is its reference: native/tests/test_fused_attention.cpp.
#include "cpu/fused_attention.h"

#ifdef __AVX512BF16__
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "bert/dropout_rng.h"
#include "cpu/vec_math.h"
#endif

namespace bert {

#ifdef __AVX512BF16__
namespace {

constexpr int kRowBlock = 64;  // query rows per block (even): at T = 512 a block's fp32 scores are 128 KB
constexpr int kMr = 6;         // rows of the micro-kernel's tile
constexpr int kNb = 4;         // 16-column vectors of the micro-kernel's tile: 6 x 64 fp32 in 24 registers

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// The lanes of a 16-wide step with `remaining` elements left (none when remaining <= 0).
__mmask16 live(int64_t remaining) { return remaining <= 0 ? static_cast<__mmask16>(0) : vec::tail_mask(remaining); }

__m512bh as_bf16_pairs(__m512i bits) { return reinterpret_cast<const __m512bh&>(bits); }

// c(MR, 16 NB) (+)= a(MR, 2 pairs) . b, b in VNNI layout (pair rows `b_pair_stride` elements apart).
template <int MR, int NB>
void micro_kernel(const uint16_t* a, int64_t lda, const uint16_t* b, int64_t b_pair_stride, int64_t pairs, float* c,
                  int64_t ldc, bool accumulate) {
  __m512 acc[MR][NB];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NB; j++) acc[i][j] = accumulate ? _mm512_loadu_ps(c + i * ldc + 16 * j) : _mm512_setzero_ps();
  for (int64_t kp = 0; kp < pairs; kp++) {
    __m512bh bv[NB];
    for (int j = 0; j < NB; j++) bv[j] = as_bf16_pairs(_mm512_loadu_si512(b + kp * b_pair_stride + 32 * j));
    for (int i = 0; i < MR; i++) {
      int32_t pair;
      std::memcpy(&pair, a + i * lda + 2 * kp, sizeof pair);
      const __m512bh av = as_bf16_pairs(_mm512_set1_epi32(pair));
      for (int j = 0; j < NB; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NB; j++) _mm512_storeu_ps(c + i * ldc + 16 * j, acc[i][j]);
}

using MicroKernel = void (*)(const uint16_t*, int64_t, const uint16_t*, int64_t, int64_t, float*, int64_t, bool);

template <int MR>
constexpr MicroKernel kernel_of(int nb) {
  return nb == 1   ? micro_kernel<MR, 1>
         : nb == 2 ? micro_kernel<MR, 2>
         : nb == 3 ? micro_kernel<MR, 3>
                   : micro_kernel<MR, 4>;
}

MicroKernel kernel_of(int mr, int nb) {
  switch (mr) {
    case 1:
      return kernel_of<1>(nb);
    case 2:
      return kernel_of<2>(nb);
    case 3:
      return kernel_of<3>(nb);
    case 4:
      return kernel_of<4>(nb);
    case 5:
      return kernel_of<5>(nb);
    default:
      return kernel_of<6>(nb);
  }
}

// c(M, Np) (+)= a(M, 2 pairs) . b(2 pairs, Np), b in VNNI layout; Np a multiple of 16, a's and b's padding zero.
void gemm_bf16(int64_t M, int64_t Np, int64_t pairs, const uint16_t* a, int64_t lda, const uint16_t* b, float* c,
               int64_t ldc, bool accumulate) {
  for (int64_t n = 0; n < Np; n += 16 * kNb) {
    const int nb = static_cast<int>(std::min<int64_t>(kNb, (Np - n) / 16));
    for (int64_t m = 0; m < M; m += kMr) {
      const int mr = static_cast<int>(std::min<int64_t>(kMr, M - m));
      kernel_of(mr, nb)(a + m * lda, lda, b + 2 * n, 2 * Np, pairs, c + m * ldc + n, ldc, accumulate);
    }
  }
}

// VNNI layout of B(k, n) = x[k][n] (K rows of N, row stride ldx) with Np columns; padding zero.
void pack_rows(const uint16_t* x, int64_t ldx, int64_t K, int64_t N, int64_t Np, uint16_t* out) {
  for (int64_t kp = 0; kp < (K + 1) / 2; kp++) {
    const uint16_t* r0 = x + 2 * kp * ldx;
    const uint16_t* r1 = 2 * kp + 1 < K ? r0 + ldx : nullptr;
    for (int64_t n = 0; n < Np; n += 16) {
      const __mmask16 k = live(N - n);
      const __m512i lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, r0 + n));
      const __m512i hi = r1 ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, r1 + n)) : _mm512_setzero_si512();
      _mm512_storeu_si512(out + 2 * (kp * Np + n), _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
}

// VNNI layout of B(k, n) = x[n][k] (N rows of K, row stride ldx) with Np columns: a pair (x[n][2p], x[n][2p+1]) is
// one 32-bit word, so this is a transpose of 32-bit words; padding zero.
void pack_transposed(const uint16_t* x, int64_t ldx, int64_t N, int64_t K, int64_t Np, uint16_t* out) {
  const int64_t pairs = (K + 1) / 2;
  uint32_t* o = reinterpret_cast<uint32_t*>(out);
  for (int64_t n = 0; n < Np; n++)
    for (int64_t kp = 0; kp < pairs; kp++) {
      uint32_t word = 0;
      if (n < N) {
        const uint32_t first = x[n * ldx + 2 * kp];
        const uint32_t second = 2 * kp + 1 < K ? x[n * ldx + 2 * kp + 1] : 0;
        word = first | (second << 16);
      }
      o[kp * Np + n] = word;
    }
}

// out(C, ldo) = x(R, C)^T, x's row stride ldx; columns R..ldo of out zero.
void transpose_bf16(const uint16_t* x, int64_t ldx, int64_t R, int64_t C, uint16_t* out, int64_t ldo) {
  for (int64_t c = 0; c < C; c++) {
    for (int64_t r = 0; r < R; r++) out[c * ldo + r] = x[r * ldx + c];
    for (int64_t r = R; r < ldo; r++) out[c * ldo + r] = 0;
  }
}

// The sizes of one head's operands: Tp, HSp the padded column counts (multiples of 16), Tk the padded inner length
// over keys or queries (even), hs_pairs the pairs over the head dimension.
struct HeadDims {
  int64_t T, HS, Tp, HSp, Tk, hs_pairs;
  explicit HeadDims(const AttentionShape& s)
      : T(s.T),
        HS(s.HS),
        Tp(round_up(s.T, 16)),
        HSp(round_up(s.HS, 16)),
        Tk(round_up(s.T, 2)),
        hs_pairs((s.HS + 1) / 2) {}
  // Bytes of everything one head's forward or backward carves from its arena (with each piece's alignment).
  size_t scratch_bytes() const {
    const int64_t bf16 = T * (HS + 1) + 2 * hs_pairs * Tp + Tk * HSp + 2 * HS * Tk + 4 * kRowBlock * Tp;
    const int64_t fp32 = 2 * HS * Tp + kRowBlock * Tp + kRowBlock * HSp;
    return static_cast<size_t>(2 * bf16 + 4 * fp32 + 16 * 64);
  }
};

// A thread's scratch, carved into 64-byte aligned pieces; sized once per head (before anything is carved, so no
// piece moves) and reused across heads and calls.
class Arena {
 public:
  void prepare(size_t bytes) {
    if (buffer_.size() * 64 < bytes) buffer_.resize(bytes / 64 + 1);
    used_ = 0;
  }
  template <class T>
  T* take(int64_t n) {
    const size_t bytes = (static_cast<size_t>(n) * sizeof(T) + 63) / 64 * 64;
    T* p = reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(buffer_.data()) + used_);
    used_ += bytes;
    return p;
  }

 private:
  struct alignas(64) Line {
    unsigned char bytes[64];
  };
  std::vector<Line> buffer_;
  size_t used_ = 0;
};

Arena& thread_arena() {
  thread_local Arena arena;
  return arena;
}

// A head's left-hand operand with an even row length: x itself (row stride HS) when HS is even, else a padded copy.
const uint16_t* even_rows(const uint16_t* x, const HeadDims& d, Arena& arena, int64_t* ld) {
  if (d.HS % 2 == 0) {
    *ld = d.HS;
    return x;
  }
  *ld = d.HS + 1;
  uint16_t* copy = arena.take<uint16_t>(d.T * *ld);
  for (int64_t t = 0; t < d.T; t++) {
    std::memcpy(copy + t * *ld, x + t * d.HS, sizeof(uint16_t) * d.HS);
    copy[t * *ld + d.HS] = 0;
  }
  return copy;
}

// Softmax of one row of raw scores (scale, the mask's -10000 on padding) into probs; the P that P.V reads (dropped
// when p > 0) into used, bf16, zero from T to Tp.
void softmax_row(const float* scores, const float* mask, const HeadDims& d, const AttentionShape& s, uint64_t base,
                 uint32_t threshold, int64_t element0, float* probs, uint16_t* used) {
  const int64_t T = d.T;
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < T; j += 16) {
    const __mmask16 k = vec::tail_mask(T - j);
    const __m512 bias =
        _mm512_mul_ps(_mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_maskz_loadu_ps(k, mask + j)), _mm512_set1_ps(-1e4f));
    const __m512 z = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, scores + j), _mm512_set1_ps(s.scale), bias);
    _mm512_mask_storeu_ps(probs + j, k, z);
    vmax = _mm512_mask_max_ps(vmax, k, vmax, z);
  }
  const __m512 mx = _mm512_set1_ps(vec::reduce_max(vmax));
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < T; j += 16) {
    const __mmask16 k = vec::tail_mask(T - j);
    const __m512 e = vec::exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, probs + j), mx));
    _mm512_mask_storeu_ps(probs + j, k, e);
    vsum = _mm512_mask_add_ps(vsum, k, vsum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / vec::reduce_add(vsum));
  const __m512 keep_scale = _mm512_set1_ps(s.p > 0 ? 1.0f / (1.0f - s.p) : 1.0f);
  for (int64_t j = 0; j < d.Tp; j += 16) {
    const __mmask16 k = live(T - j);
    const __m512 pr = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, probs + j), inv);
    _mm512_mask_storeu_ps(probs + j, k, pr);
    __m512 u = _mm512_maskz_mov_ps(k, pr);
    if (s.p > 0) {
      const __mmask16 keep = k & vec::dropout_keep16(base, static_cast<uint64_t>(element0 + j), threshold);
      u = _mm512_maskz_mul_ps(keep, pr, keep_scale);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(used + j), vec::to_bf16(u));
  }
}

void forward_head(const uint16_t* q, const uint16_t* k, const uint16_t* v, const float* mask, float* probs, float* ctx,
                  const AttentionShape& s, int64_t head) {
  const HeadDims d(s);
  Arena& arena = thread_arena();
  arena.prepare(d.scratch_bytes());
  int64_t ldq;
  const uint16_t* qa = even_rows(q, d, arena, &ldq);
  uint16_t* kt = arena.take<uint16_t>(2 * d.hs_pairs * d.Tp);  // B(dim, key) = K[key][dim]
  pack_transposed(k, d.HS, d.T, d.HS, d.Tp, kt);
  uint16_t* vv = arena.take<uint16_t>(d.Tk * d.HSp);  // B(key, dim) = V[key][dim]
  pack_rows(v, d.HS, d.T, d.HS, d.HSp, vv);
  float* scores = arena.take<float>(kRowBlock * d.Tp);
  uint16_t* used = arena.take<uint16_t>(kRowBlock * d.Tp);
  float* out = d.HS == d.HSp ? nullptr : arena.take<float>(kRowBlock * d.HSp);
  const uint64_t base = dropout_base(s.key);
  const uint32_t threshold = dropout_threshold(s.p);
  for (int64_t r0 = 0; r0 < d.T; r0 += kRowBlock) {
    const int64_t rows = std::min<int64_t>(kRowBlock, d.T - r0);
    gemm_bf16(rows, d.Tp, d.hs_pairs, qa + r0 * ldq, ldq, kt, scores, d.Tp, false);
    for (int64_t i = 0; i < rows; i++) {
      const int64_t element0 = (head * d.T + r0 + i) * d.T;
      softmax_row(scores + i * d.Tp, mask, d, s, base, threshold, element0, probs + (r0 + i) * d.T, used + i * d.Tp);
    }
    float* c = out ? out : ctx + r0 * d.HS;
    gemm_bf16(rows, d.HSp, d.Tk / 2, used, d.Tp, vv, c, out ? d.HSp : d.HS, false);
    if (out)
      for (int64_t i = 0; i < rows; i++) std::memcpy(ctx + (r0 + i) * d.HS, out + i * d.HSp, sizeof(float) * d.HS);
  }
}

// One row's softmax-and-dropout backward: dS = scale * P * (dPd * keep - <dPd * keep, P>) with keep the dropout
// factor (0 or 1 / (1 - p)), into ds (bf16); and the dropped probabilities P * keep into pd (bf16). Both zero from T
// to Tp.
void softmax_backward_row(const float* dpd, const float* pr, const HeadDims& d, const AttentionShape& s, uint64_t base,
                          uint32_t threshold, int64_t element0, uint16_t* ds, uint16_t* pd) {
  const int64_t T = d.T;
  const __m512 keep_scale = _mm512_set1_ps(s.p > 0 ? 1.0f / (1.0f - s.p) : 1.0f);
  auto kept = [&](int64_t j) {
    const __mmask16 k = live(T - j);
    return s.p > 0 ? static_cast<__mmask16>(k & vec::dropout_keep16(base, element0 + j, threshold)) : k;
  };
  __m512 vdot = _mm512_setzero_ps();
  for (int64_t j = 0; j < T; j += 16) {
    const __mmask16 k = kept(j);
    const __m512 dp = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dpd + j), keep_scale);
    vdot = _mm512_fmadd_ps(dp, _mm512_maskz_loadu_ps(k, pr + j), vdot);
  }
  const __m512 dot = _mm512_set1_ps(vec::reduce_add(vdot));
  for (int64_t j = 0; j < d.Tp; j += 16) {
    const __mmask16 all = live(T - j);
    const __mmask16 k = kept(j);
    const __m512 p = _mm512_maskz_loadu_ps(all, pr + j);
    const __m512 dp = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dpd + j), keep_scale);
    const __m512 g = _mm512_mul_ps(_mm512_mul_ps(p, _mm512_sub_ps(dp, dot)), _mm512_set1_ps(s.scale));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(ds + j), vec::to_bf16(_mm512_maskz_mov_ps(all, g)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(pd + j), vec::to_bf16(_mm512_maskz_mul_ps(k, p, keep_scale)));
  }
}

// dst(T, HS) = src(HS, ld)^T, fp32
void transpose_out(const float* src, int64_t ld, int64_t T, int64_t HS, float* dst) {
  for (int64_t t = 0; t < T; t++)
    for (int64_t c = 0; c < HS; c++) dst[t * HS + c] = src[c * ld + t];
}

void backward_head(const uint16_t* d_ctx, const float* probs, const uint16_t* q, const uint16_t* k, const uint16_t* v,
                   float* dq, float* dk, float* dv, const AttentionShape& s, int64_t head) {
  const HeadDims d(s);
  Arena& arena = thread_arena();
  arena.prepare(d.scratch_bytes());
  int64_t ldc;
  const uint16_t* dca = even_rows(d_ctx, d, arena, &ldc);
  uint16_t* vt = arena.take<uint16_t>(2 * d.hs_pairs * d.Tp);  // B(dim, key) = V[key][dim]
  pack_transposed(v, d.HS, d.T, d.HS, d.Tp, vt);
  uint16_t* kr = arena.take<uint16_t>(d.Tk * d.HSp);  // B(key, dim) = K[key][dim]
  pack_rows(k, d.HS, d.T, d.HS, d.HSp, kr);
  uint16_t* dct = arena.take<uint16_t>(d.HS * d.Tk);  // dC^T and Q^T: the left operands of dV^T and dK^T
  transpose_bf16(d_ctx, d.HS, d.T, d.HS, dct, d.Tk);
  uint16_t* qt = arena.take<uint16_t>(d.HS * d.Tk);
  transpose_bf16(q, d.HS, d.T, d.HS, qt, d.Tk);
  float* dvt = arena.take<float>(d.HS * d.Tp);
  float* dkt = arena.take<float>(d.HS * d.Tp);
  float* dp = arena.take<float>(kRowBlock * d.Tp);
  uint16_t* ds = arena.take<uint16_t>(kRowBlock * d.Tp);
  uint16_t* pd = arena.take<uint16_t>(kRowBlock * d.Tp);
  uint16_t* ds_vnni = arena.take<uint16_t>(kRowBlock * d.Tp);
  uint16_t* pd_vnni = arena.take<uint16_t>(kRowBlock * d.Tp);
  float* out = d.HS == d.HSp ? nullptr : arena.take<float>(kRowBlock * d.HSp);
  const uint64_t base = dropout_base(s.key);
  const uint32_t threshold = dropout_threshold(s.p);
  for (int64_t r0 = 0; r0 < d.T; r0 += kRowBlock) {
    const int64_t rows = std::min<int64_t>(kRowBlock, d.T - r0);
    // dPd = dC . V^T for the block's rows, then dS and Pd row by row
    gemm_bf16(rows, d.Tp, d.hs_pairs, dca + r0 * ldc, ldc, vt, dp, d.Tp, false);
    for (int64_t i = 0; i < rows; i++) {
      const int64_t element0 = (head * d.T + r0 + i) * d.T;
      softmax_backward_row(dp + i * d.Tp, probs + (r0 + i) * d.T, d, s, base, threshold, element0, ds + i * d.Tp,
                           pd + i * d.Tp);
    }
    // dQ = dS . K ; dV^T += dC^T . Pd ; dK^T += Q^T . dS (over this block's queries)
    float* c = out ? out : dq + r0 * d.HS;
    gemm_bf16(rows, d.HSp, d.Tk / 2, ds, d.Tp, kr, c, out ? d.HSp : d.HS, false);
    if (out)
      for (int64_t i = 0; i < rows; i++) std::memcpy(dq + (r0 + i) * d.HS, out + i * d.HSp, sizeof(float) * d.HS);
    pack_rows(pd, d.Tp, rows, d.T, d.Tp, pd_vnni);
    pack_rows(ds, d.Tp, rows, d.T, d.Tp, ds_vnni);
    const int64_t pairs = (rows + 1) / 2;  // an odd last block pairs its last row with dC^T's and Q^T's zero column
    gemm_bf16(d.HS, d.Tp, pairs, dct + r0, d.Tk, pd_vnni, dvt, d.Tp, r0 > 0);
    gemm_bf16(d.HS, d.Tp, pairs, qt + r0, d.Tk, ds_vnni, dkt, d.Tp, r0 > 0);
  }
  transpose_out(dvt, d.Tp, d.T, d.HS, dv);
  transpose_out(dkt, d.Tp, d.T, d.HS, dk);
}

void fused_forward(const uint16_t* q, const uint16_t* k, const uint16_t* v, const float* mask, float* probs, float* ctx,
                   const AttentionShape& s) {
  const int64_t heads = static_cast<int64_t>(s.B) * s.NH;
  const int64_t block = static_cast<int64_t>(s.T) * s.HS;
#pragma omp parallel for schedule(static)
  for (int64_t h = 0; h < heads; h++)
    forward_head(q + h * block, k + h * block, v + h * block, mask + (h / s.NH) * s.T,
                 probs + h * static_cast<int64_t>(s.T) * s.T, ctx + h * block, s, h);
}

void fused_backward(const uint16_t* d_ctx, const float* probs, const uint16_t* q, const uint16_t* k, const uint16_t* v,
                    float* dq, float* dk, float* dv, const AttentionShape& s) {
  const int64_t heads = static_cast<int64_t>(s.B) * s.NH;
  const int64_t block = static_cast<int64_t>(s.T) * s.HS;
#pragma omp parallel for schedule(static)
  for (int64_t h = 0; h < heads; h++)
    backward_head(d_ctx + h * block, probs + h * static_cast<int64_t>(s.T) * s.T, q + h * block, k + h * block,
                  v + h * block, dq + h * block, dk + h * block, dv + h * block, s, h);
}

}  // namespace

const FusedAttention* cpu_fused_attention() {
  static const FusedAttention table{fused_forward, fused_backward};
  return &table;
}

bool cpu_fused_attention_preferred() {
#if defined(__AMX_BF16__)
  return false;
#else
  return true;
#endif
}

#else

const FusedAttention* cpu_fused_attention() { return nullptr; }
bool cpu_fused_attention_preferred() { return false; }

#endif

}  // namespace bert
