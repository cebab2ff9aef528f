// Every tensor in the parameter, gradient and activation allocations starts on a 64-byte boundary (16 floats), as
// vector loads and oneDNN want. One rule for the parameter layout, the engine's allocations and the arenas.
#pragma once
#include <cstdint>

namespace bert {

constexpr int64_t kAlignmentFloats = 16;

inline int64_t aligned_floats(int64_t n) { return (n + kAlignmentFloats - 1) / kAlignmentFloats * kAlignmentFloats; }

}  // namespace bert
