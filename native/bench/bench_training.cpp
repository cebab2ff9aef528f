// The training-step benchmark of the GPU checks (and of any backend): samples/s and model-FLOP utilisation of one
// bf16 step (forward, backward, Adam with clipping) for BERT-base and BERT-large at sequence 128 and 512, timed
// after warm-up steps, one JSON line per case on stdout. The utilisation is against the device's dense bf16 peak
// (GPU: from its multiprocessors and clock; CPU: none is claimed here, `bert-train bench` measures that).
//   bench_training cuda|cpu [--quick]    --quick: a 4-layer model and 2 timed steps (a smoke test)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bert/engine.h"
#include "bert/flops.h"

using namespace bert;

namespace {

struct Case {
  const char* model;
  int hidden, layers, heads, intermediate, batch, seq;
};

const Case kCases[] = {
    {"base", 768, 12, 12, 3072, 64, 128},
    {"base", 768, 12, 12, 3072, 16, 512},
    {"large", 1024, 24, 16, 4096, 64, 128},
    {"large", 1024, 24, 16, 4096, 16, 512},
};
const Case kQuick[] = {{"mini", 256, 4, 4, 1024, 8, 128}, {"mini", 256, 4, 4, 1024, 2, 512}};

int masked_per_sequence(int seq) { return seq * 20 / 128; }  // as `bert-train bench`: 20 at 128, 80 at 512

struct Inputs {
  std::vector<int32_t> ids, segments, mask, positions, labels, nsp;
  Batch batch;
  Inputs(int B, int T, int vocab) : ids(B * T), segments(B * T, 0), mask(B * T, 1), nsp(B) {
    const int M = masked_per_sequence(T);
    for (int i = 0; i < B * T; i++) ids[i] = 1 + static_cast<int32_t>((i * 7919L) % (vocab - 1));
    for (int b = 0; b < B; b++) {
      nsp[b] = b & 1;
      for (int m = 0; m < M; m++) {
        positions.push_back(b * T + m * (T / M));
        labels.push_back(ids[b * T + m * (T / M)]);
      }
    }
    batch.batch_size = B, batch.seq_len = T;
    batch.input_ids = ids.data(), batch.segment_ids = segments.data(), batch.input_mask = mask.data();
    batch.num_masked = static_cast<int>(positions.size());
    batch.masked_positions = positions.data(), batch.masked_labels = labels.data();
    batch.next_sentence_labels = nsp.data();
  }
};

Status one_step(Engine& e, const Inputs& in, int step) {
  PassOptions pass;
  pass.dropout_stream = static_cast<uint64_t>(step);
  PassResult r;
  BERT_RETURN_IF_ERROR(e.run(in.batch, all_layers_kept(e.config().num_hidden_layers), pass, &r));
  StepOptions so;
  so.lr = 1e-4, so.step_number = step + 1, so.max_grad_norm = 1.0f;
  StepResult sr;
  return e.optimizer_step(OptimizerOptions{}, so, &sr);
}

bool run_case(const std::string& device, const Case& c, int warmup, int steps, double peak_tflops) {
  ModelConfig config;
  config.hidden_size = c.hidden, config.num_hidden_layers = c.layers, config.num_attention_heads = c.heads;
  config.intermediate_size = c.intermediate, config.max_position_embeddings = 512;
  EngineOptions o;
  o.precision = Precision::kBf16;
  o.device = device == "cuda" ? Device::kCuda : Device::kCpu;
  std::unique_ptr<Engine> e;
  Status s = Engine::create(config, o, &e);
  const Inputs in(c.batch, c.seq, config.vocab_size);
  for (int i = 0; s.is_ok() && i < warmup; i++) s = one_step(*e, in, i);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; s.is_ok() && i < steps; i++) s = one_step(*e, in, warmup + i);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / steps;
  if (!s.is_ok()) {
    std::fprintf(stderr, "%s batch %d seq %d: %s\n", c.model, c.batch, c.seq, s.message().c_str());
    return false;
  }
  FlopShape shape;
  shape.sequences = c.batch, shape.seq = c.seq, shape.masked_tokens = static_cast<double>(in.batch.num_masked);
  const double tflops = training_flops(c.hidden, c.intermediate, c.layers, config.vocab_size, shape) / seconds / 1e12;
  std::printf(
      "{\"engine\": \"bert-train\", \"device\": \"%s\", \"model\": \"%s\", \"precision\": \"bf16\", \"batch\": %d, "
      "\"seq\": %d, \"seconds_per_step\": %.5f, \"samples_per_s\": %.2f, \"model_tflops\": %.2f, \"peak_tflops\": "
      "%.1f, "
      "\"utilisation_of_peak\": %s}\n",
      e->backend().description().c_str(), c.model, c.batch, c.seq, seconds, c.batch / seconds, tflops, peak_tflops,
      peak_tflops > 0 ? std::to_string(tflops / peak_tflops).substr(0, 5).c_str() : "null");
  std::fflush(stdout);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string device = argc > 1 ? argv[1] : "cuda";
  const bool quick = argc > 2 && std::strcmp(argv[2], "--quick") == 0;
  const double peak = device == "cuda" ? cuda_dense_bf16_peak_tflops(0) : 0.0;
  bool ok = true;
  if (quick)
    for (const Case& c : kQuick) ok = run_case(device, c, 1, 2, peak) && ok;
  else
    for (const Case& c : kCases) ok = run_case(device, c, 3, 10, peak) && ok;
  return ok ? 0 : 1;
}
