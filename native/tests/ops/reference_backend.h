// The reference of the op table: the CPU backend with the reference kernels, and GEMMs as plain loops in double
// over operands rounded as the precision rounds them (bf16 round-to-nearest-even, fp16 values with the result
// rounded to fp16 as well), so every GEMM library (oneDNN, cuBLASLt, the built-in CUDA kernels) is held to it.
#pragma once
#include <cmath>
#include <memory>
#include <vector>

#include "bert/backend.h"

namespace bert::test {

class ReferenceBackend final : public Backend {
 public:
  ReferenceBackend() : cpu_(make_cpu_backend(CpuBackendOptions{0, CpuKernelChoice::kReference})) {}

  const char* name() const override { return "reference"; }
  std::string description() const override { return "reference kernels, plain GEMM loops"; }
  Device device() const override { return Device::kCpu; }
  Stream stream() const override { return Stream{}; }
  Status bind_thread() override { return Status::ok(); }
  void set_precision(Precision p) override { precision_ = p; }
  const Kernels& kernels() const override { return cpu_->kernels(); }
  void* alloc_bytes(size_t bytes) override { return cpu_->alloc_bytes(bytes); }
  void free_bytes(void* p) override { cpu_->free_bytes(p); }
  void memset_zero(void* p, size_t bytes) override { cpu_->memset_zero(p, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { cpu_->copy(dst, src, bytes); }
  void upload(void* dst, const void* src, size_t bytes) override { cpu_->upload(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { cpu_->download(dst, src, bytes); }
  Status synchronize() override { return Status::ok(); }
  bool host_addressable() const override { return true; }

  Status gemm(const GemmArgs& g, GemmOperand a, GemmOperand b, float* c) override {
    for (int batch = 0; batch < g.batch; batch++)
      for (int64_t m = 0; m < g.M; m++)
        for (int64_t n = 0; n < g.N; n++) {
          double sum = 0;
          for (int64_t k = 0; k < g.K; k++) {
            const float x =
                g.trans_a ? a.f32[batch * g.stride_a + k * g.lda + m] : a.f32[batch * g.stride_a + m * g.lda + k];
            const float y =
                g.trans_b ? b.f32[batch * g.stride_b + n * g.ldb + k] : b.f32[batch * g.stride_b + k * g.ldb + n];
            sum += static_cast<double>(round(x)) * round(y);
          }
          float& out = c[batch * g.stride_c + m * g.ldc + n];
          const double value = g.accumulate ? out + static_cast<float>(sum) : sum;
          out = precision_ == Precision::kFp16 ? round(static_cast<float>(value)) : static_cast<float>(value);
        }
    return Status::ok();
  }

 private:
  float round(float x) const {
    if (precision_ == Precision::kFp32) return x;
    if (precision_ == Precision::kFp16) {
      float r;
      kernels().round_to_fp16(Stream{}, &x, &r, 1);
      return r;
    }
    uint16_t bits;
    kernels().convert_to_bf16(Stream{}, &x, &bits, 1);
    const uint32_t wide = static_cast<uint32_t>(bits) << 16;
    float r;
    std::memcpy(&r, &wide, 4);
    return r;
  }

  std::unique_ptr<Backend> cpu_;
  Precision precision_ = Precision::kFp32;
};

}  // namespace bert::test
