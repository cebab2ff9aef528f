// Dropout statistics and reproducibility: keep rate within a few sigma of 1 - p, kept values scaled by exactly
// 1/(1-p), independent masks per stream, and bit-identical results for any thread count (the generator is
// counter-based, so the order in which threads visit elements cannot matter).
#include <omp.h>

#include <cstring>
#include <functional>

#include "bert/backend.h"
#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

void keep_rate(const Kernels& k, const char* set, float p, int64_t n, double sigmas) {
  std::vector<float> ones(n, 1.0f), out(n);
  k.dropout_apply(Stream{}, ones.data(), out.data(), nullptr, n, 1.0f, p, DropoutKey{123, 456});
  int64_t kept = 0;
  bool exact = true;
  const float kept_value = 1.0f / (1.0f - p);
  for (float v : out) {
    if (v != 0.0f) {
      kept++;
      exact = exact && v == kept_value;
    }
  }
  const double expected = (1.0 - p) * n, sd = std::sqrt(n * p * (1.0 - p));
  CHECK_MSG(std::fabs(kept - expected) <= sigmas * sd, "%s p=%.2f: kept %ld of %ld, expected %.0f +- %.0f", set, p,
            (long)kept, (long)n, expected, sigmas * sd);
  CHECK_MSG(exact, "%s p=%.2f: kept values are not exactly 1/(1-p)", set, p);
}

void streams_independent(double sigmas) {
  const int64_t n = 1 << 20;
  const float p = 0.5f;
  std::vector<float> ones(n, 1.0f), a(n), b(n);
  cpu_fast_kernels().dropout_apply(Stream{}, ones.data(), a.data(), nullptr, n, 1.0f, p, DropoutKey{1, 10});
  cpu_fast_kernels().dropout_apply(Stream{}, ones.data(), b.data(), nullptr, n, 1.0f, p, DropoutKey{1, 11});
  int64_t both = 0;
  for (int64_t i = 0; i < n; i++) both += (a[i] != 0) && (b[i] != 0);
  // independent masks keep an element in both with probability (1-p)^2
  const double q = (1 - p) * (1 - p), expected = q * n, sd = std::sqrt(n * q * (1 - q));
  CHECK_MSG(std::fabs(both - expected) <= sigmas * sd, "streams 10 and 11 overlap in %ld elements, expected %.0f",
            (long)both, expected);
}

// Runs fn with 1 and with 2 threads; the outputs must be bit-identical.
void same_for_any_thread_count(const char* what, const std::function<std::vector<float>()>& fn) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  std::vector<float> one = fn();
  omp_set_num_threads(2);
  std::vector<float> two = fn();
  omp_set_num_threads(saved);
  CHECK_MSG(one.size() == two.size() && std::memcmp(one.data(), two.data(), one.size() * 4) == 0,
            "%s differs between 1 and 2 threads", what);
}

}  // namespace

int main() {
  const double sigmas = tolerance("dropout_sigma");
  for (float p : {0.1f, 0.5f, 0.9f}) {
    keep_rate(cpu_reference_kernels(), "reference", p, 100003, sigmas);
    keep_rate(cpu_fast_kernels(), "fast", p, 1000003, sigmas);
  }
  streams_independent(sigmas);

  const Kernels& k = cpu_fast_kernels();
  const int64_t n = 77777;
  auto x = random_floats(n, 1), r = random_floats(n, 2), bias = random_floats(77, 3);
  same_for_any_thread_count("dropout_apply", [&] {
    std::vector<float> out(n);
    k.dropout_apply(Stream{}, x.data(), out.data(), nullptr, n, 1.0f, 0.1f, DropoutKey{5, 6});
    return out;
  });
  same_for_any_thread_count("bias_dropout_residual_forward", [&] {
    std::vector<float> out(n);
    k.bias_dropout_residual_forward(Stream{}, x.data(), bias.data(), r.data(), out.data(), n / 77, 77, 1.5f, 0.1f,
                                    DropoutKey{5, 7});
    return out;
  });
  same_for_any_thread_count("softmax_dropout_forward", [&] {
    const int B = 3, NH = 4, T = 37;
    auto s = random_floats(B * NH * T * T, 8);
    std::vector<float> mask(B * T, 1.0f), probs(s.size()), dropped(s.size());
    k.softmax_dropout_forward(Stream{}, s.data(), mask.data(), probs.data(), dropped.data(), nullptr, B, NH, T, 0.125f,
                              0.1f, DropoutKey{5, 8});
    return dropped;
  });
  return finish("test_dropout");
}
