// Per-kernel benchmarks, runnable without Node: GEMM shapes of one BERT layer (GFLOP/s beside the peak measured
// in the same process) and the element-wise kernels (GB/s, fast beside reference). Correctness of the fast kernels is
// test_kernels' job; this only times them. Usage: build/bench_kernels [hidden=512] [batch*seq=4096] [threads=0 (all)]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "bert/backend.h"
#include "bert/peak.h"
#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

double seconds_of(const std::function<void()>& fn, int reps) {
  fn();  // warm up (primitive creation, page faults)
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; i++) fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

struct GemmCase {
  const char* what;
  GemmArgs args;
};

GemmArgs gemm(int batch, int64_t M, int64_t N, int64_t K, bool ta, bool tb) {
  GemmArgs g;
  g.batch = batch, g.M = M, g.N = N, g.K = K, g.trans_a = ta, g.trans_b = tb;
  g.lda = ta ? M : K;
  g.ldb = tb ? K : N;
  g.ldc = N;
  g.stride_a = M * K, g.stride_b = K * N, g.stride_c = M * N;
  return g;
}

// The shapes of one BERT layer (sequence 128, head size 64) and its MLM head at hidden C over BT tokens.
struct Shapes {
  int64_t C, BT, F, T, NH, B, HS, V, M;
  Shapes(int64_t hidden, int64_t tokens)
      : C(hidden),
        BT(tokens),
        F(4 * hidden),
        T(128),
        NH(hidden / 64),
        B(tokens / 128),
        HS(64),
        V(30522),
        M(tokens / 128 * 20) {}
};

void bench_gemms(const Shapes& sh) {
  const int64_t C = sh.C, BT = sh.BT, F = sh.F, T = sh.T, NH = sh.NH, B = sh.B, HS = sh.HS, V = sh.V, M = sh.M;
  std::vector<GemmCase> cases = {
      {"qkv forward      X.W^T", gemm(1, BT, 3 * C, C, false, true)},
      {"ffn_in forward   X.W^T", gemm(1, BT, F, C, false, true)},
      {"ffn_out forward  X.W^T", gemm(1, BT, C, F, false, true)},
      {"ffn_out dX       dY.W ", gemm(1, BT, F, C, false, false)},
      {"ffn_in dW        dY^T.X", gemm(1, F, C, BT, true, false)},
      {"scores           Q.K^T", gemm(B * NH, T, T, HS, false, true)},
      {"context          P.V  ", gemm(B * NH, T, HS, T, false, false)},
      {"dV               P^T.dC", gemm(B * NH, T, HS, T, true, false)},
      {"mlm logits       X.E^T", gemm(1, M, V, C, false, true)},
      {"mlm dX           dY.E ", gemm(1, M, C, V, false, false)},
      {"mlm dE           dY^T.X", gemm(1, V, C, M, true, false)},
      {"square (ceiling)  A.B^T", gemm(1, 4096, 4096, 4096, false, true)},
  };
  for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
    auto backend = make_cpu_backend();
    backend->set_precision(precision);
    // the peak of this machine now: FMAs (fp32) or bf16 dot products on every thread, measured in this process. A
    // CPU without a bf16 dot product (0) runs bf16 GEMMs widened to fp32, so the fp32 FMA peak is their ceiling.
    // bf16: the faster of the dot products and AMX tile products, as the engine measures it (oneDNN runs on AMX
    // where the CPU grants it)
    double peak = precision == Precision::kFp32 ? measure_peak_gflops(PeakKind::kFp32Fma, 0, 0.3)
                                                : std::max(measure_peak_gflops(PeakKind::kBf16Dot, 0, 0.3),
                                                           measure_peak_gflops(PeakKind::kBf16Amx, 0, 0.3));
    const bool widened = peak == 0;
    if (widened) peak = measure_peak_gflops(PeakKind::kFp32Fma, 0, 0.3);
    std::printf("\nGEMM %s (measured %speak %.0f GFLOP/s on %d threads)\n",
                precision == Precision::kFp32 ? "fp32"
                : widened                     ? "bf16, no bf16 dot product here: widened to fp32"
                                              : "bf16",
                widened ? "fp32 FMA " : "", peak, omp_get_max_threads());
    for (const GemmCase& c : cases) {
      const GemmArgs& g = c.args;
      auto a = random_floats(g.batch * g.M * g.K, 1), b = random_floats(g.batch * g.K * g.N, 2);
      std::vector<float> out(g.batch * g.M * g.N);
      std::vector<uint16_t> b16(b.size());
      backend->kernels().convert_to_bf16(Stream{}, b.data(), b16.data(), static_cast<int64_t>(b.size()));
      // weights (the B operand of the linear layers) arrive pre-converted, as in the engine
      const bool weight_b = g.batch == 1 && !g.trans_a;
      GemmOperand bo{b.data(), precision == Precision::kBf16 && weight_b ? b16.data() : nullptr};
      double s = seconds_of([&] { (void)backend->gemm(g, GemmOperand{a.data(), nullptr}, bo, out.data()); }, 5);
      double gflops = 2.0 * g.batch * g.M * g.N * g.K / s / 1e9;
      std::printf("  %-24s batch %4d M %6ld N %6ld K %6ld: %8.3f ms %7.1f GFLOP/s (%3.0f%%)\n", c.what, g.batch,
                  (long)g.M, (long)g.N, (long)g.K, s * 1e3, gflops, 100 * gflops / peak);
    }
  }
}

// Element-wise kernels: bytes moved per call / time, fast beside reference.
void bench_elementwise(const Shapes& sh) {
  const int64_t C = sh.C, BT = sh.BT, F = sh.F, T = sh.T, NH = sh.NH, B = sh.B, V = sh.V, M = sh.M;
  const Kernels& fast = cpu_fast_kernels();
  const Kernels& ref = cpu_reference_kernels();
  auto x = random_floats(BT * F, 3, -4, 4), bias = random_floats(F, 4), act(x), pre(x), y(x);
  auto probs = random_floats(B * NH * T * T, 5), pd(probs), mask = std::vector<float>(B * T, 1.0f);
  auto lnw = random_floats(C, 6), lnb = random_floats(C, 7), mean = random_floats(BT, 8), rstd = random_floats(BT, 9);
  auto hx = random_floats(BT * C, 10), hy(hx), hz(hx);
  auto logits = random_floats(M * V, 11), dlogits(logits);
  auto labels = random_ints(M, 12, 0, V);
  // the fused QKV projection's output and bias, shuffled into heads: bias added first (the old way) or on the way
  auto qkv = random_floats(BT * 3 * C, 13), qkv_b = random_floats(3 * C, 14), heads(qkv);
  auto* heads_bf16 = reinterpret_cast<uint16_t*>(y.data());
  double loss = 0;
  int64_t hits = 0;
  struct Op {
    const char* name;
    double bytes;
    std::function<void(const Kernels&)> run;
  };
  std::vector<Op> ops = {
      {"bias_gelu_forward", 12.0 * BT * F,
       [&](const Kernels& k) {
         pre = x;
         k.bias_gelu_forward(Stream{}, pre.data(), bias.data(), act.data(), nullptr, BT, F, GeluForm::kErf);
       }},
      {"gelu_backward", 12.0 * BT * F,
       [&](const Kernels& k) {
         k.gelu_backward(Stream{}, x.data(), pre.data(), y.data(), nullptr, BT, F, GeluForm::kErf);
       }},
      {"layernorm_forward", 8.0 * BT * C,
       [&](const Kernels& k) {
         k.layernorm_forward(Stream{}, hx.data(), lnw.data(), lnb.data(), hy.data(), nullptr, mean.data(), rstd.data(),
                             BT, C, 1e-12f);
       }},
      {"layernorm_backward", 16.0 * BT * C,
       [&](const Kernels& k) {
         k.layernorm_backward(Stream{}, hx.data(), hy.data(), lnw.data(), mean.data(), rstd.data(), hz.data(),
                              lnb.data(), lnw.data(), BT, C);
       }},
      {"bias_dropout_residual", 12.0 * BT * C,
       [&](const Kernels& k) {
         k.bias_dropout_residual_forward(Stream{}, hx.data(), lnb.data(), hy.data(), hz.data(), BT, C, 1.2f, 0.1f,
                                         DropoutKey{1, 2});
       }},
      {"softmax_dropout_forward", 12.0 * B * NH * T * T,
       [&](const Kernels& k) {
         k.softmax_dropout_forward(Stream{}, probs.data(), mask.data(), y.data(), pd.data(), nullptr, B, NH, T, 0.125f,
                                   0.1f, DropoutKey{1, 3});
       }},
      {"softmax_dropout_backward", 12.0 * B * NH * T * T,
       [&](const Kernels& k) {
         k.softmax_dropout_backward(Stream{}, probs.data(), pd.data(), y.data(), nullptr, B, NH, T, 0.125f, 0.1f,
                                    DropoutKey{1, 3});
       }},
      {"column_sum_accumulate", 4.0 * BT * F,
       [&](const Kernels& k) { k.column_sum_accumulate(Stream{}, x.data(), BT, F, bias.data()); }},
      {"cross_entropy (MLM)", 8.0 * M * V,
       [&](const Kernels& k) {
         k.cross_entropy_forward_backward(Stream{}, logits.data(), labels.data(), M, V, 1.0f, dlogits.data(), nullptr,
                                          &loss, &hits);
       }},
      {"qkv add_bias+shuffle fp32", 16.0 * BT * 3 * C,
       [&](const Kernels& k) {
         k.add_bias(Stream{}, qkv.data(), qkv_b.data(), BT, static_cast<int>(3 * C));
         k.tokens_to_heads(Stream{}, qkv.data(), nullptr, heads.data(), nullptr, 3, B, T, NH, sh.HS);
       }},
      {"qkv shuffle+bias fp32", 8.0 * BT * 3 * C,
       [&](const Kernels& k) {
         k.tokens_to_heads(Stream{}, qkv.data(), qkv_b.data(), heads.data(), nullptr, 3, B, T, NH, sh.HS);
       }},
      {"qkv add_bias+shuffle bf16", 14.0 * BT * 3 * C,
       [&](const Kernels& k) {
         k.add_bias(Stream{}, qkv.data(), qkv_b.data(), BT, static_cast<int>(3 * C));
         k.tokens_to_heads(Stream{}, qkv.data(), nullptr, nullptr, heads_bf16, 3, B, T, NH, sh.HS);
       }},
      {"qkv shuffle+bias bf16", 6.0 * BT * 3 * C,
       [&](const Kernels& k) {
         k.tokens_to_heads(Stream{}, qkv.data(), qkv_b.data(), nullptr, heads_bf16, 3, B, T, NH, sh.HS);
       }},
      {"convert_to_bf16", 6.0 * BT * F,
       [&](const Kernels& k) { k.convert_to_bf16(Stream{}, x.data(), reinterpret_cast<uint16_t*>(y.data()), BT * F); }},
  };
  std::printf("\nelement-wise kernels (fast vs reference)\n");
  for (const Op& op : ops) {
    double fast_s = seconds_of([&] { op.run(fast); }, 5);
    double ref_s = seconds_of([&] { op.run(ref); }, 1);
    std::printf("  %-26s fast %8.3f ms %6.1f GB/s | reference %8.3f ms (%.0fx)\n", op.name, fast_s * 1e3,
                op.bytes / fast_s / 1e9, ref_s * 1e3, ref_s / fast_s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t C = argc > 1 ? std::atol(argv[1]) : 512;
  const int64_t BT = argc > 2 ? std::atol(argv[2]) : 4096;
  if (argc > 3 && std::atoi(argv[3]) > 0) omp_set_num_threads(std::atoi(argv[3]));
  std::printf("hidden %ld, tokens %ld, threads %d\n", (long)C, (long)BT, omp_get_max_threads());
  const Shapes shapes(C, BT);
  bench_gemms(shapes);
  bench_elementwise(shapes);
  return 0;
}
