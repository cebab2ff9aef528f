#include "addon/distributed_wrap.h"

#include <memory>
#include <string>

#include "addon/engine_wrap.h"

namespace bert::addon {
namespace {

std::unique_ptr<bert::Communicator> communicator;

bert::Communicator& require(Napi::Env env) {
  if (!communicator)
    throw_error(env, "ERR_COMMUNICATION", "the distributed runtime is not initialised (call initDistributed first)");
  return *communicator;
}

void check(Napi::Env env, const bert::Status& status) {
  if (!status.is_ok()) throw_status(env, status);
}

Napi::Value init_distributed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw_error(env, "ERR_INVALID_ARGUMENT", "initDistributed(pluginPath) expects the path of libbert_mpi.so");
  if (!communicator) check(env, bert::load_mpi_communicator(info[0].As<Napi::String>().Utf8Value(), &communicator));
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", communicator->rank());
  o.Set("size", communicator->size());
  o.Set("localRank", communicator->local_rank());
  return o;
}

// allreduce(values: Float64Array, op: "sum" | "max"): in place, blocking. Only between engine calls: every rank
// must reach the same collectives in the same order.
Napi::Value allreduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bert::Communicator& comm = require(env);
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array || !info[1].IsString())
    throw_error(env, "ERR_INVALID_ARGUMENT", "allreduce(values, op) expects a Float64Array and \"sum\" or \"max\"");
  auto values = info[0].As<Napi::Float64Array>();
  const std::string op = info[1].As<Napi::String>().Utf8Value();
  if (op == "sum")
    check(env, comm.allreduce_sum(values.Data(), values.ElementLength()));
  else if (op == "max")
    check(env, comm.allreduce_max(values.Data(), values.ElementLength()));
  else
    throw_error(env, "ERR_INVALID_ARGUMENT", "allreduce op must be \"sum\" or \"max\"");
  return env.Undefined();
}

Napi::Value abort_job(const Napi::CallbackInfo& info) {
  const int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  require(info.Env()).abort(code);
  return info.Env().Undefined();
}

Napi::Value finalize(const Napi::CallbackInfo& info) {
  if (communicator) check(info.Env(), communicator->finalize());
  return info.Env().Undefined();
}

}  // namespace

bert::Communicator* process_communicator() { return communicator.get(); }

void define_distributed(Napi::Env env, Napi::Object exports) {
  exports.Set("initDistributed", Napi::Function::New(env, init_distributed, "initDistributed"));
  exports.Set("allreduce", Napi::Function::New(env, allreduce, "allreduce"));
  exports.Set("abortDistributed", Napi::Function::New(env, abort_job, "abortDistributed"));
  exports.Set("finalizeDistributed", Napi::Function::New(env, finalize, "finalizeDistributed"));
}

}  // namespace bert::addon
