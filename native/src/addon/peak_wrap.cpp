#include "addon/peak_wrap.h"

#include <string>

#include "bert/peak.h"

namespace bert::addon {

Napi::Value measure_peak_gflops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  if (kind != "fp32" && kind != "bf16" && kind != "bf16_amx") {
    Napi::TypeError e = Napi::TypeError::New(env, "measurePeakGflops: kind must be \"fp32\", \"bf16\" or \"bf16_amx\"");
    e.Set("code", Napi::String::New(env, "ERR_INVALID_ARGUMENT"));
    throw e;
  }
  const int threads = info[1].As<Napi::Number>().Int32Value();
  const double seconds = info[2].As<Napi::Number>().DoubleValue();
  const PeakKind k = kind == "bf16_amx" ? PeakKind::kBf16Amx : kind == "bf16" ? PeakKind::kBf16Dot : PeakKind::kFp32Fma;
  return Napi::Number::New(env, bert::measure_peak_gflops(k, threads, seconds));
}

}  // namespace bert::addon
