// The CPU's fused bf16 attention against the path it replaces: batched products of the same bf16 Q, K, V (here in
// double, rounded to fp32 as a GEMM's output is) around the reference softmax, dropout and softmax-backward kernels,
// with P and dS rounded to bf16 where that path rounds them. Odd sizes: sequence lengths that are not a multiple of
// 16, a last row block of one row, an odd head size; padding in the mask; with and without dropout. Forward (the
// probabilities and the context) and backward (dQ, dK, dV); then whole bf16 training steps of an engine with it
// against one without. Skipped (exit 77) in a build without AVX512-BF16.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bert/backend.h"
#include "bert/bf16_bits.h"
#include "bert/engine.h"
#include "cpu/fused_attention.h"
#include "cpu/kernels.h"
#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

float from_bf16(uint16_t bits) {
  const uint32_t word = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &word, 4);
  return f;
}

std::vector<uint16_t> random_bf16(int64_t n, uint64_t seed, float scale) {
  std::vector<float> f = random_floats(n, seed, -scale, scale);
  std::vector<uint16_t> out(n);
  for (int64_t i = 0; i < n; i++) out[i] = bf16_bits(f[i]);
  return out;
}

// c(M, N) = sum over k of a(m, k) b(k, n), from element accessors; double accumulation, the result in fp32.
template <class A, class B>
void product(int64_t M, int64_t N, int64_t K, A a, B b, float* c) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      double sum = 0;
      for (int64_t k = 0; k < K; k++) sum += static_cast<double>(a(m, k)) * b(k, n);
      c[m * N + n] = static_cast<float>(sum);
    }
}

struct Outputs {
  std::vector<float> probs, ctx, dq, dk, dv;
};

struct Inputs {
  AttentionShape s;
  std::vector<uint16_t> q, k, v, d_ctx;
  std::vector<float> mask;
};

// The batched path, head by head, with the reference kernels.
Outputs plain_path(const Inputs& in) {
  const AttentionShape& s = in.s;
  const int64_t heads = static_cast<int64_t>(s.B) * s.NH, T = s.T, HS = s.HS, block = T * HS, square = T * T;
  Outputs o{std::vector<float>(heads * square), std::vector<float>(heads * block), std::vector<float>(heads * block),
            std::vector<float>(heads * block), std::vector<float>(heads * block)};
  std::vector<float> scores(heads * square), d_dropped(heads * square);
  std::vector<uint16_t> used(heads * square), dropped(heads * square), ds(heads * square);
  auto at = [](const std::vector<uint16_t>& x, int64_t offset, int64_t ld) {
    return [&x, offset, ld](int64_t r, int64_t c) { return from_bf16(x[offset + r * ld + c]); };
  };
  auto transposed = [](const std::vector<uint16_t>& x, int64_t offset, int64_t ld) {
    return [&x, offset, ld](int64_t r, int64_t c) { return from_bf16(x[offset + c * ld + r]); };
  };
  for (int64_t h = 0; h < heads; h++)
    product(T, T, HS, at(in.q, h * block, HS), transposed(in.k, h * block, HS), scores.data() + h * square);
  ref::softmax_dropout_forward(Stream{}, scores.data(), in.mask.data(), o.probs.data(), nullptr, used.data(), s.B, s.NH,
                               s.T, s.scale, s.p, s.key);
  for (int64_t h = 0; h < heads; h++)
    product(T, HS, T, at(used, h * square, T), at(in.v, h * block, HS), o.ctx.data() + h * block);
  // backward
  for (int64_t h = 0; h < heads; h++)
    product(T, T, HS, at(in.d_ctx, h * block, HS), transposed(in.v, h * block, HS), d_dropped.data() + h * square);
  ref::dropout_apply(Stream{}, o.probs.data(), nullptr, dropped.data(), heads * square, 1.0f, s.p, s.key);
  ref::softmax_dropout_backward(Stream{}, d_dropped.data(), o.probs.data(), nullptr, ds.data(), s.B, s.NH, s.T, s.scale,
                                s.p, s.key);
  for (int64_t h = 0; h < heads; h++) {
    product(T, HS, T, transposed(dropped, h * square, T), at(in.d_ctx, h * block, HS), o.dv.data() + h * block);
    product(T, HS, T, at(ds, h * square, T), at(in.k, h * block, HS), o.dq.data() + h * block);
    product(T, HS, T, transposed(ds, h * square, T), at(in.q, h * block, HS), o.dk.data() + h * block);
  }
  return o;
}

Outputs fused_path(const FusedAttention& fused, const Inputs& in) {
  const AttentionShape& s = in.s;
  const int64_t heads = static_cast<int64_t>(s.B) * s.NH, block = static_cast<int64_t>(s.T) * s.HS;
  Outputs o{std::vector<float>(heads * s.T * s.T), std::vector<float>(heads * block), std::vector<float>(heads * block),
            std::vector<float>(heads * block), std::vector<float>(heads * block)};
  fused.forward(in.q.data(), in.k.data(), in.v.data(), in.mask.data(), o.probs.data(), o.ctx.data(), s);
  fused.backward(in.d_ctx.data(), o.probs.data(), in.q.data(), in.k.data(), in.v.data(), o.dq.data(), o.dk.data(),
                 o.dv.data(), s);
  return o;
}

Inputs inputs(int B, int NH, int T, int HS, float p, uint64_t seed) {
  Inputs in;
  in.s.B = B, in.s.NH = NH, in.s.T = T, in.s.HS = HS;
  in.s.scale = 1.0f / std::sqrt(static_cast<float>(HS));
  in.s.p = p;
  in.s.key = DropoutKey{seed, 77};
  const int64_t n = static_cast<int64_t>(B) * NH * T * HS;
  in.q = random_bf16(n, seed + 1, 2.0f);
  in.k = random_bf16(n, seed + 2, 2.0f);
  in.v = random_bf16(n, seed + 3, 1.0f);
  in.d_ctx = random_bf16(n, seed + 4, 1.0f);
  in.mask.assign(static_cast<size_t>(B) * T, 1.0f);
  for (int b = 1; b < B; b += 2)  // the last fifth of every other sequence is padding
    for (int t = T - T / 5; t < T; t++) in.mask[static_cast<size_t>(b) * T + t] = 0.0f;
  return in;
}

void agrees(const char* products, const FusedAttention& fused, int B, int NH, int T, int HS, float p) {
  const Inputs in = inputs(B, NH, T, HS, p, 1000 + T * 7 + HS);
  const Outputs want = plain_path(in), got = fused_path(fused, in);
  const double probs_tol = tolerance("fused_attention_probs_rel"), tol = tolerance("fused_attention_bf16_rel");
  const struct {
    const char* name;
    const std::vector<float>& got;
    const std::vector<float>& want;
    double tol;
  } checks[] = {{"probs", got.probs, want.probs, probs_tol},
                {"ctx", got.ctx, want.ctx, tol},
                {"dq", got.dq, want.dq, tol},
                {"dk", got.dk, want.dk, tol},
                {"dv", got.dv, want.dv, tol}};
  for (const auto& c : checks) {
    const double err = rel_error(c.got, c.want);
    std::printf("  %s B=%d NH=%d T=%d HS=%d p=%.1f %-5s rel error %.2e (tolerance %.0e)\n", products, B, NH, T, HS, p,
                c.name, err, c.tol);
    CHECK_MSG(err <= c.tol, "%s %s: B=%d NH=%d T=%d HS=%d p=%.1f rel error %.3e > %.0e", products, c.name, B, NH, T, HS,
              p, err, c.tol);
  }
}

// Whole training steps: an engine whose backend runs the fused attention against one running the batched path,
// from the same weights and seed, bf16, dropout on: the losses of a few Adam steps and the first step's gradients.
ModelConfig small_model() {
  ModelConfig c;
  c.vocab_size = 500, c.hidden_size = 128, c.num_hidden_layers = 2, c.num_attention_heads = 2;
  c.intermediate_size = 256, c.max_position_embeddings = 72;
  return c;
}

std::unique_ptr<Engine> bf16_engine(FusedAttentionChoice fused) {
  CpuBackendOptions cpu;
  cpu.fused_attention = fused;
  EngineOptions o;
  o.precision = Precision::kBf16, o.seed = 5;
  std::unique_ptr<Engine> e;
  const Status s = Engine::create(small_model(), o, make_cpu_backend(cpu), &e);
  CHECK_MSG(s.is_ok(), "create: %s", s.message().c_str());
  return e;
}

struct TrainedRun {
  std::vector<double> losses;
  std::vector<float> first_grads;
};

TrainedRun train_steps(Engine& e, int steps) {
  constexpr int B = 4, T = 72, kMasked = 8;  // T = 72: a last row block of 8 rows, tails in every product
  TrainedRun run;
  for (int step = 0; step < steps; step++) {
    std::vector<int32_t> ids = random_ints(B * T, 100 + step, 1, 499), segments(B * T, 0), mask(B * T, 1);
    std::vector<int32_t> positions(B * kMasked), labels(B * kMasked), nsp(B, step % 2);
    for (int b = 0; b < B; b++) {
      for (int t = T - 9 * b; t < T; t++) mask[b * T + t] = 0;  // padding of different lengths
      for (int m = 0; m < kMasked; m++) {
        positions[b * kMasked + m] = b * T + 2 + 3 * m;
        labels[b * kMasked + m] = ids[b * T + 2 + 3 * m];
      }
    }
    Batch batch;
    batch.batch_size = B, batch.seq_len = T, batch.input_ids = ids.data(), batch.segment_ids = segments.data();
    batch.input_mask = mask.data(), batch.num_masked = B * kMasked, batch.masked_positions = positions.data();
    batch.masked_labels = labels.data(), batch.next_sentence_labels = nsp.data();
    PassOptions pass;
    pass.dropout_stream = static_cast<uint64_t>(step);
    PassResult r;
    CHECK(e.run(batch, all_layers_kept(small_model().num_hidden_layers), pass, &r).is_ok());
    run.losses.push_back(r.loss);
    if (step == 0) run.first_grads = read_all(e);
    StepOptions so;
    so.lr = 1e-3, so.step_number = step + 1, so.max_grad_norm = 1.0f;
    StepResult sr;
    CHECK(e.optimizer_step(OptimizerOptions{}, so, &sr).is_ok());
  }
  return run;
}

void engines_agree() {
  const TrainedRun fused = train_steps(*bf16_engine(FusedAttentionChoice::kOn), 5);
  const TrainedRun batched = train_steps(*bf16_engine(FusedAttentionChoice::kOff), 5);
  const double grad_err = rel_error(fused.first_grads, batched.first_grads);
  const double grad_tol = tolerance("fused_attention_engine_grad_rel");
  std::printf("  engine, first step: gradients rel error %.2e (tolerance %.0e)\n", grad_err, grad_tol);
  CHECK_MSG(grad_err <= grad_tol, "engine gradients: rel error %.3e > %.0e", grad_err, grad_tol);
  const double loss_tol = tolerance("fused_attention_engine_loss_rel");
  for (size_t i = 0; i < fused.losses.size(); i++) {
    const double err = std::fabs(fused.losses[i] - batched.losses[i]) / std::fabs(batched.losses[i]);
    std::printf("  engine, step %zu: loss %.6f fused, %.6f batched, rel %.2e (tolerance %.0e)\n", i + 1,
                fused.losses[i], batched.losses[i], err, loss_tol);
    CHECK_MSG(err <= loss_tol, "engine step %zu: loss rel error %.3e > %.0e", i + 1, err, loss_tol);
  }
}

}  // namespace

int main() {
  const FusedAttention* fused = cpu_fused_attention();
  if (!fused) {
    std::printf("test_fused_attention: skipped, built for a CPU without AVX512-BF16\n");
    return 77;
  }
  // the default products (AMX where granted), then vdpbf16ps alone
  const struct {
    const char* name;
    const FusedAttention* kernel;
  } paths[] = {{"default", fused}, {"vdpbf16ps", cpu_fused_attention_without_amx()}};
  for (const auto& path : paths)
    for (float p : {0.0f, 0.1f}) {
      agrees(path.name, *path.kernel, 2, 3, 37, 20, p);   // T not a multiple of 16
      agrees(path.name, *path.kernel, 1, 2, 129, 64, p);  // two full row blocks and a last one of one row
      agrees(path.name, *path.kernel, 2, 1, 16, 33, p);   // an odd head size
      agrees(path.name, *path.kernel, 2, 2, 128, 64, p);  // BERT's shape
    }
  engines_agree();
  return finish("test_fused_attention");
}
