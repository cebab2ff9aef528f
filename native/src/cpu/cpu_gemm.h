// The CPU backend's GEMMs, fp32 or bf16 operands, always fp32 accumulation and output. Two implementations, one per
// build: oneDNN's matmul primitive (onednn_gemm.cpp; primitives built once per shape and kept: a training run only
// ever sees a handful of shapes), or, where the build found no oneDNN, plain OpenMP loops (plain_gemm.cpp: correct,
// and slow; enough for the CPU side of a GPU machine's checks).
#pragma once
#include <cstdint>
#include <memory>

#include "bert/backend.h"

namespace bert {

class CpuGemm {
 public:
  CpuGemm();
  ~CpuGemm();
  static const char* library();  // "oneDNN" or "plain loops (no oneDNN in this build)"
  // a and b are fp32 or bf16 (uint16_t) arrays as `bf16` says; c is fp32.
  Status run(const GemmArgs& args, bool bf16, const void* a, const void* b, float* c);

 private:
  struct Impl;  // the implementation's state (oneDNN's engine, stream and primitive cache)
  std::unique_ptr<Impl> impl_;
};

}  // namespace bert
