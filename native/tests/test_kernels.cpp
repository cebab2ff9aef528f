// Every fast CPU kernel against its reference at odd sizes (tails of the 16-wide vectors, one-row inputs).
#include <algorithm>
#include <cstring>

#include "bert/backend.h"
#include "cpu/kernels.h"
#include "test_util.h"

using namespace bert;
using namespace bert::test;

namespace {

const Kernels& R = cpu_reference_kernels();
// The kernels under test: the fast table, then the fast table with the portable forms of the arithmetic-bound
// kernels, as a build without AVX-512 runs them (the same table there; a build with AVX-512 has its own forms).
Kernels X = cpu_fast_kernels();
// kExact: kernels of plain arithmetic (sums, products, the optimizer updates), where only the order of floating-
// point operations differs; kApprox: kernels whose fast form approximates exp, erf, tanh or rsqrt.
double kExact = 0, kApprox = 0, kAbs = 0;

// Relative to the reference tensor's own largest magnitude (an all-zero reference is compared absolutely, against
// kernel_fp32_abs). Each comparison prints its measured error beside its tolerance.
void expect_close(const char* what, const std::vector<float>& fast, const std::vector<float>& ref,
                  double rel_tol = kExact) {
  double largest = 0;
  for (float v : ref) largest = std::max(largest, static_cast<double>(std::fabs(v)));
  const bool absolute = largest == 0;
  double err = INFINITY;
  if (fast.size() == ref.size())
    err = absolute ? rel_error(fast.data(), ref.data(), static_cast<int64_t>(ref.size()), 1.0)
                   : rel_error(fast.data(), ref.data(), static_cast<int64_t>(ref.size()), largest);
  const double tol = absolute ? kAbs : rel_tol;
  std::printf("  %-36s %s error %.2e (tolerance %.1e)\n", what, absolute ? "absolute" : "relative", err, tol);
  CHECK_MSG(err <= tol, "%s: fast vs reference %s error %.3g > %.3g", what, absolute ? "absolute" : "relative", err,
            tol);
}

void test_embeddings(int B, int T, int C) {
  const int V = 37, TV = 3;
  auto ids = random_ints(B * T, 1, 0, V), seg = random_ints(B * T, 2, 0, TV);
  auto word = random_floats(V * C, 3), pos = random_floats(T * C, 4), type = random_floats(TV * C, 5);
  std::vector<float> r(B * T * C), f(B * T * C);
  R.embeddings_forward(Stream{}, ids.data(), seg.data(), B, T, C, word.data(), pos.data(), type.data(), r.data());
  X.embeddings_forward(Stream{}, ids.data(), seg.data(), B, T, C, word.data(), pos.data(), type.data(), f.data());
  expect_close("embeddings_forward", f, r);
  auto dout = random_floats(B * T * C, 6);
  std::vector<float> rw(V * C, 0.5f), rp(T * C), rt(TV * C), fw(V * C, 0.5f), fp(T * C), ft(TV * C);
  R.embeddings_backward(Stream{}, dout.data(), ids.data(), seg.data(), B, T, C, rw.data(), rp.data(), rt.data());
  X.embeddings_backward(Stream{}, dout.data(), ids.data(), seg.data(), B, T, C, fw.data(), fp.data(), ft.data());
  expect_close("embeddings_backward word", fw, rw);
  expect_close("embeddings_backward pos", fp, rp);
  expect_close("embeddings_backward type", ft, rt);
}

void test_layernorm(int64_t N, int C) {
  auto in = random_floats(N * C, 10, -3, 5), w = random_floats(C, 11), b = random_floats(C, 12);
  std::vector<float> ro(N * C), rm(N), rr(N), fo(N * C), fm(N), fr(N);
  R.layernorm_forward(Stream{}, in.data(), w.data(), b.data(), ro.data(), nullptr, rm.data(), rr.data(), N, C, 1e-12f);
  X.layernorm_forward(Stream{}, in.data(), w.data(), b.data(), fo.data(), nullptr, fm.data(), fr.data(), N, C, 1e-12f);
  expect_close("layernorm_forward out", fo, ro, kApprox);
  expect_close("layernorm_forward rstd", fr, rr, kApprox);
  auto dout = random_floats(N * C, 13);
  std::vector<float> rdi(N * C, 0.25f), rdw(C, 1.0f), rdb(C), fdi(N * C, 0.25f), fdw(C, 1.0f), fdb(C);
  R.layernorm_backward(Stream{}, dout.data(), in.data(), w.data(), rm.data(), rr.data(), rdi.data(), rdw.data(),
                       rdb.data(), N, C);
  X.layernorm_backward(Stream{}, dout.data(), in.data(), w.data(), rm.data(), rr.data(), fdi.data(), fdw.data(),
                       fdb.data(), N, C);
  expect_close("layernorm_backward din", fdi, rdi, kApprox);
  expect_close("layernorm_backward dw", fdw, rdw, kApprox);
  expect_close("layernorm_backward db", fdb, rdb, kApprox);
}

void test_activations(int64_t N, int F, GeluForm form) {
  auto pre = random_floats(N * F, 20, -6, 6), bias = random_floats(F, 21);
  auto rpre = pre, fpre = pre;
  std::vector<float> ra(N * F), fa(N * F);
  R.bias_gelu_forward(Stream{}, rpre.data(), bias.data(), ra.data(), nullptr, N, F, form);
  X.bias_gelu_forward(Stream{}, fpre.data(), bias.data(), fa.data(), nullptr, N, F, form);
  expect_close("bias_gelu_forward pre", fpre, rpre);
  expect_close("bias_gelu_forward act", fa, ra, kApprox);
  auto dact = random_floats(N * F, 22);
  std::vector<float> rd(N * F), fd(N * F);
  R.gelu_backward(Stream{}, dact.data(), rpre.data(), rd.data(), nullptr, N, F, form);
  X.gelu_backward(Stream{}, dact.data(), rpre.data(), fd.data(), nullptr, N, F, form);
  expect_close("gelu_backward", fd, rd, kApprox);

  rpre = pre, fpre = pre;
  R.bias_tanh_forward(Stream{}, rpre.data(), bias.data(), ra.data(), N, F);
  X.bias_tanh_forward(Stream{}, fpre.data(), bias.data(), fa.data(), N, F);
  expect_close("bias_tanh_forward", fa, ra, kApprox);
  R.tanh_backward(Stream{}, dact.data(), ra.data(), rd.data(), N, F);
  X.tanh_backward(Stream{}, dact.data(), ra.data(), fd.data(), N, F);
  expect_close("tanh_backward", fd, rd, kApprox);
}

int count_subnormals(const std::vector<float>& v) {
  int n = 0;
  for (float x : v) n += std::fpclassify(x) == FP_SUBNORMAL;
  return n;
}

// Where e^x underflows, the fast kernels write exactly 0, as the reference's std::exp does for a masked key, and
// never a subnormal: each subnormal read again (a GEMM operand) costs an Intel core a microcode assist.
void test_underflow_is_zero(int T) {
  const int B = 2, NH = 3;
  const int64_t n = static_cast<int64_t>(B) * NH * T * T;
  auto scores = random_floats(n, 50, -8, 8);
  std::vector<float> mask(B * T);
  for (int i = 0; i < B * T; i++) mask[i] = i % T < T / 2 + 1 ? 1.0f : 0.0f;
  DropoutKey key{3, 6};
  std::vector<float> probs(n), dropped(n), dscores(n);
  X.softmax_dropout_forward(Stream{}, scores.data(), mask.data(), probs.data(), dropped.data(), nullptr, B, NH, T, 0.3f,
                            0.1f, key);
  int masked_nonzero = 0;
  for (int64_t row = 0; row < n / T; row++)
    for (int j = 0; j < T; j++) masked_nonzero += mask[(row / (NH * T)) * T + j] == 0.0f && probs[row * T + j] != 0.0f;
  std::printf("  masked keys with a nonzero probability: %d; subnormal probabilities: %d\n", masked_nonzero,
              count_subnormals(probs) + count_subnormals(dropped));
  CHECK_MSG(masked_nonzero == 0, "softmax_dropout_forward: %d masked keys have a nonzero probability", masked_nonzero);
  CHECK(count_subnormals(probs) == 0 && count_subnormals(dropped) == 0);
  auto dpd = random_floats(n, 51);
  X.softmax_dropout_backward(Stream{}, dpd.data(), probs.data(), dscores.data(), nullptr, B, NH, T, 0.3f, 0.1f, key);
  CHECK(count_subnormals(dscores) == 0);

  // GELU's Gaussian factor underflows beyond |x| = 13.2
  const int64_t N = 5, F = 37;
  auto pre = random_floats(N * F, 52, 15, 30), dact = random_floats(N * F, 53);
  for (int64_t i = 0; i < N * F; i += 2) pre[i] = -pre[i];
  for (GeluForm form : {GeluForm::kErf, GeluForm::kTanh}) {
    std::vector<float> act(N * F), dpre(N * F);
    auto biased = pre;
    const std::vector<float> zero_bias(F, 0.0f);
    X.bias_gelu_forward(Stream{}, biased.data(), zero_bias.data(), act.data(), nullptr, N, F, form);
    X.gelu_backward(Stream{}, dact.data(), pre.data(), dpre.data(), nullptr, N, F, form);
    std::printf("  gelu at |x| in [15, 30]: subnormal outputs %d, subnormal gradients %d\n", count_subnormals(act),
                count_subnormals(dpre));
    CHECK(count_subnormals(act) == 0 && count_subnormals(dpre) == 0);
  }
}

void test_dropout_ops(int64_t N, int C, float p) {
  auto branch = random_floats(N * C, 30), bias = random_floats(C, 31), resid = random_floats(N * C, 32);
  DropoutKey key{7, 99};
  std::vector<float> r(N * C), f(N * C);
  R.bias_dropout_residual_forward(Stream{}, branch.data(), bias.data(), resid.data(), r.data(), N, C, 1.7f, p, key);
  X.bias_dropout_residual_forward(Stream{}, branch.data(), bias.data(), resid.data(), f.data(), N, C, 1.7f, p, key);
  expect_close("bias_dropout_residual_forward", f, r);
  R.dropout_apply(Stream{}, branch.data(), r.data(), nullptr, N * C, 1.3f, p, key);
  X.dropout_apply(Stream{}, branch.data(), f.data(), nullptr, N * C, 1.3f, p, key);
  expect_close("dropout_apply", f, r);
  std::vector<float> rs(C, 1.0f), fs(C, 1.0f);
  R.column_sum_accumulate(Stream{}, branch.data(), N, C, rs.data());
  X.column_sum_accumulate(Stream{}, branch.data(), N, C, fs.data());
  expect_close("column_sum_accumulate", fs, rs);
  auto rb = branch, fb = branch;
  R.add_bias(Stream{}, rb.data(), bias.data(), N, C);
  X.add_bias(Stream{}, fb.data(), bias.data(), N, C);
  expect_close("add_bias", fb, rb);
}

void test_softmax(int B, int NH, int T, float p) {
  const int64_t n = static_cast<int64_t>(B) * NH * T * T;
  auto scores = random_floats(n, 40, -8, 8);
  auto mask_i = random_ints(B * T, 41, 0, 4);
  std::vector<float> mask(B * T);
  for (int i = 0; i < B * T; i++) mask[i] = mask_i[i] == 0 ? 0.0f : 1.0f;
  mask[0] = 1.0f;
  DropoutKey key{3, 5};
  std::vector<float> rp(n), rpd(n), fp(n), fpd(n);
  R.softmax_dropout_forward(Stream{}, scores.data(), mask.data(), rp.data(), rpd.data(), nullptr, B, NH, T, 0.3f, p,
                            key);
  X.softmax_dropout_forward(Stream{}, scores.data(), mask.data(), fp.data(), fpd.data(), nullptr, B, NH, T, 0.3f, p,
                            key);
  expect_close("softmax_dropout_forward probs", fp, rp, kApprox);
  if (p > 0) expect_close("softmax_dropout_forward dropped", fpd, rpd, kApprox);
  auto dpd = random_floats(n, 42);
  std::vector<float> rd(n), fd(n);
  R.softmax_dropout_backward(Stream{}, dpd.data(), rp.data(), rd.data(), nullptr, B, NH, T, 0.3f, p, key);
  X.softmax_dropout_backward(Stream{}, dpd.data(), rp.data(), fd.data(), nullptr, B, NH, T, 0.3f, p, key);
  expect_close("softmax_dropout_backward", fd, rd, kApprox);
  // in place, as the model calls it
  auto inplace = scores;
  X.softmax_dropout_forward(Stream{}, inplace.data(), mask.data(), inplace.data(), fpd.data(), nullptr, B, NH, T, 0.3f,
                            p, key);
  expect_close("softmax_dropout_forward in place", inplace, rp, kApprox);
}

void test_permutes(int G, int B, int T, int NH, int HS) {
  const int64_t n = static_cast<int64_t>(G) * B * T * NH * HS;
  auto in = random_floats(n, 50);
  std::vector<float> r(n), f(n), back(n);
  R.tokens_to_heads(Stream{}, in.data(), nullptr, r.data(), nullptr, G, B, T, NH, HS);
  X.tokens_to_heads(Stream{}, in.data(), nullptr, f.data(), nullptr, G, B, T, NH, HS);
  expect_close("tokens_to_heads", f, r);
  // with the projection's bias: the same as adding it to every token's row first
  const int row = G * NH * HS;
  auto bias = random_floats(row, 51);
  auto biased = in;
  R.add_bias(Stream{}, biased.data(), bias.data(), n / row, row);
  std::vector<float> rb(n), fb(n);
  R.tokens_to_heads(Stream{}, biased.data(), nullptr, r.data(), nullptr, G, B, T, NH, HS);
  R.tokens_to_heads(Stream{}, in.data(), bias.data(), rb.data(), nullptr, G, B, T, NH, HS);
  expect_close("tokens_to_heads with bias = add_bias, then tokens_to_heads", rb, r);
  X.tokens_to_heads(Stream{}, in.data(), bias.data(), fb.data(), nullptr, G, B, T, NH, HS);
  expect_close("tokens_to_heads with bias", fb, rb);
  X.heads_to_tokens(Stream{}, f.data(), back.data(), nullptr, G, B, T, NH, HS);
  expect_close("heads_to_tokens inverts tokens_to_heads", back, in);
  R.heads_to_tokens(Stream{}, in.data(), r.data(), nullptr, G, B, T, NH, HS);
  X.heads_to_tokens(Stream{}, in.data(), f.data(), nullptr, G, B, T, NH, HS);
  expect_close("heads_to_tokens", f, r);
}

void test_rows(int64_t rows, int C) {
  auto src = random_floats(rows * C, 60);
  auto idx = random_ints(23, 61, 0, static_cast<int32_t>(rows));
  idx[1] = idx[0];  // a repeated index must accumulate twice
  std::vector<float> r(23 * C), f(23 * C);
  R.gather_rows(Stream{}, src.data(), idx.data(), 23, C, r.data());
  X.gather_rows(Stream{}, src.data(), idx.data(), 23, C, f.data());
  expect_close("gather_rows", f, r);
  std::vector<float> rd(rows * C, 1.0f), fd(rows * C, 1.0f);
  R.scatter_add_rows(Stream{}, r.data(), idx.data(), 23, C, rd.data());
  X.scatter_add_rows(Stream{}, r.data(), idx.data(), 23, C, fd.data());
  expect_close("scatter_add_rows", fd, rd);
}

void test_cross_entropy(int64_t M, int V) {
  auto logits = random_floats(M * V, 70, -10, 10);
  auto labels = random_ints(M, 71, 0, V);
  labels[M / 2] = -1;
  // ties for the largest logit: a hit is the lowest index holding it, in the same block of 64 or a later one
  const int first = V / 3, again = std::min(V - 1, first + 1 + V / 2);
  for (int64_t m = 0; m < M; m += 2) {
    logits[m * V + first] = logits[m * V + again] = 11.0f;
    if (m != M / 2) labels[m] = m % 4 ? again : first;
  }
  std::vector<float> rd(M * V), fd(M * V);
  double rl = 0, fl = 0;
  int64_t rc = 0, fc = 0;
  R.cross_entropy_forward_backward(Stream{}, logits.data(), labels.data(), M, V, 0.5f, rd.data(), nullptr, &rl, &rc);
  X.cross_entropy_forward_backward(Stream{}, logits.data(), labels.data(), M, V, 0.5f, fd.data(), nullptr, &fl, &fc);
  CHECK_MSG(std::fabs(fl - rl) <= kApprox * std::fabs(rl), "cross_entropy loss %.9g vs %.9g", fl, rl);
  CHECK(fc == rc);
  expect_close("cross_entropy dlogits", fd, rd, kApprox);
}

void test_bf16(int64_t n) {
  auto src = random_floats(n, 80, -1e3f, 1e3f);
  // ties to even both ways, the largest float (rounds to inf), a subnormal, signed zeros, infinities, NaNs
  const uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x7f7fffffu, 0x00000001u, 0x80000000u, 0u,
                              0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u, 0x7f800001u};
  for (size_t i = 0; i < sizeof special / sizeof special[0] && i < src.size(); i++)
    std::memcpy(&src[src.size() - 1 - i], &special[i], 4);
  std::vector<uint16_t> r(n), f(n);
  R.convert_to_bf16(Stream{}, src.data(), r.data(), n);
  X.convert_to_bf16(Stream{}, src.data(), f.data(), n);
  CHECK_MSG(std::memcmp(r.data(), f.data(), n * 2) == 0, "convert_to_bf16 differs from the reference (n=%ld)", (long)n);
}

// NaN and inf must survive the fast kernels' polynomial math (a NaN turned finite would hide a diverged run).
void test_non_finite_propagation() {
  std::vector<float> x = {1.0f, NAN, 2.0f, INFINITY, -INFINITY, 0.5f, 0.25f, 3.0f};
  std::vector<float> zero(8, 0.0f), pre = x, act(8), d(8);
  X.bias_gelu_forward(Stream{}, pre.data(), zero.data(), act.data(), nullptr, 1, 8, GeluForm::kErf);
  CHECK_MSG(std::isnan(act[1]), "gelu(NaN) is %g", act[1]);
  X.gelu_backward(Stream{}, zero.data(), x.data(), d.data(), nullptr, 1, 8, GeluForm::kErf);
  CHECK_MSG(std::isnan(d[1]), "gelu'(NaN) * 0 is %g", d[1]);
  std::vector<float> mask(8, 1.0f), scores(64, 0.5f), probs(64);
  std::copy(x.begin(), x.end(), scores.begin());  // row 0 holds the NaN
  X.softmax_dropout_forward(Stream{}, scores.data(), mask.data(), probs.data(), nullptr, nullptr, 1, 1, 8, 1.0f, 0.0f,
                            DropoutKey{});
  CHECK_MSG(std::isnan(probs[0]), "softmax of a row with NaN gives %g", probs[0]);
  std::vector<int32_t> label = {0};
  double loss = 0;
  int64_t correct = 0;
  X.cross_entropy_forward_backward(Stream{}, x.data(), label.data(), 1, 8, 1.0f, d.data(), nullptr, &loss, &correct);
  CHECK_MSG(!std::isfinite(loss), "cross-entropy over NaN logits is %g", loss);
}

void test_fp16_rounding() {
  std::vector<float> x = {0.0f,      -0.0f,      1.0f,           65504.0f,      65519.0f, 65520.0f,
                          -70000.0f, 1e-8f,      3.0e-8f,        5.9604645e-8f, 6.1e-5f,  3.14159265f,
                          -2.71828f, 1.0009766f, 1.00048828125f, INFINITY};
  auto more = random_floats(1000, 90, -70000.0f, 70000.0f);
  x.insert(x.end(), more.begin(), more.end());
  auto tiny = random_floats(200, 91, -1e-4f, 1e-4f);
  x.insert(x.end(), tiny.begin(), tiny.end());
  std::vector<float> r(x.size()), f(x.size());
  R.round_to_fp16(Stream{}, x.data(), r.data(), static_cast<int64_t>(x.size()));
  X.round_to_fp16(Stream{}, x.data(), f.data(), static_cast<int64_t>(x.size()));
  CHECK_MSG(std::memcmp(r.data(), f.data(), x.size() * 4) == 0, "round_to_fp16: fast and reference differ");
  CHECK(r[3] == 65504.0f && r[4] == 65504.0f && std::isinf(r[5]) && std::isinf(r[6]) && r[6] < 0);
  CHECK(r[7] == 0.0f && r[8] == 5.9604645e-8f &&
        r[9] == 5.9604645e-8f);  // underflow, rounding up to the smallest subnormal, the subnormal itself
  CHECK(r[13] == 1.0009766f && r[14] == 1.0f);  // exactly representable; a tie rounds to even
}

// A moment with no gradient decays towards the subnormals and would stick there (see stored_moment): both kernels,
// fast and reference, Adam and LAMB, store it as 0 once it falls below the smallest normal float.
void test_moments_never_subnormal(int64_t n) {
  std::vector<float> g(n, 0.0f), p = random_floats(n, 110);
  std::vector<float> m0(n), v0(n);
  for (int64_t i = 0; i < n; i++) {
    m0[i] = (i % 3 == 0 ? 1.2e-38f : i % 3 == 1 ? 3e-39f : 1e-45f) * (i % 2 ? -1.0f : 1.0f);  // normal, subnormal
    v0[i] = i % 3 == 0 ? 1.2e-38f : 2e-42f;
  }
  AdamStepArgs a;
  a.lr = 1e-3f, a.weight_decay = 0.01f;
  const Kernels* both[] = {&R, &X};
  for (const Kernels* k : both) {
    auto m = m0, v = v0, pa = p;
    k->adam_update(Stream{}, pa.data(), nullptr, g.data(), m.data(), v.data(), n, a);
    const int adam = count_subnormals(m) + count_subnormals(v);
    m = m0, v = v0;
    std::vector<float> u(n);
    k->lamb_direction(Stream{}, p.data(), g.data(), m.data(), v.data(), u.data(), n, a);
    const int lamb = count_subnormals(m) + count_subnormals(v);
    std::printf("  %s: subnormal moments after a step with no gradient: Adam %d, LAMB %d\n",
                k == &R ? "reference" : "fast", adam, lamb);
    CHECK(adam == 0 && lamb == 0);
  }
}

void test_optimizer_kernels(int64_t n) {
  auto p = random_floats(n, 100), g = random_floats(n, 101, -0.1f, 0.1f);
  auto m0 = random_floats(n, 102, -0.01f, 0.01f), v0 = random_floats(n, 103, 0.0f, 1e-3f);
  double rs = R.sum_of_squares(Stream{}, g.data(), n), fs = X.sum_of_squares(Stream{}, g.data(), n);
  CHECK_MSG(std::fabs(rs - fs) <= 1e-9 * rs, "sum_of_squares %.12g vs %.12g", fs, rs);
  auto with_inf = g;
  with_inf[n / 2] = INFINITY;
  CHECK(!std::isfinite(X.sum_of_squares(Stream{}, with_inf.data(), n)));
  with_inf[n / 2] = NAN;
  CHECK(!std::isfinite(X.sum_of_squares(Stream{}, with_inf.data(), n)));
  for (bool w_mode : {true, false}) {
    AdamStepArgs a;
    a.lr = 1e-3f, a.weight_decay = 0.01f, a.bias_correction1 = 0.19f, a.bias_correction2 = 0.0199f;
    a.grad_mul = 0.5f, a.adam_w_mode = w_mode;
    auto rp = p, rm = m0, rv = v0, fp = p, fm = m0, fv = v0;
    R.adam_update(Stream{}, rp.data(), nullptr, g.data(), rm.data(), rv.data(), n, a);
    X.adam_update(Stream{}, fp.data(), nullptr, g.data(), fm.data(), fv.data(), n, a);
    expect_close(w_mode ? "adam_update (AdamW) p" : "adam_update (L2) p", fp, rp);
    expect_close("adam_update m", fm, rm);
    expect_close("adam_update v", fv, rv);
    std::vector<float> ru(n), fu(n);
    rm = m0, rv = v0, fm = m0, fv = v0;
    R.lamb_direction(Stream{}, p.data(), g.data(), rm.data(), rv.data(), ru.data(), n, a);
    X.lamb_direction(Stream{}, p.data(), g.data(), fm.data(), fv.data(), fu.data(), n, a);
    expect_close("lamb_direction u", fu, ru);
    expect_close("lamb_direction v", fv, rv);
  }
  auto ry = p, fy = p;
  R.axpy(Stream{}, ry.data(), nullptr, g.data(), n, -0.3f);
  X.axpy(Stream{}, fy.data(), nullptr, g.data(), n, -0.3f);
  expect_close("axpy", fy, ry);
}

Kernels with_portable_forms(Kernels k) {
  k.bias_gelu_forward = portable::bias_gelu_forward;
  k.gelu_backward = portable::gelu_backward;
  k.bias_dropout_residual_forward = portable::bias_dropout_residual_forward;
  k.dropout_apply = portable::dropout_apply;
  k.softmax_dropout_forward = portable::softmax_dropout_forward;
  k.softmax_dropout_backward = portable::softmax_dropout_backward;
  k.cross_entropy_forward_backward = portable::cross_entropy_forward_backward;
  k.convert_to_bf16 = [](Stream, const float* src, uint16_t* dst, int64_t n) { portable::convert_row(src, dst, n); };
  return k;
}

void test_all_kernels() {
  for (int C : {1, 17, 48, 96}) test_embeddings(3, 7, C);
  for (int C : {5, 48, 131, 768}) test_layernorm(19, C);
  test_layernorm(1, 33);
  for (GeluForm form : {GeluForm::kErf, GeluForm::kTanh}) {
    test_activations(7, 37, form);
    test_activations(3, 3072, form);
  }
  for (float p : {0.0f, 0.1f, 0.5f}) test_dropout_ops(13, 51, p);
  for (float p : {0.0f, 0.1f}) {
    test_softmax(2, 3, 19, p);
    test_softmax(1, 2, 128, p);
    test_softmax(1, 1, 1, p);
  }
  test_underflow_is_zero(19);
  test_underflow_is_zero(128);
  test_permutes(3, 2, 19, 3, 16);
  test_permutes(1, 3, 5, 2, 7);
  test_rows(41, 48);
  test_rows(30, 7);
  test_cross_entropy(9, 101);
  test_cross_entropy(5, 30522);
  test_cross_entropy(4, 2);
  test_bf16(1000);
  test_bf16(16 * 5 + 3);
  test_fp16_rounding();
  test_non_finite_propagation();
  test_optimizer_kernels(1);
  test_moments_never_subnormal(37);
  test_optimizer_kernels(100003);
}

}  // namespace

int main() {
  kExact = tolerance("kernel_fp32_exact_rel");
  kApprox = tolerance("kernel_fp32_approx_rel");
  kAbs = tolerance("kernel_fp32_abs");
  std::printf("fast kernels:\n");
  test_all_kernels();
  std::printf("fast kernels with the portable forms (what a build without AVX-512 runs):\n");
  X = with_portable_forms(cpu_fast_kernels());
  test_all_kernels();
  return finish("test_kernels");
}
