// Module entry: the Engine class, the data-parallel functions, the output-folder lock, the measured peak and the
// CUDA probe.
#include <napi.h>

#include "addon/device_wrap.h"
#include "addon/distributed_wrap.h"
#include "addon/engine_wrap.h"
#include "addon/file_lock.h"
#include "addon/peak_wrap.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", bert::addon::EngineWrap::define(env));
  exports.Set("validateModelConfig",
              Napi::Function::New(env, bert::addon::validate_model_config, "validateModelConfig"));
  exports.Set("lockFile", Napi::Function::New(env, bert::addon::lock_file, "lockFile"));
  exports.Set("unlockFile", Napi::Function::New(env, bert::addon::unlock_file, "unlockFile"));
  exports.Set("trainingFlops", Napi::Function::New(env, bert::addon::training_flops, "trainingFlops"));
  exports.Set("probeCuda", Napi::Function::New(env, bert::addon::probe_cuda, "probeCuda"));
  exports.Set("measurePeakGflops", Napi::Function::New(env, bert::addon::measure_peak_gflops, "measurePeakGflops"));
  bert::addon::define_distributed(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(bert_train, init)
