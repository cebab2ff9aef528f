// The CPU backend: oneDNN (or plain loops, in a build without it) for GEMMs, the fast (or reference) kernel table for
// everything else. In bf16 mode GEMM operands without a caller-held bf16 copy are converted into scratch buffers owned
// here.
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "bert/backend.h"
#include "cpu/cpu_gemm.h"
#include "cpu/fused_attention.h"
#include "cpu/kernels.h"

namespace bert {

const Kernels& cpu_reference_kernels() {
  static const Kernels table = {
#define BERT_KERNEL(ret, name, params) ref::name,
#include "bert/kernel_list.inc"
#undef BERT_KERNEL
  };
  return table;
}

const Kernels& cpu_fast_kernels() {
  static const Kernels table = {
#define BERT_KERNEL(ret, name, params) fast::name,
#include "bert/kernel_list.inc"
#undef BERT_KERNEL
  };
  return table;
}

namespace {

bool uses_fused_attention(const CpuBackendOptions& o) {
  return o.kernels == CpuKernelChoice::kFast && o.fused_attention != FusedAttentionChoice::kOff;
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options)
      : kernels_(options.kernels == CpuKernelChoice::kFast ? cpu_fast_kernels() : cpu_reference_kernels()),
        fused_attention_(uses_fused_attention(options) ? cpu_fused_attention() : nullptr),
        gemm_(options.widen_bf16_gemms) {
    if (options.threads > 0) omp_set_num_threads(options.threads);
  }

  const char* name() const override { return "cpu"; }
  std::string description() const override {
    return "cpu: " + std::to_string(omp_get_max_threads()) + " threads, " +
           (&kernels_ == &cpu_fast_kernels() ? "fast" : "reference") + " kernels, GEMM: " + CpuGemm::library() +
           (gemm_.widens_bf16() ? " (bf16 operands widened to fp32)" : "") +
           (fused_attention_ ? ", fused bf16 attention (AVX512-BF16)" : "");
  }
  Device device() const override { return Device::kCpu; }
  Stream stream() const override { return Stream{}; }
  Status bind_thread() override { return Status::ok(); }
  void set_precision(Precision precision) override { precision_ = precision; }
  const Kernels& kernels() const override { return kernels_; }

  Status gemm(const GemmArgs& g, GemmOperand a, GemmOperand b, float* c) override {
    if (precision_ == Precision::kFp32) return gemm_.run(g, false, a.f32, b.f32, c);
    if (precision_ == Precision::kFp16) return gemm_fp16_emulated(g, a.f32, b.f32, c);
    const uint16_t* a16 = a.bf16 ? a.bf16 : convert(a.f32, gemm_a_elements(g), scratch_a_);
    const uint16_t* b16 = b.bf16 ? b.bf16 : convert(b.f32, gemm_b_elements(g), scratch_b_);
    return gemm_.run(g, true, a16, b16, c);
  }

  void* alloc_bytes(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (p) std::memset(p, 0, rounded);
    return p;
  }
  void free_bytes(void* p) override { std::free(p); }
  void memset_zero(void* p, size_t bytes) override { std::memset(p, 0, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void upload(void* dst, const void* host_src, size_t bytes) override { std::memcpy(dst, host_src, bytes); }
  void download(void* host_dst, const void* src, size_t bytes) override { std::memcpy(host_dst, src, bytes); }
  Status synchronize() override { return Status::ok(); }
  bool host_addressable() const override { return true; }
  const FusedAttention* fused_attention() const override {
    return precision_ == Precision::kBf16 ? fused_attention_ : nullptr;
  }

 private:
  // Half precision as a GPU would see it: operands rounded to fp16 values, fp32 accumulation, the result rounded
  // to fp16 (overflowing to inf beyond 65504).
  Status gemm_fp16_emulated(const GemmArgs& g, const float* a, const float* b, float* c) {
    const int64_t na = gemm_a_elements(g);
    const int64_t nb = gemm_b_elements(g);
    if (static_cast<int64_t>(half_a_.size()) < na) half_a_.resize(na);
    if (static_cast<int64_t>(half_b_.size()) < nb) half_b_.resize(nb);
    kernels_.round_to_fp16(Stream{}, a, half_a_.data(), na);
    kernels_.round_to_fp16(Stream{}, b, half_b_.data(), nb);
    BERT_RETURN_IF_ERROR(gemm_.run(g, false, half_a_.data(), half_b_.data(), c));
    if (g.ldc == g.N && (g.batch == 1 || g.stride_c == g.M * g.N)) {
      kernels_.round_to_fp16(Stream{}, c, c, g.batch * g.M * g.N);
      return Status::ok();
    }
    for (int batch = 0; batch < g.batch; batch++)
      for (int64_t row = 0; row < g.M; row++) {
        float* r = c + batch * g.stride_c + row * g.ldc;
        kernels_.round_to_fp16(Stream{}, r, r, g.N);
      }
    return Status::ok();
  }

  const uint16_t* convert(const float* src, int64_t n, std::vector<uint16_t>& scratch) {
    if (static_cast<int64_t>(scratch.size()) < n) scratch.resize(n);
    kernels_.convert_to_bf16(Stream{}, src, scratch.data(), n);
    return scratch.data();
  }

  const Kernels& kernels_;
  const FusedAttention* fused_attention_;
  Precision precision_ = Precision::kFp32;
  CpuGemm gemm_;
  std::vector<uint16_t> scratch_a_, scratch_b_;
  std::vector<float> half_a_, half_b_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

}  // namespace bert
