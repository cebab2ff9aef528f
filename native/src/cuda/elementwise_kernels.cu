// CUDA versions of the element-wise and row kernels: one thread per element in grid-stride loops, one block per
// row for LayerNorm and cross-entropy, one warp per row for the attention softmax. Column sums (bias and
// LayerNorm parameter gradients) reduce tiles of rows in shared memory and add across tiles atomically.
#include <cuda_fp16.h>

#include "cuda/cuda_util.cuh"
#include "cuda/kernels.h"

namespace bert::cuda {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;

__device__ inline float gelu(float x, GeluForm form) {
  if (form == GeluForm::kErf) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

__device__ inline float gelu_derivative(float x, GeluForm form) {
  if (form == GeluForm::kErf) {
    const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    const float pdf = expf(-0.5f * x * x) * 0.39894228040143268f;
    return cdf + x * pdf;
  }
  const float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  const float t = tanhf(u);
  const float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

__device__ inline float dropout_factor(uint64_t base, uint64_t i, uint32_t threshold, float p) {
  if (p <= 0.0f) return 1.0f;
  return dropout_bits(base, i) >= threshold ? 1.0f / (1.0f - p) : 0.0f;
}

// --- embeddings ---

__global__ void embeddings_forward_k(const int32_t* ids, const int32_t* segments, int T, int C, const float* word,
                                     const float* pos, const float* type, float* out, int64_t n) {
  BERT_GRID_STRIDE(i, n) {
    const int64_t row = i / C;
    const int c = static_cast<int>(i % C), t = static_cast<int>(row % T);
    out[i] = word[static_cast<int64_t>(ids[row]) * C + c] + pos[static_cast<int64_t>(t) * C + c] +
             type[static_cast<int64_t>(segments[row]) * C + c];
  }
}

__global__ void embeddings_backward_k(const float* dout, const int32_t* ids, const int32_t* segments, int T, int C,
                                      float* dword, float* dpos, float* dtype, int64_t n) {
  BERT_GRID_STRIDE(i, n) {
    const int64_t row = i / C;
    const int c = static_cast<int>(i % C), t = static_cast<int>(row % T);
    const float g = dout[i];
    atomicAdd(dword + static_cast<int64_t>(ids[row]) * C + c, g);
    atomicAdd(dpos + static_cast<int64_t>(t) * C + c, g);
    atomicAdd(dtype + static_cast<int64_t>(segments[row]) * C + c, g);
  }
}

// --- LayerNorm: one block per row ---

__global__ void layernorm_forward_k(const float* in, const float* w, const float* b, float* out, uint16_t* out_bf16,
                                    float* mean, float* rstd, int C, float eps) {
  __shared__ float shared[32];
  const int64_t n = blockIdx.x;
  const float* x = in + n * C;
  float s = 0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) s += x[c];
  const float m = block_sum(s, shared) / C;
  float v = 0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) v += (x[c] - m) * (x[c] - m);
  const float r = rsqrtf(block_sum(v, shared) / C + eps);
  for (int c = threadIdx.x; c < C; c += blockDim.x) store(out, out_bf16, n * C + c, (x[c] - m) * r * w[c] + b[c]);
  if (threadIdx.x == 0) mean[n] = m, rstd[n] = r;
}

__global__ void layernorm_backward_input_k(const float* dout, const float* in, const float* w, const float* mean,
                                           const float* rstd, float* din, int C) {
  __shared__ float shared[32];
  const int64_t n = blockIdx.x;
  const float* x = in + n * C;
  const float* dy = dout + n * C;
  const float m = mean[n], r = rstd[n];
  float s1 = 0, s2 = 0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float dxhat = dy[c] * w[c];
    s1 += dxhat;
    s2 += dxhat * (x[c] - m) * r;
  }
  const float sum_dxhat = block_sum(s1, shared), sum_dxhat_xhat = block_sum(s2, shared);
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float xhat = (x[c] - m) * r;
    din[n * C + c] += r * (dy[c] * w[c] - sum_dxhat / C - xhat * sum_dxhat_xhat / C);
  }
}

// Column sums over row tiles: blocks of 32 columns x 8 row lanes, each block covering `rows_per_block` rows;
// the partial sums meet in shared memory and are added to out atomically. `value(n, f)` is the summand.
constexpr int kColumnTile = 32, kRowLanes = 8, kRowsPerBlock = 256;

template <typename Value>
__global__ void column_reduce_k(Value value, int64_t N, int F, float* out) {
  __shared__ float partial[kRowLanes][kColumnTile + 1];
  const int f = blockIdx.x * kColumnTile + threadIdx.x;
  const int64_t first = static_cast<int64_t>(blockIdx.y) * kRowsPerBlock;
  const int64_t last = min(first + kRowsPerBlock, N);
  float s = 0;
  if (f < F)
    for (int64_t n = first + threadIdx.y; n < last; n += kRowLanes) s += value(n, f);
  partial[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && f < F) {
    for (int k = 1; k < kRowLanes; k++) s += partial[k][threadIdx.x];
    atomicAdd(out + f, s);
  }
}

template <typename Value>
void column_reduce(Stream stream, Value value, int64_t N, int F, float* out) {
  if (N <= 0 || F <= 0) return;
  const dim3 block(kColumnTile, kRowLanes);
  const dim3 grid((F + kColumnTile - 1) / kColumnTile, static_cast<unsigned>((N + kRowsPerBlock - 1) / kRowsPerBlock));
  column_reduce_k<<<grid, block, 0, to_cuda(stream)>>>(value, N, F, out);
}

struct Plain {
  const float* x;
  int F;
  __device__ float operator()(int64_t n, int f) const { return x[n * F + f]; }
};

struct LayerNormWeightGrad {
  const float *dout, *in, *mean, *rstd;
  int C;
  __device__ float operator()(int64_t n, int c) const { return dout[n * C + c] * (in[n * C + c] - mean[n]) * rstd[n]; }
};

// --- activations, dropout, bias ---

__global__ void bias_gelu_forward_k(float* pre, const float* bias, float* act, uint16_t* act_bf16, int F, GeluForm form,
                                    int64_t n) {
  BERT_GRID_STRIDE(i, n) {
    const float x = pre[i] + bias[i % F];
    pre[i] = x;
    store(act, act_bf16, i, gelu(x, form));
  }
}

__global__ void gelu_backward_k(const float* dact, const float* pre, float* dpre, uint16_t* dpre_bf16, GeluForm form,
                                int64_t n) {
  BERT_GRID_STRIDE(i, n) store(dpre, dpre_bf16, i, dact[i] * gelu_derivative(pre[i], form));
}

__global__ void bias_tanh_forward_k(float* pre, const float* bias, float* act, int F, int64_t n) {
  BERT_GRID_STRIDE(i, n) {
    const float x = pre[i] + bias[i % F];
    pre[i] = x;
    act[i] = tanhf(x);
  }
}

__global__ void tanh_backward_k(const float* dact, const float* act, float* dpre, int64_t n) {
  BERT_GRID_STRIDE(i, n) dpre[i] = dact[i] * (1.0f - act[i] * act[i]);
}

__global__ void bias_dropout_residual_forward_k(const float* branch, const float* bias, const float* residual,
                                                float* out, int C, float scale, float p, uint64_t base,
                                                uint32_t threshold, int64_t n) {
  BERT_GRID_STRIDE(i, n) {
    out[i] = residual[i] + scale * dropout_factor(base, i, threshold, p) * (branch[i] + bias[i % C]);
  }
}

__global__ void dropout_apply_k(const float* in, float* out, uint16_t* out_bf16, float scale, float p, uint64_t base,
                                uint32_t threshold, int64_t n) {
  BERT_GRID_STRIDE(i, n) store(out, out_bf16, i, in[i] * scale * dropout_factor(base, i, threshold, p));
}

__global__ void add_bias_k(float* x, const float* bias, int F, int64_t n) {
  BERT_GRID_STRIDE(i, n) x[i] += bias[i % F];
}

// --- attention softmax: one warp per row of T scores ---

__global__ void softmax_dropout_forward_k(const float* scores, const float* mask, float* probs, float* probs_dropped,
                                          uint16_t* used_bf16, int NH, int T, float attn_scale, float p, uint64_t base,
                                          uint32_t threshold, int64_t rows) {
  const int64_t r = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;
  const int64_t off = r * T;
  const float* m = mask + (r / (static_cast<int64_t>(NH) * T)) * T;
  float mx = -INFINITY;
  for (int j = lane; j < T; j += 32) mx = fmaxf(mx, scores[off + j] * attn_scale + (1.0f - m[j]) * -10000.0f);
  mx = warp_max(mx);
  float sum = 0;
  for (int j = lane; j < T; j += 32) sum += expf(scores[off + j] * attn_scale + (1.0f - m[j]) * -10000.0f - mx);
  const float inv = 1.0f / warp_sum(sum);
  for (int j = lane; j < T; j += 32) {
    const float prob = expf(scores[off + j] * attn_scale + (1.0f - m[j]) * -10000.0f - mx) * inv;
    probs[off + j] = prob;  // may overwrite scores[off + j]: this lane has read it for the last time
    const float used = p > 0 ? prob * dropout_factor(base, off + j, threshold, p) : prob;
    store(p > 0 ? probs_dropped : nullptr, used_bf16, off + j, used);
  }
}

__global__ void softmax_dropout_backward_k(const float* dprobs_dropped, const float* probs, float* dscores,
                                           uint16_t* dscores_bf16, int T, float attn_scale, float p, uint64_t base,
                                           uint32_t threshold, int64_t rows) {
  const int64_t r = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;
  const int64_t off = r * T;
  float dot = 0;
  for (int j = lane; j < T; j += 32)
    dot += dprobs_dropped[off + j] * dropout_factor(base, off + j, threshold, p) * probs[off + j];
  dot = warp_sum(dot);
  for (int j = lane; j < T; j += 32) {
    const float dp = dprobs_dropped[off + j] * dropout_factor(base, off + j, threshold, p);
    store(dscores, dscores_bf16, off + j, attn_scale * probs[off + j] * (dp - dot));
  }
}

// --- layouts, rows ---

// token-major (B, T, G, NH, HS) index of the element at head-major (G, B, NH, T, HS) index i
__device__ inline int64_t token_major_index(int64_t i, int G, int B, int T, int NH, int HS) {
  const int d = static_cast<int>(i % HS);
  int64_t rest = i / HS;
  const int t = static_cast<int>(rest % T);
  rest /= T;
  const int h = static_cast<int>(rest % NH);
  rest /= NH;
  const int b = static_cast<int>(rest % B);
  const int g = static_cast<int>(rest / B);
  return (((static_cast<int64_t>(b) * T + t) * G + g) * NH + h) * HS + d;
}

__global__ void tokens_to_heads_k(const float* in, const float* bias, float* out, uint16_t* out_bf16, int G, int B,
                                  int T, int NH, int HS, int64_t n) {
  const int64_t row = static_cast<int64_t>(G) * NH * HS;  // a token's row of in, and of bias
  BERT_GRID_STRIDE(i, n) {
    const int64_t src = token_major_index(i, G, B, T, NH, HS);
    store(out, out_bf16, i, bias ? in[src] + bias[src % row] : in[src]);
  }
}

__global__ void heads_to_tokens_k(const float* in, float* out, uint16_t* out_bf16, int G, int B, int T, int NH, int HS,
                                  int64_t n) {
  BERT_GRID_STRIDE(i, n) store(out, out_bf16, token_major_index(i, G, B, T, NH, HS), in[i]);
}

// one thread per element of out(C, R): consecutive threads write consecutive elements
__global__ void transpose_add_bias_k(const float* in, const float* bias, float* out, int64_t R, int64_t C) {
  BERT_GRID_STRIDE(i, R * C) {
    const int64_t r = i % R, c = i / R;
    out[i] = in[r * C + c] + bias[r];
  }
}

__global__ void gather_rows_k(const float* src, const int32_t* index, int C, float* out, int64_t n) {
  BERT_GRID_STRIDE(i, n) out[i] = src[static_cast<int64_t>(index[i / C]) * C + i % C];
}

__global__ void scatter_add_rows_k(const float* src, const int32_t* index, int C, float* dst, int64_t n) {
  BERT_GRID_STRIDE(i, n) atomicAdd(dst + static_cast<int64_t>(index[i / C]) * C + i % C, src[i]);
}

// --- losses ---

// One block per row: the max (and its first index), the log-sum-exp, the loss and the gradient.
__global__ void cross_entropy_k(const float* logits, const int32_t* labels, int V, float dscale, float* dlogits,
                                uint16_t* dlogits_bf16, double* loss_sum, int64_t* correct) {
  __shared__ float shared_max[32];
  __shared__ int shared_arg[32];
  __shared__ double shared_sum[32];
  const int64_t m = blockIdx.x;
  const float* z = logits + m * V;
  float* dz = dlogits + m * V;
  uint16_t* dz16 = dlogits_bf16 ? dlogits_bf16 + m * V : nullptr;
  const int label = labels[m];
  if (label < 0) {
    for (int v = threadIdx.x; v < V; v += blockDim.x) store(dz, dz16, v, 0.0f);
    return;
  }
  float mx = -INFINITY;
  int arg = V;
  for (int v = threadIdx.x; v < V; v += blockDim.x)
    if (z[v] > mx) mx = z[v], arg = v;
  for (int offset = 16; offset > 0; offset >>= 1) {  // the largest value, the lowest index among equals
    const float other = __shfl_xor_sync(0xffffffffu, mx, offset);
    const int other_arg = __shfl_xor_sync(0xffffffffu, arg, offset);
    if (other > mx || (other == mx && other_arg < arg)) mx = other, arg = other_arg;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  if (lane == 0) shared_max[warp] = mx, shared_arg[warp] = arg;
  __syncthreads();
  mx = shared_max[0], arg = shared_arg[0];
  for (int k = 1; k < warps; k++)
    if (shared_max[k] > mx || (shared_max[k] == mx && shared_arg[k] < arg)) mx = shared_max[k], arg = shared_arg[k];
  double sum = 0;
  for (int v = threadIdx.x; v < V; v += blockDim.x) sum += exp(static_cast<double>(z[v]) - mx);
  const double logsum = mx + log(block_sum(sum, shared_sum));
  const float label_logit = z[label];
  __syncthreads();  // every thread has read z[label] before any gradient overwrites it (dlogits may alias)
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    const double prob = exp(static_cast<double>(z[v]) - logsum);
    store(dz, dz16, v, static_cast<float>((prob - (v == label ? 1.0 : 0.0)) * dscale));
  }
  if (threadIdx.x == 0) {
    atomicAdd(loss_sum, logsum - label_logit);
    if (arg == label) atomicAdd(reinterpret_cast<unsigned long long*>(correct), 1ull);
  }
}

__global__ void mse_k(const float* pred, const float* target, int64_t n, float grad_scale, float* dpred,
                      double* loss_sum) {
  __shared__ double shared[32];
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double diff = static_cast<double>(pred[i]) - target[i];
    s += diff * diff;
    dpred[i] = static_cast<float>(2.0 * diff * grad_scale / static_cast<double>(n));
  }
  s = block_sum(s, shared);
  if (threadIdx.x == 0) atomicAdd(loss_sum, s);
}

// --- precision conversions ---

__global__ void convert_to_bf16_k(const float* src, uint16_t* dst, int64_t n) {
  BERT_GRID_STRIDE(i, n) dst[i] = bf16_bits(src[i]);
}

__global__ void round_to_fp16_k(const float* in, float* out, int64_t n) {
  BERT_GRID_STRIDE(i, n) out[i] = __half2float(__float2half_rn(in[i]));
}

unsigned warp_rows_blocks(int64_t rows) { return static_cast<unsigned>((rows * 32 + kThreads - 1) / kThreads); }

// threads for a row of C elements: a warp multiple, at most 1024
int row_threads(int C) { return std::min(1024, std::max(32, (C + 31) / 32 * 32)); }

}  // namespace

void embeddings_forward(Stream s, const int32_t* ids, const int32_t* segments, int B, int T, int C, const float* word,
                        const float* pos, const float* type, float* out) {
  const int64_t n = static_cast<int64_t>(B) * T * C;
  if (n == 0) return;
  embeddings_forward_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(ids, segments, T, C, word, pos, type, out, n);
}

void embeddings_backward(Stream s, const float* dout, const int32_t* ids, const int32_t* segments, int B, int T, int C,
                         float* dword, float* dpos, float* dtype) {
  const int64_t n = static_cast<int64_t>(B) * T * C;
  if (n == 0) return;
  embeddings_backward_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(dout, ids, segments, T, C, dword, dpos, dtype, n);
}

void layernorm_forward(Stream s, const float* in, const float* w, const float* b, float* out, uint16_t* out_bf16,
                       float* mean, float* rstd, int64_t N, int C, float eps) {
  if (N == 0) return;
  layernorm_forward_k<<<static_cast<unsigned>(N), std::min(row_threads(C), 256), 0, to_cuda(s)>>>(
      in, w, b, out, out_bf16, mean, rstd, C, eps);
}

void layernorm_backward(Stream s, const float* dout, const float* in, const float* w, const float* mean,
                        const float* rstd, float* din, float* dw, float* db, int64_t N, int C) {
  if (N == 0) return;
  layernorm_backward_input_k<<<static_cast<unsigned>(N), std::min(row_threads(C), 256), 0, to_cuda(s)>>>(
      dout, in, w, mean, rstd, din, C);
  column_reduce(s, LayerNormWeightGrad{dout, in, mean, rstd, C}, N, C, dw);
  column_reduce(s, Plain{dout, C}, N, C, db);
}

void bias_gelu_forward(Stream s, float* pre, const float* bias, float* act, uint16_t* act_bf16, int64_t N, int F,
                       GeluForm form) {
  const int64_t n = N * F;
  if (n == 0) return;
  bias_gelu_forward_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(pre, bias, act, act_bf16, F, form, n);
}

void gelu_backward(Stream s, const float* dact, const float* pre, float* dpre, uint16_t* dpre_bf16, int64_t N, int F,
                   GeluForm form) {
  const int64_t n = N * F;
  if (n == 0) return;
  gelu_backward_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(dact, pre, dpre, dpre_bf16, form, n);
}

void bias_tanh_forward(Stream s, float* pre, const float* bias, float* act, int64_t N, int F) {
  const int64_t n = N * F;
  if (n == 0) return;
  bias_tanh_forward_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(pre, bias, act, F, n);
}

void tanh_backward(Stream s, const float* dact, const float* act, float* dpre, int64_t N, int F) {
  const int64_t n = N * F;
  if (n == 0) return;
  tanh_backward_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(dact, act, dpre, n);
}

void bias_dropout_residual_forward(Stream s, const float* branch, const float* bias, const float* residual, float* out,
                                   int64_t N, int C, float scale, float p, DropoutKey key) {
  const int64_t n = N * C;
  if (n == 0) return;
  bias_dropout_residual_forward_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(
      branch, bias, residual, out, C, scale, p, dropout_base(key), dropout_threshold(p), n);
}

void dropout_apply(Stream s, const float* in, float* out, uint16_t* out_bf16, int64_t n, float scale, float p,
                   DropoutKey key) {
  if (n == 0) return;
  dropout_apply_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(in, out, out_bf16, scale, p, dropout_base(key),
                                                              dropout_threshold(p), n);
}

void add_bias(Stream s, float* x, const float* bias, int64_t N, int F) {
  const int64_t n = N * F;
  if (n == 0) return;
  add_bias_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(x, bias, F, n);
}

void column_sum_accumulate(Stream s, const float* x, int64_t N, int F, float* out) {
  column_reduce(s, Plain{x, F}, N, F, out);
}

void softmax_dropout_forward(Stream s, const float* scores, const float* mask, float* probs, float* probs_dropped,
                             uint16_t* used_bf16, int B, int NH, int T, float attn_scale, float p, DropoutKey key) {
  const int64_t rows = static_cast<int64_t>(B) * NH * T;
  if (rows == 0) return;
  softmax_dropout_forward_k<<<warp_rows_blocks(rows), kThreads, 0, to_cuda(s)>>>(
      scores, mask, probs, probs_dropped, used_bf16, NH, T, attn_scale, p, dropout_base(key), dropout_threshold(p),
      rows);
}

void softmax_dropout_backward(Stream s, const float* dprobs_dropped, const float* probs, float* dscores,
                              uint16_t* dscores_bf16, int B, int NH, int T, float attn_scale, float p, DropoutKey key) {
  const int64_t rows = static_cast<int64_t>(B) * NH * T;
  if (rows == 0) return;
  softmax_dropout_backward_k<<<warp_rows_blocks(rows), kThreads, 0, to_cuda(s)>>>(
      dprobs_dropped, probs, dscores, dscores_bf16, T, attn_scale, p, dropout_base(key), dropout_threshold(p), rows);
}

void tokens_to_heads(Stream s, const float* in, const float* bias, float* out, uint16_t* out_bf16, int G, int B, int T,
                     int NH, int HS) {
  const int64_t n = static_cast<int64_t>(G) * B * T * NH * HS;
  if (n == 0) return;
  tokens_to_heads_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(in, bias, out, out_bf16, G, B, T, NH, HS, n);
}

void heads_to_tokens(Stream s, const float* in, float* out, uint16_t* out_bf16, int G, int B, int T, int NH, int HS) {
  const int64_t n = static_cast<int64_t>(G) * B * T * NH * HS;
  if (n == 0) return;
  heads_to_tokens_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(in, out, out_bf16, G, B, T, NH, HS, n);
}

void transpose_add_bias(Stream s, const float* in, const float* bias, float* out, int64_t R, int64_t C) {
  if (R * C == 0) return;
  transpose_add_bias_k<<<blocks_for(R * C), kThreads, 0, to_cuda(s)>>>(in, bias, out, R, C);
}

void gather_rows(Stream s, const float* src, const int32_t* index, int64_t n, int C, float* out) {
  if (n * C == 0) return;
  gather_rows_k<<<blocks_for(n * C), kThreads, 0, to_cuda(s)>>>(src, index, C, out, n * C);
}

void scatter_add_rows(Stream s, const float* src, const int32_t* index, int64_t n, int C, float* dst) {
  if (n * C == 0) return;
  scatter_add_rows_k<<<blocks_for(n * C), kThreads, 0, to_cuda(s)>>>(src, index, C, dst, n * C);
}

void cross_entropy_forward_backward(Stream s, const float* logits, const int32_t* labels, int64_t M, int V,
                                    float dscale, float* dlogits, uint16_t* dlogits_bf16, double* loss_sum,
                                    int64_t* correct) {
  if (M == 0) return;
  cross_entropy_k<<<static_cast<unsigned>(M), std::min(row_threads(V), 512), 0, to_cuda(s)>>>(
      logits, labels, V, dscale, dlogits, dlogits_bf16, loss_sum, correct);
}

void mse_forward_backward(Stream s, const float* pred, const float* target, int64_t n, float grad_scale, float* dpred,
                          double* loss_sum) {
  if (n == 0) return;
  mse_k<<<1, kThreads, 0, to_cuda(s)>>>(pred, target, n, grad_scale, dpred, loss_sum);
}

void convert_to_bf16(Stream s, const float* src, uint16_t* dst, int64_t n) {
  if (n == 0) return;
  convert_to_bf16_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(src, dst, n);
}

void round_to_fp16(Stream s, const float* in, float* out, int64_t n) {
  if (n == 0) return;
  round_to_fp16_k<<<blocks_for(n), kThreads, 0, to_cuda(s)>>>(in, out, n);
}

}  // namespace bert::cuda
