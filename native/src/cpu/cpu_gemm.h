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
  // widen_bf16: multiply bf16 operands widened to fp32 even where the library has a bf16 matmul (tests)
  explicit CpuGemm(bool widen_bf16 = false);
  ~CpuGemm();
  static const char* library();  // "oneDNN" or "plain loops (no oneDNN in this build)"
  // a and b are fp32 or bf16 (uint16_t) arrays as `bf16` says; c is fp32.
  Status run(const GemmArgs& args, bool bf16, const void* a, const void* b, float* c);
  // Whether bf16 operands are widened to fp32 and multiplied in fp32 (exact: a bf16 value is an fp32 value, and the
  // product of two fits an fp32 mantissa), because the library has no bf16 matmul for this CPU (oneDNN 2.x on a CPU
  // without AVX-512). Same results as a bf16 matmul up to the order of the fp32 sums; no faster than fp32.
  bool widens_bf16() const;

 private:
  struct Impl;  // the implementation's state (oneDNN's engine, stream and primitive cache)
  std::unique_ptr<Impl> impl_;
};

}  // namespace bert
