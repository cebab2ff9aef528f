// Counter-based random numbers for dropout: the draw for element i of one dropout site is a pure function of
// (seed, stream, i), so masks never need storing (the backward pass regenerates them) and results do not depend
// on the number of threads or the order in which elements are visited.
#pragma once
#include <cstdint>

// The same functions on the host and in CUDA kernels: a CPU run and a GPU run of one seed drop the same elements.
#include "bert/host_device.h"

namespace bert {

// One dropout site of one forward pass: `stream` names the site (layer, branch) and the call.
struct DropoutKey {
  uint64_t seed = 0;
  uint64_t stream = 0;
};

// splitmix64's output function: a bijective 64-bit mixer with full avalanche.
BERT_HOST_DEVICE inline uint64_t mix64(uint64_t z) {
  z ^= z >> 30;
  z *= 0xbf58476d1ce4e5b9ULL;
  z ^= z >> 27;
  z *= 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return z;
}

BERT_HOST_DEVICE inline uint64_t dropout_base(DropoutKey key) {
  return mix64(key.seed ^ mix64(key.stream + 0x632be59bd9b4e019ULL));
}

// The element's 32 random bits: the splitmix64 sequence started at `base`, taken at position i.
BERT_HOST_DEVICE inline uint32_t dropout_bits(uint64_t base, uint64_t i) {
  return static_cast<uint32_t>(mix64(base + (i + 1) * 0x9e3779b97f4a7c15ULL) >> 32);
}

// An element is dropped when its bits fall below p * 2^32.
BERT_HOST_DEVICE inline uint32_t dropout_threshold(float p) {
  double t = static_cast<double>(p) * 4294967296.0;
  return t >= 4294967295.0 ? 0xffffffffu : static_cast<uint32_t>(t);
}

}  // namespace bert
