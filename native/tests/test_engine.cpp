// The engine through its C++ API: bad configs and batches give a Status with the right code (never a crash),
// gradients accumulate across calls and scale with grad_scale, runs are deterministic, dropped layers have zero
// gradients, and bf16 stays close to fp32.
#include "bert/engine.h"
#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

ModelConfig tiny(LayerNormPlacement placement = LayerNormPlacement::kPre) {
  ModelConfig c;
  c.vocab_size = 53;
  c.hidden_size = 32;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.intermediate_size = 40;
  c.max_position_embeddings = 16;
  c.hidden_dropout_prob = 0.1f;
  c.attention_probs_dropout_prob = 0.1f;
  c.layer_norm = placement;
  return c;
}

struct TinyBatch {
  int B = 2, T = 9;
  std::vector<int32_t> ids, seg, mask, pos = {1, 3, 10, 12}, labels = {4, 7, -1, 50}, nsp = {0, 1};
  Batch batch;
  TinyBatch() {
    ids = random_ints(B * T, 1, 0, 53);
    seg.assign(B * T, 0);
    mask.assign(B * T, 1);
    mask[B * T - 1] = 0;
    batch.batch_size = B;
    batch.seq_len = T;
    batch.input_ids = ids.data();
    batch.segment_ids = seg.data();
    batch.input_mask = mask.data();
    batch.num_masked = 4;
    batch.masked_positions = pos.data();
    batch.masked_labels = labels.data();
    batch.next_sentence_labels = nsp.data();
  }
};

std::unique_ptr<Engine> make(const ModelConfig& c, Precision precision = Precision::kFp32) {
  EngineOptions o;
  o.precision = precision;
  o.seed = 7;
  std::unique_ptr<Engine> e;
  Status s = Engine::create(c, o, &e);
  CHECK_MSG(s.is_ok(), "create: %s", s.message().c_str());
  return e;
}

std::vector<PldGate> all_kept(int L) { return std::vector<PldGate>(L); }

std::vector<float> grads(Engine& e) {
  const ParamInfo& last = e.params().back();
  std::vector<float> all = read_all(e);
  all.resize(last.offset + last.size);
  return all;
}

void expect_code(const char* what, const Status& s, StatusCode code) {
  CHECK_MSG(!s.is_ok() && s.code() == code, "%s: expected %s, got %s (%s)", what, status_code_name(code),
            status_code_name(s.code()), s.message().c_str());
  CHECK_MSG(s.is_ok() || !s.message().empty(), "%s: error without a message", what);
}

void bad_configs() {
  std::unique_ptr<Engine> e;
  ModelConfig c = tiny();
  c.num_attention_heads = 5;
  expect_code("heads not dividing hidden", Engine::create(c, EngineOptions{}, &e), StatusCode::kInvalidConfig);
  c = tiny();
  c.hidden_dropout_prob = 1.0f;
  expect_code("dropout of 1", Engine::create(c, EngineOptions{}, &e), StatusCode::kInvalidConfig);
  c = tiny();
  c.num_hidden_layers = 0;
  expect_code("no layers", Engine::create(c, EngineOptions{}, &e), StatusCode::kInvalidConfig);
}

void bad_batches() {
  auto e = make(tiny());
  PassResult r;
  {
    TinyBatch t;
    t.ids[5] = 53;
    expect_code("id out of vocabulary", e->run(t.batch, all_kept(3), PassOptions{}, &r), StatusCode::kInvalidArgument);
  }
  {
    TinyBatch t;
    t.pos[2] = t.B * t.T;
    expect_code("masked position outside the batch", e->run(t.batch, all_kept(3), PassOptions{}, &r),
                StatusCode::kInvalidArgument);
  }
  {
    TinyBatch t;
    expect_code("wrong number of gates", e->run(t.batch, all_kept(2), PassOptions{}, &r), StatusCode::kInvalidArgument);
  }
  {
    TinyBatch t;
    t.batch.seq_len = 17;  // beyond max_position_embeddings; arrays are long enough not to matter
    expect_code("sequence longer than the position table", e->run(t.batch, all_kept(3), PassOptions{}, &r),
                StatusCode::kInvalidArgument);
  }
  {
    TinyBatch t;
    t.seg[0] = 2;
    expect_code("segment id beyond type_vocab_size", e->run(t.batch, all_kept(3), PassOptions{}, &r),
                StatusCode::kInvalidArgument);
  }
  {
    TinyBatch t;
    auto gates = all_kept(3);
    gates[1].scale = -1.0f;
    expect_code("negative residual scale", e->run(t.batch, gates, PassOptions{}, &r), StatusCode::kInvalidArgument);
  }
}

void accumulation_and_scaling() {
  auto e = make(tiny());
  TinyBatch t;
  PassResult r;
  PassOptions pass;
  pass.dropout_stream = 3;
  e->zero_grads();
  CHECK(e->run(t.batch, all_kept(3), pass, &r).is_ok());
  auto once = grads(*e);
  const double loss = r.loss;
  CHECK(e->run(t.batch, all_kept(3), pass, &r).is_ok());
  CHECK_MSG(r.loss == loss, "the same pass twice gave losses %.9g and %.9g", r.loss, loss);
  auto twice = grads(*e);
  for (auto& g : once) g *= 2;
  const double accumulate_tol = tolerance("engine_accumulation_fp32_rel");
  std::printf("two passes vs twice one pass: %.2e (tolerance %.1e)\n", rel_error(twice, once), accumulate_tol);
  CHECK_MSG(rel_error(twice, once) <= accumulate_tol, "gradients do not accumulate: %.3g", rel_error(twice, once));
  e->zero_grads();
  pass.grad_scale = 0.25f;
  CHECK(e->run(t.batch, all_kept(3), pass, &r).is_ok());
  auto quarter = grads(*e);
  for (auto& g : once) g *= 0.125f;  // once now holds 2x the gradient
  std::printf("grad_scale 0.25 vs a quarter of one pass: %.2e (tolerance %.1e)\n", rel_error(quarter, once),
              accumulate_tol);
  CHECK_MSG(rel_error(quarter, once) <= accumulate_tol, "grad_scale does not scale gradients: %.3g",
            rel_error(quarter, once));
  pass.grad_scale = 1.0f;
  pass.dropout_stream = 4;
  CHECK(e->run(t.batch, all_kept(3), pass, &r).is_ok());
  CHECK_MSG(r.loss != loss, "a different dropout stream gave the same loss");
  pass.train = false;
  PassResult eval1, eval2;
  pass.dropout_stream = 5;
  CHECK(e->run(t.batch, all_kept(3), pass, &eval1).is_ok());
  pass.dropout_stream = 6;
  CHECK(e->run(t.batch, all_kept(3), pass, &eval2).is_ok());
  CHECK_MSG(eval1.loss == eval2.loss, "evaluation (no dropout) depends on the dropout stream");
}

void dropped_layers_have_zero_gradients() {
  for (auto placement : {LayerNormPlacement::kPre, LayerNormPlacement::kPost}) {
    auto e = make(tiny(placement));
    TinyBatch t;
    auto gates = all_kept(3);
    gates[1].keep = false;
    gates[0].scale = 1.5f;
    PassResult r;
    e->zero_grads();
    CHECK(e->run(t.batch, gates, PassOptions{}, &r).is_ok());
    const std::vector<float> g = read_all(*e);
    for (const ParamInfo& p : e->params()) {
      bool in_dropped = p.name.find("encoder.layer.1.") != std::string::npos;
      double sum = 0;
      for (int64_t i = 0; i < p.size; i++) sum += std::fabs(g[p.offset + i]);
      if (in_dropped) CHECK_MSG(sum == 0, "%s has gradient %.3g though its layer was dropped", p.name.c_str(), sum);
    }
    gates[0].keep = gates[1].keep = gates[2].keep = false;  // all dropped: embeddings straight into the heads
    CHECK(e->run(t.batch, gates, PassOptions{}, &r).is_ok());
    CHECK(std::isfinite(r.loss));
  }
}

// bf16 computes the same model as fp32: the loss and every gradient within their bf16 tolerances. The gradients'
// tolerance must be finer than what dropping one layer changes, so a bf16 path that skipped work could not pass;
// the loss cannot tell (a random tiny model's loss is about log V whatever its layers do: dropping one moves it
// less than bf16 rounding does), so it is only bounded.
void bf16_close_to_fp32() {
  ModelConfig c = tiny();
  TinyBatch t;
  PassOptions pass;
  pass.train = false;
  auto run = [&](Precision precision, const std::vector<PldGate>& gates, PassResult* r) {
    auto e = make(c, precision);
    CHECK(e->run(t.batch, gates, pass, r).is_ok());
    return grads(*e);
  };
  PassResult f32, b16, dropped;
  const std::vector<float> g32 = run(Precision::kFp32, all_kept(3), &f32);
  const std::vector<float> g16 = run(Precision::kBf16, all_kept(3), &b16);
  std::vector<PldGate> one_dropped = all_kept(3);
  one_dropped[1].keep = false;
  const std::vector<float> gdrop = run(Precision::kFp32, one_dropped, &dropped);
  const double loss_err = std::fabs(b16.loss - f32.loss) / std::fabs(f32.loss);
  const double grad_err = rel_error(g16, g32);
  const double loss_effect = std::fabs(dropped.loss - f32.loss) / std::fabs(f32.loss);
  const double grad_effect = rel_error(gdrop, g32);
  const double loss_tol = tolerance("engine_bf16_vs_fp32_loss_rel"),
               grad_tol = tolerance("engine_bf16_vs_fp32_grad_rel");
  std::printf(
      "bf16 vs fp32: loss %.2e (tolerance %.1e; dropping layer 1 moves it %.2e), gradients %.2e (tolerance %.1e; "
      "dropping moves them %.2e)\n",
      loss_err, loss_tol, loss_effect, grad_err, grad_tol, grad_effect);
  CHECK_MSG(loss_err <= loss_tol, "bf16 loss %.8f vs fp32 %.8f: %.3g > %.3g", b16.loss, f32.loss, loss_err, loss_tol);
  CHECK_MSG(grad_err <= grad_tol, "bf16 gradients vs fp32: %.3g > %.3g", grad_err, grad_tol);
  CHECK_MSG(grad_tol < grad_effect, "the gradient tolerance must be finer than what dropping a layer changes (%.3g)",
            grad_effect);
}

// In bf16 runs the optimizer's update writes the weights' bf16 mirror in the same pass. Two identical engines take
// a step; one then refreshes its mirror from every weight: the next pass must give the same loss, bit for bit, and
// would not if the update had left any tensor's mirror stale. Adam and LAMB (whose update is an axpy).
void optimizer_writes_bf16_mirror() {
  ModelConfig c = tiny();
  TinyBatch t;
  PassOptions pass;
  pass.train = false;
  for (OptimizerKind kind : {OptimizerKind::kAdam, OptimizerKind::kLamb}) {
    OptimizerOptions opt;
    opt.kind = kind;
    opt.weight_decay = 0.01;
    StepOptions step;
    step.lr = 0.05, step.step_number = 1;
    double loss[2];
    for (int refreshed = 0; refreshed < 2; refreshed++) {
      auto e = make(c, Precision::kBf16);
      PassResult r;
      StepResult sr;
      CHECK(e->run(t.batch, all_kept(3), pass, &r).is_ok());
      CHECK(e->optimizer_step(opt, step, &sr).is_ok() && !sr.overflow);
      if (refreshed) e->refresh_low_precision_weights();
      CHECK(e->run(t.batch, all_kept(3), pass, &r).is_ok());
      loss[refreshed] = r.loss;
    }
    CHECK_MSG(loss[0] == loss[1], "%s: loss after the step %.10f, after refreshing the mirror too %.10f",
              kind == OptimizerKind::kAdam ? "Adam" : "LAMB", loss[0], loss[1]);
  }
}

void classification_heads() {
  ModelConfig c = tiny(LayerNormPlacement::kPost);
  c.num_labels = 3;
  auto e = make(c);
  TinyBatch t;
  std::vector<int32_t> labels = {2, 5};
  t.batch.class_labels = labels.data();
  PassResult r;
  expect_code("class label beyond num_labels", e->run(t.batch, all_kept(3), PassOptions{}, &r),
              StatusCode::kInvalidArgument);
  labels[1] = 0;
  CHECK(e->run(t.batch, all_kept(3), PassOptions{}, &r).is_ok());
  CHECK(r.class_logits.size() == 6 && r.class_count == 2);
  CHECK(e->find_param("classifier.weight") != nullptr && e->find_param("cls.seq_relationship.weight") == nullptr);
}

}  // namespace

int main() {
  bad_configs();
  bad_batches();
  accumulation_and_scaling();
  dropped_layers_have_zero_gradients();
  bf16_close_to_fp32();
  optimizer_writes_bf16_mirror();
  classification_heads();
  return finish("test_engine");
}
