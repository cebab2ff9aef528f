// Peak arithmetic throughput: each thread runs a loop of register-only FMAs (or bf16 dot products) on 24
// independent accumulators, more than latency × issue width needs (8 for the FMA), so the loop is bound by issue
// rate alone. The unroll pragmas and distinct starting values keep the accumulators in registers and apart: without
// them GCC kept them in a stack array, or computed identical ones once. FLOPs: an fp32 FMA on 16 lanes is 32 (on
// AVX2's 8 lanes, 16); a `vdpbf16ps` adds two bf16 products into each of 16 fp32 lanes, 64; an AMX `tdpbf16ps` on
// 16 × 16 tiles, 16,384.
#include "bert/peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif
#include "cpu/amx.h"

namespace bert {
namespace {

constexpr int kAccumulators = 24;

#if defined(__AVX512F__)
/** The sum of the accumulators' lanes (stored and added: GCC 12 warns inside _mm512_reduce_add_ps). */
float lane_sum(const __m512* acc) {
  __m512 total = acc[0];
#pragma GCC unroll 32
  for (int i = 1; i < kAccumulators; i++) total = _mm512_add_ps(total, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, total);
  float sum = 0;
  for (float v : lanes) sum += v;
  return sum;
}

/** FLOPs done by one thread in `iterations` rounds; the sum is returned so the work cannot be dropped. */
double fma_loop(long iterations, float* sink) {
  __m512 acc[kAccumulators];
#pragma GCC unroll 32
  for (int i = 0; i < kAccumulators; i++) acc[i] = _mm512_set1_ps(1.0f + 1e-3f * i);
  const __m512 a = _mm512_set1_ps(0.999999f);
  const __m512 b = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iterations; it++)
#pragma GCC unroll 32  // the accumulators must live in registers, not in a stack array
    for (int i = 0; i < kAccumulators; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  *sink = lane_sum(acc);
  return 32.0 * kAccumulators * static_cast<double>(iterations);
}
#endif

#if !defined(__AVX512F__) && defined(__FMA__)
// AVX2 + FMA (no AVX-512): 8 lanes, so an FMA is 16 FLOPs, and 12 accumulators, since 16 registers must also hold
// the two operands (12 still exceed latency 4 × two FMA ports).
constexpr int kAvx2Accumulators = 12;

double fma_loop(long iterations, float* sink) {
  __m256 acc[kAvx2Accumulators];
#pragma GCC unroll 16
  for (int i = 0; i < kAvx2Accumulators; i++) acc[i] = _mm256_set1_ps(1.0f + 1e-3f * i);
  const __m256 a = _mm256_set1_ps(0.999999f);
  const __m256 b = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iterations; it++)
#pragma GCC unroll 16
    for (int i = 0; i < kAvx2Accumulators; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 total = acc[0];
#pragma GCC unroll 16
  for (int i = 1; i < kAvx2Accumulators; i++) total = _mm256_add_ps(total, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, total);
  float sum = 0;
  for (float v : lanes) sum += v;
  *sink = sum;
  return 16.0 * kAvx2Accumulators * static_cast<double>(iterations);
}
#endif

#if defined(__AVX512BF16__)
double bf16_dot_loop(long iterations, float* sink) {
  __m512 acc[kAccumulators];
#pragma GCC unroll 32  // distinct starting values: identical accumulators would be computed once
  for (int i = 0; i < kAccumulators; i++) acc[i] = _mm512_set1_ps(1e-3f * static_cast<float>(i));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
  for (long it = 0; it < iterations; it++)
#pragma GCC unroll 32
    for (int i = 0; i < kAccumulators; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  *sink = lane_sum(acc);
  return 64.0 * kAccumulators * static_cast<double>(iterations);
}
#endif

#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
/** Four independent 16 × 16 fp32 accumulator tiles, each += a 16 × 32 by 32 × 16 bf16 product: 16,384 FLOPs. */
double amx_loop(long iterations, float* sink) {
  if (!amx::granted()) return 0;
  const amx::TileConfig config;
  _tile_loadconfig(&config);
  alignas(64) uint16_t operand[16 * 32];
  for (int i = 0; i < 16 * 32; i++) operand[i] = static_cast<uint16_t>(0x3c00 + (i & 7));  // small bf16 values
  _tile_loadd(4, operand, 64);
  _tile_loadd(5, operand, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (long it = 0; it < iterations; it++) {
    _tile_dpbf16ps(0, 4, 5);
    _tile_dpbf16ps(1, 4, 5);
    _tile_dpbf16ps(2, 4, 5);
    _tile_dpbf16ps(3, 4, 5);
  }
  alignas(64) float out[16 * 16];
  _tile_stored(0, out, 64);
  _tile_release();
  *sink = out[0];
  return 4.0 * 16 * 16 * 32 * 2 * static_cast<double>(iterations);
}
#endif

using Loop = double (*)(long, float*);

Loop loop_for(PeakKind kind) {
#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
  if (kind == PeakKind::kBf16Amx) return amx::granted() ? amx_loop : nullptr;
#endif
#if defined(__AVX512BF16__)
  if (kind == PeakKind::kBf16Dot) return bf16_dot_loop;
#endif
#if defined(__AVX512F__) || defined(__FMA__)
  if (kind == PeakKind::kFp32Fma) return fma_loop;
#endif
  return nullptr;
}

struct Round {
  double gflops;
  double seconds;
};

/** One round of `iterations` per thread on `threads` threads. */
Round timed_round(Loop loop, int threads, long iterations) {
  double flops = 0;
  float sinks[256] = {};
  const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
  flops += loop(iterations, &sinks[omp_get_thread_num() % 256]);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  volatile float keep = sinks[0];
  (void)keep;
  return {flops / seconds / 1e9, seconds};
}

}  // namespace

double measure_peak_gflops(PeakKind kind, int threads, double seconds) {
  const Loop loop = loop_for(kind);
  if (loop == nullptr) return 0;
  const int n = threads > 0 ? threads : omp_get_max_threads();
  // calibrate: double the iterations until a round takes 10 ms (thread start-up and tile set-up then count for
  // little), then size the three measured rounds to a third of the time asked each
  long iterations = 64;
  Round round = timed_round(loop, n, iterations);
  while (round.seconds < 0.01) round = timed_round(loop, n, iterations *= 2);
  iterations = std::max(iterations, static_cast<long>(iterations * (seconds / 3) / round.seconds));
  double best = 0;
  for (int r = 0; r < 3; r++) best = std::max(best, timed_round(loop, n, iterations).gflops);
  return best;
}

}  // namespace bert
