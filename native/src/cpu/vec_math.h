// AVX-512 building blocks for the fast kernels: exp, erf, tanh on 16 floats, masked tail loads, the 16-lane
// dropout keep-mask and fp32 -> bf16 rounding (stores of an output and its bf16 copy). Accuracy: exp within 2 ulp
// (exactly 0 below -87.3); erf within 1.5e-7 absolute (Abramowitz & Stegun 7.1.26); tanh within 2e-7 absolute. Only
// compiled where __AVX512F__ is defined.
#pragma once
#ifdef __AVX512F__
#include <immintrin.h>

#include <cstdint>

#include "bert/dropout_rng.h"

namespace bert::vec {

inline __mmask16 tail_mask(int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << remaining) - 1u);
}

inline __m512 exp(__m512 x) {
  // Below -87.3, e^x is under FLT_MIN: the result there is exactly 0, never a subnormal. A masked attention key
  // (score near -10000) gets probability 0 as in PyTorch, and no subnormal reaches the GEMMs that follow: each
  // subnormal operand costs an Intel core a microcode assist (a padded batch ran 4x slower on a Xeon).
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_LT_OQ);
  // Clamp to the finite range. MIN/MAX return their second operand when either is NaN, so x goes second: a NaN
  // must come out as NaN, never as a finite number that hides a diverged model.
  x = _mm512_max_ps(_mm512_set1_ps(-87.3f), _mm512_min_ps(_mm512_set1_ps(88.7f), x));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_mask_mov_ps(_mm512_scalef_ps(p, n), underflow, _mm512_setzero_ps());
}

inline __m512 erf(__m512 x) {
  __m512 ax = _mm512_abs_ps(x);
  __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(ax, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
  __m512 p = _mm512_set1_ps(1.061405429f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
  p = _mm512_mul_ps(p, t);
  __m512 e = exp(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), ax), ax));
  __m512 y = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
  // erf is odd: copy the sign of x onto y.
  const __m512 sign_bit = _mm512_set1_ps(-0.0f);
  return _mm512_or_ps(y, _mm512_and_ps(x, sign_bit));
}

inline __m512 tanh(__m512 x) {
  // tanh(x) = 1 - 2 / (exp(2x) + 1); for small |x| the odd Taylor series is more accurate.
  __m512 e = exp(_mm512_add_ps(x, x));
  __m512 big =
      _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
  __m512 x2 = _mm512_mul_ps(x, x);
  __m512 s = _mm512_set1_ps(-17.0f / 315.0f);
  s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(2.0f / 15.0f));
  s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(-1.0f / 3.0f));
  s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(1.0f));
  __m512 small = _mm512_mul_ps(s, x);
  __mmask16 is_small = _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(0.05f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, big, small);
}

inline __m512i mix64(__m512i z) {
  z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 30));
  z = _mm512_mullo_epi64(z, _mm512_set1_epi64(static_cast<int64_t>(0xbf58476d1ce4e5b9ULL)));
  z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));
  z = _mm512_mullo_epi64(z, _mm512_set1_epi64(static_cast<int64_t>(0x94d049bb133111ebULL)));
  z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
  return z;
}

// Lanes of elements i0 .. i0+15 that dropout keeps: the vector form of dropout_bits(base, i) >= threshold.
inline __mmask16 dropout_keep16(uint64_t base, uint64_t i0, uint32_t threshold) {
  const __m512i golden = _mm512_set1_epi64(static_cast<int64_t>(0x9e3779b97f4a7c15ULL));
  __m512i lane = _mm512_set_epi64(8, 7, 6, 5, 4, 3, 2, 1);
  __m512i first = _mm512_add_epi64(_mm512_set1_epi64(static_cast<int64_t>(i0)), lane);
  __m512i second = _mm512_add_epi64(first, _mm512_set1_epi64(8));
  __m512i vbase = _mm512_set1_epi64(static_cast<int64_t>(base));
  __m512i lo = mix64(_mm512_add_epi64(vbase, _mm512_mullo_epi64(first, golden)));
  __m512i hi = mix64(_mm512_add_epi64(vbase, _mm512_mullo_epi64(second, golden)));
  __m256i lo32 = _mm512_cvtepi64_epi32(_mm512_srli_epi64(lo, 32));
  __m256i hi32 = _mm512_cvtepi64_epi32(_mm512_srli_epi64(hi, 32));
  __m512i bits = _mm512_inserti64x4(_mm512_castsi256_si512(lo32), hi32, 1);
  return _mm512_cmpge_epu32_mask(bits, _mm512_set1_epi32(static_cast<int32_t>(threshold)));
}

inline float reduce_add(__m512 v) { return _mm512_reduce_add_ps(v); }
inline float reduce_max(__m512 v) { return _mm512_reduce_max_ps(v); }

// 16 floats rounded to bf16 as the reference's convert_to_bf16 rounds them (to nearest even, NaN kept quiet)
inline __m256i to_bf16(__m512 v) {
#if defined(__AVX512BF16__)
  const __m256bh packed = _mm512_cvtneps_pbh(v);
  return reinterpret_cast<const __m256i&>(packed);
#else
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40)));
  return _mm512_cvtepi32_epi16(rounded);
#endif
}

// Stores the lanes of `k` to the fp32 output, its bf16 copy, or both (either may be null).
inline void store(float* out, uint16_t* out_bf16, __mmask16 k, __m512 v) {
  if (out) _mm512_mask_storeu_ps(out, k, v);
  if (out_bf16) _mm256_mask_storeu_epi16(out_bf16, k, to_bf16(v));
}

}  // namespace bert::vec
#endif  // __AVX512F__
