#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "cpu/cpu_gemm.h"

namespace bert {

const char* CpuGemm::library() { return "oneDNN"; }

struct CpuGemm::Impl {
  using Key = std::tuple<int, int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t,
                         int64_t, bool, bool>;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<Key, std::shared_ptr<dnnl::matmul>> cache;
  bool bf16_matmul = has_bf16_matmul(engine);
  std::vector<float> wide_a, wide_b;  // widened bf16 operands, where oneDNN has no bf16 matmul

  // oneDNN 2.x implements bf16 matmul on AVX-512 CPUs only; elsewhere creating one throws "could not create a
  // primitive descriptor". Asked once, with the smallest matmul.
  static bool has_bf16_matmul(const dnnl::engine& engine) {
    using dt = dnnl::memory::data_type;
    const dnnl::memory::desc one({1, 1}, dt::bf16, dnnl::memory::format_tag::ab);
    const dnnl::memory::desc out({1, 1}, dt::f32, dnnl::memory::format_tag::ab);
    try {
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(one, one, out), engine);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }
};

CpuGemm::CpuGemm(bool widen_bf16) : impl_(std::make_unique<Impl>()) {
  if (widen_bf16) impl_->bf16_matmul = false;
}

CpuGemm::~CpuGemm() = default;

bool CpuGemm::widens_bf16() const { return !impl_->bf16_matmul; }

namespace {

using dims = dnnl::memory::dims;

const float* widen(const void* bf16, int64_t n, std::vector<float>& out) {
  if (static_cast<int64_t>(out.size()) < n) out.resize(n);
  const uint16_t* in = static_cast<const uint16_t*>(bf16);
  uint32_t* bits = reinterpret_cast<uint32_t*>(out.data());
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) bits[i] = static_cast<uint32_t>(in[i]) << 16;
  return out.data();
}

// A (batch, rows, cols) view of a row-major matrix that may be read transposed.
dnnl::memory::desc matrix_desc(const GemmArgs& g, int64_t rows, int64_t cols, bool transposed, int64_t ld,
                               int64_t batch_stride, dnnl::memory::data_type dt) {
  if (g.batch == 1) {
    return dnnl::memory::desc(dims{rows, cols}, dt, transposed ? dims{1, ld} : dims{ld, 1});
  }
  return dnnl::memory::desc(dims{g.batch, rows, cols}, dt,
                            transposed ? dims{batch_stride, 1, ld} : dims{batch_stride, ld, 1});
}

}  // namespace

Status CpuGemm::run(const GemmArgs& g, bool bf16, const void* a, const void* b, float* c) {
  if (bf16 && !impl_->bf16_matmul)
    return run(g, false, widen(a, gemm_a_elements(g), impl_->wide_a), widen(b, gemm_b_elements(g), impl_->wide_b), c);
  using dt = dnnl::memory::data_type;
  const dt operand_type = bf16 ? dt::bf16 : dt::f32;
  auto a_desc = matrix_desc(g, g.M, g.K, g.trans_a, g.lda, g.stride_a, operand_type);
  auto b_desc = matrix_desc(g, g.K, g.N, g.trans_b, g.ldb, g.stride_b, operand_type);
  auto c_desc = matrix_desc(g, g.M, g.N, false, g.ldc, g.stride_c, dt::f32);
  try {
    Impl::Key key{g.batch, g.M,   g.N,        g.K,        g.trans_a,  g.trans_b,    g.lda,
                  g.ldb,   g.ldc, g.stride_a, g.stride_b, g.stride_c, g.accumulate, bf16};
    auto it = impl_->cache.find(key);
    if (it == impl_->cache.end()) {
      dnnl::primitive_attr attr;
      if (g.accumulate) {
        dnnl::post_ops ops;
        ops.append_sum(1.0f);
        attr.set_post_ops(ops);
      }
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_desc, b_desc, c_desc), attr, impl_->engine);
      it = impl_->cache.emplace(key, std::make_shared<dnnl::matmul>(pd)).first;
    }
    dnnl::memory a_mem(a_desc, impl_->engine, const_cast<void*>(a));
    dnnl::memory b_mem(b_desc, impl_->engine, const_cast<void*>(b));
    dnnl::memory c_mem(c_desc, impl_->engine, c);
    it->second->execute(impl_->stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
    impl_->stream.wait();
  } catch (const dnnl::error& e) {
    return Status(StatusCode::kBackendError, std::string("oneDNN matmul failed (M=") + std::to_string(g.M) + ", N=" +
                                                 std::to_string(g.N) + ", K=" + std::to_string(g.K) + "): " + e.what());
  }
  return Status::ok();
}

}  // namespace bert
