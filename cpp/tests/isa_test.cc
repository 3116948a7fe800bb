// Every ISA of AvailableIsas() (float) against the float reference kernels and the double
// reference on awkward sizes, for every option flavor of docs/cells.md, both directions, 1–2
// layers, with and without lengths: forward outputs and states, backward dx, dh0, dc0 and parameter
// gradients. threads=2 must be bit-identical to threads=1 for the same ISA. The activation
// kernels (sigmoid, tanh) of each ISA against the double functions, special values and tails.
// Streaming (Step) equals Forward on every engine.
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "kernels.h"
#include "layer_util.h"
#include "test_util.h"

namespace {

using namespace cstest;
using cellstate::Kernels;

// ---- activations -------------------------------------------------------------------------

// Absolute error of float sigmoid/tanh against the double functions of the float input.
constexpr double kActTol = 1e-6;

double SigmoidD(double x) { return 1.0 / (1.0 + std::exp(-x)); }

void CheckActivation(const Kernels<float>* k, bool is_tanh) {
  auto fn = is_tanh ? k->tanh : k->sigmoid;
  const char* fname = is_tanh ? "tanh" : "sigmoid";
  if (!fn) {
    CSTEST_FAIL(std::string(fname) + " is null in the kernel table");
    return;
  }
  auto want_of = [&](float x) { return is_tanh ? std::tanh(static_cast<double>(x)) : SigmoidD(x); };

  // Dense sweep of [-100, 100] (step 2^-10), a finer one of [-2, 2] (step 2^-16), random floats.
  std::vector<float> xs;
  for (int i = -100 * 1024; i <= 100 * 1024; ++i) xs.push_back(static_cast<float>(i) / 1024.f);
  for (int i = -2 * 65536; i <= 2 * 65536; ++i) xs.push_back(static_cast<float>(i) / 65536.f);
  Rng rng(1234);
  for (int i = 0; i < 100000; ++i) xs.push_back(static_cast<float>(rng.Uniform(-100, 100)));
  // Special values: signed zeros, tiny and denormal values, the exp overflow region, huge.
  const float kSpecial[] = {0.f,          -0.f,          1e-30f,  -1e-30f,  1e-40f,   -1e-40f,
                            FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MIN, -FLT_MIN, 88.f,     -88.f,
                            88.7f,        -88.7f,        89.f,    -89.f,    100.f,    -100.f,
                            1e30f,        -1e30f,        FLT_MAX, -FLT_MAX, INFINITY, -INFINITY,
                            1.f,          -1.f,          9.f,     -9.f,     17.f,     -17.f};
  for (float v : kSpecial) xs.push_back(v);
  std::vector<float> ys(xs.size(), NAN);
  fn(xs.size(), xs.data(), ys.data());
  double worst = 0;
  size_t worst_i = 0;
  int reported = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double want = want_of(xs[i]);
    const double got = ys[i];
    const double err = std::fabs(got - want);
    const bool in_range = is_tanh ? (got >= -1.0 && got <= 1.0) : (got >= 0.0 && got <= 1.0);
    if (!(err <= kActTol) || !in_range) {
      if (reported++ < 5)
        CSTEST_FAIL(std::string(fname) + "(" + Num(xs[i]) + ") = " + Num(got) + ", want " +
                    Num(want) + (in_range ? "" : " (out of range)"));
    }
    if (err > worst) worst = err, worst_i = i;
  }
  if (reported > 5)
    CSTEST_FAIL(std::string(fname) + ": " + std::to_string(reported) +
                " values out of bound; worst " + Num(worst) + " at x=" + Num(xs[worst_i]));
  // Exact limits.
  {
    const float in[] = {INFINITY, -INFINITY, 0.f};
    float out[3];
    fn(3, in, out);
    if (is_tanh) {
      CHECK_MSG(out[0] == 1.f && out[1] == -1.f && out[2] == 0.f,
                "tanh(inf, -inf, 0) = " << out[0] << ", " << out[1] << ", " << out[2]);
    } else {
      CHECK_MSG(out[0] == 1.f && out[1] == 0.f && out[2] == 0.5f,
                "sigmoid(inf, -inf, 0) = " << out[0] << ", " << out[1] << ", " << out[2]);
    }
  }
  // NaN in, NaN out (in every lane position).
  for (int pos = 0; pos < 17; ++pos) {
    std::vector<float> in(17, 0.25f), out(17, 0.f);
    in[pos] = NAN;
    fn(in.size(), in.data(), out.data());
    CHECK_MSG(std::isnan(out[pos]), fname << "(NaN) = " << out[pos] << " at position " << pos);
    for (int i = 0; i < 17; ++i)
      if (i != pos) CHECK_MSG(!std::isnan(out[i]), fname << ": NaN leaked to lane " << i);
  }
  // Tails n = 0..17 from an unaligned start: every value as in a long call (bit-identical: one
  // template per vector type, lanes independent), nothing written past n.
  std::vector<float> big(64);
  for (auto& v : big) v = static_cast<float>(rng.Uniform(-12, 12));
  std::vector<float> big_y(64);
  fn(big.size(), big.data(), big_y.data());
  for (size_t n = 0; n <= 17; ++n) {
    for (size_t start : {size_t(0), size_t(1), size_t(3)}) {
      std::vector<float> out(n + start + 16, -7.f);
      fn(n, big.data() + start, out.data() + start);
      for (size_t i = 0; i < out.size(); ++i) {
        if (i >= start && i < start + n) {
          const float x = big[i];
          CHECK_MSG(std::fabs(out[i] - want_of(x)) <= kActTol,
                    fname << " tail n=" << n << ": f(" << x << ") = " << out[i]);
          CHECK_MSG(std::memcmp(&out[i], &big_y[i], sizeof(float)) == 0,
                    fname << " tail n=" << n << " start=" << start << " lane " << (i - start)
                          << ": " << out[i] << " differs from the long call's " << big_y[i]);
        } else {
          CHECK_MSG(out[i] == -7.f, fname << " tail n=" << n << " start=" << start
                                          << " wrote outside [0, n) at offset " << i);
        }
      }
    }
  }
}

// ---- layers ------------------------------------------------------------------------------

// Float against a reference, per tensor: |got − want| ≤ kScaled · max(max|want|, kFloor).
// Float kernels with other summation orders and FMA differ from the float reference by a few
// ulps of the largest contributions; 2e-5 of the tensor's scale leaves ~100x room while a wrong
// block, stride or time index gives errors of order 1e-2 of the scale. The floor keeps tensors
// that are nearly zero (e.g. gradients of an almost saturated gate) from demanding more than
// float accuracy of a unit-size computation.
constexpr double kScaled = 2e-5;
constexpr double kFloor = 1e-2;
// layerNorm: each normalization multiplies the rounding error of its input by its
// rstd = 1/sqrt(var + 1e-5), large on the short rows of these sizes (G·H down to 2, H down to 1,
// where two nearly equal values give var ≪ 1): measured up to 3.2x kScaled; 10x leaves room and
// still sits 50x below a wrong block's error.
constexpr double kScaledLayerNorm = 2e-4;

template <typename W>
void CompareResults(const std::string& what, const Result<float>& got, const Result<W>& want,
                    const Problem& p) {
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  Tol t;
  t.scaled = p.cfg.lstm.layer_norm ? kScaledLayerNorm : kScaled;
  t.scale_floor = kFloor;
  const std::vector<int> os =
      p.batch_first ? std::vector<int>{d.B, d.T, d.D * d.R} : std::vector<int>{d.T, d.B, d.D * d.R};
  const std::vector<int> xs =
      p.batch_first ? std::vector<int>{d.B, d.T, d.I} : std::vector<int>{d.T, d.B, d.I};
  const std::vector<int> hs = {d.L * d.D, d.B, d.R}, cs = {d.L * d.D, d.B, d.H};
  CHECK_TENSOR(what + " output", got.output.data(), want.output.data(), d.out, t, os);
  CHECK_TENSOR(what + " hN", got.hn.data(), want.hn.data(), d.h, t, hs);
  if (d.lstm) CHECK_TENSOR(what + " cN", got.cn.data(), want.cn.data(), d.c, t, cs);
  CHECK_TENSOR(what + " dx", got.dx.data(), want.dx.data(), d.x, t, xs);
  CHECK_TENSOR(what + " dh0", got.dh0.data(), want.dh0.data(), d.h, t, hs);
  if (d.lstm) CHECK_TENSOR(what + " dc0", got.dc0.data(), want.dc0.data(), d.c, t, cs);
  for (const auto& info : cellstate::ParamTable(p.cfg))
    CHECK_TENSOR(what + " grad " + info.name, got.grads.data() + info.offset,
                 want.grads.data() + info.offset, info.size, t, info.shape);
}

void CheckBitIdentical(const std::string& what, const Result<float>& a, const Result<float>& b) {
  CHECK_BIT_EQUAL(what + " output", a.output, b.output);
  CHECK_BIT_EQUAL(what + " hN", a.hn, b.hn);
  CHECK_BIT_EQUAL(what + " cN", a.cn, b.cn);
  CHECK_BIT_EQUAL(what + " dx", a.dx, b.dx);
  CHECK_BIT_EQUAL(what + " dh0", a.dh0, b.dh0);
  CHECK_BIT_EQUAL(what + " dc0", a.dc0, b.dc0);
  CHECK_BIT_EQUAL(what + " grads", a.grads, b.grads);
}

// Streaming: T calls of Step (unidirectional, no lengths) equal Forward on the same engine, bit
// for bit on the float engines: Step runs the input GEMM on B rows instead of T·B and pairs it
// with the recurrent one (Kernels::gemm_pair, panel groups in alternating orders), and every C
// element is still the same chain (gemm.h). The double engine (the reference's plain sums) is
// held to a tolerance.
template <typename T>
void CheckStreamOn(const std::string& what, const Problem& p, const Engine& e,
                   const Result<T>& fwd) {
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  cellstate::Status created;
  auto layer = LayerWith<T>(p.cfg, e, p.params, &created);
  if (!CHECK_OK(created)) return;
  const size_t per_layer = size_t(d.B) * (d.R + (d.lstm ? d.H : 0));
  CHECK_EQ(layer->StreamStateSize(d.B), per_layer * d.L);
  std::vector<T> state(per_layer * d.L, T(0));
  std::vector<T> scratch(layer->StreamScratchSize(d.B), std::numeric_limits<T>::quiet_NaN());
  for (int l = 0; l < d.L; ++l) {
    T* h = state.data() + l * per_layer;
    for (size_t k = 0; k < size_t(d.B) * d.R && !p.h0.empty(); ++k)
      h[k] = T(p.h0[l * size_t(d.B) * d.R + k]);
    for (size_t k = 0; k < size_t(d.B) * d.H && d.lstm && !p.c0.empty(); ++k)
      h[size_t(d.B) * d.R + k] = T(p.c0[l * size_t(d.B) * d.H + k]);
  }
  std::vector<T> out(size_t(d.T) * d.B * d.R), xt(size_t(d.B) * d.I), ot(size_t(d.B) * d.R);
  std::vector<T> want_out(out.size());
  for (int t = 0; t < d.T; ++t) {
    for (int b = 0; b < d.B; ++b)
      for (int i = 0; i < d.I; ++i)
        xt[size_t(b) * d.I + i] = T(p.x[SeqOffset(t, b, d.T, d.B, d.I, p.batch_first) + i]);
    std::fill(ot.begin(), ot.end(), std::numeric_limits<T>::quiet_NaN());
    if (!CHECK_OK(layer->Step(d.B, xt.data(), state.data(), scratch.data(), ot.data()))) return;
    for (int b = 0; b < d.B; ++b)
      for (int k = 0; k < d.R; ++k) {
        out[(size_t(t) * d.B + b) * d.R + k] = ot[size_t(b) * d.R + k];
        want_out[(size_t(t) * d.B + b) * d.R + k] =
            fwd.output[SeqOffset(t, b, d.T, d.B, d.R, p.batch_first) + k];
      }
  }
  if constexpr (std::is_same<T, float>::value) {
    CHECK_BIT_EQUAL(what + " step output vs forward", out, want_out);
    for (int l = 0; l < d.L; ++l) {
      const T* h = state.data() + l * per_layer;
      const size_t nh = size_t(d.B) * d.R, nc = size_t(d.B) * d.H;
      CHECK_BIT_EQUAL(what + " step h of layer " + std::to_string(l) + " vs hN",
                      std::vector<T>(h, h + nh),
                      std::vector<T>(fwd.hn.begin() + l * nh, fwd.hn.begin() + (l + 1) * nh));
      if (d.lstm)
        CHECK_BIT_EQUAL(what + " step c of layer " + std::to_string(l) + " vs cN",
                        std::vector<T>(h + nh, h + nh + nc),
                        std::vector<T>(fwd.cn.begin() + l * nc, fwd.cn.begin() + (l + 1) * nc));
    }
    return;
  }
  Tol tol;
  tol.scaled = 1e-12;
  tol.scale_floor = kFloor;
  CHECK_TENSOR(what + " step output vs forward", out.data(), want_out.data(), out.size(), tol,
               std::vector<int>{d.T, d.B, d.R});
  for (int l = 0; l < d.L; ++l) {
    const T* h = state.data() + l * per_layer;
    CHECK_TENSOR(what + " step h of layer " + std::to_string(l) + " vs hN", h,
                 fwd.hn.data() + l * size_t(d.B) * d.R, size_t(d.B) * d.R, tol);
    if (d.lstm)
      CHECK_TENSOR(what + " step c of layer " + std::to_string(l) + " vs cN", h + size_t(d.B) * d.R,
                   fwd.cn.data() + l * size_t(d.B) * d.H, size_t(d.B) * d.H, tol);
  }
}

// Both ways a step runs its GEMMs: as in a forward, and (one-layer stacks) paired over the
// same column panels in alternating orders, which the default engine keeps for weights beyond
// L2 (Engine::stream_pair_min_bytes).
template <typename T>
void CheckStream(const std::string& what, const Problem& p, const Engine& e, const Result<T>& fwd) {
  if (p.cfg.bidirectional || !p.lengths.empty()) return;
  Engine plain = e, paired = e;
  plain.stream_pair_min_bytes = 1e300;
  paired.stream_pair_min_bytes = 0;
  CheckStreamOn(what, p, plain, fwd);
  CheckStreamOn(what + " paired", p, paired, fwd);
}

// An inference forward (in-place buffers; on a /t2wave engine a stacked one-direction layer
// runs as a wavefront) equals the training forward bit for bit: the same FMA chains.
void CheckInference(const std::string& what, const Problem& p, const Engine& e,
                    const Result<float>& train) {
  Result<float> inf;
  Run<float>(p, e, &inf, /*backward=*/false);
  if (!CHECK_OK(inf.create) || !CHECK_OK(inf.forward)) return;
  CHECK_BIT_EQUAL(what + " inference output", inf.output, train.output);
  CHECK_BIT_EQUAL(what + " inference hN", inf.hn, train.hn);
  CHECK_BIT_EQUAL(what + " inference cN", inf.cn, train.cn);
}

void CheckProblem(const Problem& p, const std::vector<NamedEngine>& engines) {
  Result<double> rd;
  Run<double>(p, RefEngineDouble(), &rd);
  if (!CHECK_OK(rd.create) || !CHECK_OK(rd.forward) || !CHECK_OK(rd.backward)) return;
  CheckStream("double", p, RefEngineDouble(), rd);
  CheckPadding(p, rd, "double: ");
  std::vector<Result<float>> rs(engines.size());
  const Result<float>* ref = nullptr;
  for (size_t i = 0; i < engines.size(); ++i) {
    const NamedEngine& ne = engines[i];
    Run<float>(p, ne.engine, &rs[i]);
    if (!CHECK_OK(rs[i].create) || !CHECK_OK(rs[i].forward) || !CHECK_OK(rs[i].backward)) continue;
    CheckStream(ne.name, p, ne.engine, rs[i]);
    CheckPadding(p, rs[i], ne.name + ": ");
    CheckInference(ne.name, p, ne.engine, rs[i]);
    if (ne.threads == 1) {
      if (ne.isa == "ref") ref = &rs[i];
      CompareResults(ne.name + " vs double", rs[i], rd, p);
      if (ref && ne.isa != "ref") CompareResults(ne.name + " vs float ref", rs[i], *ref, p);
    } else {
      // The single-threaded run of the same ISA comes just before.
      if (i > 0 && engines[i - 1].isa == ne.isa && rs[i - 1].ok())
        CheckBitIdentical(ne.name + " vs threads=1", rs[i], rs[i - 1]);
    }
  }
}

std::vector<int> ValidProj(int H) {
  std::vector<int> v;
  for (int P : {1, 3, H - 1})
    if (P > 0 && P < H && std::find(v.begin(), v.end(), P) == v.end()) v.push_back(P);
  return v;
}

}  // namespace

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("isa_test");
  const std::vector<NamedEngine> engines = FloatEngines(/*with_ref=*/true);

  // Activation kernels of the float reference and of each ISA.
  for (const NamedEngine& ne : engines) {
    if (ne.threads != 1) continue;
    const auto* k = static_cast<const Kernels<float>*>(ne.engine.kernels);
    RunCase("activations/" + ne.name + "/sigmoid", [&] { CheckActivation(k, false); });
    RunCase("activations/" + ne.name + "/tanh", [&] { CheckActivation(k, true); });
  }

  // Awkward sizes: each of these for both I and H across the flavors (widths 4, 8, 16 ± 1, and
  // 33 = 2·16 + 1 = 4·8 + 1); P in {1, 3, H−1} where valid.
  const int kSizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 33};
  const int kT[] = {1, 2, 5};
  const int kB[] = {1, 3, 8};
  std::vector<Flavor> flavors = AllFlavors();
  // The activation functions and clip last, so that the problems drawn before stay the same.
  for (const Flavor& f : ActivationFlavors()) flavors.push_back(f);
  Rng rng(0x15a0001);
  int idx = 0;
  for (size_t fi = 0; fi < flavors.size(); ++fi) {
    const Flavor& fl = flavors[fi];
    for (int j = 0; j < 8; ++j, ++idx) {
      Config cfg = fl.cfg;
      cfg.bidirectional = (j & 1) != 0;
      cfg.num_layers = 1 + ((j >> 1) & 1);
      const bool lengths = (j & 4) != 0;
      cfg.input_size = kSizes[(fi * 8 + j) % 9];
      cfg.hidden_size = kSizes[(fi * 8 + 4 * j + 2) % 9];
      if (fl.proj) {
        if (cfg.hidden_size < 2) cfg.hidden_size = 3;
        const std::vector<int> ps = ValidProj(cfg.hidden_size);
        cfg.lstm.proj_size = ps[static_cast<size_t>(j) % ps.size()];
      }
      const int T = kT[(j + fi) % 3], B = kB[(j / 3 + fi) % 3];
      const bool batch_first = (j + fi) % 2 == 1, states = ((j / 2) + fi) % 2 == 0;
      const double scale = std::min(0.5, 1.5 / std::sqrt(static_cast<double>(cfg.hidden_size)));
      const Problem p = RandomProblem(cfg, T, B, batch_first, lengths, states, states, scale, &rng);
      RunCase("#" + std::to_string(idx) + " " + fl.name + ": " + Describe(p),
              [&] { CheckProblem(p, engines); });
    }
  }

  // Larger problems, so that threads=2 really splits work (and for full-width tiles).
  struct Big {
    const char* flavor;
    int I, H, P, L, T, B;
    bool bidir;
  };
  const Big kBig[] = {{"lstm_std", 64, 96, 0, 2, 6, 16, true},
                      {"lstm_std", 24, 40, 0, 3, 9, 2, false},  // a 3-layer wavefront on 2 threads
                      {"lstm_cifg_peephole_proj_noaf", 40, 80, 33, 1, 5, 12, false},
                      {"lstm_peephole_nig_nog", 17, 65, 0, 2, 4, 9, true},
                      {"gru", 48, 72, 0, 2, 5, 16, true},
                      {"gru_reset_before", 33, 70, 0, 1, 7, 12, false},
                      {"rnn_relu", 100, 129, 0, 2, 5, 16, false},
                      {"rnn_tanh", 31, 127, 0, 1, 6, 17, true}};
  for (const Big& b : kBig) {
    for (const Flavor& fl : flavors) {
      if (fl.name != b.flavor) continue;
      Config cfg = fl.cfg;
      cfg.input_size = b.I;
      cfg.hidden_size = b.H;
      cfg.lstm.proj_size = b.P;
      cfg.num_layers = b.L;
      cfg.bidirectional = b.bidir;
      const double scale = 1.5 / std::sqrt(static_cast<double>(b.H));
      const Problem p = RandomProblem(cfg, b.T, b.B, (idx & 1) != 0, true, true, true, scale, &rng);
      RunCase("#" + std::to_string(idx++) + " big " + fl.name + ": " + Describe(p),
              [&] { CheckProblem(p, engines); });
    }
  }
  // layerNorm with activation functions and clip, on the awkward sizes (its own stream, so the
  // problems above stay what they were).
  Rng lrng(0x15a0002);
  const std::vector<Flavor> ln_acts = LnActivationFlavors();
  for (size_t fi = 0; fi < ln_acts.size(); ++fi) {
    const Flavor& fl = ln_acts[fi];
    for (int j = 0; j < 8; ++j) {
      Config cfg = fl.cfg;
      cfg.bidirectional = (j & 1) != 0;
      cfg.num_layers = 1 + ((j >> 1) & 1);
      const bool lengths = (j & 4) != 0;
      cfg.input_size = kSizes[(fi * 8 + j + 3) % 9];
      cfg.hidden_size = kSizes[(fi * 8 + 4 * j + 5) % 9];
      if (fl.proj) {
        if (cfg.hidden_size < 2) cfg.hidden_size = 3;
        const std::vector<int> ps = ValidProj(cfg.hidden_size);
        cfg.lstm.proj_size = ps[static_cast<size_t>(j) % ps.size()];
      }
      const int T = kT[(j + fi) % 3], B = kB[(j / 3 + fi) % 3];
      const bool batch_first = (j + fi) % 2 == 1, states = ((j / 2) + fi) % 2 == 0;
      const double scale = std::min(0.5, 1.5 / std::sqrt(static_cast<double>(cfg.hidden_size)));
      const Problem p =
          RandomProblem(cfg, T, B, batch_first, lengths, states, states, scale, &lrng);
      RunCase("#ln_acts" + std::to_string(fi * 8 + j) + " " + fl.name + ": " + Describe(p),
              [&] { CheckProblem(p, engines); });
    }
  }
  // One larger one, so that threads=2 splits the rows and the column reductions.
  for (const Flavor& fl : ln_acts) {
    if (fl.name != "lstm_ln_acts_hardsigmoid_elu_softsign_clip_peephole") continue;
    Config cfg = fl.cfg;
    cfg.input_size = 37;
    cfg.hidden_size = 70;
    cfg.num_layers = 2;
    cfg.bidirectional = true;
    const Problem p =
        RandomProblem(cfg, 6, 13, true, true, true, true, 1.5 / std::sqrt(70.0), &lrng);
    RunCase("#ln_acts big " + fl.name + ": " + Describe(p), [&] { CheckProblem(p, engines); });
  }

  RunCase("Step refuses a bidirectional layer", [] {
    Config c;
    c.input_size = 2;
    c.hidden_size = 3;
    c.bidirectional = true;
    std::unique_ptr<cellstate::Layer<float>> layer;
    if (!CHECK_OK(cellstate::Layer<float>::Create(c, RefEngineFloat(), &layer))) return;
    std::vector<float> x(2), state(64), scratch(256), out(8);
    CHECK_CODE(layer->Step(1, x.data(), state.data(), scratch.data(), out.data()),
               cellstate::Code::kUnsupported);
  });
  return suite.Finish();
}
