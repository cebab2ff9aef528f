// The op-table harness: a case runs one kernel (or a GEMM) on a backend from fixed host inputs and returns its
// outputs on the host; the runner compares every backend's outputs with the reference's.
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bert/backend.h"

namespace bert::test {

// One output tensor, widened to double for comparison.
struct Tensor {
  std::string name;
  std::vector<double> values;
};
using Outputs = std::vector<Tensor>;

// How a backend may differ from the reference on a case (tolerances.json keys per backend in the runner).
enum class Tolerance {
  kBits,    // bit-identical: conversions, layout copies, masks
  kExact,   // plain arithmetic, only the order of operations differs
  kApprox,  // transcendental functions (exp, erf, tanh, rsqrt) in float against the reference's double
  kGemmFp32,
  kGemmBf16,
  kGemmFp16,
};

struct OpCase {
  const char* kernel;  // its name in kernel_list.inc, or "gemm"
  std::string shape;   // what the log shows
  Tolerance tolerance;
  const char* dropped;  // dropout: the output whose dropped elements (exact zeros) must be the same ones, or nullptr
  std::function<Outputs(class DeviceArrays&)> run;
};

// The case list (op_cases.cpp, op_gemm_cases.cpp).
std::vector<OpCase> kernel_cases();
std::vector<OpCase> gemm_cases();

// Host arrays in and out of one backend for one case run; frees what it allocated.
class DeviceArrays {
 public:
  explicit DeviceArrays(Backend& backend) : b_(backend) {}
  ~DeviceArrays() {
    for (void* p : owned_) b_.free_bytes(p);
  }
  DeviceArrays(const DeviceArrays&) = delete;
  DeviceArrays& operator=(const DeviceArrays&) = delete;

  Backend& backend() { return b_; }
  const Kernels& k() const { return b_.kernels(); }
  Stream s() const { return b_.stream(); }

  template <typename T>
  T* put(const std::vector<T>& host) {
    T* d = zeros<T>(host.size());
    b_.upload(d, host.data(), host.size() * sizeof(T));
    return d;
  }
  template <typename T>
  T* zeros(size_t n) {
    void* p = b_.alloc_bytes(std::max<size_t>(n, 1) * sizeof(T));
    owned_.push_back(p);
    return static_cast<T*>(p);
  }
  template <typename T>
  Tensor get(const char* name, const T* d, size_t n) {
    std::vector<T> h(n);
    b_.download(h.data(), d, n * sizeof(T));
    Tensor t{name, std::vector<double>(h.begin(), h.end())};
    return t;
  }

 private:
  Backend& b_;
  std::vector<void*> owned_;
};

}  // namespace bert::test
