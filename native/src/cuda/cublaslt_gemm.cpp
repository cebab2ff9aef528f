// GEMMs by cuBLASLt, compiled where CMake found it (the CUDA toolkit's, or the nvidia-cublas Python package's
// given by BERT_CUBLAS_ROOT). Our GEMMs are row-major; cuBLASLt's column-major view of a row-major matrix is its
// transpose, so C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T with the operands swapped. fp32 runs use
// CUBLAS_COMPUTE_32F (no TF32), so their results stay comparable with the CPU's.
#include <cublasLt.h>

#include <string>

#include "cuda/gemm.h"

namespace bert::cuda {
namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;

Status lt_status(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::ok();
  return Status(StatusCode::kBackendError,
                std::string("cuBLASLt ") + what + " failed (status " + std::to_string(static_cast<int>(s)) + ")");
}

cudaDataType_t data_type(OperandType t) {
  switch (t) {
    case OperandType::kBf16:
      return CUDA_R_16BF;
    case OperandType::kFp16:
      return CUDA_R_16F;
    case OperandType::kF32:
      break;
  }
  return CUDA_R_32F;
}

// A column-major layout of rows x cols with leading dimension ld, batched by stride.
Status make_layout(cublasLtMatrixLayout_t* out, cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int batch,
                   int64_t stride) {
  BERT_RETURN_IF_ERROR(lt_status(cublasLtMatrixLayoutCreate(out, type, rows, cols, ld), "layout"));
  if (batch > 1) {
    BERT_RETURN_IF_ERROR(lt_status(
        cublasLtMatrixLayoutSetAttribute(*out, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof(batch)), "batch"));
    BERT_RETURN_IF_ERROR(lt_status(
        cublasLtMatrixLayoutSetAttribute(*out, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)),
        "stride"));
  }
  return Status::ok();
}

class CublasLtGemm final : public LibraryGemm {
 public:
  CublasLtGemm(cublasLtHandle_t handle, void* workspace) : handle_(handle), workspace_(workspace) {}
  ~CublasLtGemm() override {
    cudaFree(workspace_);
    cublasLtDestroy(handle_);
  }

  Status run(Stream stream, const GemmArgs& g, OperandType type, const void* a, const void* b, float* c) override {
    if (g.M == 0 || g.N == 0 || g.batch == 0) return Status::ok();
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
    Status status = describe(g, type, &op, &la, &lb, &lc);
    if (status.is_ok()) status = launch(stream, g, op, la, lb, lc, a, b, c);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
    return status;
  }

 private:
  // Column-major: C^T (N x M) = X (N x K) . Y (K x M), X = op(B)^T read from B's memory, Y = op(A)^T from A's.
  Status describe(const GemmArgs& g, OperandType type, cublasLtMatmulDesc_t* op, cublasLtMatrixLayout_t* la,
                  cublasLtMatrixLayout_t* lb, cublasLtMatrixLayout_t* lc) {
    BERT_RETURN_IF_ERROR(lt_status(cublasLtMatmulDescCreate(op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor"));
    const cublasOperation_t tx = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, ty = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    BERT_RETURN_IF_ERROR(
        lt_status(cublasLtMatmulDescSetAttribute(*op, CUBLASLT_MATMUL_DESC_TRANSA, &tx, sizeof(tx)), "transa"));
    BERT_RETURN_IF_ERROR(
        lt_status(cublasLtMatmulDescSetAttribute(*op, CUBLASLT_MATMUL_DESC_TRANSB, &ty, sizeof(ty)), "transb"));
    const cudaDataType_t t = data_type(type);
    // B's memory: row-major (K x N) is column-major (N x K); row-major (N x K) (trans_b) is column-major (K x N)
    BERT_RETURN_IF_ERROR(make_layout(la, t, g.trans_b ? g.K : g.N, g.trans_b ? g.N : g.K, g.ldb, g.batch, g.stride_b));
    BERT_RETURN_IF_ERROR(make_layout(lb, t, g.trans_a ? g.M : g.K, g.trans_a ? g.K : g.M, g.lda, g.batch, g.stride_a));
    return make_layout(lc, CUDA_R_32F, g.N, g.M, g.ldc, g.batch, g.stride_c);
  }

  Status launch(Stream stream, const GemmArgs& g, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t la,
                cublasLtMatrixLayout_t lb, cublasLtMatrixLayout_t lc, const void* a, const void* b, float* c) {
    cublasLtMatmulPreference_t pref = nullptr;
    BERT_RETURN_IF_ERROR(lt_status(cublasLtMatmulPreferenceCreate(&pref), "preference"));
    const size_t workspace = kWorkspaceBytes;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace));
    cublasLtMatmulHeuristicResult_t heuristic = {};
    int found = 0;
    cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(handle_, op, la, lb, lc, lc, pref, 1, &heuristic, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    BERT_RETURN_IF_ERROR(lt_status(s, "heuristic"));
    if (found == 0) return Status(StatusCode::kBackendError, "cuBLASLt has no algorithm for this GEMM");
    const float alpha = 1.0f, beta = g.accumulate ? 1.0f : 0.0f;
    return lt_status(cublasLtMatmul(handle_, op, &alpha, b, la, a, lb, &beta, c, lc, c, lc, &heuristic.algo, workspace_,
                                    kWorkspaceBytes, static_cast<cudaStream_t>(stream.handle)),
                     "matmul");
  }

  cublasLtHandle_t handle_;
  void* workspace_;
};

}  // namespace

std::unique_ptr<LibraryGemm> make_cublaslt_gemm(std::string* why_not) {
  cublasLtHandle_t handle = nullptr;
  if (cublasLtCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
    *why_not = "cuBLASLt could not start";
    return nullptr;
  }
  void* workspace = nullptr;
  if (cudaMalloc(&workspace, kWorkspaceBytes) != cudaSuccess) {
    cudaGetLastError();
    cublasLtDestroy(handle);
    *why_not = "no memory for cuBLASLt's workspace";
    return nullptr;
  }
  return std::make_unique<CublasLtGemm>(handle, workspace);
}

}  // namespace bert::cuda
