// The JS class `Engine` over bert::Engine. Long calls (run) go to a worker thread and return a Promise; an engine
// refuses other calls while one is in flight. Failed Statuses become JS errors with a stable `code`.
#pragma once
#include <napi.h>

#include <memory>

#include "bert/engine.h"

namespace bert::addon {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit EngineWrap(const Napi::CallbackInfo& info);

  bert::Engine* engine() { return engine_.get(); }
  bool busy = false;

 private:
  Napi::Value run(const Napi::CallbackInfo& info);
  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value get_optimizer_state(const Napi::CallbackInfo& info);
  Napi::Value set_optimizer_state(const Napi::CallbackInfo& info);
  Napi::Value param_infos(const Napi::CallbackInfo& info);
  Napi::Value get_param(const Napi::CallbackInfo& info);
  Napi::Value set_param(const Napi::CallbackInfo& info);
  Napi::Value get_grad(const Napi::CallbackInfo& info);
  Napi::Value set_grad(const Napi::CallbackInfo& info);
  Napi::Value zero_grads(const Napi::CallbackInfo& info);
  Napi::Value num_params(const Napi::CallbackInfo& info);
  const bert::ParamInfo& lookup(const Napi::CallbackInfo& info);
  Napi::Float32Array read_array(Napi::Env env, bert::EngineArray which, const bert::ParamInfo& p);
  void write_array(Napi::Env env, bert::EngineArray which, const bert::ParamInfo& p, const float* values);
  void check_idle(Napi::Env env) const;

  std::unique_ptr<bert::Engine> engine_;
};

// validateModelConfig(config): throws the error creating an engine with this config would throw, or returns.
Napi::Value validate_model_config(const Napi::CallbackInfo& info);

// Throws a JS Error with `code` set.
[[noreturn]] void throw_error(Napi::Env env, const char* code, const std::string& message);
[[noreturn]] void throw_status(Napi::Env env, const bert::Status& status);

}  // namespace bert::addon
