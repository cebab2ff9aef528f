#include "addon/device_wrap.h"

#include "bert/backend.h"

namespace bert::addon {

Napi::Value probe_cuda(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bert::CudaProbe probe = bert::probe_cuda();
  Napi::Object out = Napi::Object::New(env);
  out.Set("compiled", Napi::Boolean::New(env, probe.compiled));
  out.Set("deviceCount", Napi::Number::New(env, probe.device_count));
  out.Set("reason", Napi::String::New(env, probe.reason));
  out.Set("gemm", Napi::String::New(env, probe.gemm));
  return out;
}

}  // namespace bert::addon
