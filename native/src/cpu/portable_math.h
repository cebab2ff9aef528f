// exp, erf and tanh on one float, written without branches so that a `#pragma omp simd` loop calling them compiles
// to whatever vectors the CPU has (AVX2 on x86 without AVX-512, NEON on Arm). The same polynomials and the same
// accuracy as vec_math.h's AVX-512 forms: exp within 2 ulp and exactly 0 below -87.3 (never a subnormal); erf within
// 1.5e-7 absolute (Abramowitz & Stegun 7.1.26); tanh within 2e-7 absolute. NaN in, NaN out. No std::fma: without an
// FMA unit it is a library call; `a * b + c` becomes one where the CPU has it. The files that use these are built
// with -fno-trapping-math: otherwise GCC keeps each `?:` as a branch (the side not taken might raise a
// floating-point exception) and leaves the loop scalar. We never enable FP traps, and the flag changes no result.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace bert::portable {

inline uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

inline float float_of(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// 2^k for k in [-126, 127], built in the exponent field.
inline float pow2(int32_t k) { return float_of(static_cast<uint32_t>(k + 127) << 23); }

inline float exp(float x) {
  const bool underflow = x < -87.3f;
  // Comparisons with NaN are false, so a NaN passes both clamps and the polynomial keeps it NaN.
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  // n = round(x / ln 2) by the 1.5 * 2^23 shifter: t's low mantissa bits then hold n itself, read without a
  // float-to-int conversion (undefined for NaN).
  const float shifter = 12582912.0f;
  const float t = x * 1.44269504088896341f + shifter;
  const float n = t - shifter;
  const int32_t k = static_cast<int32_t>(bits_of(t) - bits_of(shifter));
  float r = x - n * 0.693145751953125f;  // ln 2 in two parts: n * high part is exact
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // n spans [-126, 128]: two factors 2^(n/2) and 2^(n - n/2) stay normal floats at both ends.
  const int32_t half = k / 2;
  const float y = p * pow2(half) * pow2(k - half);
  return underflow ? 0.0f : y;
}

inline float erf(float x) {
  const float ax = std::fabs(x);
  const float t = 1.0f / (ax * 0.3275911f + 1.0f);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  p = p * t;
  return std::copysign(1.0f - p * exp(-ax * ax), x);
}

inline float tanh(float x) {
  // tanh(x) = 1 - 2 / (exp(2x) + 1); for small |x| the odd Taylor series is more accurate.
  const float big = 1.0f - 2.0f / (exp(x + x) + 1.0f);
  const float x2 = x * x;
  float s = -17.0f / 315.0f;
  s = s * x2 + 2.0f / 15.0f;
  s = s * x2 - 1.0f / 3.0f;
  s = s * x2 + 1.0f;
  return std::fabs(x) < 0.05f ? s * x : big;
}

}  // namespace bert::portable
