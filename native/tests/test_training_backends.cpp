// 50 training steps on two backends from the same weights and seed (dropout on, a layer dropped on every other
// step, Adam with clipping): their per-step losses must agree within the fp32 tolerance. Then a bf16 run of 50
// steps must train (its loss falls). Data: Zipf-distributed tokens, so the masked-token loss has something to learn.
//   test_training_backends cuda   the CPU engine against the CUDA engine of this process; exits 77 (CTest:
//                                 skipped) without a usable GPU
//   test_training_backends cpu    the fast CPU kernels against the reference ones (the same test, here)
#include <cmath>
#include <cstdio>

#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

constexpr int kSkipped = 77, kSteps = 50, B = 8, T = 64, kMasked = 10;

ModelConfig model() {
  ModelConfig c;
  c.vocab_size = 1000, c.hidden_size = 128, c.num_hidden_layers = 4, c.num_attention_heads = 4;
  c.intermediate_size = 512, c.max_position_embeddings = T;
  return c;
}

// One step's batch: ids drawn by a Zipf law over the vocabulary, the masked labels the true ids.
struct StepBatch {
  std::vector<int32_t> ids, segments, mask, positions, labels, nsp;
  Batch batch;
  explicit StepBatch(int step)
      : ids(B * T), segments(B * T), mask(B * T, 1), positions(B * kMasked), labels(B * kMasked), nsp(B) {
    for (int i = 0; i < B * T; i++) {
      const double u = (static_cast<double>(mix64(step * 7919ULL + i) >> 11) + 1) / 9007199254740993.0;
      ids[i] = std::min(999, static_cast<int>(std::pow(1000.0, u)) - 1 + 1);  // 1..999, Zipf-like
      segments[i] = (i % T) >= T / 2;
    }
    for (int b = 0; b < B; b++) {
      nsp[b] = static_cast<int32_t>(mix64(step * 31ULL + b) & 1);
      for (int m = 0; m < kMasked; m++) {
        const int at = b * T + 1 + m * 5;
        positions[b * kMasked + m] = at;
        labels[b * kMasked + m] = ids[at];
        ids[at] = 0;  // the [MASK] token
      }
    }
    batch.batch_size = B, batch.seq_len = T;
    batch.input_ids = ids.data(), batch.segment_ids = segments.data(), batch.input_mask = mask.data();
    batch.num_masked = B * kMasked, batch.masked_positions = positions.data(), batch.masked_labels = labels.data();
    batch.next_sentence_labels = nsp.data();
  }
};

std::unique_ptr<Engine> engine_on(std::unique_ptr<Backend> backend, Precision precision) {
  EngineOptions o;
  o.precision = precision, o.seed = 11;
  std::unique_ptr<Engine> e;
  const Status s = Engine::create(model(), o, std::move(backend), &e);
  CHECK_MSG(s.is_ok(), "create: %s", s.message().c_str());
  return e;
}

// Loss of each step of a 50-step run.
std::vector<double> train(Engine& e) {
  OptimizerOptions opt;
  opt.weight_decay = 0.01;
  std::vector<double> losses;
  for (int step = 0; step < kSteps; step++) {
    StepBatch sb(step);
    PldGates gates = all_layers_kept(model().num_hidden_layers);
    if (step % 2 == 0) gates[1].keep = false;
    gates[2].scale = 1.25f;
    PassOptions pass;
    pass.dropout_stream = static_cast<uint64_t>(step);
    PassResult r;
    const Status s = e.run(sb.batch, gates, pass, &r);
    CHECK_MSG(s.is_ok(), "step %d: %s", step, s.message().c_str());
    losses.push_back(r.loss);
    StepOptions so;
    so.lr = 1e-3, so.step_number = step + 1, so.max_grad_norm = 1.0f;
    StepResult sr;
    CHECK(e.optimizer_step(opt, so, &sr).is_ok() && !sr.overflow);
  }
  return losses;
}

double mean(const std::vector<double>& v, int from, int to) {
  double s = 0;
  for (int i = from; i < to; i++) s += v[i];
  return s / (to - from);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "cpu";
  std::unique_ptr<Backend> other;
  if (which == "cuda") {
    const Status s = make_cuda_backend(0, &other);
    if (!s.is_ok()) {
      std::printf("no GPU: 2 CUDA cases skipped (%s)\n", s.message().c_str());
      return kSkipped;
    }
  } else {
    other = make_cpu_backend(CpuBackendOptions{0, CpuKernelChoice::kReference});
  }
  const std::string name = other->description();
  std::printf("fp32: %d steps, cpu (fast kernels) against %s\n", kSteps, name.c_str());
  const std::vector<double> a = train(*engine_on(make_cpu_backend(), Precision::kFp32));
  const std::vector<double> b = train(*engine_on(std::move(other), Precision::kFp32));
  const double tol = tolerance(which == "cuda" ? "cuda_vs_cpu_fp32_loss_rel" : "fast_vs_reference_training_loss_rel");
  double worst = 0;
  for (int s = 0; s < kSteps; s++) worst = std::max(worst, std::fabs(a[s] - b[s]) / std::fabs(a[s]));
  std::printf("  losses %.4f -> %.4f; worst per-step relative difference %.2e (tolerance %.1e)\n", a.front(), a.back(),
              worst, tol);
  CHECK_MSG(worst <= tol, "the two backends' losses differ by %.3g relative", worst);

  std::unique_ptr<Backend> bf16_backend;
  if (which == "cuda")
    CHECK(make_cuda_backend(0, &bf16_backend).is_ok());
  else
    bf16_backend = make_cpu_backend();
  const std::vector<double> c = train(*engine_on(std::move(bf16_backend), Precision::kBf16));
  const double first = mean(c, 0, 10), last = mean(c, kSteps - 10, kSteps);
  std::printf("bf16 on %s: mean loss of steps 1-10 %.4f, of steps 41-50 %.4f\n", which.c_str(), first, last);
  CHECK_MSG(std::isfinite(last) && last < 0.9 * first, "bf16 did not train: %.4f -> %.4f", first, last);
  return finish(("test_training_backends " + which).c_str());
}
