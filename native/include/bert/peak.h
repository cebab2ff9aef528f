// The machine's arithmetic peak, measured rather than assumed: a loop of independent fused multiply-adds (fp32) or
// bf16 dot products (AVX512-BF16 `vdpbf16ps`) on every thread, timed, in GFLOP/s. Benchmarks and training runs
// report utilisation against it; the clock and load of a machine change, so it is measured in the same process.
#pragma once

namespace bert {

/** fp32 FMAs; AVX512-BF16 dot products (`vdpbf16ps`); AMX bf16 tile products (`tdpbf16ps`), what oneDNN's bf16
 *  GEMMs run on where the CPU has AMX. */
enum class PeakKind { kFp32Fma, kBf16Dot, kBf16Amx };

/**
 * GFLOP/s of `kind` on `threads` threads (0: all), from about `seconds` of work (the best of three rounds).
 * Returns 0 when this build or CPU has no instruction for it (fp32: no FMA; bf16: no AVX512-BF16 or AMX, or the
 * kernel does not grant the AMX tile state).
 */
double measure_peak_gflops(PeakKind kind, int threads, double seconds);

}  // namespace bert
