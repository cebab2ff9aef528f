// The CPU GEMM of a build without oneDNN: plain loops, parallel over the rows of C, fp32 accumulation. bf16
// operands are widened element by element. Correct for every shape the backend contract allows; far slower than
// oneDNN, so a build that has oneDNN never uses it.
#include <cstring>
#include <vector>

#include "cpu/cpu_gemm.h"

namespace bert {

namespace {

float widen(const void* p, int64_t i, bool bf16) {
  if (!bf16) return static_cast<const float*>(p)[i];
  const uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(p)[i]) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

const char* CpuGemm::library() { return "plain loops (this build found no oneDNN)"; }
struct CpuGemm::Impl {};
CpuGemm::CpuGemm(bool) {}
CpuGemm::~CpuGemm() = default;
bool CpuGemm::widens_bf16() const { return false; }  // widened element by element, as every operand is

Status CpuGemm::run(const GemmArgs& g, bool bf16, const void* a, const void* b, float* c) {
  for (int batch = 0; batch < g.batch; batch++) {
    const int64_t oa = batch * g.stride_a, ob = batch * g.stride_b;
    float* cb = c + batch * g.stride_c;
#pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < g.M; m++) {
      std::vector<float> row(g.N, 0.0f);
      for (int64_t k = 0; k < g.K; k++) {
        const float x = widen(a, oa + (g.trans_a ? k * g.lda + m : m * g.lda + k), bf16);
        for (int64_t n = 0; n < g.N; n++)
          row[n] += x * widen(b, ob + (g.trans_b ? n * g.ldb + k : k * g.ldb + n), bf16);
      }
      float* out = cb + m * g.ldc;
      for (int64_t n = 0; n < g.N; n++) out[n] = g.accumulate ? out[n] + row[n] : row[n];
    }
  }
  return Status::ok();
}

}  // namespace bert
