// Shared pieces of the CUDA kernels: the stream of a Stream, launch sizes for grid-stride loops, and warp and
// block reductions.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "bert/bf16_bits.h"
#include "bert/stream.h"

namespace bert::cuda {

inline cudaStream_t to_cuda(Stream s) { return static_cast<cudaStream_t>(s.handle); }

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements (capped: the loop covers the rest).
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, 1 << 20)));
}

#define BERT_GRID_STRIDE(i, n)                                                           \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(blockDim.x) * gridDim.x)

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ inline float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// The sum over a block of up to 1024 threads; every thread gets it. `shared` holds 32 values.
template <typename T>
__device__ inline T block_sum(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // `shared` may still be read from a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : T(0);
  return warp_sum(v);
}

// One output element to the fp32 tensor, its bf16 copy, or both (either may be null).
__device__ inline void store(float* out, uint16_t* out_bf16, int64_t i, float value) {
  if (out) out[i] = value;
  if (out_bf16) out_bf16[i] = bf16_bits(value);
}

}  // namespace bert::cuda
