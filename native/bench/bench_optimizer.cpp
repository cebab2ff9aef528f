// The optimizer step on BERT-base's 110M parameters (Adam and LAMB), beside the memory traffic it must do.
// Per parameter a step reads the gradient once for the global norm (which is also the overflow check), reads
// p, g, m, v and writes p, m, v in the update, and clears the gradient: 4 + 16 + 12 + 4 = 36 bytes. LAMB writes
// its direction u, reads p and u for the two norms, then reads p, u and writes p: 4 + 16 + 16 + 8 + 12 = 56. The floor
// is that traffic over the bandwidth measured here with a STREAM-style triad. Usage: build/bench_optimizer [threads=0
// (all)]
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bert/backend.h"
#include "bert/engine.h"
#include "test_util.h"

using namespace bert;

namespace {

double triad_gb_per_s() {
  const int64_t n = 64 << 20;  // 3 x 256 MiB, far beyond the caches
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  double best = 0;
  for (int rep = 0; rep < 5; rep++) {
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) a[i] = b[i] + 0.5f * c[i];
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 12.0 * n / s / 1e9);
  }
  return best;
}

// Adam's update kernel on parameters with no gradient whose first moments have decayed into the subnormals (as a
// fine-tuning run's embedding rows of tokens not seen for ~750 steps), beside the same with normal moments: the first
// step reads the subnormals; the moments it stores decide what the later steps cost.
void subnormal_moments() {
  const int64_t n = 8 << 20;
  const Kernels& k = cpu_fast_kernels();
  AdamStepArgs a;
  a.lr = 1e-4f, a.weight_decay = 0.01f;
  std::vector<float> p(n, 0.01f), g(n, 0.0f), v(n, 1e-12f), m(n);
  auto time_ms = [&] {
    auto t0 = std::chrono::steady_clock::now();
    k.adam_update(Stream{}, p.data(), nullptr, g.data(), m.data(), v.data(), n, a);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  for (float start : {1e-30f, 1e-39f}) {
    double first = 1e30, later = 1e30;
    for (int rep = 0; rep < 3; rep++) {
      std::fill(m.begin(), m.end(), start);
      first = std::min(first, time_ms());
      for (int i = 0; i < 3; i++) later = std::min(later, time_ms());
    }
    std::printf(
        "Adam update, %.1fM parameters with no gradient, first moments %g: first step %.1f ms, later steps %.1f ms\n",
        n / 1e6, start, first, later);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::atoi(argv[1]) > 0) omp_set_num_threads(std::atoi(argv[1]));
  const double bandwidth = triad_gb_per_s();
  std::printf("threads %d, triad bandwidth %.1f GB/s\n", omp_get_max_threads(), bandwidth);
  ModelConfig config;  // BERT-base defaults
  EngineOptions options;
  std::unique_ptr<Engine> engine;
  Status status = Engine::create(config, options, &engine);
  if (!status.is_ok()) {
    std::fprintf(stderr, "%s\n", status.message().c_str());
    return 1;
  }
  const int64_t n = engine->num_params();
  const ParamInfo& last = engine->params().back();
  const int64_t span = last.offset + last.size;
  std::vector<float> grads(span);
  for (OptimizerKind kind : {OptimizerKind::kAdam, OptimizerKind::kLamb}) {
    OptimizerOptions o;
    o.kind = kind;
    o.weight_decay = 0.01f;
    StepOptions step;
    step.lr = 1e-4f;
    step.max_grad_norm = 1.0f;
    StepResult result;
    double best = 1e30;
    for (int rep = 0; rep < 6; rep++) {
      for (int64_t i = 0; i < span; i++) grads[i] = 1e-3f * static_cast<float>((i * 7919) % 2001 - 1000) / 1000.0f;
      engine->write(EngineArray::kGrads, 0, span, grads.data());
      step.step_number = rep + 1;
      auto t0 = std::chrono::steady_clock::now();
      status = engine->optimizer_step(o, step, &result);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!status.is_ok()) {
        std::fprintf(stderr, "%s\n", status.message().c_str());
        return 1;
      }
      if (rep > 0) best = std::min(best, s);  // the first step allocates the moments
    }
    const double bytes = kind == OptimizerKind::kAdam ? 36.0 : 56.0;
    const double floor_s = bytes * n / (bandwidth * 1e9);
    std::printf(
        "%s: %.1f ms per step for %.1fM parameters = %.3f ns/parameter; traffic %.0f B/parameter -> floor "
        "%.1f ms; %.2fx the floor (%.1f GB/s achieved)\n",
        kind == OptimizerKind::kAdam ? "Adam" : "LAMB", best * 1e3, n / 1e6, best * 1e9 / n, bytes, floor_s * 1e3,
        best / floor_s, bytes * n / best / 1e9);
  }
  subnormal_moments();
  return 0;
}
