// probeCuda(): what this build and machine offer for the CUDA backend, without creating one.
#pragma once
#include <napi.h>

namespace bert::addon {

Napi::Value probe_cuda(const Napi::CallbackInfo& info);

}  // namespace bert::addon
