// The backend seam: everything the model needs from a device. The model code (native/src/model) only talks to a
// Backend, so a CUDA backend is a new implementation of this interface and a new kernel table, nothing more.
// Pointers passed to a backend are in that backend's memory space.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "bert/dropout_rng.h"
#include "bert/model_config.h"
#include "bert/optimizer_args.h"
#include "bert/status.h"

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

// A GEMM operand: its fp32 values and, optionally, a bf16 copy the caller keeps current (weights). A backend
// computing in bf16 uses the copy when given and converts the fp32 values otherwise.
struct GemmOperand {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Precision of GEMM operands (accumulation is always fp32).
  virtual void set_precision(Precision precision) = 0;
  virtual Status gemm(const GemmArgs& args, GemmOperand a, GemmOperand b, float* c) = 0;
  virtual const Kernels& kernels() const = 0;
  // Device memory, zero-filled, aligned for the widest vector loads; nullptr when it cannot be had.
  virtual void* alloc_bytes(size_t bytes) = 0;
  virtual void free_bytes(void* p) = 0;
};

enum class CpuKernelChoice { kFast, kReference };

// The CPU backend: oneDNN GEMMs, OpenMP/AVX-512 kernels (or the plain reference kernels, for testing).
std::unique_ptr<Backend> make_cpu_backend(CpuKernelChoice choice = CpuKernelChoice::kFast);

// The two CPU kernel tables, for tests that compare them.
const Kernels& cpu_reference_kernels();
const Kernels& cpu_fast_kernels();

}  // namespace bert
