// The CUDA entry points of a build without the CUDA backend (no nvcc found, or BERT_CUDA=OFF).
#include "bert/backend.h"

namespace bert {

CudaProbe probe_cuda() {
  CudaProbe probe;
  probe.reason = "this build has no CUDA backend (it was compiled without nvcc or with BERT_CUDA=OFF)";
  return probe;
}

double cuda_dense_bf16_peak_tflops(int) { return 0.0; }

Status make_cuda_backend(int, std::unique_ptr<Backend>*) {
  return Status(StatusCode::kUnavailable, probe_cuda().reason);
}

}  // namespace bert
