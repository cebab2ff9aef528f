#include "addon/peak_wrap.h"

#include <string>

#include "bert/flops.h"
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

namespace {
double number_of(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) {
    Napi::TypeError e = Napi::TypeError::New(o.Env(), std::string("trainingFlops: ") + key + " must be a number");
    e.Set("code", Napi::String::New(o.Env(), "ERR_INVALID_ARGUMENT"));
    throw e;
  }
  return v.As<Napi::Number>().DoubleValue();
}
}  // namespace

Napi::Value training_flops(const Napi::CallbackInfo& info) {
  const Napi::Object m = info[0].As<Napi::Object>(), s = info[1].As<Napi::Object>();
  bert::FlopShape shape;
  shape.sequences = number_of(s, "sequences");
  shape.seq = number_of(s, "seq");
  shape.masked_tokens = number_of(s, "maskedTokens");
  shape.kept_fraction = number_of(s, "keptFraction");
  if (s.Get("numLabels").IsNumber()) shape.num_labels = static_cast<int>(number_of(s, "numLabels"));
  return Napi::Number::New(info.Env(),
                           bert::training_flops(number_of(m, "hidden_size"), number_of(m, "intermediate_size"),
                                                number_of(m, "num_hidden_layers"), number_of(m, "vocab_size"), shape));
}

}  // namespace bert::addon
