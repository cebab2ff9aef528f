// GEMM cases for every precision: plain, each transposition, batched with strides and padded leading
// dimensions, accumulating. The runner's reference backend computes them with plain loops (reference_backend.h).
#include <cmath>

#include "bert/model_config.h"
#include "ops/op_harness.h"
#include "test_util.h"

namespace bert::test {
namespace {

struct Shape {
  const char* name;
  GemmArgs g;
};

GemmArgs args(int batch, int64_t M, int64_t N, int64_t K, bool ta, bool tb, int64_t pad, bool accumulate) {
  GemmArgs g;
  g.batch = batch, g.M = M, g.N = N, g.K = K, g.trans_a = ta, g.trans_b = tb, g.accumulate = accumulate;
  g.lda = (ta ? M : K) + pad, g.ldb = (tb ? K : N) + pad, g.ldc = N + pad;
  g.stride_a = (ta ? K : M) * g.lda + pad, g.stride_b = (tb ? N : K) * g.ldb + pad, g.stride_c = M * g.ldc + pad;
  return g;
}

int64_t span(int batch, int64_t rows, int64_t ld, int64_t stride) { return (batch - 1) * stride + rows * ld; }

const char* precision_name(Precision p) {
  return p == Precision::kFp32 ? "fp32" : p == Precision::kBf16 ? "bf16" : "fp16";
}

}  // namespace

std::vector<OpCase> gemm_cases() {
  const Shape shapes[] = {
      {"37x45x29 NN", args(1, 37, 45, 29, false, false, 0, false)},
      {"37x45x29 NT", args(1, 37, 45, 29, false, true, 0, false)},
      {"37x45x29 TN +=", args(1, 37, 45, 29, true, false, 0, true)},
      {"130x67x200 TT", args(1, 130, 67, 200, true, true, 0, false)},
      {"5 x 17x19x9 NT padded", args(5, 17, 19, 9, false, true, 3, false)},
      {"3 x 64x64x64 TN padded +=", args(3, 64, 64, 64, true, false, 1, true)},
      {"1x1x1", args(1, 1, 1, 1, false, false, 0, false)},
  };
  std::vector<OpCase> cases;
  for (Precision p : {Precision::kFp32, Precision::kBf16, Precision::kFp16}) {
    const Tolerance tol = p == Precision::kFp32   ? Tolerance::kGemmFp32
                          : p == Precision::kBf16 ? Tolerance::kGemmBf16
                                                  : Tolerance::kGemmFp16;
    for (const Shape& s : shapes) {
      const GemmArgs g = s.g;
      cases.push_back({"gemm", std::string(precision_name(p)) + " " + s.name, tol, nullptr, [=](DeviceArrays& d) {
                         const int64_t na = span(g.batch, g.trans_a ? g.K : g.M, g.lda, g.stride_a);
                         const int64_t nb = span(g.batch, g.trans_b ? g.N : g.K, g.ldb, g.stride_b);
                         const int64_t nc = span(g.batch, g.M, g.ldc, g.stride_c);
                         float* c = d.put(random_floats(nc, 112));
                         d.backend().set_precision(p);
                         Status st = d.backend().gemm(g, GemmOperand{d.put(random_floats(na, 110)), nullptr},
                                                      GemmOperand{d.put(random_floats(nb, 111)), nullptr}, c);
                         d.backend().set_precision(Precision::kFp32);
                         if (!st.is_ok()) return Outputs{};  // the runner reports the missing output
                         return Outputs{d.get("c", c, nc)};
                       }});
    }
  }
  return cases;
}

}  // namespace bert::test
