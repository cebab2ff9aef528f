// One or more cases for every kernel of kernel_list.inc, at odd sizes (vector tails, one-row inputs, rows longer
// than a thread block), with accumulating outputs started from non-zero values and the aliasing the model uses.
#include <cmath>

#include "ops/op_harness.h"
#include "test_util.h"

namespace bert::test {
namespace {

using F = std::vector<float>;
using I = std::vector<int32_t>;
std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t v : d) s += (s.empty() ? "" : "x") + std::to_string(v);
  return s;
}

// The bf16 copy a kernel writes beside (or instead of) its fp32 output. Two counts, each 0 on every backend: the
// elements where the copy differs from convert_to_bf16 of the fp32 output written in the same call, and the elements
// where a call asked for the bf16 copy alone wrote other bits than that call. `run(f32, bf16)` runs the kernel on
// fresh inputs (either output may be null).
Outputs bf16_output_agreement(DeviceArrays& d, int64_t n, const std::function<void(float*, uint16_t*)>& run) {
  float* f32 = d.zeros<float>(n);
  uint16_t *both = d.zeros<uint16_t>(n), *alone = d.zeros<uint16_t>(n), *converted = d.zeros<uint16_t>(n);
  run(f32, both);
  run(nullptr, alone);
  d.k().convert_to_bf16(d.s(), f32, converted, n);
  const Tensor b = d.get("both", both, n), a = d.get("alone", alone, n), c = d.get("converted", converted, n);
  double differs_from_converted = 0, differs_alone = 0;
  for (int64_t i = 0; i < n; i++) {
    differs_from_converted += b.values[i] != c.values[i];
    differs_alone += a.values[i] != b.values[i];
  }
  return Outputs{{"bf16 != convert(fp32)", {differs_from_converted}},
                 {"bf16 alone != bf16 beside fp32", {differs_alone}}};
}

void embeddings(std::vector<OpCase>& out, int B, int T, int C) {
  const int V = 11, TV = 3;
  out.push_back({"embeddings_forward", dims({B, T, C}), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
                   float* o = d.zeros<float>(B * T * C);
                   d.k().embeddings_forward(d.s(), d.put(random_ints(B * T, 1, 0, V)),
                                            d.put(random_ints(B * T, 2, 0, TV)), B, T, C,
                                            d.put(random_floats(V * C, 3)), d.put(random_floats(T * C, 4)),
                                            d.put(random_floats(TV * C, 5)), o);
                   return Outputs{d.get("out", o, B * T * C)};
                 }});
  out.push_back({"embeddings_backward", dims({B, T, C}), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
                   float* w = d.put(random_floats(V * C, 6));
                   float* p = d.put(random_floats(T * C, 7));
                   float* t = d.put(random_floats(TV * C, 8));
                   d.k().embeddings_backward(d.s(), d.put(random_floats(B * T * C, 9)),
                                             d.put(random_ints(B * T, 1, 0, V)), d.put(random_ints(B * T, 2, 0, TV)), B,
                                             T, C, w, p, t);
                   return Outputs{d.get("dword", w, V * C), d.get("dpos", p, T * C), d.get("dtype", t, TV * C)};
                 }});
}

void layernorm(std::vector<OpCase>& out, int64_t N, int C) {
  out.push_back({"layernorm_forward", dims({N, C}), Tolerance::kApprox, nullptr, [=](DeviceArrays& d) {
                   float *o = d.zeros<float>(N * C), *m = d.zeros<float>(N), *r = d.zeros<float>(N);
                   d.k().layernorm_forward(d.s(), d.put(random_floats(N * C, 10, -3, 5)), d.put(random_floats(C, 11)),
                                           d.put(random_floats(C, 12)), o, nullptr, m, r, N, C, 1e-12f);
                   return Outputs{d.get("out", o, N * C), d.get("mean", m, N), d.get("rstd", r, N)};
                 }});
  out.push_back({"layernorm_forward", dims({N, C}) + " bf16 out", Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   return bf16_output_agreement(d, N * C, [&](float* o, uint16_t* o16) {
                     float *m = d.zeros<float>(N), *r = d.zeros<float>(N);
                     d.k().layernorm_forward(d.s(), d.put(random_floats(N * C, 10, -3, 5)), d.put(random_floats(C, 11)),
                                             d.put(random_floats(C, 12)), o, o16, m, r, N, C, 1e-12f);
                   });
                 }});
  out.push_back({"layernorm_backward", dims({N, C}), Tolerance::kApprox, nullptr, [=](DeviceArrays& d) {
                   const F in = random_floats(N * C, 13, -3, 5);
                   F mean(N), rstd(N);
                   for (int64_t n = 0; n < N; n++) {
                     double m = 0, v = 0;
                     for (int c = 0; c < C; c++) m += in[n * C + c];
                     m /= C;
                     for (int c = 0; c < C; c++) v += (in[n * C + c] - m) * (in[n * C + c] - m);
                     mean[n] = static_cast<float>(m), rstd[n] = static_cast<float>(1 / std::sqrt(v / C + 1e-12));
                   }
                   float *din = d.put(random_floats(N * C, 14)), *dw = d.put(random_floats(C, 15)),
                         *db = d.put(random_floats(C, 16));
                   d.k().layernorm_backward(d.s(), d.put(random_floats(N * C, 17)), d.put(in),
                                            d.put(random_floats(C, 18)), d.put(mean), d.put(rstd), din, dw, db, N, C);
                   return Outputs{d.get("din", din, N * C), d.get("dw", dw, C), d.get("db", db, C)};
                 }});
}

void activations(std::vector<OpCase>& out, int64_t N, int F_, GeluForm form) {
  const std::string shape = dims({N, F_}) + (form == GeluForm::kErf ? " erf" : " tanh");
  const int64_t n = N * F_;
  out.push_back({"bias_gelu_forward", shape, Tolerance::kApprox, nullptr, [=](DeviceArrays& d) {
                   float *pre = d.put(random_floats(n, 20, -4, 4)), *act = d.zeros<float>(n);
                   d.k().bias_gelu_forward(d.s(), pre, d.put(random_floats(F_, 21)), act, nullptr, N, F_, form);
                   return Outputs{d.get("pre", pre, n), d.get("act", act, n)};
                 }});
  out.push_back({"bias_gelu_forward", shape + " bf16 out", Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   return bf16_output_agreement(d, n, [&](float* act, uint16_t* act16) {
                     d.k().bias_gelu_forward(d.s(), d.put(random_floats(n, 20, -4, 4)), d.put(random_floats(F_, 21)),
                                             act, act16, N, F_, form);
                   });
                 }});
  out.push_back({"gelu_backward", shape, Tolerance::kApprox, nullptr, [=](DeviceArrays& d) {
                   float* dact = d.put(random_floats(n, 22));
                   d.k().gelu_backward(d.s(), dact, d.put(random_floats(n, 23, -4, 4)), dact, nullptr, N, F_,
                                       form);  // aliased
                   return Outputs{d.get("dpre", dact, n)};
                 }});
}

void tanh_ops(std::vector<OpCase>& out, int64_t N, int F_) {
  const int64_t n = N * F_;
  out.push_back({"bias_tanh_forward", dims({N, F_}), Tolerance::kApprox, nullptr, [=](DeviceArrays& d) {
                   float *pre = d.put(random_floats(n, 24, -3, 3)), *act = d.zeros<float>(n);
                   d.k().bias_tanh_forward(d.s(), pre, d.put(random_floats(F_, 25)), act, N, F_);
                   return Outputs{d.get("pre", pre, n), d.get("act", act, n)};
                 }});
  out.push_back({"tanh_backward", dims({N, F_}), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
                   float* o = d.zeros<float>(n);
                   d.k().tanh_backward(d.s(), d.put(random_floats(n, 26)), d.put(random_floats(n, 27)), o, N, F_);
                   return Outputs{d.get("dpre", o, n)};
                 }});
}

void dropout_ops(std::vector<OpCase>& out, int64_t N, int C, float p) {
  const int64_t n = N * C;
  const std::string shape = dims({N, C}) + " p=" + std::to_string(p).substr(0, 4);
  out.push_back({"bias_dropout_residual_forward", shape, Tolerance::kExact, "out", [=](DeviceArrays& d) {
                   float* o = d.zeros<float>(n);
                   d.k().bias_dropout_residual_forward(d.s(), d.put(random_floats(n, 30)), d.put(random_floats(C, 31)),
                                                       d.put(F(n, 0.0f)), o, N, C, 1.25f, p, DropoutKey{5, 77});
                   return Outputs{d.get("out", o, n)};
                 }});
  out.push_back(
      {"dropout_apply", shape, Tolerance::kExact, "out", [=](DeviceArrays& d) {
         float* x = d.put(random_floats(n, 32));
         d.k().dropout_apply(d.s(), x, x, nullptr, n, 1.5f, p, DropoutKey{9, 3});  // in place, as the model does
         return Outputs{d.get("out", x, n)};
       }});
}

void transposes(std::vector<OpCase>& out, int64_t R, int64_t C) {
  out.push_back({"transpose_add_bias", dims({R, C}), Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   float* o = d.zeros<float>(R * C);
                   d.k().transpose_add_bias(d.s(), d.put(random_floats(R * C, 44)), d.put(random_floats(R, 45)), o, R,
                                            C);
                   return Outputs{d.get("out", o, R * C)};
                 }});
}

void rows(std::vector<OpCase>& out, int64_t N, int F_) {
  out.push_back({"add_bias", dims({N, F_}), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
                   float* x = d.put(random_floats(N * F_, 40));
                   d.k().add_bias(d.s(), x, d.put(random_floats(F_, 41)), N, F_);
                   return Outputs{d.get("x", x, N * F_)};
                 }});
  out.push_back({"column_sum_accumulate", dims({N, F_}), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
                   float* o = d.put(random_floats(F_, 42));
                   d.k().column_sum_accumulate(d.s(), d.put(random_floats(N * F_, 43)), N, F_, o);
                   return Outputs{d.get("out", o, F_)};
                 }});
  const int64_t n = 5;
  out.push_back({"gather_rows", dims({n, F_}), Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   float* o = d.zeros<float>(n * F_);
                   d.k().gather_rows(d.s(), d.put(random_floats(N * F_, 44)), d.put(I{3, 0, 3, 1, 2}), n, F_, o);
                   return Outputs{d.get("out", o, n * F_)};
                 }});
  out.push_back({"scatter_add_rows", dims({n, F_}), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
                   float* o = d.put(random_floats(N * F_, 45));
                   d.k().scatter_add_rows(d.s(), d.put(random_floats(n * F_, 46)), d.put(I{3, 0, 3, 1, 2}), n, F_, o);
                   return Outputs{d.get("dst", o, N * F_)};
                 }});
}

// With dropout, no padding: a padded key's probability underflows to 0 in the reference and to a tiny positive
// number in the fast exp, which the dropped-element comparison would count as a mask difference.
F attention_mask(int B, int T, bool padded) {
  F m(B * T, 1.0f);
  for (int b = 0; padded && b < B; b++)
    for (int t = T - 1 - b * 3; t < T && t >= 0; t++) m[b * T + t] = 0.0f;  // padding at the end, longer per row
  return m;
}

void softmax(std::vector<OpCase>& out, int B, int NH, int T, float p) {
  const int64_t n = static_cast<int64_t>(B) * NH * T * T;
  const std::string shape = dims({B, NH, T, T}) + " p=" + std::to_string(p).substr(0, 4);
  out.push_back({"softmax_dropout_forward", shape, Tolerance::kApprox, "probs_dropped", [=](DeviceArrays& d) {
                   float *probs = d.put(random_floats(n, 50, -6, 6)), *dropped = d.zeros<float>(n);
                   d.k().softmax_dropout_forward(d.s(), probs, d.put(attention_mask(B, T, p == 0)), probs, dropped,
                                                 nullptr, B, NH, T, 0.125f, p,
                                                 DropoutKey{2, 8});  // scores overwritten, as in the model
                   Outputs o{d.get("probs", probs, n)};
                   if (p > 0) o.push_back(d.get("probs_dropped", dropped, n));
                   return o;
                 }});
  out.push_back(
      {"softmax_dropout_backward", shape, Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
         F probs = random_floats(n, 51, 0, 1);
         for (int64_t r = 0; r < n / T; r++) {  // rows that sum to one
           double s = 0;
           for (int j = 0; j < T; j++) s += probs[r * T + j];
           for (int j = 0; j < T; j++) probs[r * T + j] = static_cast<float>(probs[r * T + j] / s);
         }
         float* g = d.put(random_floats(n, 52));
         d.k().softmax_dropout_backward(d.s(), g, d.put(probs), g, nullptr, B, NH, T, 0.125f, p, DropoutKey{2, 8});
         return Outputs{d.get("dscores", g, n)};
       }});
}

void layouts(std::vector<OpCase>& out, int G, int B, int T, int NH, int HS) {
  const int64_t n = static_cast<int64_t>(G) * B * T * NH * HS;
  const std::string shape = "G=" + std::to_string(G) + " " + dims({B, T, NH, HS});
  out.push_back({"tokens_to_heads", shape, Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   float* o = d.zeros<float>(n);
                   // the model's two uses: the QKV projection's bias added (G=3), the context as it is (G=1)
                   const float* bias = G == 3 ? d.put(random_floats(G * NH * HS, 64)) : nullptr;
                   d.k().tokens_to_heads(d.s(), d.put(random_floats(n, 60)), bias, o, nullptr, G, B, T, NH, HS);
                   return Outputs{d.get("out", o, n)};
                 }});
  out.push_back({"heads_to_tokens", shape, Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   float* o = d.zeros<float>(n);
                   d.k().heads_to_tokens(d.s(), d.put(random_floats(n, 61)), o, nullptr, G, B, T, NH, HS);
                   return Outputs{d.get("out", o, n)};
                 }});
}

void layouts_bf16(std::vector<OpCase>& out, int G, int B, int T, int NH, int HS) {
  const int64_t n = static_cast<int64_t>(G) * B * T * NH * HS;
  const std::string shape = "G=" + std::to_string(G) + " " + dims({B, T, NH, HS}) + " bf16 out";
  out.push_back({"tokens_to_heads", shape, Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   return bf16_output_agreement(d, n, [&](float* o, uint16_t* o16) {
                     const float* bias = d.put(random_floats(G * NH * HS, 65));
                     d.k().tokens_to_heads(d.s(), d.put(random_floats(n, 62)), bias, o, o16, G, B, T, NH, HS);
                   });
                 }});
  out.push_back({"heads_to_tokens", shape, Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   return bf16_output_agreement(d, n, [&](float* o, uint16_t* o16) {
                     d.k().heads_to_tokens(d.s(), d.put(random_floats(n, 63)), o, o16, G, B, T, NH, HS);
                   });
                 }});
}

void losses(std::vector<OpCase>& out, int64_t M, int V) {
  out.push_back(
      {"cross_entropy_forward_backward", dims({M, V}), Tolerance::kApprox, nullptr, [=](DeviceArrays& d) {
         I labels = random_ints(M, 70, 0, V);
         labels[1 % M] = -1;  // an ignored row
         float* logits = d.put(random_floats(M * V, 71, -8, 8));
         double* loss = d.zeros<double>(1);
         int64_t* correct = d.zeros<int64_t>(1);
         d.k().cross_entropy_forward_backward(d.s(), logits, d.put(labels), M, V, 0.5f, logits, nullptr, loss, correct);
         return Outputs{d.get("dlogits", logits, M * V), d.get("loss_sum", loss, 1), d.get("correct", correct, 1)};
       }});
  out.push_back({"mse_forward_backward", dims({M}), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
                   float* pred = d.put(random_floats(M, 72));
                   double* loss = d.put(std::vector<double>{0.25});
                   d.k().mse_forward_backward(d.s(), pred, d.put(random_floats(M, 73)), M, 0.75f, pred, loss);
                   return Outputs{d.get("dpred", pred, M), d.get("loss_sum", loss, 1)};
                 }});
}

// fp16's edges (the largest value, the rounding boundary to inf, subnormals), infinities, bf16's largest value and,
// with `fp32_subnormal`, an fp32 subnormal (the AVX512-BF16 conversion flushes those to zero, as its instruction
// does, where the reference and CUDA round them: the one documented difference, left out of the bf16 case).
F special_values(int64_t n, uint64_t seed, bool fp32_subnormal) {
  F v = random_floats(n, seed, -70000, 70000);
  const float specials[] = {
      0.0f,  -0.0f,          65504.0f,   65519.0f, 65520.0f,  1e-8f,         3e-8f,
      6e-8f, -5.9604645e-8f, 1.0000001f, INFINITY, -INFINITY, 3.3895314e38f, fp32_subnormal ? 1e-40f : 1e-30f};
  for (size_t i = 0; i < sizeof(specials) / sizeof(float) && i < static_cast<size_t>(n); i++)
    v[i * 7 % n] = specials[i];
  for (int64_t i = 20; i < n; i += 13) v[i] *= 1e-4f;  // some in fp16's subnormal range
  return v;
}

void conversions(std::vector<OpCase>& out, int64_t n) {
  out.push_back({"convert_to_bf16", dims({n}), Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   uint16_t* o = d.zeros<uint16_t>(n);
                   d.k().convert_to_bf16(d.s(), d.put(special_values(n, 80, false)), o, n);
                   return Outputs{d.get("bits", o, n)};
                 }});
  out.push_back({"round_to_fp16", dims({n}), Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   float* x = d.put(special_values(n, 81, true));
                   d.k().round_to_fp16(d.s(), x, x, n);  // in place, as the GEMM results are
                   return Outputs{d.get("out", x, n)};
                 }});
}

void optimizer(std::vector<OpCase>& out, int64_t n) {
  out.push_back({"sum_of_squares", dims({n}), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
                   const double s = d.k().sum_of_squares(d.s(), d.put(random_floats(n, 90)), n);
                   return Outputs{Tensor{"sum", {s}}};
                 }});
  for (bool w_mode : {true, false}) {
    out.push_back(
        {"adam_update", dims({n}) + (w_mode ? " AdamW" : " L2"), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
           AdamStepArgs a;
           a.lr = 1e-3f, a.weight_decay = 0.01f, a.adam_w_mode = w_mode, a.grad_mul = 0.5f;
           a.bias_correction1 = 0.19f, a.bias_correction2 = 0.002f;
           float *p = d.put(random_floats(n, 91)), *m = d.put(random_floats(n, 92, -0.01f, 0.01f)),
                 *v = d.put(random_floats(n, 93, 0, 1e-4f));
           d.k().adam_update(d.s(), p, nullptr, d.put(random_floats(n, 94)), m, v, n, a);
           return Outputs{d.get("p", p, n), d.get("m", m, n), d.get("v", v, n)};
         }});
  }
  // Moments with no gradient decay below the smallest normal float: every backend stores those as 0
  // (stored_moment), so the moments match the reference bit for bit and hold no subnormal.
  out.push_back(
      {"adam_update", dims({n}) + " decaying moments", Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
         std::vector<float> tiny(n);
         for (int64_t i = 0; i < n; i++) tiny[i] = (i % 3 == 0 ? 1.2e-38f : i % 3 == 1 ? 3e-39f : 1e-45f);
         AdamStepArgs a;
         a.lr = 1e-3f, a.weight_decay = 0.01f;
         float *m = d.put(tiny), *v = d.put(tiny), *lm = d.put(tiny), *lv = d.put(tiny);
         float *p = d.put(random_floats(n, 101)), *u = d.zeros<float>(n);
         const float* g = d.put(std::vector<float>(n, 0.0f));
         d.k().adam_update(d.s(), p, nullptr, g, m, v, n, a);
         d.k().lamb_direction(d.s(), p, g, lm, lv, u, n, a);
         Outputs o{d.get("Adam m", m, n), d.get("Adam v", v, n), d.get("LAMB m", lm, n), d.get("LAMB v", lv, n)};
         double subnormal = 0;
         for (const Tensor& t : o)
           for (double x : t.values) subnormal += std::fpclassify(static_cast<float>(x)) == FP_SUBNORMAL;
         o.push_back(Tensor{"subnormal moments", {subnormal}});
         return o;
       }});
  out.push_back({"lamb_direction", dims({n}), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
                   AdamStepArgs a;
                   a.weight_decay = 0.01f, a.grad_mul = 0.5f;
                   float *m = d.put(random_floats(n, 95, -0.01f, 0.01f)), *v = d.put(random_floats(n, 96, 0, 1e-4f));
                   float* u = d.zeros<float>(n);
                   d.k().lamb_direction(d.s(), d.put(random_floats(n, 97)), d.put(random_floats(n, 98)), m, v, u, n, a);
                   return Outputs{d.get("m", m, n), d.get("v", v, n), d.get("u", u, n)};
                 }});
  out.push_back({"axpy", dims({n}), Tolerance::kExact, nullptr, [=](DeviceArrays& d) {
                   float* y = d.put(random_floats(n, 99));
                   d.k().axpy(d.s(), y, nullptr, d.put(random_floats(n, 100)), n, -0.37f);
                   return Outputs{d.get("y", y, n)};
                 }});
}

// The weight updates that write the bf16 mirror in the same pass: the mirror against convert_to_bf16 of the
// updated weights (`f32`, when given, receives a copy of them).
void optimizer_mirror(std::vector<OpCase>& out, int64_t n) {
  out.push_back({"adam_update", dims({n}) + " bf16 mirror", Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   return bf16_output_agreement(d, n, [&](float* f32, uint16_t* p16) {
                     AdamStepArgs a;
                     a.lr = 1e-3f, a.weight_decay = 0.01f, a.grad_mul = 0.5f;
                     a.bias_correction1 = 0.19f, a.bias_correction2 = 0.002f;
                     float *p = d.put(random_floats(n, 91)), *m = d.put(random_floats(n, 92, -0.01f, 0.01f)),
                           *v = d.put(random_floats(n, 93, 0, 1e-4f));
                     d.k().adam_update(d.s(), p, p16, d.put(random_floats(n, 94)), m, v, n, a);
                     if (f32) d.backend().copy(f32, p, sizeof(float) * n);
                   });
                 }});
  out.push_back({"axpy", dims({n}) + " bf16 mirror", Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   return bf16_output_agreement(d, n, [&](float* f32, uint16_t* y16) {
                     float* y = d.put(random_floats(n, 99));
                     d.k().axpy(d.s(), y, y16, d.put(random_floats(n, 100)), n, -0.37f);
                     if (f32) d.backend().copy(f32, y, sizeof(float) * n);
                   });
                 }});
}

}  // namespace

// The gradient and probability kernels' bf16 outputs (bf16 runs write each operand two GEMMs read this way).
void gradient_outputs_bf16(std::vector<OpCase>& out, int64_t N, int F_, int B, int NH, int T, float p) {
  const int64_t n = N * F_, na = static_cast<int64_t>(B) * NH * T * T;
  const std::string shape = dims({N, F_}) + " p=" + std::to_string(p).substr(0, 4) + " bf16 out";
  const std::string attn = dims({B, NH, T, T}) + " p=" + std::to_string(p).substr(0, 4) + " bf16 out";
  out.push_back({"dropout_apply", shape, Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   return bf16_output_agreement(d, n, [&](float* o, uint16_t* o16) {
                     d.k().dropout_apply(d.s(), d.put(random_floats(n, 32)), o, o16, n, 1.5f, p, DropoutKey{9, 3});
                   });
                 }});
  out.push_back({"gelu_backward", shape, Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   return bf16_output_agreement(d, n, [&](float* o, uint16_t* o16) {
                     float* dact = d.put(random_floats(n, 22));  // in place, as the model calls it
                     d.k().gelu_backward(d.s(), dact, d.put(random_floats(n, 23, -4, 4)), dact, o16, N, F_,
                                         GeluForm::kErf);
                     if (o) d.backend().copy(o, dact, sizeof(float) * n);
                   });
                 }});
  out.push_back({"softmax_dropout_forward", attn, Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   return bf16_output_agreement(d, na, [&](float* used, uint16_t* used16) {
                     float* probs = d.put(random_floats(na, 50, -6, 6));
                     d.k().softmax_dropout_forward(d.s(), probs, d.put(attention_mask(B, T, false)), probs,
                                                   p > 0 ? used : nullptr, used16, B, NH, T, 0.125f, p,
                                                   DropoutKey{2, 8});
                     if (used && p == 0) d.backend().copy(used, probs, sizeof(float) * na);
                   });
                 }});
  out.push_back({"softmax_dropout_backward", attn, Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
                   return bf16_output_agreement(d, na, [&](float* ds, uint16_t* ds16) {
                     d.k().softmax_dropout_backward(d.s(), d.put(random_floats(na, 52)),
                                                    d.put(random_floats(na, 51, 0, 1)), ds, ds16, B, NH, T, 0.125f, p,
                                                    DropoutKey{2, 8});
                   });
                 }});
  out.push_back(
      {"cross_entropy_forward_backward", dims({N, F_}) + " bf16 out", Tolerance::kBits, nullptr, [=](DeviceArrays& d) {
         return bf16_output_agreement(d, n, [&](float* o, uint16_t* o16) {
           I labels = random_ints(N, 70, 0, F_);
           labels[1 % N] = -1;                                  // an ignored row: zeros in both
           float* logits = d.put(random_floats(n, 71, -8, 8));  // in place, as the model calls it
           d.k().cross_entropy_forward_backward(d.s(), logits, d.put(labels), N, F_, 0.5f, logits, o16,
                                                d.zeros<double>(1), d.zeros<int64_t>(1));
           if (o) d.backend().copy(o, logits, sizeof(float) * n);
         });
       }});
}

std::vector<OpCase> kernel_cases() {
  std::vector<OpCase> c;
  embeddings(c, 3, 7, 37);
  embeddings(c, 1, 1, 1);
  layernorm(c, 13, 45);
  layernorm(c, 3, 1031);
  activations(c, 9, 67, GeluForm::kErf);
  activations(c, 9, 67, GeluForm::kTanh);
  tanh_ops(c, 7, 33);
  dropout_ops(c, 11, 61, 0.1f);
  dropout_ops(c, 3, 17, 0.0f);
  rows(c, 1000, 37);
  rows(c, 4, 1);
  transposes(c, 1001, 67);
  transposes(c, 1, 3);
  softmax(c, 2, 3, 37, 0.1f);
  softmax(c, 1, 2, 129, 0.0f);
  layouts(c, 3, 2, 5, 3, 7);
  layouts(c, 1, 3, 4, 2, 5);
  layouts_bf16(c, 3, 2, 5, 3, 7);
  gradient_outputs_bf16(c, 9, 1001, 2, 3, 37, 0.1f);
  gradient_outputs_bf16(c, 3, 17, 1, 2, 19, 0.0f);
  losses(c, 9, 1001);
  losses(c, 1, 2);
  conversions(c, 1003);
  optimizer(c, 1001);
  optimizer(c, 1);
  optimizer_mirror(c, 5001);
  return c;
}

}  // namespace bert::test
