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
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

}  // namespace bert
