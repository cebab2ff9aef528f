// Gradient averaging without MPI: a fake communicator stands for W ranks that hold identical gradients (its sum
// multiplies by W), so a correct average returns the gradients unchanged. Checks DeepSpeed's three scaling modes,
// that the overlapped backward pass hands every gradient element to the reduction exactly once (layers in reverse
// order, then the rest), that overlapped, delayed and unsynchronised training agree, and that errors surface.
#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include "bert/engine.h"
#include "model/alignment.h"
#include "parallel/gradient_sync.h"
#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

class FakeWorld final : public Communicator {
 public:
  explicit FakeWorld(int size, bool fail = false) : size_(size), fail_(fail) {}
  int rank() const override { return 0; }
  int size() const override { return size_; }
  int local_rank() const override { return 0; }
  Status allreduce_sum(float* data, int64_t count) override {
    if (fail_) return Status(StatusCode::kCommunication, "fake failure");
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // latency, so overlap has something to hide
    for (int64_t i = 0; i < count; i++) data[i] *= static_cast<float>(size_);
    std::lock_guard<std::mutex> lock(mutex);
    calls.push_back({data, count});
    return Status::ok();
  }
  Status allreduce_sum(double* data, int64_t count) override {
    for (int64_t i = 0; i < count; i++) data[i] *= size_;
    return Status::ok();
  }
  Status allreduce_max(double*, int64_t) override { return Status::ok(); }
  void abort(int) override {}
  Status finalize() override { return Status::ok(); }

  std::mutex mutex;
  std::vector<std::pair<float*, int64_t>> calls;

 private:
  int size_;
  bool fail_;
};

void scaling_modes() {
  for (int mode = 0; mode < 3; mode++) {
    FakeWorld world(4);
    GradientSyncOptions o;
    o.prescale = mode == 1;
    o.predivide_factor = mode == 2 ? 8.0 : 1.0;
    o.bucket_floats = 100;
    std::vector<float> g = random_floats(1000, 3), original = g;
    {
      std::unique_ptr<Backend> cpu = make_cpu_backend();
      GradientSync sync(&world, o, cpu.get());
      sync.submit(g.data(), 1000);
      GradientSyncStats stats;
      CHECK(sync.finish(&stats).is_ok());
      CHECK(stats.floats == 1000);
    }
    CHECK_MSG(rel_error(g, original) < 1e-7, "mode %d: averaged identical gradients changed by %g", mode,
              rel_error(g, original));
    CHECK_MSG(world.calls.size() == 10, "mode %d: 1000 floats in buckets of 100 make 10 calls, got %zu", mode,
              world.calls.size());
  }
}

ModelConfig tiny() {
  ModelConfig c;
  c.vocab_size = 61;
  c.hidden_size = 32;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.intermediate_size = 48;
  c.max_position_embeddings = 16;
  return c;
}

struct Run {
  std::unique_ptr<Engine> engine;
  std::vector<float> weights;
};

// Two micro-batches then an optimizer step; the last micro-batch may hand its gradients to the sync.
Run train(Communicator* comm, bool overlap, std::vector<std::pair<float*, int64_t>>* calls = nullptr) {
  EngineOptions eo;
  eo.seed = 5;
  Run r;
  CHECK(Engine::create(tiny(), eo, &r.engine).is_ok());
  if (comm) {
    GradientSyncOptions so;
    so.overlap = overlap;
    so.bucket_floats = 1 << 20;
    r.engine->enable_gradient_sync(comm, so);
  }
  const int B = 2, T = 8;
  std::vector<int32_t> ids = random_ints(B * T, 9, 0, 61), seg(B * T, 0), mask(B * T, 1);
  std::vector<int32_t> pos = {1, 5, 9, 14}, labels = {3, 8, 60, 2}, nsp = {1, 0};
  Batch b;
  b.batch_size = B;
  b.seq_len = T;
  b.input_ids = ids.data();
  b.segment_ids = seg.data();
  b.input_mask = mask.data();
  b.num_masked = 4;
  b.masked_positions = pos.data();
  b.masked_labels = labels.data();
  b.next_sentence_labels = nsp.data();
  std::vector<PldGate> gates(3);
  gates[1].keep = false;  // a dropped layer is submitted too, in its place
  PassResult result;
  for (int m = 0; m < 2; m++) {
    PassOptions p;
    p.dropout_stream = m;
    p.grad_scale = 0.5f;
    p.sync_gradients = m == 1;
    CHECK(r.engine->run(b, gates, p, &result).is_ok());
  }
  OptimizerOptions opt;
  StepOptions step;
  step.lr = 1e-3;
  StepResult sr;
  CHECK(r.engine->optimizer_step(opt, step, &sr).is_ok());
  if (comm) CHECK(sr.allreduce_ms > 0);
  const ParamInfo& last = r.engine->params().back();
  r.weights = read_all(*r.engine, EngineArray::kParams);
  r.weights.resize(last.offset + last.size);
  if (calls) *calls = static_cast<FakeWorld*>(comm)->calls;
  return r;
}

void engine_sync() {
  Run plain = train(nullptr, false);
  FakeWorld w1(2), w2(2);
  std::vector<std::pair<float*, int64_t>> calls;
  Run overlapped = train(&w1, true, &calls);
  Run delayed = train(&w2, false);
  CHECK_MSG(overlapped.weights == plain.weights, "overlapped sync changed identical gradients");
  CHECK_MSG(delayed.weights == plain.weights, "delayed sync changed identical gradients");
  // every element exactly once, layer 2, 1, 0 first
  // the rest-of-the-model range starts at the buffer's first float: the lowest address submitted
  const float* base = std::min_element(calls.begin(), calls.end())->first;
  const ParamInfo& last = overlapped.engine->params().back();
  const int64_t total = aligned_floats(last.offset + last.size);
  std::vector<int> seen(total, 0);
  for (auto& [data, count] : calls)
    for (int64_t i = 0; i < count; i++) seen[data - base + i]++;
  CHECK_MSG(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }),
            "the reductions must cover the gradient buffer exactly once");
  const ParamInfo* q2 = overlapped.engine->find_param("bert.encoder.layer.2.attention.self.query.weight");
  const ParamInfo* q0 = overlapped.engine->find_param("bert.encoder.layer.0.attention.self.query.weight");
  CHECK(calls.size() >= 5 && calls[0].first - base == q2->offset && calls[2].first - base == q0->offset);
}

// The overflow verdict is the job's, not the rank's: a rank whose own gradients are finite still skips the step
// when another rank's norm was not (the max-reduced norm is infinite), and leaves its weights alone.
class AnotherRankOverflows final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  int local_rank() const override { return 0; }
  Status allreduce_sum(float*, int64_t) override { return Status::ok(); }
  Status allreduce_sum(double*, int64_t) override { return Status::ok(); }
  Status allreduce_max(double* data, int64_t count) override {
    for (int64_t i = 0; i < count; i++) data[i] = INFINITY;
    return Status::ok();
  }
  void abort(int) override {}
  Status finalize() override { return Status::ok(); }
};

void overflow_agreed() {
  AnotherRankOverflows world;
  EngineOptions eo;
  std::unique_ptr<Engine> e;
  CHECK(Engine::create(tiny(), eo, &e).is_ok());
  e->enable_gradient_sync(&world, GradientSyncOptions{});
  const std::vector<float> before = read_all(*e, EngineArray::kParams);
  const std::vector<float> finite(e->layout_floats(), 1e-3f);  // finite here
  CHECK(e->write(EngineArray::kGrads, 0, e->layout_floats(), finite.data()).is_ok());
  StepResult sr;
  CHECK(e->optimizer_step(OptimizerOptions{}, StepOptions{0.001}, &sr).is_ok());
  CHECK_MSG(sr.overflow, "another rank's overflow must skip this rank's step too");
  const std::vector<float> after = read_all(*e, EngineArray::kParams);
  CHECK_MSG(after == before, "a skipped step must leave the weights alone");
}

void errors() {
  FakeWorld broken(2, true);
  EngineOptions eo;
  std::unique_ptr<Engine> e;
  CHECK(Engine::create(tiny(), eo, &e).is_ok());
  e->enable_gradient_sync(&broken, GradientSyncOptions{});
  StepResult sr;
  Status s = e->optimizer_step(OptimizerOptions{}, StepOptions{0.001}, &sr);
  CHECK_MSG(s.code() == StatusCode::kCommunication, "a failed allreduce must fail the step, got %s",
            status_code_name(s.code()));
}

}  // namespace

int main() {
  scaling_modes();
  engine_sync();
  overflow_agreed();
  errors();
  return finish("test_gradient_sync");
}
