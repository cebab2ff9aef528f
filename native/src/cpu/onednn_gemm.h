// GEMMs through oneDNN's matmul primitive, fp32 or bf16 operands, always fp32 accumulation and output.
// Primitives are built once per shape and kept: a training run only ever sees a handful of shapes.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "bert/backend.h"

namespace dnnl {
struct engine;
struct stream;
struct matmul;
}  // namespace dnnl

namespace bert {

class OneDnnGemm {
 public:
  OneDnnGemm();
  ~OneDnnGemm();
  // a and b are fp32 or bf16 (uint16_t) arrays as `bf16` says; c is fp32.
  Status run(const GemmArgs& args, bool bf16, const void* a, const void* b, float* c);

 private:
  using Key = std::tuple<int, int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t,
                         int64_t, bool, bool>;
  std::unique_ptr<dnnl::engine> engine_;
  std::unique_ptr<dnnl::stream> stream_;
  std::map<Key, std::shared_ptr<dnnl::matmul>> cache_;
};

}  // namespace bert
