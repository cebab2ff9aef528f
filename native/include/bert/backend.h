// The backend seam: everything the model needs from a device. The model code (native/src/model) only talks to a
// Backend: it owns the memory (allocation, zeroing, copies, transfers to and from the host) and the execution
// (the stream every kernel and GEMM is launched on). Pointers passed to a backend are in its memory space; the
// model never reads or writes them from the host, it uploads inputs and downloads scalars.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "bert/dropout_rng.h"
#include "bert/model_config.h"
#include "bert/optimizer_args.h"
#include "bert/status.h"
#include "bert/stream.h"

namespace bert {

// Function pointers to one implementation of every kernel in kernel_list.inc.
struct Kernels {
#define BERT_KERNEL(ret, name, params) ret(*name) params;
#include "bert/kernel_list.inc"
#undef BERT_KERNEL
};

// C(batch, M, N) (+)= op(A)(batch, M, K) . op(B)(batch, K, N), row-major. op(A) = A^T when trans_a (A is then
// stored K x M). Batches are stride_* elements apart.
struct GemmArgs {
  int batch = 1;
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  bool accumulate = false;  // C += instead of C =
};

// Elements an operand of `args` spans from its first (batch strides and leading dimensions included): what a
// converted copy of A or B must hold so that the GEMM reads only converted values.
inline int64_t gemm_operand_elements(int batch, int64_t rows, int64_t cols, bool transposed, int64_t ld,
                                     int64_t stride) {
  const int64_t last_row = transposed ? (cols - 1) * ld + rows : (rows - 1) * ld + cols;
  return static_cast<int64_t>(batch - 1) * stride + last_row;
}
inline int64_t gemm_a_elements(const GemmArgs& g) {
  return gemm_operand_elements(g.batch, g.M, g.K, g.trans_a, g.lda, g.stride_a);
}
inline int64_t gemm_b_elements(const GemmArgs& g) {
  return gemm_operand_elements(g.batch, g.K, g.N, g.trans_b, g.ldb, g.stride_b);
}

// A GEMM operand: its fp32 values and, optionally, a bf16 copy the caller keeps current (weights). A backend
// computing in bf16 uses the copy when given and converts the fp32 values otherwise.
struct GemmOperand {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
};

// Fused scaled dot-product attention over bf16 Q, K and V (head-major (B, NH, T, HS) each), the GEMMs and the
// softmax with its dropout done per head in cache. Forward: probs(B, NH, T, T) = softmax(Q K^T * scale + the mask's
// -10000 on padding), fp32, kept for the backward; ctx(B, NH, T, HS) = bf16(dropout(probs)) . V. Backward, from
// d_ctx in bf16 and the stored probs: dq, dk, dv (fp32, head-major, written) of the same computation, the dropped
// probabilities regenerated from `key`. Rounded as the batched path rounds (bf16 P and dS, fp32 accumulation), so
// that path is its reference.
struct AttentionShape {
  int B = 0, NH = 0, T = 0, HS = 0;
  float scale = 1.0f;  // 1 / sqrt(HS)
  float p = 0.0f;      // attention-probability dropout
  DropoutKey key;
};
struct FusedAttention {
  void (*forward)(const uint16_t* q, const uint16_t* k, const uint16_t* v, const float* mask, float* probs, float* ctx,
                  const AttentionShape& shape);
  void (*backward)(const uint16_t* d_ctx, const float* probs, const uint16_t* q, const uint16_t* k, const uint16_t* v,
                   float* dq, float* dk, float* dv, const AttentionShape& shape);
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // One line for the start of a run: the device and which GEMM library runs.
  virtual std::string description() const = 0;
  virtual Device device() const = 0;
  // Precision of GEMM operands (accumulation is always fp32).
  virtual void set_precision(Precision precision) = 0;
  virtual Status gemm(const GemmArgs& args, GemmOperand a, GemmOperand b, float* c) = 0;
  virtual const Kernels& kernels() const = 0;
  virtual Stream stream() const = 0;
  // Binds the calling thread to the backend's device (CUDA's current device is per thread, and the addon runs
  // passes on worker threads). The engine calls it on entry to each of its calls.
  virtual Status bind_thread() = 0;
  // Device memory, zero-filled, aligned for the widest vector loads; nullptr when it cannot be had.
  virtual void* alloc_bytes(size_t bytes) = 0;
  virtual void free_bytes(void* p) = 0;
  // Stream-ordered memory operations. download waits for the stream, so the host copy is complete on return.
  virtual void memset_zero(void* p, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // within the device
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  // Waits for everything launched; reports the first asynchronous failure (a kernel fault on a GPU).
  virtual Status synchronize() = 0;
  // Whether the host may read the backend's memory directly (the CPU): callers may then skip host staging.
  virtual bool host_addressable() const = 0;
  // The fused attention of bf16 runs where this backend has one (the CPU's fast kernels on AVX512-BF16), else
  // null: the model then runs the batched GEMMs and the softmax kernels.
  virtual const FusedAttention* fused_attention() const { return nullptr; }
};

enum class CpuKernelChoice { kFast, kReference };

// Whether bf16 runs use the fused attention (with the fast kernels, in a build with AVX512-BF16). kAuto uses it: it
// was measured faster than the batched path both on AMX and on vdpbf16ps alone (docs/benchmarks.md). Its products
// and oneDNN's batched GEMMs use the same instruction, since the process holds AMX for both or for neither.
enum class FusedAttentionChoice { kAuto, kOn, kOff };

struct CpuBackendOptions {
  int threads = 0;  // OpenMP threads; 0 leaves OpenMP's default
  CpuKernelChoice kernels = CpuKernelChoice::kFast;
  FusedAttentionChoice fused_attention = FusedAttentionChoice::kAuto;
  // bf16 GEMMs widened to fp32 even where oneDNN has a bf16 matmul: the path of CPUs without AVX-512, for tests
  bool widen_bf16_gemms = false;
};

// The CPU backend: oneDNN GEMMs, OpenMP/AVX-512 kernels (or the plain reference kernels, for testing).
std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options = {});

// The CUDA backend on GPU `device`. Fails with kUnavailable (and says why: built without CUDA, no driver, no GPU,
// no such device) where it cannot run; the rest of the core never needs a GPU.
Status make_cuda_backend(int device, std::unique_ptr<Backend>* out);

// What this build and machine offer for CUDA, without creating a backend.
struct CudaProbe {
  bool compiled = false;  // the core was built with the CUDA backend
  int device_count = 0;   // usable GPUs (0 when no driver)
  std::string reason;     // why none is usable, when device_count == 0
  std::string gemm;       // "cuBLASLt" or "built-in tensor-core GEMM"
};
CudaProbe probe_cuda();

// GPU `device`'s dense bf16 tensor-core peak in TFLOP/s from its multiprocessors and peak clock (Ampere sm_80:
// 2,048 FLOPs per clock per SM; Hopper sm_90: 4,096); 0 for other GPUs, or without one.
double cuda_dense_bf16_peak_tflops(int device);

// The two CPU kernel tables, for tests that compare them.
const Kernels& cpu_reference_kernels();
const Kernels& cpu_fast_kernels();

}  // namespace bert
