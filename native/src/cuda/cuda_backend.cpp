// The CUDA backend: device memory and one non-blocking stream per engine, the CUDA kernel table, and GEMMs by
// cuBLASLt where the build found it, else by the built-in tensor-core kernels. In bf16 and fp16 runs, GEMM
// operands without a caller-held bf16 copy are converted on the device into scratch buffers owned here; fp16
// results are rounded to fp16 values as the CPU's fp16 mode does, so loss scaling sees the same overflows.
#include <cuda_runtime.h>

#include <string>

#include "bert/backend.h"
#include "cuda/gemm.h"
#include "cuda/kernels.h"

namespace bert {
namespace {

Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::ok();
  return Status(StatusCode::kBackendError, std::string(what) + ": " + cudaGetErrorString(e));
}

const Kernels& cuda_kernels() {
  static const Kernels table = {
#define BERT_KERNEL(ret, name, params) cuda::name,
#include "bert/kernel_list.inc"
#undef BERT_KERNEL
  };
  return table;
}

// A device buffer that grows (never shrinks) to the largest request.
class Scratch {
 public:
  ~Scratch() { cudaFree(data_); }
  uint16_t* get(int64_t elements, cudaStream_t stream) {
    const size_t bytes = static_cast<size_t>(elements) * sizeof(uint16_t);
    if (bytes > bytes_) {
      cudaStreamSynchronize(stream);  // the old buffer may still be read
      cudaFree(data_);
      data_ = nullptr;
      bytes_ = 0;
      if (cudaMalloc(&data_, bytes) != cudaSuccess) return nullptr;
      bytes_ = bytes;
    }
    return static_cast<uint16_t*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, cudaStream_t stream, std::unique_ptr<cuda::LibraryGemm> library, std::string description)
      : device_(device), stream_(stream), library_(std::move(library)), description_(std::move(description)) {}
  ~CudaBackend() override {
    cudaSetDevice(device_);
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }

  const char* name() const override { return "cuda"; }
  std::string description() const override { return description_; }
  Device device() const override { return Device::kCuda; }
  Stream stream() const override { return Stream{stream_}; }
  Status bind_thread() override { return cuda_status(cudaSetDevice(device_), "cudaSetDevice"); }
  void set_precision(Precision precision) override { precision_ = precision; }
  const Kernels& kernels() const override { return cuda_kernels(); }
  bool host_addressable() const override { return false; }

  Status gemm(const GemmArgs& g, GemmOperand a, GemmOperand b, float* c) override {
    const int64_t na = gemm_a_elements(g);
    const int64_t nb = gemm_b_elements(g);
    if (precision_ == Precision::kFp32) return run_gemm(g, cuda::OperandType::kF32, a.f32, b.f32, c);
    if (precision_ == Precision::kBf16) {
      const uint16_t* a16 = a.bf16 ? a.bf16 : convert(a.f32, na, scratch_a_, false);
      const uint16_t* b16 = b.bf16 ? b.bf16 : convert(b.f32, nb, scratch_b_, false);
      if (!a16 || !b16) return Status(StatusCode::kOutOfMemory, "could not allocate GEMM operand scratch");
      return run_gemm(g, cuda::OperandType::kBf16, a16, b16, c);
    }
    const uint16_t* a16 = convert(a.f32, na, scratch_a_, true);
    const uint16_t* b16 = convert(b.f32, nb, scratch_b_, true);
    if (!a16 || !b16) return Status(StatusCode::kOutOfMemory, "could not allocate GEMM operand scratch");
    BERT_RETURN_IF_ERROR(run_gemm(g, cuda::OperandType::kFp16, a16, b16, c));
    round_result_to_fp16(g, c);
    return Status::ok();
  }

  void* alloc_bytes(size_t bytes) override {
    void* p = nullptr;
    const size_t rounded = (bytes + 255) / 256 * 256;
    if (cudaMalloc(&p, rounded == 0 ? 256 : rounded) != cudaSuccess) {
      cudaGetLastError();  // an allocation failure is reported as nullptr, not left as the sticky error
      return nullptr;
    }
    cudaMemsetAsync(p, 0, rounded == 0 ? 256 : rounded, stream_);
    return p;
  }
  void free_bytes(void* p) override {
    if (!p) return;
    cudaStreamSynchronize(stream_);
    cudaFree(p);
  }
  void memset_zero(void* p, size_t bytes) override { cudaMemsetAsync(p, 0, bytes, stream_); }
  void copy(void* dst, const void* src, size_t bytes) override {
    cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_);
  }
  void upload(void* dst, const void* host_src, size_t bytes) override {
    // from pageable memory: returns once the source has been staged, so the caller may reuse it
    cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_);
  }
  void download(void* host_dst, const void* src, size_t bytes) override {
    cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_);
    cudaStreamSynchronize(stream_);
  }
  Status synchronize() override {
    BERT_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream_), "CUDA stream"));
    return cuda_status(cudaGetLastError(), "CUDA kernel launch");
  }

 private:
  Status run_gemm(const GemmArgs& g, cuda::OperandType type, const void* a, const void* b, float* c) {
    if (library_) return library_->run(stream(), g, type, a, b, c);
    return cuda::builtin_gemm(stream(), g, type, a, b, c);
  }

  const uint16_t* convert(const float* src, int64_t n, Scratch& scratch, bool to_fp16) {
    uint16_t* dst = scratch.get(n, stream_);
    if (!dst) return nullptr;
    if (to_fp16)
      cuda::convert_to_fp16(stream(), src, dst, n);
    else
      cuda::convert_to_bf16(stream(), src, dst, n);
    return dst;
  }

  void round_result_to_fp16(const GemmArgs& g, float* c) {
    if (g.ldc == g.N && (g.batch == 1 || g.stride_c == g.M * g.N)) {
      cuda::round_to_fp16(stream(), c, c, g.batch * g.M * g.N);
      return;
    }
    for (int batch = 0; batch < g.batch; batch++)
      for (int64_t row = 0; row < g.M; row++) {
        float* r = c + batch * g.stride_c + row * g.ldc;
        cuda::round_to_fp16(stream(), r, r, g.N);
      }
  }

  int device_;
  cudaStream_t stream_;
  std::unique_ptr<cuda::LibraryGemm> library_;
  std::string description_;
  Precision precision_ = Precision::kFp32;
  Scratch scratch_a_, scratch_b_;
};

std::string no_gpu_reason(cudaError_t e) {
  switch (e) {
    case cudaErrorNoDevice:
      return "no CUDA GPU is visible (check CUDA_VISIBLE_DEVICES)";
    case cudaErrorInsufficientDriver:
      return "no NVIDIA driver is loaded, or it is older than CUDA " + std::to_string(CUDART_VERSION / 1000) + " needs";
    default:
      return std::string("CUDA cannot start: ") + cudaGetErrorString(e);
  }
}

}  // namespace

CudaProbe probe_cuda() {
  CudaProbe probe;
  probe.compiled = true;
#ifdef BERT_HAVE_CUBLASLT
  probe.gemm = "cuBLASLt";
#else
  probe.gemm = "built-in tensor-core GEMM (this build did not find cuBLASLt)";
#endif
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    probe.reason = no_gpu_reason(e);
    return probe;
  }
  for (int d = 0; d < count; d++) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, d) == cudaSuccess && prop.major >= 8) probe.device_count++;
  }
  if (probe.device_count == 0) probe.reason = "no GPU of compute capability 8.0 or newer (Ampere, Hopper)";
  return probe;
}

double cuda_dense_bf16_peak_tflops(int device) {
  int major = 0, minor = 0, sms = 0, khz = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device) != cudaSuccess) {
    cudaGetLastError();
    return 0.0;
  }
  const double per_clock = major == 9 && minor == 0 ? 4096 : major == 8 && minor == 0 ? 2048 : 0;
  return per_clock * sms * khz * 1e3 / 1e12;
}

Status make_cuda_backend(int device, std::unique_ptr<Backend>* out) {
  const CudaProbe probe = probe_cuda();
  if (probe.device_count == 0) return Status(StatusCode::kUnavailable, "--device cuda: " + probe.reason);
  int count = 0;
  cudaGetDeviceCount(&count);
  if (device < 0 || device >= count)
    return Status(StatusCode::kUnavailable,
                  "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " visible)");
  cudaDeviceProp prop;
  BERT_RETURN_IF_ERROR(cuda_status(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties"));
  if (prop.major < 8)
    return Status(StatusCode::kUnavailable, std::string(prop.name) + " is compute capability " +
                                                std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                                                "; the CUDA backend needs 8.0 or newer");
  BERT_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device), "cudaSetDevice"));
  cudaStream_t stream = nullptr;
  BERT_RETURN_IF_ERROR(cuda_status(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  std::string why_not;
  std::unique_ptr<cuda::LibraryGemm> library = cuda::make_cublaslt_gemm(&why_not);
  const std::string description =
      "cuda: " + std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
      ", device " + std::to_string(device) + ", " + std::to_string(prop.totalGlobalMem >> 30) +
      " GiB), GEMM: " + (library ? std::string("cuBLASLt") : "built-in tensor-core GEMM (" + why_not + ")");
  *out = std::make_unique<CudaBackend>(device, stream, std::move(library), description);
  return Status::ok();
}

#ifndef BERT_HAVE_CUBLASLT
std::unique_ptr<cuda::LibraryGemm> cuda::make_cublaslt_gemm(std::string* why_not) {
  *why_not = "this build did not find cuBLASLt";
  return nullptr;
}
#endif

}  // namespace bert
