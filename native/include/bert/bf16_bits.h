// fp32 -> bf16 rounding as every backend's reference does it: to nearest even, NaN kept a (quiet) NaN.
#pragma once
#include <cstdint>
#include <cstring>

#include "bert/host_device.h"

namespace bert {

BERT_HOST_DEVICE inline uint16_t bf16_bits(float value) {
#ifdef __CUDA_ARCH__
  uint32_t bits = __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
#endif
  // both results computed, then one chosen: no branch, so a loop of these vectorises (the portable CPU kernels)
  const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (bits >> 16) | 0x40u;
  return static_cast<uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

}  // namespace bert
