// The CUDA backend's GEMMs: a built-in tensor-core GEMM (bf16/fp16 operands, fp32 accumulation; a plain fp32
// GEMM for fp32 runs), always compiled, and cuBLASLt where the build found it. Same contract as Backend::gemm:
// row-major, op() by the trans flags, batched by strides, C fp32 (+)=.
#pragma once
#include <memory>
#include <string>

#include "bert/backend.h"

namespace bert::cuda {

enum class OperandType { kF32, kBf16, kFp16 };

// The built-in kernels; a, b hold elements of `type`.
Status builtin_gemm(Stream stream, const GemmArgs& args, OperandType type, const void* a, const void* b, float* c);

// fp32 -> fp16 (round to nearest even), the operand conversion of fp16 runs.
void convert_to_fp16(Stream stream, const float* src, uint16_t* dst, int64_t n);

// cuBLASLt, when compiled in (BERT_HAVE_CUBLASLT): nullptr from make_cublaslt_gemm otherwise.
class LibraryGemm {
 public:
  virtual ~LibraryGemm() = default;
  virtual Status run(Stream stream, const GemmArgs& args, OperandType type, const void* a, const void* b, float* c) = 0;
};
std::unique_ptr<LibraryGemm> make_cublaslt_gemm(std::string* why_not);

}  // namespace bert::cuda
