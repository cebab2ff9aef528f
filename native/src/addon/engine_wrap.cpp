#include "addon/engine_wrap.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "addon/distributed_wrap.h"

namespace bert::addon {

void throw_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  throw error;
}

void throw_status(Napi::Env env, const bert::Status& status) {
  throw_error(env, bert::status_code_name(status.code()), status.message());
}

namespace {

// --- reading JS values (the TS layer validates first; these are the last line of defence) ---

int get_int(Napi::Env env, const Napi::Object& o, const char* key, int fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber() || std::floor(v.As<Napi::Number>().DoubleValue()) != v.As<Napi::Number>().DoubleValue())
    throw_error(env, "ERR_INVALID_CONFIG", std::string("Expected an integer for ") + key);
  return v.As<Napi::Number>().Int32Value();
}

double get_number(Napi::Env env, const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw_error(env, "ERR_INVALID_CONFIG", std::string("Expected a number for ") + key);
  return v.As<Napi::Number>().DoubleValue();
}

const char* type_of(const Napi::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsString()) return "string";
  if (v.IsNumber()) return "number";
  if (v.IsBoolean()) return "boolean";
  if (v.IsFunction()) return "function";
  return "object";
}

// `"16" of type string`: a JS value as the config messages show it (JSON.stringify, then typeof).
std::string describe(Napi::Env env, const Napi::Value& v) {
  Napi::Object json = env.Global().Get("JSON").As<Napi::Object>();
  Napi::Value text = json.Get("stringify").As<Napi::Function>().Call(json, {v});
  const std::string shown = text.IsString() ? text.As<Napi::String>().Utf8Value() : v.ToString().Utf8Value();
  return shown + " of type " + type_of(v);
}

// A JS model config as the core's ModelConfig; types are checked here, ranges by ModelConfig::validate (the same
// key table words both).
bert::ModelConfig read_config(Napi::Env env, const Napi::Object& o) {
  bert::ModelConfig c;
  for (const bert::IntegerKey& k : bert::kIntegerKeys) {
    Napi::Value v = o.Get(k.name);
    if (v.IsUndefined()) continue;
    const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!(std::floor(x) == x && std::fabs(x) < 2147483648.0))
      throw_error(env, "ERR_INVALID_CONFIG", bert::integer_key_rule(k) + " but received " + describe(env, v));
    c.*k.field = static_cast<int>(x);
  }
  for (const bert::ProbabilityKey& k : bert::kProbabilityKeys) {
    Napi::Value v = o.Get(k.name);
    if (v.IsUndefined()) continue;
    if (!v.IsNumber())
      throw_error(env, "ERR_INVALID_CONFIG", bert::probability_key_rule(k) + " but received " + describe(env, v));
    c.*k.field = static_cast<float>(v.As<Napi::Number>().DoubleValue());
  }
  Napi::Value eps = o.Get("layer_norm_eps");
  if (!eps.IsUndefined()) {
    if (!eps.IsNumber())
      throw_error(env, "ERR_INVALID_CONFIG",
                  "Expected a positive number for layer_norm_eps but received " + describe(env, eps));
    c.layer_norm_eps = static_cast<float>(eps.As<Napi::Number>().DoubleValue());
  }
  Napi::Value act = o.Get("hidden_act");
  if (!act.IsUndefined()) {
    std::string name = act.IsString() ? act.As<Napi::String>().Utf8Value() : "";
    if (name == "gelu")
      c.gelu = bert::GeluForm::kErf;
    else if (name == "gelu_tanh" || name == "gelu_new")
      c.gelu = bert::GeluForm::kTanh;
    else
      throw_error(env, "ERR_INVALID_CONFIG",
                  std::string("Expected ") + bert::kHiddenActs + " for hidden_act but received " + describe(env, act));
  }
  Napi::Value pre = o.Get("pre_layer_norm");
  if (!pre.IsUndefined()) {
    if (!pre.IsBoolean())
      throw_error(env, "ERR_INVALID_CONFIG",
                  "Expected a boolean for pre_layer_norm but received " + describe(env, pre));
    c.layer_norm = pre.As<Napi::Boolean>().Value() ? bert::LayerNormPlacement::kPre : bert::LayerNormPlacement::kPost;
  }
  return c;
}

template <typename T, typename Array>
const T* typed_data(Napi::Env env, const Napi::Object& batch, const char* key, size_t min_length, bool required) {
  Napi::Value v = batch.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) throw_error(env, "ERR_INVALID_ARGUMENT", std::string("batch.") + key + " is required");
    return nullptr;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != Array::unchecked_type())
    throw_error(env, "ERR_INVALID_ARGUMENT", std::string("batch.") + key + " must be a " + Array::type_name());
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  if (arr.ElementLength() < min_length)
    throw_error(env, "ERR_INVALID_ARGUMENT",
                std::string("batch.") + key + " has " + std::to_string(arr.ElementLength()) + " elements, expected " +
                    std::to_string(min_length));
  return arr.Data();
}

struct Int32 {
  static napi_typedarray_type unchecked_type() { return napi_int32_array; }
  static const char* type_name() { return "Int32Array"; }
};
struct Float32 {
  static napi_typedarray_type unchecked_type() { return napi_float32_array; }
  static const char* type_name() { return "Float32Array"; }
};

Napi::Object result_to_js(Napi::Env env, const bert::PassResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  o.Set("mlmLoss", r.mlm_loss);
  o.Set("nspLoss", r.nsp_loss);
  o.Set("classificationLoss", r.classification_loss);
  o.Set("mlmCorrect", static_cast<double>(r.mlm_correct));
  o.Set("mlmCount", static_cast<double>(r.mlm_count));
  o.Set("nspCorrect", static_cast<double>(r.nsp_correct));
  o.Set("nspCount", static_cast<double>(r.nsp_count));
  o.Set("classCorrect", static_cast<double>(r.class_correct));
  o.Set("classCount", static_cast<double>(r.class_count));
  auto logits = Napi::Float32Array::New(env, r.class_logits.size());
  if (!r.class_logits.empty()) std::memcpy(logits.Data(), r.class_logits.data(), r.class_logits.size() * 4);
  o.Set("classLogits", logits);
  return o;
}

// Runs one engine task on a worker thread and settles a Promise with its result. Holds references to the engine
// object and to any JS values whose memory the task reads (the batch's typed arrays), so neither can be
// collected while the task runs.
class EngineTaskWorker : public Napi::AsyncWorker {
 public:
  using Task = std::function<bert::Status()>;
  using ToJs = std::function<Napi::Value(Napi::Env)>;

  EngineTaskWorker(Napi::Env env, EngineWrap* wrap, Napi::Object owner, Napi::Object keep_alive, Task task, ToJs to_js)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        wrap_(wrap),
        task_(std::move(task)),
        to_js_(std::move(to_js)) {
    owner_ = Napi::Persistent(owner);
    keep_alive_ = Napi::Persistent(keep_alive);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override { status_ = task_(); }
  void OnOK() override {
    wrap_->busy = false;
    if (status_.is_ok()) {
      deferred_.Resolve(to_js_(Env()));
      return;
    }
    Napi::Error error = Napi::Error::New(Env(), status_.message());
    error.Set("code", Napi::String::New(Env(), bert::status_code_name(status_.code())));
    deferred_.Reject(error.Value());
  }
  void OnError(const Napi::Error& e) override {
    wrap_->busy = false;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  EngineWrap* wrap_;
  Napi::ObjectReference owner_, keep_alive_;
  Task task_;
  ToJs to_js_;
  bert::Status status_;
};

bert::OptimizerOptions read_optimizer(Napi::Env env, const Napi::Object& o) {
  bert::OptimizerOptions opt;
  Napi::Value type = o.Get("type");
  std::string name = type.IsString() ? type.As<Napi::String>().Utf8Value() : "";
  if (name == "adam")
    opt.kind = bert::OptimizerKind::kAdam;
  else if (name == "lamb")
    opt.kind = bert::OptimizerKind::kLamb;
  else
    throw_error(env, "ERR_INVALID_CONFIG", "optimizer.type must be \"adam\" or \"lamb\"");
  opt.beta1 = get_number(env, o, "beta1", opt.beta1);
  opt.beta2 = get_number(env, o, "beta2", opt.beta2);
  opt.eps = get_number(env, o, "eps", opt.eps);
  opt.weight_decay = get_number(env, o, "weightDecay", opt.weight_decay);
  opt.min_coeff = get_number(env, o, "minCoeff", opt.min_coeff);
  opt.max_coeff = get_number(env, o, "maxCoeff", opt.max_coeff);
  if (o.Has("adamWMode")) opt.adam_w_mode = o.Get("adamWMode").ToBoolean().Value();
  if (o.Has("biasCorrection")) opt.bias_correction = o.Get("biasCorrection").ToBoolean().Value();
  return opt;
}

// The backend the options ask for: device "cpu" (threads, kernels "fast" | "reference") or "cuda" (cudaDevice).
std::unique_ptr<bert::Backend> make_backend(Napi::Env env, const Napi::Object& options) {
  Napi::Value device = options.Get("device");
  const std::string name = device.IsString() ? device.As<Napi::String>().Utf8Value() : "cpu";
  if (name == "cuda") {
    std::unique_ptr<bert::Backend> backend;
    bert::Status status = bert::make_cuda_backend(get_int(env, options, "cudaDevice", 0), &backend);
    if (!status.is_ok()) throw_status(env, status);
    return backend;
  }
  if (name != "cpu") throw_error(env, "ERR_INVALID_CONFIG", "device must be \"cpu\" or \"cuda\"");
  bert::CpuBackendOptions cpu;
  cpu.threads = get_int(env, options, "threads", 0);
  if (cpu.threads < 0) throw_error(env, "ERR_INVALID_CONFIG", "threads must be 0 (default) or positive");
  Napi::Value kernels = options.Get("kernels");
  if (kernels.IsString() && kernels.As<Napi::String>().Utf8Value() == "reference")
    cpu.kernels = bert::CpuKernelChoice::kReference;
  return bert::make_cpu_backend(cpu);
}

}  // namespace

Napi::Value validate_model_config(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw_error(env, "ERR_INVALID_CONFIG", "a model config must be an object");
  bert::Status status = read_config(env, info[0].As<Napi::Object>()).validate();
  if (!status.is_ok()) throw_status(env, status);
  return env.Undefined();
}

Napi::Function EngineWrap::define(Napi::Env env) {
  return DefineClass(env, "Engine",
                     {
                         InstanceMethod("run", &EngineWrap::run),
                         InstanceMethod("step", &EngineWrap::step),
                         InstanceMethod("getOptimizerState", &EngineWrap::get_optimizer_state),
                         InstanceMethod("setOptimizerState", &EngineWrap::set_optimizer_state),
                         InstanceMethod("paramInfos", &EngineWrap::param_infos),
                         InstanceMethod("getParam", &EngineWrap::get_param),
                         InstanceMethod("setParam", &EngineWrap::set_param),
                         InstanceMethod("getGrad", &EngineWrap::get_grad),
                         InstanceMethod("setGrad", &EngineWrap::set_grad),
                         InstanceMethod("zeroGrads", &EngineWrap::zero_grads),
                         InstanceMethod("numParams", &EngineWrap::num_params),
                     });
}

EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw_error(env, "ERR_INVALID_ARGUMENT", "new Engine(options) expects an options object");
  Napi::Object options = info[0].As<Napi::Object>();
  Napi::Value config_js = options.Get("config");
  if (!config_js.IsObject()) throw_error(env, "ERR_INVALID_CONFIG", "options.config must be an object");
  bert::ModelConfig config = read_config(env, config_js.As<Napi::Object>());
  bert::EngineOptions eo;
  Napi::Value precision = options.Get("precision");
  std::string p = precision.IsString() ? precision.As<Napi::String>().Utf8Value() : "fp32";
  if (p == "bf16")
    eo.precision = bert::Precision::kBf16;
  else if (p == "fp16")
    eo.precision = bert::Precision::kFp16;
  else if (p != "fp32")
    throw_error(env, "ERR_INVALID_CONFIG", "precision must be \"fp32\", \"bf16\" or \"fp16\"");
  eo.seed = static_cast<uint64_t>(get_number(env, options, "seed", 42));
  std::unique_ptr<bert::Backend> backend = make_backend(env, options);
  bert::Status status = bert::Engine::create(config, eo, std::move(backend), &engine_);
  if (!status.is_ok()) throw_status(env, status);
  Napi::Value sync = options.Get("gradientSync");
  if (sync.IsObject()) {
    bert::Communicator* comm = process_communicator();
    if (!comm) throw_error(env, "ERR_COMMUNICATION", "gradientSync needs initDistributed() first");
    Napi::Object so = sync.As<Napi::Object>();
    bert::GradientSyncOptions gso;
    if (so.Has("overlap")) gso.overlap = so.Get("overlap").ToBoolean().Value();
    if (so.Has("prescale")) gso.prescale = so.Get("prescale").ToBoolean().Value();
    gso.predivide_factor = get_number(env, so, "predivideFactor", gso.predivide_factor);
    const double bucket_mb = get_number(env, so, "bucketMb", 16);
    if (!(gso.predivide_factor > 0) || !(bucket_mb > 0))
      throw_error(env, "ERR_INVALID_CONFIG", "predivideFactor and bucketMb must be positive");
    gso.bucket_floats = static_cast<int64_t>(bucket_mb * (1 << 20) / sizeof(float));
    engine_->enable_gradient_sync(comm, gso);
  }
}

void EngineWrap::check_idle(Napi::Env env) const {
  if (busy) throw_error(env, "ERR_ENGINE_BUSY", "the engine is running a batch; await it before this call");
}

Napi::Value EngineWrap::run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_idle(env);
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject())
    throw_error(env, "ERR_INVALID_ARGUMENT", "run(batch, gates, pass?) expects a batch object and a gates object");
  Napi::Object b = info[0].As<Napi::Object>();
  const bert::ModelConfig& c = engine_->config();
  bert::Batch batch;
  batch.batch_size = get_int(env, b, "batchSize", 0);
  batch.seq_len = get_int(env, b, "seqLen", 0);
  bert::Status shape = bert::validate_batch_shape(c, batch.batch_size, batch.seq_len);  // before sizing the arrays
  if (!shape.is_ok()) throw_status(env, shape);
  const size_t BT = static_cast<size_t>(batch.batch_size) * batch.seq_len;
  const size_t B = batch.batch_size;
  batch.input_ids = typed_data<int32_t, Int32>(env, b, "inputIds", BT, true);
  batch.segment_ids = typed_data<int32_t, Int32>(env, b, "segmentIds", BT, true);
  batch.input_mask = typed_data<int32_t, Int32>(env, b, "inputMask", BT, true);
  if (c.num_labels == 0) {
    batch.num_masked = get_int(env, b, "numMasked", 0);
    batch.masked_positions =
        typed_data<int32_t, Int32>(env, b, "maskedPositions", batch.num_masked, batch.num_masked > 0);
    batch.masked_labels = typed_data<int32_t, Int32>(env, b, "maskedLabels", batch.num_masked, batch.num_masked > 0);
    batch.next_sentence_labels = typed_data<int32_t, Int32>(env, b, "nextSentenceLabels", B, true);
  } else if (c.num_labels == 1) {
    batch.regression_targets = typed_data<float, Float32>(env, b, "regressionTargets", B, true);
  } else {
    batch.class_labels = typed_data<int32_t, Int32>(env, b, "classLabels", B, true);
  }

  Napi::Object g = info[1].As<Napi::Object>();
  Napi::Value keep = g.Get("keep"), scale = g.Get("scale");
  if (!keep.IsArray() || !scale.IsArray())
    throw_error(env, "ERR_INVALID_ARGUMENT", "gates must be {keep: boolean[], scale: number[]}");
  auto keep_arr = keep.As<Napi::Array>(), scale_arr = scale.As<Napi::Array>();
  if (scale_arr.Length() != keep_arr.Length())
    throw_error(env, "ERR_INVALID_ARGUMENT", "gates.keep and gates.scale must have the same length");
  bert::PldGates gates(keep_arr.Length());
  for (uint32_t l = 0; l < keep_arr.Length(); l++) {
    gates[l].keep = keep_arr.Get(l).ToBoolean().Value();
    gates[l].scale = static_cast<float>(scale_arr.Get(l).ToNumber().DoubleValue());
  }

  bert::PassOptions pass;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object po = info[2].As<Napi::Object>();
    if (po.Has("train")) pass.train = po.Get("train").ToBoolean().Value();
    if (po.Has("backward")) pass.backward = po.Get("backward").ToBoolean().Value();
    pass.grad_scale = static_cast<float>(get_number(env, po, "gradScale", 1.0));
    pass.dropout_stream = static_cast<uint64_t>(get_number(env, po, "dropoutStream", 0));
    if (po.Has("syncGradients")) pass.sync_gradients = po.Get("syncGradients").ToBoolean().Value();
  }
  busy = true;
  auto result = std::make_shared<bert::PassResult>();
  bert::Engine* engine = engine_.get();
  auto* worker = new EngineTaskWorker(
      env, this, info.This().As<Napi::Object>(), b,
      [engine, batch, gates = std::move(gates), pass, result]() {
        return engine->run(batch, gates, pass, result.get());
      },
      [result](Napi::Env e) -> Napi::Value { return result_to_js(e, *result); });
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value EngineWrap::step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_idle(env);
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject())
    throw_error(env, "ERR_INVALID_ARGUMENT", "step(optimizer, options) expects two objects");
  bert::OptimizerOptions optimizer = read_optimizer(env, info[0].As<Napi::Object>());
  Napi::Object so = info[1].As<Napi::Object>();
  bert::StepOptions options;
  options.lr = get_number(env, so, "lr", 0);
  options.step_number = static_cast<int64_t>(get_number(env, so, "stepNumber", 1));
  options.loss_scale = static_cast<float>(get_number(env, so, "lossScale", 1));
  options.max_grad_norm = static_cast<float>(get_number(env, so, "maxGradNorm", 0));
  busy = true;
  auto result = std::make_shared<bert::StepResult>();
  bert::Engine* engine = engine_.get();
  auto* worker = new EngineTaskWorker(
      env, this, info.This().As<Napi::Object>(), so,
      [engine, optimizer, options, result]() { return engine->optimizer_step(optimizer, options, result.get()); },
      [result](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("overflow", result->overflow);
        o.Set("gradNorm", result->grad_norm);
        o.Set("clipFactor", result->clip_factor);
        o.Set("allreduceWaitMs", result->allreduce_wait_ms);
        o.Set("allreduceMs", result->allreduce_ms);
        return o;
      });
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value EngineWrap::param_infos(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& params = engine_->params();
  Napi::Array out = Napi::Array::New(env, params.size());
  for (size_t i = 0; i < params.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", params[i].name);
    Napi::Array shape = Napi::Array::New(env, params[i].shape.size());
    for (size_t d = 0; d < params[i].shape.size(); d++) shape.Set(d, static_cast<double>(params[i].shape[d]));
    o.Set("shape", shape);
    o.Set("size", static_cast<double>(params[i].size));
    o.Set("noDecay", params[i].no_decay);
    out.Set(i, o);
  }
  return out;
}

Napi::Float32Array EngineWrap::read_array(Napi::Env env, bert::EngineArray which, const bert::ParamInfo& p) {
  auto out = Napi::Float32Array::New(env, p.size);
  bert::Status status = engine_->read(which, p.offset, p.size, out.Data());
  if (!status.is_ok()) throw_status(env, status);
  return out;
}

void EngineWrap::write_array(Napi::Env env, bert::EngineArray which, const bert::ParamInfo& p, const float* values) {
  bert::Status status = engine_->write(which, p.offset, p.size, values);
  if (!status.is_ok()) throw_status(env, status);
}

const bert::ParamInfo& EngineWrap::lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_idle(env);
  if (info.Length() < 1 || !info[0].IsString()) throw_error(env, "ERR_INVALID_ARGUMENT", "expected a parameter name");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  const bert::ParamInfo* p = engine_->find_param(name);
  if (!p) throw_error(env, "ERR_NOT_FOUND", "no parameter named \"" + name + "\"");
  return *p;
}

Napi::Value EngineWrap::get_param(const Napi::CallbackInfo& info) {
  const bert::ParamInfo& p = lookup(info);
  return read_array(info.Env(), bert::EngineArray::kParams, p);
}

Napi::Value EngineWrap::get_grad(const Napi::CallbackInfo& info) {
  const bert::ParamInfo& p = lookup(info);
  return read_array(info.Env(), bert::EngineArray::kGrads, p);
}

Napi::Value EngineWrap::set_param(const Napi::CallbackInfo& info) {
  const bert::ParamInfo& p = lookup(info);
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_error(env, "ERR_INVALID_ARGUMENT", "setParam(name, values) expects a Float32Array");
  auto values = info[1].As<Napi::Float32Array>();
  if (static_cast<int64_t>(values.ElementLength()) != p.size)
    throw_error(env, "ERR_INVALID_ARGUMENT",
                "\"" + p.name + "\" has " + std::to_string(p.size) + " elements, got " +
                    std::to_string(values.ElementLength()));
  for (size_t i = 0; i < values.ElementLength(); i++)
    if (!std::isfinite(values[i]))
      throw_error(env, "ERR_NON_FINITE", "\"" + p.name + "\"[" + std::to_string(i) + "] is not finite");
  write_array(env, bert::EngineArray::kParams, p, values.Data());
  return env.Undefined();
}

Napi::Value EngineWrap::set_grad(const Napi::CallbackInfo& info) {
  const bert::ParamInfo& p = lookup(info);
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_error(env, "ERR_INVALID_ARGUMENT", "setGrad(name, values) expects a Float32Array");
  auto values = info[1].As<Napi::Float32Array>();
  if (static_cast<int64_t>(values.ElementLength()) != p.size)
    throw_error(env, "ERR_INVALID_ARGUMENT",
                "\"" + p.name + "\" has " + std::to_string(p.size) + " elements, got " +
                    std::to_string(values.ElementLength()));
  write_array(env, bert::EngineArray::kGrads, p, values.Data());
  return env.Undefined();
}

Napi::Value EngineWrap::get_optimizer_state(const Napi::CallbackInfo& info) {
  const bert::ParamInfo& p = lookup(info);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("expAvg", read_array(env, bert::EngineArray::kMoment1, p));
  o.Set("expAvgSq", read_array(env, bert::EngineArray::kMoment2, p));
  return o;
}

Napi::Value EngineWrap::set_optimizer_state(const Napi::CallbackInfo& info) {
  const bert::ParamInfo& p = lookup(info);
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsTypedArray() || !info[2].IsTypedArray())
    throw_error(env, "ERR_INVALID_ARGUMENT", "setOptimizerState(name, expAvg, expAvgSq) expects two Float32Arrays");
  bert::Status status = engine_->ensure_optimizer_state();
  if (!status.is_ok()) throw_status(env, status);
  for (int which = 1; which <= 2; which++) {
    Napi::TypedArray t = info[which].As<Napi::TypedArray>();
    if (t.TypedArrayType() != napi_float32_array || static_cast<int64_t>(t.ElementLength()) != p.size)
      throw_error(
          env, "ERR_INVALID_ARGUMENT",
          "optimizer state of \"" + p.name + "\" must be a Float32Array of " + std::to_string(p.size) + " elements");
    write_array(env, which == 1 ? bert::EngineArray::kMoment1 : bert::EngineArray::kMoment2, p,
                t.As<Napi::Float32Array>().Data());
  }
  return env.Undefined();
}

Napi::Value EngineWrap::zero_grads(const Napi::CallbackInfo& info) {
  check_idle(info.Env());
  engine_->zero_grads();
  return info.Env().Undefined();
}

Napi::Value EngineWrap::num_params(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(engine_->num_params()));
}

}  // namespace bert::addon
