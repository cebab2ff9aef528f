// Module entry: the Engine class and the data-parallel functions.
#include <napi.h>

#include "addon/distributed_wrap.h"
#include "addon/engine_wrap.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", bert::addon::EngineWrap::define(env));
  exports.Set("validateModelConfig",
              Napi::Function::New(env, bert::addon::validate_model_config, "validateModelConfig"));
  bert::addon::define_distributed(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(bert_train, init)
