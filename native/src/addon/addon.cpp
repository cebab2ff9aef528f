// Module entry: the Engine class and a description of what this build and CPU can do.
#include <napi.h>

#include "addon/distributed_wrap.h"
#include "addon/engine_wrap.h"

namespace {

Napi::Object build_info(Napi::Env env) {
  Napi::Object info = Napi::Object::New(env);
#ifdef __AVX512F__
  info.Set("avx512", true);
#else
  info.Set("avx512", false);
#endif
#ifdef __AVX512BF16__
  info.Set("avx512bf16", true);
#else
  info.Set("avx512bf16", false);
#endif
  info.Set("backends", Napi::String::New(env, "cpu"));
  return info;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", bert::addon::EngineWrap::define(env));
  exports.Set("buildInfo", build_info(env));
  bert::addon::define_distributed(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(bert_train, init)
