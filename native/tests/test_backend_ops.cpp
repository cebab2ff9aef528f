// The op table (after ggml's test-backend-ops): every case of ops/ run on a backend and compared with the
// reference backend (the reference kernels, plain GEMM loops), output by output, with NaN/Inf checks and, for
// dropout, the same dropped elements. A kernel of kernel_list.inc without a case fails the run.
//   test_backend_ops cpu    the fast CPU kernels and oneDNN
//   test_backend_ops cuda   the CUDA backend on GPU 0; exits 77 (CTest: skipped) with "no GPU: N CUDA cases
//                           skipped" where no GPU can run it
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "ops/op_harness.h"
#include "ops/reference_backend.h"
#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

constexpr int kSkipped = 77;

const char* const kAllKernels[] = {
#define BERT_KERNEL(ret, name, params) #name,
#include "bert/kernel_list.inc"
#undef BERT_KERNEL
};

// tolerances.json keys: the CPU's fast kernels, or the GPU's (float accumulation in other orders, atomics).
double tolerance_for(Tolerance t, bool cuda) {
  switch (t) {
    case Tolerance::kBits:
      return 0.0;
    case Tolerance::kExact:
      return tolerance(cuda ? "kernel_cuda_fp32_exact_rel" : "kernel_fp32_exact_rel");
    case Tolerance::kApprox:
      return tolerance(cuda ? "kernel_cuda_fp32_approx_rel" : "kernel_fp32_approx_rel");
    case Tolerance::kGemmFp32:
      return tolerance(cuda ? "gemm_cuda_fp32_rel" : "gemm_fp32_rel");
    case Tolerance::kGemmBf16:
      return tolerance(cuda ? "gemm_cuda_bf16_rel" : "gemm_bf16_rel");
    case Tolerance::kGemmFp16:
      return tolerance(cuda ? "gemm_cuda_fp16_rel" : "gemm_fp16_rel");
  }
  return 0.0;
}

// max|a-b| / max|ref| (absolute when the reference is all zeros), infinite where either is not finite
double compare(const Tensor& got, const Tensor& ref) {
  if (got.values.size() != ref.values.size()) return INFINITY;
  double diff = 0, scale = 0;
  for (size_t i = 0; i < ref.values.size(); i++) {
    const double a = got.values[i], b = ref.values[i];
    if (std::isnan(a) != std::isnan(b) || (std::isinf(b) ? a != b : !std::isfinite(a))) return INFINITY;
    if (!std::isfinite(b)) continue;  // the same inf: the conversions' special values
    diff = std::fmax(diff, std::fabs(a - b));
    scale = std::fmax(scale, std::fabs(b));
  }
  return scale > 0 ? diff / scale : diff;
}

int64_t zero_mismatches(const Tensor& got, const Tensor& ref) {
  int64_t bad = 0;
  for (size_t i = 0; i < ref.values.size() && i < got.values.size(); i++)
    bad += (got.values[i] == 0.0) != (ref.values[i] == 0.0);
  return bad;
}

bool run_case(const OpCase& c, Backend& backend, ReferenceBackend& reference, bool cuda) {
  Outputs want, got;
  {
    DeviceArrays ref_arrays(reference);
    want = c.run(ref_arrays);
  }
  {
    DeviceArrays arrays(backend);
    got = c.run(arrays);
    const Status s = backend.synchronize();
    CHECK_MSG(s.is_ok(), "%s %s: %s", c.kernel, c.shape.c_str(), s.message().c_str());
  }
  const double tol = tolerance_for(c.tolerance, cuda);
  bool ok = got.size() == want.size();
  CHECK_MSG(ok, "%s %s: %zu outputs, the reference has %zu", c.kernel, c.shape.c_str(), got.size(), want.size());
  for (size_t i = 0; ok && i < want.size(); i++) {
    const double err = compare(got[i], want[i]);
    const bool dropout = c.dropped && want[i].name == c.dropped;
    const int64_t zeros = dropout ? zero_mismatches(got[i], want[i]) : 0;
    std::printf("  %-30s %-24s %-14s error %.2e (tolerance %.1e)%s\n", c.kernel, c.shape.c_str(), want[i].name.c_str(),
                err, tol, zeros ? " DROPOUT MASK DIFFERS" : "");
    CHECK_MSG(err <= tol && zeros == 0, "%s %s %s: error %.3g > %.3g or %lld mask differences", c.kernel,
              c.shape.c_str(), want[i].name.c_str(), err, tol, static_cast<long long>(zeros));
    ok = ok && err <= tol && zeros == 0;
  }
  return ok;
}

std::vector<OpCase> all_cases() {
  std::vector<OpCase> cases = kernel_cases();
  for (OpCase& c : gemm_cases()) cases.push_back(std::move(c));
  return cases;
}

// Every kernel of the list has a case; counted per kernel in the output.
void check_coverage(const std::vector<OpCase>& cases) {
  std::set<std::string> covered;
  for (const OpCase& c : cases) covered.insert(c.kernel);
  int listed = 0;
  for (const char* k : kAllKernels) {
    listed++;
    CHECK_MSG(covered.count(k) == 1, "kernel %s of kernel_list.inc has no op-table case", k);
  }
  std::printf("op table: %zu cases covering %d of %d kernels in kernel_list.inc, plus GEMMs\n", cases.size(),
              static_cast<int>(covered.size()) - 1, listed);
}

// The bf16 GEMMs as a CPU without AVX-512 runs them (operands widened to fp32), whatever this CPU has.
void check_widened_bf16_gemms(ReferenceBackend& reference) {
  CpuBackendOptions options;
  options.widen_bf16_gemms = true;
  const std::unique_ptr<Backend> widened = make_cpu_backend(options);
  std::printf("backend: %s\n", widened->description().c_str());
  for (const OpCase& c : gemm_cases())
    if (c.shape.rfind("bf16 ", 0) == 0) run_case(c, *widened, reference, false);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "cpu";
  const std::vector<OpCase> cases = all_cases();
  check_coverage(cases);
  std::unique_ptr<Backend> backend;
  if (which == "cuda") {
    const Status s = make_cuda_backend(0, &backend);
    if (!s.is_ok()) {
      std::printf("no GPU: %zu CUDA cases skipped (%s)\n", cases.size(), s.message().c_str());
      return failures() ? 1 : kSkipped;
    }
  } else {
    backend = make_cpu_backend();
  }
  std::printf("backend: %s\n", backend->description().c_str());
  ReferenceBackend reference;
  int passed = 0;
  for (const OpCase& c : cases) passed += run_case(c, *backend, reference, which == "cuda");
  std::printf("%s: %d of %zu cases passed\n", which.c_str(), passed, cases.size());
  if (which == "cpu") check_widened_bf16_gemms(reference);
  return finish(("test_backend_ops " + which).c_str());
}
