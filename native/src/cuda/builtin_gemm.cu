// The built-in CUDA GEMMs. Tensor cores through WMMA: 64x64 output tiles, 4 warps of 32x32, K in steps of 32;
// operands are staged through shared memory in (m, k) and (k, n) order whatever their transposition, with zeros
// past the edges, so any shape, leading dimension and stride works. fp32 runs use a plain 64x64 tiled kernel of
// 16x16 threads with 4x4 outputs each (no TF32: fp32 results match the CPU's).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "cuda/cuda_util.cuh"
#include "cuda/gemm.h"

namespace bert::cuda {
namespace {

constexpr int kTile = 64, kDepth = 32, kPad = 8, kF32Depth = 16;

struct Operands {
  int64_t M, N, K, lda, ldb, ldc, stride_a, stride_b, stride_c;
  bool trans_a, trans_b, accumulate;
};

Operands operands_of(const GemmArgs& g) {
  return Operands{g.M,        g.N,        g.K,        g.lda,     g.ldb,     g.ldc,
                  g.stride_a, g.stride_b, g.stride_c, g.trans_a, g.trans_b, g.accumulate};
}

// op(A)(m, k) and op(B)(k, n), zero outside the matrix
template <typename T>
__device__ inline T load_a(const T* a, const Operands& o, int64_t m, int64_t k) {
  if (m >= o.M || k >= o.K) return T(0.0f);
  return o.trans_a ? a[k * o.lda + m] : a[m * o.lda + k];
}
template <typename T>
__device__ inline T load_b(const T* b, const Operands& o, int64_t k, int64_t n) {
  if (k >= o.K || n >= o.N) return T(0.0f);
  return o.trans_b ? b[n * o.ldb + k] : b[k * o.ldb + n];
}

__device__ inline void store_c(float* c, const Operands& o, int64_t m, int64_t n, float v) {
  if (m >= o.M || n >= o.N) return;
  float* at = c + m * o.ldc + n;
  *at = o.accumulate ? *at + v : v;
}

// Stages op(A)'s (64 x Depth) tile at (m0, k0) and op(B)'s (Depth x 64) tile at (k0, n0) through put_a(m, k, v)
// and put_b(k, n, v); consecutive threads walk each operand's contiguous dimension.
template <int Depth, typename T, typename PutA, typename PutB>
__device__ inline void stage_tiles(const T* a, const T* b, const Operands& o, int64_t m0, int64_t n0, int64_t k0,
                                   PutA put_a, PutB put_b) {
  for (int e = threadIdx.x; e < kTile * Depth; e += blockDim.x) {
    const int r = o.trans_a ? e % kTile : e / Depth, kk = o.trans_a ? e / kTile : e % Depth;
    put_a(r, kk, load_a(a, o, m0 + r, k0 + kk));
    const int n = o.trans_b ? e / Depth : e % kTile, kb = o.trans_b ? e % Depth : e / kTile;
    put_b(kb, n, load_b(b, o, k0 + kb, n0 + n));
  }
}

template <typename T>
__global__ void __launch_bounds__(128) tensor_core_gemm_k(const T* a, const T* b, float* c, Operands o) {
  using namespace nvcuda;
  __shared__ __align__(32) T as[kTile][kDepth + kPad];  // (m, k)
  __shared__ __align__(32) T bs[kDepth][kTile + kPad];  // (k, n)
  __shared__ __align__(32) float cs[kTile][kTile + 4];
  a += blockIdx.z * o.stride_a;
  b += blockIdx.z * o.stride_b;
  c += blockIdx.z * o.stride_c;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTile, n0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int warp = threadIdx.x / 32, wm = warp / 2, wn = warp % 2;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
  for (int64_t k0 = 0; k0 < o.K; k0 += kDepth) {
    stage_tiles<kDepth>(
        a, b, o, m0, n0, k0, [&](int m, int k, T v) { as[m][k] = v; }, [&](int k, int n, T v) { bs[k][n] = v; });
    __syncthreads();
    for (int kk = 0; kk < kDepth; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb[2];
      for (int i = 0; i < 2; i++) wmma::load_matrix_sync(fa[i], &as[wm * 32 + i * 16][kk], kDepth + kPad);
      for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], &bs[kk][wn * 32 + j * 16], kTile + kPad);
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++)
      wmma::store_matrix_sync(&cs[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], kTile + 4, wmma::mem_row_major);
  __syncthreads();
  for (int e = threadIdx.x; e < kTile * kTile; e += blockDim.x)
    store_c(c, o, m0 + e / kTile, n0 + e % kTile, cs[e / kTile][e % kTile]);
}

__global__ void __launch_bounds__(256) fp32_gemm_k(const float* a, const float* b, float* c, Operands o) {
  __shared__ float as[kF32Depth][kTile + 1];  // (k, m)
  __shared__ float bs[kF32Depth][kTile + 1];  // (k, n)
  a += blockIdx.z * o.stride_a;
  b += blockIdx.z * o.stride_b;
  c += blockIdx.z * o.stride_c;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTile, n0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < o.K; k0 += kF32Depth) {
    stage_tiles<kF32Depth>(
        a, b, o, m0, n0, k0, [&](int m, int k, float v) { as[k][m] = v; },
        [&](int k, int n, float v) { bs[k][n] = v; });
    __syncthreads();
    for (int kk = 0; kk < kF32Depth; kk++)
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(as[kk][ty + 16 * i], bs[kk][tx + 16 * j], acc[i][j]);
    __syncthreads();
  }
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) store_c(c, o, m0 + ty + 16 * i, n0 + tx + 16 * j, acc[i][j]);
}

}  // namespace

Status builtin_gemm(Stream stream, const GemmArgs& g, OperandType type, const void* a, const void* b, float* c) {
  if (g.M == 0 || g.N == 0 || g.batch == 0) return Status::ok();
  if ((g.M + kTile - 1) / kTile > 65535 || g.batch > 65535)
    return Status(StatusCode::kBackendError, "GEMM too large for the built-in CUDA kernel");
  const dim3 grid(static_cast<unsigned>((g.N + kTile - 1) / kTile), static_cast<unsigned>((g.M + kTile - 1) / kTile),
                  static_cast<unsigned>(g.batch));
  const Operands o = operands_of(g);
  cudaStream_t s = to_cuda(stream);
  switch (type) {
    case OperandType::kF32:
      fp32_gemm_k<<<grid, 256, 0, s>>>(static_cast<const float*>(a), static_cast<const float*>(b), c, o);
      break;
    case OperandType::kBf16:
      tensor_core_gemm_k<<<grid, 128, 0, s>>>(static_cast<const __nv_bfloat16*>(a),
                                              static_cast<const __nv_bfloat16*>(b), c, o);
      break;
    case OperandType::kFp16:
      tensor_core_gemm_k<<<grid, 128, 0, s>>>(static_cast<const __half*>(a), static_cast<const __half*>(b), c, o);
      break;
  }
  const cudaError_t launched = cudaGetLastError();
  if (launched != cudaSuccess)
    return Status(StatusCode::kBackendError, std::string("CUDA GEMM launch: ") + cudaGetErrorString(launched));
  return Status::ok();
}

}  // namespace bert::cuda

namespace bert::cuda {
namespace {
__global__ void to_half_k(const float* src, __half* dst, int64_t n) {
  BERT_GRID_STRIDE(i, n) dst[i] = __float2half_rn(src[i]);
}
}  // namespace

void convert_to_fp16(Stream stream, const float* src, uint16_t* dst, int64_t n) {
  if (n == 0) return;
  to_half_k<<<blocks_for(n), kThreads, 0, to_cuda(stream)>>>(src, reinterpret_cast<__half*>(dst), n);
}

}  // namespace bert::cuda
