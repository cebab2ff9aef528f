// measurePeakGflops(kind, threads, seconds): the core's measured arithmetic peak; trainingFlops: its FLOP count.
#pragma once
#include <napi.h>

namespace bert::addon {

/** measurePeakGflops("fp32" | "bf16" | "bf16_amx", threads, seconds): GFLOP/s, or 0 without the instruction. */
Napi::Value measure_peak_gflops(const Napi::CallbackInfo& info);
// trainingFlops(model, step): bert/flops.h's count.
Napi::Value training_flops(const Napi::CallbackInfo& info);

}  // namespace bert::addon
