// Fused scaled dot-product attention for bf16 runs on CPUs with AVX512-BF16. Each (batch, head) is one task; its
// query rows go in blocks, so a block's scores, softmax and dropout stay in cache between the two products that
// bracket them. The products multiply pairs of bf16 along the inner dimension (AMX tiles where the CPU has them,
// vdpbf16ps otherwise), so the right-hand operand is packed with pairs of its rows interleaved ("VNNI" layout:
// element (k, n) at ((k / 2) * Np + n) * 2 + k % 2), the layout both read; the left-hand one is read row-major.
// Every operand of a head is padded with zeros to multiples of 32. The backward regenerates the dropped
// probabilities from the stored fp32 ones and their dropout key.
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
#include "cpu/amx.h"
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

// c(M, Np) (+)= a(M, 2 pairs) . b(2 pairs, Np), b in VNNI layout, on vdpbf16ps: M, Np multiples of 32, pairs of 16
// (every operand of a head is padded so; see HeadDims), a's and b's padding zero.
void gemm_dot(int64_t M, int64_t Np, int64_t pairs, const uint16_t* a, int64_t lda, const uint16_t* b, float* c,
              int64_t ldc, bool accumulate) {
  for (int64_t n = 0; n < Np; n += 16 * kNb) {
    const int nb = static_cast<int>(std::min<int64_t>(kNb, (Np - n) / 16));
    for (int64_t m = 0; m < M; m += kMr) {
      const int mr = static_cast<int>(std::min<int64_t>(kMr, M - m));
      kernel_of(mr, nb)(a + m * lda, lda, b + 2 * n, 2 * Np, pairs, c + m * ldc + n, ldc, accumulate);
    }
  }
}

#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
// The same product on AMX tiles, 32 x 32 of c at a time (four 16 x 16 accumulator tiles; tiles 4 and 5 hold 16 rows
// of a by 32 of the inner dimension, 6 and 7 sixteen pairs of b's rows by 16 columns: the VNNI layout is the one a
// tile of b wants). The calling thread has loaded amx::TileConfig.
void gemm_amx(int64_t M, int64_t Np, int64_t pairs, const uint16_t* a, int64_t lda, const uint16_t* b, float* c,
              int64_t ldc, bool accumulate) {
  const int64_t a_stride = 2 * lda, b_stride = 4 * Np, c_stride = 4 * ldc;
  for (int64_t m = 0; m < M; m += 32)
    for (int64_t n = 0; n < Np; n += 32) {
      float* c0 = c + m * ldc + n;
      float* c1 = c0 + 16 * ldc;
      if (accumulate) {
        _tile_loadd(0, c0, c_stride);
        _tile_loadd(1, c0 + 16, c_stride);
        _tile_loadd(2, c1, c_stride);
        _tile_loadd(3, c1 + 16, c_stride);
      } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
      }
      for (int64_t kp = 0; kp < pairs; kp += 16) {
        _tile_loadd(4, a + m * lda + 2 * kp, a_stride);
        _tile_loadd(5, a + (m + 16) * lda + 2 * kp, a_stride);
        _tile_loadd(6, b + 2 * (kp * Np + n), b_stride);
        _tile_loadd(7, b + 2 * (kp * Np + n + 16), b_stride);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, c0, c_stride);
      _tile_stored(1, c0 + 16, c_stride);
      _tile_stored(2, c1, c_stride);
      _tile_stored(3, c1 + 16, c_stride);
    }
}

bool use_amx() { return amx::granted(); }
#else
void gemm_amx(int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*, float*, int64_t, bool) {}
bool use_amx() { return false; }
#endif

using Gemm = void (*)(int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*, float*, int64_t, bool);

// A head's products run on AMX where the CPU has it and the kernel granted it, else on vdpbf16ps. While it lives,
// the thread holds the tile configuration.
class HeadGemm {
 public:
  explicit HeadGemm(bool allow_amx) : amx_(allow_amx && use_amx()) {
#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
    if (amx_) {
      static const amx::TileConfig config;
      _tile_loadconfig(&config);
    }
#endif
  }
  ~HeadGemm() {
#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
    if (amx_) _tile_release();
#endif
  }
  HeadGemm(const HeadGemm&) = delete;
  HeadGemm& operator=(const HeadGemm&) = delete;
  void operator()(int64_t M, int64_t Np, int64_t pairs, const uint16_t* a, int64_t lda, const uint16_t* b, float* c,
                  int64_t ldc, bool accumulate) const {
    (amx_ ? gemm_amx : gemm_dot)(M, Np, pairs, a, lda, b, c, ldc, accumulate);
  }

 private:
  bool amx_;
};

// VNNI layout of B(k, n) = x[k][n] (K rows of N, row stride ldx) with Np columns and `pairs` pairs of rows; padding
// zero.
void pack_rows(const uint16_t* x, int64_t ldx, int64_t K, int64_t N, int64_t Np, int64_t pairs, uint16_t* out) {
  for (int64_t kp = 0; kp < pairs; kp++) {
    const uint16_t* r0 = 2 * kp < K ? x + 2 * kp * ldx : nullptr;
    const uint16_t* r1 = 2 * kp + 1 < K ? x + (2 * kp + 1) * ldx : nullptr;
    for (int64_t n = 0; n < Np; n += 16) {
      const __mmask16 k = live(N - n);
      const __m512i lo = r0 ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, r0 + n)) : _mm512_setzero_si512();
      const __m512i hi = r1 ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, r1 + n)) : _mm512_setzero_si512();
      _mm512_storeu_si512(out + 2 * (kp * Np + n), _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
}

// out[c][r] = x[r][c] for one 16 x 16 block of 32-bit words: pairs of rows interleaved, then pairs of pairs, then
// the 128-bit lanes gathered (after the second step, b[4i + c] holds in its lane L column 4L + c of rows 4i..4i+3).
// GCC 12's unpack intrinsics pass an undefined vector as their merge source, which -Wuninitialized reports.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
void transpose_block16(const uint32_t* x, int64_t ldx, uint32_t* out, int64_t ldo) {
  __m512i r[16], a[16], b[16];
  for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(x + i * ldx);
  for (int i = 0; i < 8; i++) {
    a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
    b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
  }
  for (int c = 0; c < 4; c++) {
    const __m512i even_low = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x88),
                  odd_low = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xdd);
    const __m512i even_high = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x88);
    const __m512i odd_high = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xdd);
    _mm512_storeu_si512(out + c * ldo, _mm512_shuffle_i32x4(even_low, even_high, 0x88));
    _mm512_storeu_si512(out + (8 + c) * ldo, _mm512_shuffle_i32x4(even_low, even_high, 0xdd));
    _mm512_storeu_si512(out + (4 + c) * ldo, _mm512_shuffle_i32x4(odd_low, odd_high, 0x88));
    _mm512_storeu_si512(out + (12 + c) * ldo, _mm512_shuffle_i32x4(odd_low, odd_high, 0xdd));
  }
}
#pragma GCC diagnostic pop

// out[c][r] = x[r][c] for r < R, c < C (32-bit words); the rest of out untouched.
void transpose32(const uint32_t* x, int64_t ldx, int64_t R, int64_t C, uint32_t* out, int64_t ldo) {
  const int64_t R16 = R / 16 * 16, C16 = C / 16 * 16;
  for (int64_t r = 0; r < R16; r += 16)
    for (int64_t c = 0; c < C16; c += 16) transpose_block16(x + r * ldx + c, ldx, out + c * ldo + r, ldo);
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = r < R16 ? C16 : 0; c < C; c++) out[c * ldo + r] = x[r * ldx + c];
}

// VNNI layout of B(k, n) = x[n][k] (N rows of K, row stride ldx) with Np columns and `pairs` pairs: a pair
// (x[n][2p], x[n][2p+1]) is one 32-bit word, so this is a transpose of 32-bit words; padding zero.
void pack_transposed(const uint16_t* x, int64_t ldx, int64_t N, int64_t K, int64_t Np, int64_t pairs, uint16_t* out) {
  uint32_t* o = reinterpret_cast<uint32_t*>(out);
  std::memset(o, 0, sizeof(uint32_t) * pairs * Np);
  if (K % 2 == 0 && ldx % 2 == 0) {
    transpose32(reinterpret_cast<const uint32_t*>(x), ldx / 2, N, K / 2, o, Np);
    return;
  }
  for (int64_t n = 0; n < N; n++)
    for (int64_t kp = 0; 2 * kp < K; kp++) {
      const uint32_t second = 2 * kp + 1 < K ? x[n * ldx + 2 * kp + 1] : 0;
      o[kp * Np + n] = x[n * ldx + 2 * kp] | (second << 16);
    }
}

// out(Cp, Tp) = x(T, C)^T (row stride ldx), its padding zero, through `words` (Tp * Cp bf16 of scratch): pairs of
// x's rows interleaved are 32-bit words whose transpose is the bf16 transpose.
void transpose_bf16(const uint16_t* x, int64_t ldx, int64_t T, int64_t C, int64_t Tp, int64_t Cp, uint16_t* words,
                    uint16_t* out) {
  pack_rows(x, ldx, T, C, Cp, Tp / 2, words);
  transpose32(reinterpret_cast<const uint32_t*>(words), Cp, Tp / 2, Cp, reinterpret_cast<uint32_t*>(out), Tp / 2);
}

// out(Rp, ldo) = x(R, C) with row stride ldx; the padding (columns from C, rows from R) zero.
void copy_padded(const uint16_t* x, int64_t ldx, int64_t R, int64_t C, int64_t Rp, uint16_t* out, int64_t ldo) {
  std::memset(out, 0, sizeof(uint16_t) * Rp * ldo);
  for (int64_t r = 0; r < R; r++) std::memcpy(out + r * ldo, x + r * ldx, sizeof(uint16_t) * C);
}

// One head's sizes, padded for the products: every dimension to a multiple of 32 (AMX's 16-row tiles in pairs, and
// 32 bf16 of the inner dimension per tile row). Tp: the sequence (columns of the scores, inner length of P.V);
// HSp: the head size (columns of the context, inner length of Q.K^T, rows of dV^T).
struct HeadDims {
  int64_t T, HS, Tp, HSp;
  explicit HeadDims(const AttentionShape& s) : T(s.T), HS(s.HS), Tp(round_up(s.T, 32)), HSp(round_up(s.HS, 32)) {}
  // Bytes of everything one head's forward or backward carves from its arena (with each piece's alignment).
  size_t scratch_bytes() const {
    const int64_t bf16 = 6 * Tp * HSp + 4 * kRowBlock * Tp;
    const int64_t fp32 = 2 * HSp * Tp + kRowBlock * Tp + kRowBlock * HSp;
    return static_cast<size_t>(2 * bf16 + 4 * fp32 + 2 * Tp / 16 + 20 * 64);
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

// Rows `from` .. `to` of a block operand (row length Tp) zero: the padding of a last, partial block.
void zero_rows(uint16_t* x, int64_t from, int64_t to, int64_t Tp) {
  if (to > from) std::memset(x + from * Tp, 0, sizeof(uint16_t) * (to - from) * Tp);
}

// rows x HS of dst (row stride HS) from src (row stride ld)
void copy_rows_out(const float* src, int64_t ld, int64_t rows, int64_t HS, float* dst) {
  for (int64_t i = 0; i < rows; i++) std::memcpy(dst + i * HS, src + i * ld, sizeof(float) * HS);
}

// The three operands each pass starts from, in the arena: `left` row-major with its padding (Q; in the backward dC),
// `right_t` as B(dim, key) = right_t[key][dim] (K; V) and `right` as B(key, dim) = right[key][dim] (V; K).
struct PackedHead {
  const uint16_t *left, *right_t, *right;
};

PackedHead pack_head(const uint16_t* left, const uint16_t* right_t, const uint16_t* right, const HeadDims& d,
                     Arena& arena) {
  uint16_t* a = arena.take<uint16_t>(d.Tp * d.HSp);
  copy_padded(left, d.HS, d.T, d.HS, d.Tp, a, d.HSp);
  uint16_t* bt = arena.take<uint16_t>(d.HSp * d.Tp);
  pack_transposed(right_t, d.HS, d.T, d.HS, d.Tp, d.HSp / 2, bt);
  uint16_t* b = arena.take<uint16_t>(d.Tp * d.HSp);
  pack_rows(right, d.HS, d.T, d.HS, d.HSp, d.Tp / 2, b);
  return PackedHead{a, bt, b};
}

void forward_head(const uint16_t* q, const uint16_t* k, const uint16_t* v, const float* mask, float* probs, float* ctx,
                  const AttentionShape& s, int64_t head, bool allow_amx) {
  const HeadDims d(s);
  const HeadGemm gemm(allow_amx);
  Arena& arena = thread_arena();
  arena.prepare(d.scratch_bytes());
  const PackedHead packed = pack_head(q, k, v, d, arena);
  const uint16_t *qa = packed.left, *kt = packed.right_t, *vv = packed.right;
  float* scores = arena.take<float>(kRowBlock * d.Tp);
  uint16_t* used = arena.take<uint16_t>(kRowBlock * d.Tp);
  float* out = arena.take<float>(kRowBlock * d.HSp);
  const uint64_t base = dropout_base(s.key);
  const uint32_t threshold = dropout_threshold(s.p);
  for (int64_t r0 = 0; r0 < d.T; r0 += kRowBlock) {
    const int64_t rows = std::min<int64_t>(kRowBlock, d.T - r0), padded = round_up(rows, 32);
    gemm(padded, d.Tp, d.HSp / 2, qa + r0 * d.HSp, d.HSp, kt, scores, d.Tp, false);
    for (int64_t i = 0; i < rows; i++) {
      const int64_t element0 = (head * d.T + r0 + i) * d.T;
      softmax_row(scores + i * d.Tp, mask, d, s, base, threshold, element0, probs + (r0 + i) * d.T, used + i * d.Tp);
    }
    zero_rows(used, rows, padded, d.Tp);
    gemm(padded, d.HSp, d.Tp / 2, used, d.Tp, vv, out, d.HSp, false);
    copy_rows_out(out, d.HSp, rows, d.HS, ctx + r0 * d.HS);
  }
}

// One row's softmax-and-dropout backward: dS = scale * P * (dPd * keep - <dPd * keep, P>) with keep the dropout
// factor (0 or 1 / (1 - p)), into ds (bf16); and the dropped probabilities P * keep into pd (bf16). Both zero from T
// to Tp. The row's dropout masks are drawn once, into `masks` (Tp / 16 of them).
void softmax_backward_row(const float* dpd, const float* pr, const HeadDims& d, const AttentionShape& s, uint64_t base,
                          uint32_t threshold, int64_t element0, __mmask16* masks, uint16_t* ds, uint16_t* pd) {
  const int64_t T = d.T;
  const __m512 keep_scale = _mm512_set1_ps(s.p > 0 ? 1.0f / (1.0f - s.p) : 1.0f);
  for (int64_t j = 0; j < d.Tp; j += 16) {
    const __mmask16 k = live(T - j);
    masks[j / 16] = s.p > 0 && k ? static_cast<__mmask16>(k & vec::dropout_keep16(base, element0 + j, threshold)) : k;
  }
  auto kept = [&](int64_t j) { return masks[j / 16]; };
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
  transpose32(reinterpret_cast<const uint32_t*>(src), ld, HS, T, reinterpret_cast<uint32_t*>(dst), HS);
}

void backward_head(const uint16_t* d_ctx, const float* probs, const uint16_t* q, const uint16_t* k, const uint16_t* v,
                   float* dq, float* dk, float* dv, const AttentionShape& s, int64_t head, bool allow_amx) {
  const HeadDims d(s);
  const HeadGemm gemm(allow_amx);
  Arena& arena = thread_arena();
  arena.prepare(d.scratch_bytes());
  const PackedHead packed = pack_head(d_ctx, v, k, d, arena);
  const uint16_t *dca = packed.left, *vt = packed.right_t, *kr = packed.right;
  uint16_t* words = arena.take<uint16_t>(d.Tp * d.HSp);
  uint16_t* dct = arena.take<uint16_t>(d.HSp * d.Tp);  // dC^T and Q^T: the left operands of dV^T and dK^T
  transpose_bf16(d_ctx, d.HS, d.T, d.HS, d.Tp, d.HSp, words, dct);
  uint16_t* qt = arena.take<uint16_t>(d.HSp * d.Tp);
  transpose_bf16(q, d.HS, d.T, d.HS, d.Tp, d.HSp, words, qt);
  float* dvt = arena.take<float>(d.HSp * d.Tp);
  float* dkt = arena.take<float>(d.HSp * d.Tp);
  float* dp = arena.take<float>(kRowBlock * d.Tp);
  uint16_t* ds = arena.take<uint16_t>(kRowBlock * d.Tp);
  uint16_t* pd = arena.take<uint16_t>(kRowBlock * d.Tp);
  uint16_t* ds_vnni = arena.take<uint16_t>(kRowBlock * d.Tp);
  uint16_t* pd_vnni = arena.take<uint16_t>(kRowBlock * d.Tp);
  float* out = arena.take<float>(kRowBlock * d.HSp);
  __mmask16* masks = arena.take<__mmask16>(d.Tp / 16);
  const uint64_t base = dropout_base(s.key);
  const uint32_t threshold = dropout_threshold(s.p);
  for (int64_t r0 = 0; r0 < d.T; r0 += kRowBlock) {
    const int64_t rows = std::min<int64_t>(kRowBlock, d.T - r0), padded = round_up(rows, 32);
    // dPd = dC . V^T for the block's rows, then dS and Pd row by row
    gemm(padded, d.Tp, d.HSp / 2, dca + r0 * d.HSp, d.HSp, vt, dp, d.Tp, false);
    for (int64_t i = 0; i < rows; i++) {
      const int64_t element0 = (head * d.T + r0 + i) * d.T;
      softmax_backward_row(dp + i * d.Tp, probs + (r0 + i) * d.T, d, s, base, threshold, element0, masks, ds + i * d.Tp,
                           pd + i * d.Tp);
    }
    zero_rows(ds, rows, padded, d.Tp);
    // dQ = dS . K ; dV^T += dC^T . Pd ; dK^T += Q^T . dS (over this block's queries)
    gemm(padded, d.HSp, d.Tp / 2, ds, d.Tp, kr, out, d.HSp, false);
    copy_rows_out(out, d.HSp, rows, d.HS, dq + r0 * d.HS);
    pack_rows(pd, d.Tp, rows, d.T, d.Tp, padded / 2, pd_vnni);
    pack_rows(ds, d.Tp, rows, d.T, d.Tp, padded / 2, ds_vnni);
    gemm(d.HSp, d.Tp, padded / 2, dct + r0, d.Tp, pd_vnni, dvt, d.Tp, r0 > 0);
    gemm(d.HSp, d.Tp, padded / 2, qt + r0, d.Tp, ds_vnni, dkt, d.Tp, r0 > 0);
  }
  transpose_out(dvt, d.Tp, d.T, d.HS, dv);
  transpose_out(dkt, d.Tp, d.T, d.HS, dk);
}

template <bool kAllowAmx>
void fused_forward(const uint16_t* q, const uint16_t* k, const uint16_t* v, const float* mask, float* probs, float* ctx,
                   const AttentionShape& s) {
  const int64_t heads = static_cast<int64_t>(s.B) * s.NH;
  const int64_t block = static_cast<int64_t>(s.T) * s.HS;
#pragma omp parallel for schedule(static)
  for (int64_t h = 0; h < heads; h++)
    forward_head(q + h * block, k + h * block, v + h * block, mask + (h / s.NH) * s.T,
                 probs + h * static_cast<int64_t>(s.T) * s.T, ctx + h * block, s, h, kAllowAmx);
}

template <bool kAllowAmx>
void fused_backward(const uint16_t* d_ctx, const float* probs, const uint16_t* q, const uint16_t* k, const uint16_t* v,
                    float* dq, float* dk, float* dv, const AttentionShape& s) {
  const int64_t heads = static_cast<int64_t>(s.B) * s.NH;
  const int64_t block = static_cast<int64_t>(s.T) * s.HS;
#pragma omp parallel for schedule(static)
  for (int64_t h = 0; h < heads; h++)
    backward_head(d_ctx + h * block, probs + h * static_cast<int64_t>(s.T) * s.T, q + h * block, k + h * block,
                  v + h * block, dq + h * block, dk + h * block, dv + h * block, s, h, kAllowAmx);
}

}  // namespace

const FusedAttention* cpu_fused_attention() {
  static const FusedAttention table{fused_forward<true>, fused_backward<true>};
  return &table;
}

const FusedAttention* cpu_fused_attention_without_amx() {
  static const FusedAttention table{fused_forward<false>, fused_backward<false>};
  return &table;
}

#else

const FusedAttention* cpu_fused_attention() { return nullptr; }
const FusedAttention* cpu_fused_attention_without_amx() { return nullptr; }

#endif

}  // namespace bert
