// The engine against the PyTorch golden files (scripts/make_golden.py) on one backend: the C++ twin of
// test/native/parity.test.ts (losses, logits and every gradient of one pass, fp32 and bf16) and of the training
// curves in optimizer-parity.test.ts (10 steps of forward, backward and the optimizer, fp32), for machines that
// have no Node (a GPU machine's checks). Same files, same tolerances.
//   test_golden cpu|cuda [golden folder]     cuda without a usable GPU: exits 77 (CTest: skipped)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "golden/golden_case.h"
#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

constexpr int kSkipped = 77;
std::string g_device = "cpu";

std::unique_ptr<Engine> make_engine(const ModelConfig& c, Precision precision, uint64_t seed) {
  std::unique_ptr<Backend> backend;
  if (g_device == "cuda") {
    const Status s = make_cuda_backend(0, &backend);
    if (!s.is_ok()) return nullptr;
  } else {
    backend = make_cpu_backend();
  }
  EngineOptions o;
  o.precision = precision, o.seed = seed;
  std::unique_ptr<Engine> e;
  const Status s = Engine::create(c, o, std::move(backend), &e);
  CHECK_MSG(s.is_ok(), "create: %s", s.message().c_str());
  return e;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

double relative(const std::vector<float>& got, const std::vector<float>& want, double floor) {
  if (got.size() != want.size()) return INFINITY;
  double diff = 0;
  for (size_t i = 0; i < want.size(); i++) {
    if (!std::isfinite(got[i])) return INFINITY;
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  return diff / std::max(max_abs(want), floor);
}

std::vector<float> engine_tensor(const Engine& e, EngineArray which, const std::string& name) {
  const ParamInfo* p = e.find_param(name);
  std::vector<float> v(p ? p->size : 0);
  if (p) CHECK(e.read(which, p->offset, p->size, v.data()).is_ok());
  return v;
}

void check_loss(const char* file, const char* key, double got, double want, double tol) {
  const double err = std::fabs(got - want) / std::max(std::fabs(want), 1e-30);
  std::printf("  %-34s %-20s relative error %.2e (tolerance %.1e)\n", file, key, err, tol);
  CHECK_MSG(err <= tol, "%s %s: %.9g vs %.9g", file, key, got, want);
}

void one_pass(const std::filesystem::path& path, Precision precision) {
  const bool fp32 = precision == Precision::kFp32;
  const Safetensors f(path.string());
  const ModelConfig c = golden_config(f);
  uint64_t seed = 42, stream = 0;
  const bool dropout = !f.metadata("dropout").empty();
  if (dropout) {
    const Json d = Json::parse(f.metadata("dropout"));
    seed = static_cast<uint64_t>(d.at("seed").number), stream = static_cast<uint64_t>(d.at("stream").number);
  }
  std::unique_ptr<Engine> e = make_engine(c, precision, seed);
  if (!e) return;
  CHECK(load_golden_weights(f, *e).is_ok());
  GoldenBatch gb;
  load_golden_batch(f, c, "input/", &gb);
  PassOptions pass;
  pass.train = dropout, pass.dropout_stream = stream;
  PassResult r;
  const Status s = e->run(gb.batch, golden_gates(f, c.num_hidden_layers), pass, &r);
  CHECK_MSG(s.is_ok(), "%s: %s", path.filename().c_str(), s.message().c_str());
  if (!s.is_ok()) return;
  const std::string name = path.stem().string() + (fp32 ? " fp32" : " bf16");
  const double loss_tol = tolerance(fp32 ? "golden_fp32_loss_rel" : "golden_bf16_loss_rel");
  check_loss(name.c_str(), "loss", r.loss, f.get<double>("output/loss")[0], loss_tol);
  if (c.num_labels == 0) {
    check_loss(name.c_str(), "mlm_loss", r.mlm_loss, f.get<double>("output/mlm_loss")[0], loss_tol);
    check_loss(name.c_str(), "nsp_loss", r.nsp_loss, f.get<double>("output/nsp_loss")[0],
               tolerance(fp32 ? "golden_fp32_loss_rel" : "golden_bf16_nsp_loss_rel"));
  } else {
    const double tol = tolerance(fp32 ? "golden_fp32_logits_rel" : "golden_bf16_logits_rel");
    const double err = relative(r.class_logits, f.get<float>("output/class_logits"), 1e-30);
    std::printf("  %-34s %-20s relative error %.2e (tolerance %.1e)\n", name.c_str(), "class_logits", err, tol);
    CHECK_MSG(err <= tol, "%s class logits: relative error %.3g", name.c_str(), err);
  }
  double largest = 0;
  for (const std::string& p : f.names("grad/")) largest = std::max(largest, max_abs(f.get<float>("grad/" + p)));
  const double floor =
      largest * tolerance(fp32 ? "golden_fp32_grad_floor_of_largest" : "golden_bf16_grad_floor_of_largest");
  const double grad_tol = tolerance(fp32 ? "golden_fp32_grad_rel" : "golden_bf16_grad_rel");
  double worst = 0;
  for (const std::string& p : f.names("grad/")) {
    const double err = relative(engine_tensor(*e, EngineArray::kGrads, p), f.get<float>("grad/" + p), floor);
    worst = std::max(worst, err);
    CHECK_MSG(err <= grad_tol, "%s gradient %s: relative error %.3g > %.3g", name.c_str(), p.c_str(), err, grad_tol);
  }
  std::printf("  %-34s %-20s relative error %.2e (tolerance %.1e)\n", name.c_str(), "worst gradient", worst, grad_tol);
}

// The golden file's unsettled elements of `param` (metadata "unsettled": where fp32 cannot pin down the final
// weight, see scripts/make_golden.py) take the expected value in `got`, so the relative comparison skips them;
// returns their largest absolute difference (infinite where one is not finite).
double set_aside_unsettled(const Json& unsettled, const std::string& param, const std::vector<float>& want,
                           std::vector<float>* got) {
  if (!unsettled.has(param) || got->size() != want.size()) return 0;
  double worst = 0;
  for (const Json& index : unsettled.at(param).array) {
    const size_t i = static_cast<size_t>(index.number);
    if (i >= got->size()) return INFINITY;  // an index the tensor does not have: a damaged golden file
    const float g = (*got)[i];
    worst = std::max(worst, std::isfinite(g) ? std::fabs(static_cast<double>(g) - want[i]) : INFINITY);
    (*got)[i] = want[i];
  }
  return worst;
}

OptimizerOptions golden_optimizer(const Json& o) {
  OptimizerOptions opt;
  opt.kind = o.at("type").string == "lamb" ? OptimizerKind::kLamb : OptimizerKind::kAdam;
  opt.beta1 = o.at("betas").array[0].number, opt.beta2 = o.at("betas").array[1].number;
  opt.eps = o.at("eps").number, opt.weight_decay = o.at("weight_decay").number;
  opt.adam_w_mode = !o.has("adam_w_mode") || o.at("adam_w_mode").boolean;
  opt.bias_correction = o.at("bias_correction").boolean;
  opt.min_coeff = o.at("min_coeff").number, opt.max_coeff = o.at("max_coeff").number;
  return opt;
}

void training_curve(const std::filesystem::path& path) {
  const Safetensors f(path.string());
  const ModelConfig c = golden_config(f);
  const Json o = Json::parse(f.metadata("optimizer"));
  std::unique_ptr<Engine> e = make_engine(c, Precision::kFp32, 42);
  if (!e) return;
  CHECK(load_golden_weights(f, *e).is_ok());
  const std::vector<double> losses = f.get<double>("output/losses");
  const double loss_tol = tolerance("optimizer_fp32_loss_rel");
  double worst_loss = 0;
  for (size_t step = 0; step < losses.size(); step++) {
    GoldenBatch gb;
    load_golden_batch(f, c, "input" + std::to_string(step) + "/", &gb);
    PassOptions pass;
    pass.train = false;
    PassResult r;
    CHECK(e->run(gb.batch, all_layers_kept(c.num_hidden_layers), pass, &r).is_ok());
    worst_loss = std::max(worst_loss, std::fabs(r.loss - losses[step]) / std::fabs(losses[step]));
    StepOptions so;
    so.lr = o.at("lr").number, so.step_number = static_cast<int64_t>(step + 1);
    so.max_grad_norm = static_cast<float>(o.at("max_grad_norm").number);
    StepResult sr;
    CHECK(e->optimizer_step(golden_optimizer(o), so, &sr).is_ok() && !sr.overflow);
  }
  const std::string name = path.stem().string();
  std::printf("  %-34s %-20s relative error %.2e (tolerance %.1e)\n", name.c_str(), "worst step loss", worst_loss,
              loss_tol);
  CHECK_MSG(worst_loss <= loss_tol, "%s: a step's loss is off by %.3g", name.c_str(), worst_loss);
  const double tol = tolerance("training_curve_fp32_weight_rel");
  const double bound = tolerance("training_curve_fp32_unsettled_abs");
  const Json unsettled = Json::parse(f.metadata("unsettled").empty() ? "{}" : f.metadata("unsettled"));
  double worst = 0, worst_unsettled = 0;
  for (const std::string& p : f.names("final/")) {
    std::vector<float> got = engine_tensor(*e, EngineArray::kParams, p);
    const std::vector<float> want = f.get<float>("final/" + p);
    worst_unsettled = std::max(worst_unsettled, set_aside_unsettled(unsettled, p, want, &got));
    worst = std::max(worst, relative(got, want, 1e-30));
  }
  std::printf("  %-34s %-20s relative error %.2e (tolerance %.1e)\n", name.c_str(), "worst final weight", worst, tol);
  std::printf("  %-34s %-20s absolute error %.2e (tolerance %.1e)\n", name.c_str(), "worst unsettled", worst_unsettled,
              bound);
  CHECK_MSG(worst <= tol, "%s: final weights off by %.3g", name.c_str(), worst);
  CHECK_MSG(worst_unsettled <= bound, "%s: an unsettled final weight off by %.3g", name.c_str(), worst_unsettled);
}

}  // namespace

int main(int argc, char** argv) {
  g_device = argc > 1 ? argv[1] : "cpu";
  const std::filesystem::path dir = argc > 2 ? argv[2] : BERT_GOLDEN_DIR;
  std::vector<std::filesystem::path> passes, curves;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".safetensors") continue;
    if (name.rfind("train_", 0) == 0)
      curves.push_back(entry.path());
    else if (name.rfind("optimizer_", 0) != 0)
      passes.push_back(entry.path());  // optimizer_*: the node tests'
  }
  std::sort(passes.begin(), passes.end());
  std::sort(curves.begin(), curves.end());
  CHECK_MSG(passes.size() >= 8 && curves.size() >= 4, "found %zu golden passes and %zu curves in %s", passes.size(),
            curves.size(), dir.c_str());
  const size_t cases = 2 * passes.size() + curves.size();
  if (g_device == "cuda") {
    std::unique_ptr<Backend> probe;
    const Status s = make_cuda_backend(0, &probe);
    if (!s.is_ok()) {
      std::printf("no GPU: %zu CUDA cases skipped (%s)\n", cases, s.message().c_str());
      return failures() ? 1 : kSkipped;
    }
    std::printf("backend: %s\n", probe->description().c_str());
  }
  for (const auto& p : passes) one_pass(p, Precision::kFp32);
  for (const auto& p : passes) one_pass(p, Precision::kBf16);
  for (const auto& p : curves) training_curve(p);
  std::printf("%s: %zu golden cases\n", g_device.c_str(), cases);
  return finish(("test_golden " + g_device).c_str());
}
