// A tiny test harness for the CTest executables: CHECK macros that count failures, deterministic random arrays,
// relative-error helpers, and the tolerances read from test/tolerances.json (the one place they live).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bert/dropout_rng.h"
#include "bert/engine.h"

#ifndef BERT_TOLERANCES_JSON
#define BERT_TOLERANCES_JSON "test/tolerances.json"
#endif

namespace bert::test {

// One of an engine's arrays over the whole layout, copied to the host.
inline std::vector<float> read_all(const Engine& e, EngineArray which = EngineArray::kGrads) {
  std::vector<float> host(e.layout_floats());
  (void)e.read(which, 0, e.layout_floats(), host.data());
  return host;
}

inline int& failures() {
  static int count = 0;
  return count;
}

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ::bert::test::failures()++;                                                   \
    }                                                                               \
  } while (0)

#define CHECK_MSG(cond, ...)                                             \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "%s:%d: CHECK failed: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                                 \
      std::fprintf(stderr, "\n");                                        \
      ::bert::test::failures()++;                                        \
    }                                                                    \
  } while (0)

inline int finish(const char* name) {
  if (failures() == 0) {
    std::printf("%s: all checks passed\n", name);
    return 0;
  }
  std::printf("%s: %d checks failed\n", name, failures());
  return 1;
}

// The tolerances file: the build's (BERT_TOLERANCES_JSON), unless the environment's BERT_TOLERANCES_JSON names
// another (a build carried to a machine where the source tree sits elsewhere).
inline const char* tolerances_path() {
  const char* env = std::getenv("BERT_TOLERANCES_JSON");
  return env && *env ? env : BERT_TOLERANCES_JSON;
}

// A value from test/tolerances.json: a flat object of "key": number pairs.
inline double tolerance(const std::string& key) {
  std::ifstream f(tolerances_path());
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  const size_t at = text.find("\"" + key + "\"");
  if (at == std::string::npos) {
    std::fprintf(stderr, "tolerance %s missing from %s\n", key.c_str(), tolerances_path());
    failures()++;
    return 0.0;
  }
  return std::stod(text.substr(text.find(':', at) + 1));
}

inline std::vector<float> random_floats(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; i++) {
    double u = static_cast<double>(mix64(seed * 0x9e3779b97f4a7c15ULL + i) >> 11) / 9007199254740992.0;
    v[i] = static_cast<float>(lo + (hi - lo) * u);
  }
  return v;
}

inline std::vector<int32_t> random_ints(int64_t n, uint64_t seed, int32_t lo, int32_t hi) {
  std::vector<int32_t> v(n);
  for (int64_t i = 0; i < n; i++) v[i] = lo + static_cast<int32_t>(mix64(seed * 31 + i) % (hi - lo));
  return v;
}

// max|a-b| / max(max|b|, floor): the error relative to the tensor's scale.
inline double rel_error(const float* a, const float* b, int64_t n, double floor = 1e-12) {
  double diff = 0, scale = floor;
  for (int64_t i = 0; i < n; i++) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    diff = std::fmax(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::fmax(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

inline double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() ? rel_error(a.data(), b.data(), static_cast<int64_t>(a.size())) : INFINITY;
}

}  // namespace bert::test
