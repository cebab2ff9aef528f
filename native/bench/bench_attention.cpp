// The fused bf16 attention beside the batched path it replaces (oneDNN's batched bf16 GEMMs around the fast softmax
// and dropout kernels), forward and backward, on BERT's attention shapes; the two alternate within each repetition so
// a shared machine's drift hits both. Correctness is test_fused_attention's job; this only times.
// Usage: build/bench_attention [reps=10] [threads=0 (all)]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

#include "bert/backend.h"
#include "bert/bf16_bits.h"
#include "bert/peak.h"
#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

double ms_of(const std::function<void()>& fn) {
  auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

struct Case {
  const char* name;
  int B, NH, T;
};

// C(T, n) = op(A)(T, k) . op(B)(k, n) over the B*NH heads, bf16 operands
GemmArgs head_gemm(const AttentionShape& s, int64_t n, int64_t k, bool ta, bool tb, int64_t lda, int64_t sa,
                   int64_t ldb, int64_t sb, int64_t ldc, int64_t sc) {
  GemmArgs g;
  g.batch = s.B * s.NH, g.M = s.T, g.N = n, g.K = k, g.trans_a = ta, g.trans_b = tb;
  g.lda = lda, g.ldb = ldb, g.ldc = ldc, g.stride_a = sa, g.stride_b = sb, g.stride_c = sc;
  return g;
}

void bench(Backend& be, const FusedAttention& fused, const Case& c, int reps) {
  AttentionShape s;
  s.B = c.B, s.NH = c.NH, s.T = c.T, s.HS = 64, s.scale = 0.125f, s.p = 0.1f, s.key = DropoutKey{1, 2};
  const int64_t T = s.T, HS = s.HS, heads = static_cast<int64_t>(s.B) * s.NH, block = heads * T * HS;
  const int64_t square = heads * T * T;
  auto bf16_of = [](std::vector<float> f) {
    std::vector<uint16_t> out(f.size());
    for (size_t i = 0; i < f.size(); i++) out[i] = bf16_bits(f[i]);
    return out;
  };
  const std::vector<uint16_t> q = bf16_of(random_floats(block, 1)), k = bf16_of(random_floats(block, 2)),
                              v = bf16_of(random_floats(block, 3)), dctx = bf16_of(random_floats(block, 4));
  const std::vector<float> mask(static_cast<size_t>(s.B) * T, 1.0f);
  std::vector<float> probs(square), scores(square), ctx(block), dq(block), dk(block), dv(block), dprobs(square);
  std::vector<uint16_t> p16(square);
  const Kernels& kern = be.kernels();
  auto op = [](const std::vector<uint16_t>& x) { return GemmOperand{nullptr, x.data()}; };
  auto batched_forward = [&] {
    (void)be.gemm(head_gemm(s, T, HS, false, true, HS, T * HS, HS, T * HS, T, T * T), op(q), op(k), scores.data());
    kern.softmax_dropout_forward(Stream{}, scores.data(), mask.data(), probs.data(), nullptr, p16.data(), s.B, s.NH,
                                 s.T, s.scale, s.p, s.key);
    (void)be.gemm(head_gemm(s, HS, T, false, false, T, T * T, HS, T * HS, HS, T * HS), op(p16), op(v), ctx.data());
  };
  auto batched_backward = [&] {
    kern.dropout_apply(Stream{}, probs.data(), nullptr, p16.data(), square, 1.0f, s.p, s.key);
    (void)be.gemm(head_gemm(s, T, HS, false, true, HS, T * HS, HS, T * HS, T, T * T), op(dctx), op(v), dprobs.data());
    (void)be.gemm(head_gemm(s, HS, T, true, false, T, T * T, HS, T * HS, HS, T * HS), op(p16), op(dctx), dv.data());
    kern.softmax_dropout_backward(Stream{}, dprobs.data(), probs.data(), nullptr, p16.data(), s.B, s.NH, s.T, s.scale,
                                  s.p, s.key);
    (void)be.gemm(head_gemm(s, HS, T, false, false, T, T * T, HS, T * HS, HS, T * HS), op(p16), op(k), dq.data());
    (void)be.gemm(head_gemm(s, HS, T, true, false, T, T * T, HS, T * HS, HS, T * HS), op(p16), op(q), dk.data());
  };
  auto fused_forward = [&] { fused.forward(q.data(), k.data(), v.data(), mask.data(), probs.data(), ctx.data(), s); };
  auto fused_backward = [&] {
    fused.backward(dctx.data(), probs.data(), q.data(), k.data(), v.data(), dq.data(), dk.data(), dv.data(), s);
  };
  batched_forward(), batched_backward(), fused_forward(), fused_backward();  // warm-up
  std::vector<double> bf, bb, ff, fb;
  for (int r = 0; r < reps; r++) {
    bf.push_back(ms_of(batched_forward));
    ff.push_back(ms_of(fused_forward));
    bb.push_back(ms_of(batched_backward));
    fb.push_back(ms_of(fused_backward));
  }
  const double flops_fwd = 4.0 * heads * T * T * HS, flops_bwd = 2 * flops_fwd;
  auto line = [&](const char* pass, double batched, double fusedms, double flops) {
    std::printf(
        "%-22s %-8s batched %8.2f ms (%5.0f GFLOP/s)  fused %8.2f ms (%5.0f GFLOP/s)  fused/batched time %.2f\n",
        c.name, pass, batched, flops / batched / 1e6, fusedms, flops / fusedms / 1e6, fusedms / batched);
  };
  line("forward", median(bf), median(ff), flops_fwd);
  line("backward", median(bb), median(fb), flops_bwd);
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
  if (argc > 2 && std::atoi(argv[2]) > 0) omp_set_num_threads(std::atoi(argv[2]));
  CpuBackendOptions options;
  options.fused_attention = FusedAttentionChoice::kOn;  // even where the batched path is the faster one
  std::unique_ptr<Backend> be = make_cpu_backend(options);
  be->set_precision(Precision::kBf16);
  const FusedAttention* fused = be->fused_attention();
  if (!fused) {
    std::printf("bench_attention: this build has no fused attention (no AVX512-BF16)\n");
    return 0;
  }
  std::printf("threads %d, %d repetitions, median ms; %s\n", omp_get_max_threads(), reps, be->description().c_str());
  const Case cases[] = {
      {"mini/small B32 NH4 T128", 32, 4, 128}, {"base B32 NH12 T128", 32, 12, 128}, {"base B8 NH12 T512", 8, 12, 512}};
  for (const Case& c : cases) bench(*be, *fused, c, reps);
  // the fused kernel's products run on vdpbf16ps, the batched path's on what oneDNN picks (AMX where there is one)
  std::printf("peak measured now: vdpbf16ps %.0f GFLOP/s, AMX %.0f GFLOP/s (0: none)\n",
              measure_peak_gflops(PeakKind::kBf16Dot, 0, 0.3), measure_peak_gflops(PeakKind::kBf16Amx, 0, 0.3));
  return 0;
}
