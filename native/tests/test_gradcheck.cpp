// Finite-difference gradient checks of every differentiable kernel (fast and reference sets): for an op y = f(x)
// and a random weighting w, the backward kernel's dL/dx for L = sum(w * y) must match central differences.
// Linear data-movement ops are checked as adjoint pairs instead: <A x, y> == <x, A^T y>.
#include <functional>

#include "bert/backend.h"
#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

double kTol = 0;

using Forward = std::function<void(const std::vector<float>& x, std::vector<float>& y)>;

// Central differences of L(x) = sum(w * f(x)) in every coordinate of x.
std::vector<float> numeric_grad(const Forward& f, std::vector<float> x, const std::vector<float>& w, size_t ny,
                                float h) {
  std::vector<float> g(x.size()), y(ny);
  auto loss = [&](const std::vector<float>& at) {
    f(at, y);
    double s = 0;
    for (size_t i = 0; i < ny; i++) s += static_cast<double>(w[i]) * y[i];
    return s;
  };
  for (size_t i = 0; i < x.size(); i++) {
    float saved = x[i];
    x[i] = saved + h;
    double up = loss(x);
    x[i] = saved - h;
    double down = loss(x);
    x[i] = saved;
    g[i] = static_cast<float>((up - down) / (2.0 * h));
  }
  return g;
}

void expect_grad(const char* what, const std::vector<float>& analytic, const std::vector<float>& numeric) {
  double err = rel_error(analytic, numeric);
  CHECK_MSG(err <= kTol, "%s: analytic vs finite-difference gradient relative error %.3g > %.3g", what, err, kTol);
}

void check_layernorm(const Kernels& k, const char* set) {
  const int N = 3, C = 11;
  auto x = random_floats(N * C, 1, -2, 2), w = random_floats(C, 2, 0.5f, 1.5f), b = random_floats(C, 3);
  auto wy = random_floats(N * C, 4);
  std::vector<float> mean(N), rstd(N), y(N * C);
  auto run_x = [&](const std::vector<float>& in, std::vector<float>& out) {
    k.layernorm_forward(Stream{}, in.data(), w.data(), b.data(), out.data(), nullptr, mean.data(), rstd.data(), N, C,
                        1e-5f);
  };
  run_x(x, y);
  std::vector<float> dx(N * C), dw(C), db(C);
  k.layernorm_backward(Stream{}, wy.data(), x.data(), w.data(), mean.data(), rstd.data(), dx.data(), dw.data(),
                       db.data(), N, C);
  std::string name = std::string(set) + " layernorm d/dx";
  expect_grad(name.c_str(), dx, numeric_grad(run_x, x, wy, N * C, 1e-2f));
  auto run_w = [&](const std::vector<float>& ww, std::vector<float>& out) {
    k.layernorm_forward(Stream{}, x.data(), ww.data(), b.data(), out.data(), nullptr, mean.data(), rstd.data(), N, C,
                        1e-5f);
  };
  name = std::string(set) + " layernorm d/dw";
  expect_grad(name.c_str(), dw, numeric_grad(run_w, w, wy, N * C, 1e-2f));
  auto run_b = [&](const std::vector<float>& bb, std::vector<float>& out) {
    k.layernorm_forward(Stream{}, x.data(), w.data(), bb.data(), out.data(), nullptr, mean.data(), rstd.data(), N, C,
                        1e-5f);
  };
  name = std::string(set) + " layernorm d/db";
  expect_grad(name.c_str(), db, numeric_grad(run_b, b, wy, N * C, 1e-2f));
}

void check_gelu_tanh(const Kernels& k, const char* set) {
  const int N = 2, F = 19;
  auto x = random_floats(N * F, 10, -4, 4), zero = std::vector<float>(F, 0.0f), wy = random_floats(N * F, 11);
  for (GeluForm form : {GeluForm::kErf, GeluForm::kTanh}) {
    auto run = [&](const std::vector<float>& in, std::vector<float>& out) {
      auto pre = in;
      k.bias_gelu_forward(Stream{}, pre.data(), zero.data(), out.data(), nullptr, N, F, form);
    };
    std::vector<float> dx(N * F);
    k.gelu_backward(Stream{}, wy.data(), x.data(), dx.data(), nullptr, N, F, form);
    std::string name = std::string(set) + (form == GeluForm::kErf ? " gelu(erf)" : " gelu(tanh)");
    expect_grad(name.c_str(), dx, numeric_grad(run, x, wy, N * F, 1e-2f));
  }
  auto run = [&](const std::vector<float>& in, std::vector<float>& out) {
    auto pre = in;
    k.bias_tanh_forward(Stream{}, pre.data(), zero.data(), out.data(), N, F);
  };
  std::vector<float> act(N * F), dx(N * F);
  run(x, act);
  k.tanh_backward(Stream{}, wy.data(), act.data(), dx.data(), N, F);
  expect_grad((std::string(set) + " tanh").c_str(), dx, numeric_grad(run, x, wy, N * F, 1e-2f));
}

void check_softmax(const Kernels& k, const char* set, float p) {
  const int B = 2, NH = 2, T = 5;
  const int n = B * NH * T * T;
  auto s = random_floats(n, 20, -3, 3), wy = random_floats(n, 21);
  std::vector<float> mask = {1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
  DropoutKey key{9, 4};
  std::vector<float> probs(n), dropped(n);
  auto run = [&](const std::vector<float>& in, std::vector<float>& out) {
    k.softmax_dropout_forward(Stream{}, in.data(), mask.data(), probs.data(), dropped.data(), nullptr, B, NH, T, 0.7f,
                              p, key);
    out = p > 0 ? dropped : probs;
  };
  std::vector<float> y(n), ds(n);
  run(s, y);
  k.softmax_dropout_backward(Stream{}, wy.data(), probs.data(), ds.data(), nullptr, B, NH, T, 0.7f, p, key);
  std::string name = std::string(set) + " softmax+dropout p=" + std::to_string(p);
  expect_grad(name.c_str(), ds, numeric_grad(run, s, wy, n, 1e-2f));
}

void check_cross_entropy(const Kernels& k, const char* set) {
  const int M = 4, V = 7;
  auto z = random_floats(M * V, 30, -3, 3);
  std::vector<int32_t> labels = {3, -1, 0, 6};
  std::vector<float> dz(M * V), scratch(M * V);
  double loss = 0;
  int64_t correct = 0;
  k.cross_entropy_forward_backward(Stream{}, z.data(), labels.data(), M, V, 1.0f, dz.data(), nullptr, &loss, &correct);
  // L is the loss itself: weight a one-element "output" by 1
  auto run = [&](const std::vector<float>& in, std::vector<float>& out) {
    double l = 0;
    int64_t c = 0;
    k.cross_entropy_forward_backward(Stream{}, in.data(), labels.data(), M, V, 1.0f, scratch.data(), nullptr, &l, &c);
    out.assign(1, static_cast<float>(l));
  };
  expect_grad((std::string(set) + " cross_entropy").c_str(), dz, numeric_grad(run, z, {1.0f}, 1, 1e-2f));
}

void check_residual_dropout(const Kernels& k, const char* set) {
  const int N = 3, C = 21;
  auto branch = random_floats(N * C, 40), bias = random_floats(C, 41), resid = random_floats(N * C, 42);
  auto wy = random_floats(N * C, 43);
  DropoutKey key{5, 6};
  auto run = [&](const std::vector<float>& in, std::vector<float>& out) {
    k.bias_dropout_residual_forward(Stream{}, in.data(), bias.data(), resid.data(), out.data(), N, C, 1.3f, 0.3f, key);
  };
  std::vector<float> d(N * C);
  k.dropout_apply(Stream{}, wy.data(), d.data(), nullptr, N * C, 1.3f, 0.3f, key);  // the backward of the branch
  expect_grad((std::string(set) + " bias+dropout+residual").c_str(), d, numeric_grad(run, branch, wy, N * C, 1e-2f));
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += static_cast<double>(a[i]) * b[i];
  return s;
}

void check_adjoints(const Kernels& k, const char* set) {
  // gather_rows / scatter_add_rows
  const int rows = 9, C = 5, n = 6;
  std::vector<int32_t> idx = {2, 7, 2, 0, 8, 3};
  auto x = random_floats(rows * C, 50), y = random_floats(n * C, 51);
  std::vector<float> gx(n * C), sy(rows * C, 0.0f);
  k.gather_rows(Stream{}, x.data(), idx.data(), n, C, gx.data());
  k.scatter_add_rows(Stream{}, y.data(), idx.data(), n, C, sy.data());
  CHECK_MSG(std::fabs(dot(gx, y) - dot(x, sy)) < 1e-5, "%s gather/scatter are not adjoint", set);
  // tokens_to_heads / heads_to_tokens are inverse permutations, hence adjoint
  const int G = 3, B = 2, T = 3, NH = 2, HS = 4, m = G * B * T * NH * HS;
  auto a = random_floats(m, 52), b = random_floats(m, 53);
  std::vector<float> ta(m), hb(m);
  k.tokens_to_heads(Stream{}, a.data(), nullptr, ta.data(), nullptr, G, B, T, NH, HS);
  k.heads_to_tokens(Stream{}, b.data(), hb.data(), nullptr, G, B, T, NH, HS);
  CHECK_MSG(std::fabs(dot(ta, b) - dot(a, hb)) < 1e-5, "%s head permutations are not adjoint", set);
  // embeddings_forward / embeddings_backward
  const int V = 6, TV = 2, Be = 2, Te = 3, Ce = 4;
  std::vector<int32_t> ids = {1, 5, 1, 0, 2, 1}, seg = {0, 0, 1, 0, 1, 1};
  auto word = random_floats(V * Ce, 54), pos = random_floats(Te * Ce, 55), type = random_floats(TV * Ce, 56);
  auto dout = random_floats(Be * Te * Ce, 57);
  std::vector<float> out(Be * Te * Ce), dw(V * Ce), dp(Te * Ce), dt(TV * Ce);
  k.embeddings_forward(Stream{}, ids.data(), seg.data(), Be, Te, Ce, word.data(), pos.data(), type.data(), out.data());
  k.embeddings_backward(Stream{}, dout.data(), ids.data(), seg.data(), Be, Te, Ce, dw.data(), dp.data(), dt.data());
  CHECK_MSG(std::fabs(dot(out, dout) - (dot(word, dw) + dot(pos, dp) + dot(type, dt))) < 1e-5,
            "%s embeddings forward/backward are not adjoint", set);
}

}  // namespace

int main() {
  kTol = tolerance("gradcheck_rel");
  const std::pair<const char*, const Kernels*> sets[] = {{"reference", &cpu_reference_kernels()},
                                                         {"fast", &cpu_fast_kernels()}};
  for (const auto& [name, k] : sets) {
    check_layernorm(*k, name);
    check_gelu_tanh(*k, name);
    check_softmax(*k, name, 0.0f);
    check_softmax(*k, name, 0.25f);
    check_cross_entropy(*k, name);
    check_residual_dropout(*k, name);
    check_adjoints(*k, name);
  }
  return finish("test_gradcheck");
}
