// Recurrent dropout (Config::recurrent_dropout, Keras's recurrent_dropout) and input dropout
// (Config::input_dropout, Keras's dropout): masks fixed over the time steps of a sequence.
//   1. Semantics: a training forward with explicit masks equals a step-by-step reference in which
//      h_{t-1} is multiplied by the unit's mask before it enters the recurrent GEMM and nowhere
//      else (LSTM and RNN: one-step forwards of the reference kernel with h0 = h ⊙ mask; GRU: the
//      equations written out, where z ⊙ h reads the unmasked state).
//   2. Central finite differences in double of training forwards with fixed masks (the same
//      seed draws the same masks) against Backward, for every family and option.
//   3. Every ISA (1 and 2 threads, columns or rows split) equals the double reference on odd
//      sizes, forward and backward.
//   4. Inference ignores both options (bit for bit); p = 0 is the plain layer (bit for bit);
//      masks follow the seed; the options are validated.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "layer_util.h"
#include "test_util.h"

namespace {

using namespace cstest;

// ---- 1. semantics ------------------------------------------------------------------------

// Random masks with any positive values (the kernel uses what it is given, which is a stronger
// test than {0, 1/(1-p)}), some zeros.
std::vector<double> RandomMasks(const Dims& d, Rng* rng) {
  std::vector<double> m(d.h);
  for (double& v : m) v = rng->Coin(0.25) ? 0.0 : rng->Uniform(0.2, 2.0);
  return m;
}

// The reference output [T,B,D·R] (time-major), hN and cN of a problem with explicit masks
// (p.rmask), for LSTM and RNN stacks of any depth and directions. Rows past their length keep
// their state and output zeros; the input of layer l > 0 is layer l - 1's output.
void SteppedReference(const Problem& p, std::vector<double>* out, std::vector<double>* hn,
                      std::vector<double>* cn) {
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  const size_t B = size_t(p.B), R = size_t(d.R), H = size_t(d.H);
  std::vector<double> x(d.x);  // time-major
  for (int t = 0; t < p.T; ++t)
    for (int b = 0; b < p.B; ++b)
      for (int i = 0; i < d.I; ++i)
        x[(size_t(t) * B + b) * d.I + i] = p.x[SeqOffset(t, b, p.T, p.B, d.I, p.batch_first) + i];
  hn->assign(d.h, 0.0);
  cn->assign(d.c, 0.0);
  if (!p.h0.empty()) *hn = p.h0;
  if (!p.c0.empty()) *cn = p.c0;
  const std::vector<cellstate::ParamInfo> table = cellstate::ParamTable(p.cfg);
  std::vector<double> in = x;
  size_t in_w = size_t(d.I);
  for (int l = 0; l < d.L; ++l) {
    std::vector<double> lout(size_t(p.T) * B * d.D * R, 0.0);
    for (int dir = 0; dir < d.D; ++dir) {
      const size_t u = size_t(l) * d.D + dir;
      Config c = p.cfg;
      c.num_layers = 1;
      c.bidirectional = false;
      c.reverse = false;
      c.input_size = int(in_w);
      c.recurrent_dropout = c.input_dropout = c.dropout = 0.f;
      std::unique_ptr<cellstate::Layer<double>> layer;
      if (!CHECK_OK(cellstate::Layer<double>::Create(c, RefEngineDouble(), &layer))) return;
      // The unit's parameters: the entries named "<name>_l<l>[_reverse]".
      const std::string sfx = "_l" + std::to_string(l) + (dir ? "_reverse" : "");
      for (const auto& mine : cellstate::ParamTable(c)) {
        const std::string base = mine.name.substr(0, mine.name.size() - 3);  // strip "_l0"
        for (const auto& theirs : table)
          if (theirs.name == base + sfx)
            for (size_t k = 0; k < mine.size; ++k)
              layer->param_data()[mine.offset + k] = p.params[theirs.offset + k];
      }
      layer->ParamsChanged();
      const bool rev = dir == 1 || p.cfg.reverse;
      std::vector<double> h(hn->begin() + u * B * R, hn->begin() + (u + 1) * B * R);
      std::vector<double> cs =
          d.lstm ? std::vector<double>(cn->begin() + u * B * H, cn->begin() + (u + 1) * B * H)
                 : std::vector<double>();
      const double* mask = p.rmask.data() + u * B * R;
      for (int s = 0; s < p.T; ++s) {
        const int t = rev ? p.T - 1 - s : s;
        std::vector<double> hm(B * R), o(B * R), h1(B * R), c1(cs.size());
        for (size_t i = 0; i < B * R; ++i) hm[i] = h[i] * mask[i];
        cellstate::ForwardArgs fa;
        fa.seq_len = 1;
        fa.batch = p.B;
        fa.x = in.data() + size_t(t) * B * in_w;
        fa.h0 = hm.data();
        fa.c0 = d.lstm ? cs.data() : nullptr;
        fa.output = o.data();
        fa.h_n = h1.data();
        fa.c_n = d.lstm ? c1.data() : nullptr;
        if (!CHECK_OK(layer->Forward(fa))) return;
        for (size_t b = 0; b < B; ++b) {
          const bool active = p.lengths.empty() || t < p.lengths[b];
          if (!active) continue;  // keeps h, c; outputs zeros
          for (size_t j = 0; j < R; ++j) {
            h[b * R + j] = h1[b * R + j];
            lout[((size_t(t) * B + b) * d.D + dir) * R + j] = o[b * R + j];
          }
          for (size_t j = 0; j < H && d.lstm; ++j) cs[b * H + j] = c1[b * H + j];
        }
      }
      std::copy(h.begin(), h.end(), hn->begin() + u * B * R);
      if (d.lstm) std::copy(cs.begin(), cs.end(), cn->begin() + u * B * H);
    }
    in = lout;
    in_w = size_t(d.D) * R;
  }
  *out = in;
}

double Sigm(double v) { return 1 / (1 + std::exp(-v)); }

// A one-layer forward GRU written out: r, z from W_ih x + b_ih + W_hh (h ⊙ m) + b_hh;
// n = tanh(W_in x + b_in + r ⊙ (W_hn (h ⊙ m) + b_hn)) (resetAfter) or
// tanh(W_in x + b_in + W_hn (r ⊙ h ⊙ m) + b_hn); h' = (1 − z) ⊙ n + z ⊙ h.
void GruReference(const Problem& p, std::vector<double>* out, std::vector<double>* hn) {
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  const int H = d.H, I = d.I;
  const double* wih = p.params.data();
  const double* whh = wih + size_t(3) * H * I;
  const double* bih = whh + size_t(3) * H * H;
  const double* bhh = bih + 3 * H;
  out->assign(d.out, 0.0);
  hn->assign(d.h, 0.0);
  if (!p.h0.empty()) *hn = p.h0;
  for (int b = 0; b < p.B; ++b) {
    double* h = hn->data() + size_t(b) * H;
    const double* m = p.rmask.data() + size_t(b) * H;
    const int len = p.lengths.empty() ? p.T : p.lengths[b];
    for (int t = 0; t < len; ++t) {
      const double* x = p.x.data() + SeqOffset(t, b, p.T, p.B, I, p.batch_first);
      std::vector<double> hm(H), ax(3 * H), ah(3 * H), hnew(H);
      for (int j = 0; j < H; ++j) hm[j] = h[j] * m[j];
      for (int g = 0; g < 3 * H; ++g) {
        ax[g] = bih[g];
        for (int i = 0; i < I; ++i) ax[g] += wih[size_t(g) * I + i] * x[i];
        ah[g] = bhh[g];
        for (int k = 0; k < H; ++k) ah[g] += whh[size_t(g) * H + k] * hm[k];
      }
      std::vector<double> r(H);
      for (int j = 0; j < H; ++j) r[j] = Sigm(ax[j] + ah[j]);
      for (int j = 0; j < H; ++j) {
        const double z = Sigm(ax[H + j] + ah[H + j]);
        double an = ax[2 * H + j];
        if (p.cfg.gru.reset_after) {
          an += r[j] * ah[2 * H + j];
        } else {
          an += bhh[2 * H + j];
          for (int k = 0; k < H; ++k) an += whh[size_t(2 * H + j) * H + k] * r[k] * hm[k];
        }
        hnew[j] = (1 - z) * std::tanh(an) + z * h[j];
      }
      for (int j = 0; j < H; ++j) {
        h[j] = hnew[j];
        (*out)[(size_t(t) * p.B + b) * H + j] = hnew[j];
      }
    }
  }
}

void CheckSemantics(const Problem& p) {
  Result<double> got;
  Run<double>(p, RefEngineDouble(), &got, /*backward=*/true);
  if (!CHECK_OK(got.create) || !CHECK_OK(got.forward)) return;
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  std::vector<double> out, hn, cn;
  if (p.cfg.cell == Cell::kGRU)
    GruReference(p, &out, &hn);
  else
    SteppedReference(p, &out, &hn, &cn);
  // got.output in the problem's layout; the references are time-major.
  std::vector<double> got_tm(d.out);
  const int F = d.D * d.R;
  for (int t = 0; t < p.T; ++t)
    for (int b = 0; b < p.B; ++b)
      for (int j = 0; j < F; ++j)
        got_tm[(size_t(t) * p.B + b) * F + j] =
            got.output[SeqOffset(t, b, p.T, p.B, F, p.batch_first) + j];
  Tol tol;  // the same operations in another order: rounding only
  tol.abs = 1e-12;
  tol.rel = 1e-12;
  CHECK_TENSOR("output vs the masked reference", got_tm.data(), out.data(), d.out, tol);
  CHECK_TENSOR("hN vs the masked reference", got.hn.data(), hn.data(), d.h, tol);
  if (d.lstm) CHECK_TENSOR("cN vs the masked reference", got.cn.data(), cn.data(), d.c, tol);
}

// ---- 2. finite differences ------------------------------------------------------------------

constexpr double kEps = 1e-6;
// As gradcheck_test: truncation O(eps²) and rounding O(1e-16/eps) errors are far below this.
constexpr double kTol = 1e-6;

void GradCheck(const Problem& p) {
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  Result<double> an;
  Run<double>(p, RefEngineDouble(), &an);
  if (!CHECK_OK(an.create) || !CHECK_OK(an.forward) || !CHECK_OK(an.backward)) return;
  cellstate::Status created;
  auto layer = LayerWith<double>(p.cfg, RefEngineDouble(), p.params, &created);
  if (!CHECK_OK(created)) return;
  double* pd = layer->param_data();
  std::vector<double> x = p.x, h0 = p.h0.empty() ? std::vector<double>(d.h, 0.0) : p.h0;
  std::vector<double> c0 = p.c0.empty() ? std::vector<double>(d.c, 0.0) : p.c0;
  std::vector<double> out(d.out), hn(d.h), cn(d.c);
  bool ok = true;
  // The loss of a training forward: the same seed, so the same masks, as the analytic run.
  auto loss = [&]() {
    cellstate::ForwardArgs fa;
    fa.seq_len = p.T;
    fa.batch = p.B;
    fa.batch_first = p.batch_first;
    fa.x = x.data();
    fa.h0 = h0.data();
    fa.c0 = d.lstm ? c0.data() : nullptr;
    fa.lengths = PtrOrNull(p.lengths);
    fa.train = true;
    fa.dropout_seed = p.dropout_seed;
    fa.output = out.data();
    fa.h_n = hn.data();
    fa.c_n = d.lstm ? cn.data() : nullptr;
    ok &= layer->Forward(fa).ok();
    return UpstreamLoss(p, out, hn, cn);
  };
  // The training forward reproduces the analytic run's output (the same masks).
  loss();
  Tol same;
  same.abs = 0;
  CHECK_TENSOR("output of a second training forward", out.data(), an.output.data(), d.out, same);
  auto check = [&](const std::string& what, double* v, size_t n, const double* g) {
    FdWorst w{what, kTol};
    for (size_t i = 0; i < n; ++i)
      w.Add(i, CentralDifference(v + i, kEps, loss, [&] { layer->ParamsChanged(); }), g[i]);
    w.Report(__FILE__, __LINE__, {int(n)});
  };
  check("dx", x.data(), x.size(), an.dx.data());
  check("dh0", h0.data(), h0.size(), an.dh0.data());
  if (d.lstm) check("dc0", c0.data(), c0.size(), an.dc0.data());
  for (const auto& info : cellstate::ParamTable(p.cfg))
    check("grad " + info.name, pd + info.offset, info.size, an.grads.data() + info.offset);
  CHECK(ok);
}

// ---- 3. every ISA ------------------------------------------------------------------------------

void CompareIsas(const Problem& p, const std::vector<NamedEngine>& engines) {
  Result<double> want;
  Run<double>(p, RefEngineDouble(), &want);
  if (!CHECK_OK(want.create) || !CHECK_OK(want.forward) || !CHECK_OK(want.backward)) return;
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  for (const NamedEngine& e : engines) {
    Result<float> got;
    Run<float>(p, e.engine, &got);
    if (!CHECK_OK(got.create) || !CHECK_OK(got.forward) || !CHECK_OK(got.backward)) continue;
    Tol t;  // float against double on unit-size values (isa_test's measure)
    t.scaled = p.cfg.lstm.layer_norm ? 2e-4 : 2e-5;
    t.scale_floor = 1e-2;
    const std::string w = e.name + " ";
    CHECK_TENSOR(w + "output", got.output.data(), want.output.data(), d.out, t);
    CHECK_TENSOR(w + "hN", got.hn.data(), want.hn.data(), d.h, t);
    if (d.lstm) CHECK_TENSOR(w + "cN", got.cn.data(), want.cn.data(), d.c, t);
    CHECK_TENSOR(w + "dx", got.dx.data(), want.dx.data(), d.x, t);
    CHECK_TENSOR(w + "dh0", got.dh0.data(), want.dh0.data(), d.h, t);
    if (d.lstm) CHECK_TENSOR(w + "dc0", got.dc0.data(), want.dc0.data(), d.c, t);
    for (const auto& info : cellstate::ParamTable(p.cfg))
      CHECK_TENSOR(w + "grad " + info.name, got.grads.data() + info.offset,
                   want.grads.data() + info.offset, info.size, t);
  }
}

const Flavor& Named(const std::vector<Flavor>& fs, const std::string& name) {
  for (const Flavor& f : fs)
    if (f.name == name) return f;
  return fs.front();
}

}  // namespace

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("rdrop_test");
  const std::vector<Flavor> flavors = AllFlavors();
  const std::vector<Flavor> acts = ActivationFlavors();

  // 1. Semantics with explicit masks.
  Rng srng(0x5eed0101);
  const char* stepped[] = {"lstm_std",  "lstm_peephole_proj", "lstm_ln_peephole_proj",
                           "lstm_cifg", "rnn_tanh",           "rnn_relu"};
  for (int k = 0; k < 18; ++k) {
    const Flavor& fl = Named(flavors, stepped[k % 6]);
    Config cfg = fl.cfg;
    cfg.recurrent_dropout = 0.3f;
    cfg.num_layers = 1 + (k / 6) % 2;
    cfg.bidirectional = k / 6 == 2;
    cfg.reverse = k % 4 == 1 && !cfg.bidirectional;
    cfg.input_size = srng.Int(1, 5);
    cfg.hidden_size = srng.Int(fl.proj ? 2 : 1, 5);
    if (fl.proj) cfg.lstm.proj_size = srng.Int(1, cfg.hidden_size - 1);
    Problem p = RandomProblem(cfg, srng.Int(2, 5), srng.Int(1, 4), srng.Coin(), srng.Coin(0.6),
                              srng.Coin(0.6), srng.Coin(0.6), 0.6, &srng);
    p.rmask = RandomMasks(DimsOf(cfg, p.T, p.B), &srng);
    RunCase("#semantics" + std::to_string(k) + " " + fl.name + ": " + Describe(p),
            [&] { CheckSemantics(p); });
  }
  for (int k = 0; k < 4; ++k) {
    Config cfg = Named(flavors, k % 2 ? "gru_reset_before" : "gru").cfg;
    cfg.recurrent_dropout = 0.3f;
    cfg.input_size = srng.Int(1, 5);
    cfg.hidden_size = srng.Int(1, 5);
    Problem p = RandomProblem(cfg, srng.Int(2, 5), srng.Int(1, 4), srng.Coin(), k >= 2,
                              srng.Coin(0.6), false, 0.6, &srng);
    p.rmask = RandomMasks(DimsOf(cfg, p.T, p.B), &srng);
    RunCase("#semantics_gru" + std::to_string(k) + ": " + Describe(p), [&] { CheckSemantics(p); });
  }

  // 2. Finite differences: every flavor (and the activation flavors) with recurrent dropout,
  // half of them with input dropout too, across depths, directions, lengths and layouts.
  Rng rng(0x5eed0102);
  std::vector<Flavor> plan = flavors;
  plan.insert(plan.end(), acts.begin(), acts.end());
  for (const char* n : {"gru", "gru_reset_before", "rnn_tanh", "rnn_relu", "lstm_proj"})
    plan.push_back(Named(flavors, n));
  for (size_t k = 0; k < plan.size(); ++k) {
    const Flavor& fl = plan[k];
    Config cfg = fl.cfg;
    cfg.recurrent_dropout = rng.Coin() ? 0.3f : 0.5f;
    cfg.input_dropout = k % 2 ? 0.25f : 0.f;
    cfg.num_layers = 1 + int(k % 2);
    cfg.dropout = cfg.num_layers > 1 && k % 4 == 1 ? 0.2f : 0.f;
    const int dir = int(k / 2) % 3;  // forward, bidirectional, reverse
    cfg.bidirectional = dir == 1;
    cfg.reverse = dir == 2;
    cfg.input_size = rng.Int(1, 5);
    cfg.hidden_size = rng.Int(fl.proj ? 2 : 1, 5);
    if (fl.proj) cfg.lstm.proj_size = rng.Int(1, cfg.hidden_size - 1);
    Problem p = RandomProblem(cfg, rng.Int(2, 5), rng.Int(1, 3), rng.Coin(), rng.Coin(0.6),
                              rng.Coin(0.6), rng.Coin(0.6), 0.6, &rng);
    p.dropout_seed = 0x1234567800000000ull + k;
    RunCase("#gradcheck" + std::to_string(k) + " " + fl.name + ": " + Describe(p),
            [&] { GradCheck(p); });
  }

  // 3. Every ISA on odd sizes (1, 3, 7, 9, 17, 33: below, at and above the tiles).
  const std::vector<NamedEngine> engines = FloatEngines();
  Rng irng(0x5eed0103);
  const char* isa_flavors[] = {"lstm_std", "lstm_peephole_proj", "lstm_ln",
                               "gru",      "gru_reset_before",   "rnn_tanh"};
  const int sizes[] = {1, 3, 7, 9, 17, 33};
  for (int k = 0; k < 12; ++k) {
    const Flavor& fl = Named(flavors, isa_flavors[k % 6]);
    Config cfg = fl.cfg;
    cfg.recurrent_dropout = 0.25f;
    cfg.input_dropout = k % 3 == 0 ? 0.2f : 0.f;
    cfg.num_layers = 1 + (k / 6);
    cfg.bidirectional = k % 4 == 2;
    cfg.hidden_size = sizes[(k + 2) % 6] + (fl.proj ? 1 : 0);
    cfg.input_size = sizes[k % 6];
    if (fl.proj) cfg.lstm.proj_size = sizes[(k + 1) % 6] % cfg.hidden_size + 1;
    Problem p = RandomProblem(cfg, irng.Int(2, 5), sizes[(k + 3) % 4] + 2, irng.Coin(),
                              irng.Coin(0.6), irng.Coin(0.6), irng.Coin(0.6), 0.6, &irng);
    p.dropout_seed = 77 + k;
    RunCase("#isa" + std::to_string(k) + " " + fl.name + ": " + Describe(p),
            [&] { CompareIsas(p, engines); });
  }

  // 4. Inference ignores the options; p = 0 is the plain layer; masks follow the seed.
  RunCase("inference and p = 0 are the plain layer, bit for bit", [&] {
    for (const char* name : {"lstm_peephole_proj", "gru_reset_before", "rnn_tanh"}) {
      const Flavor& fl = Named(flavors, name);
      Config plain = fl.cfg;
      plain.num_layers = 2;
      plain.input_size = 5;
      plain.hidden_size = 9;
      if (fl.proj) plain.lstm.proj_size = 4;
      Rng r(3);
      Problem p = RandomProblem(plain, 6, 3, false, true, true, true, 0.6, &r);
      p.dropout_seed = 5;
      Problem q = p, z = p;
      q.cfg.recurrent_dropout = 0.5f;
      q.cfg.input_dropout = 0.5f;
      z.cfg.recurrent_dropout = 0.f;  // given as 0: the plain layer
      for (const NamedEngine& e : engines) {
        Result<float> a, b, c, t0, tz;
        Run<float>(p, e.engine, &a, false);
        Run<float>(q, e.engine, &b, false);
        CHECK_BIT_EQUAL(e.name + " " + name + " inference output", b.output, a.output);
        CHECK_BIT_EQUAL(e.name + " " + name + " inference hN", b.hn, a.hn);
        Run<float>(p, e.engine, &t0);
        Run<float>(z, e.engine, &tz);
        CHECK_BIT_EQUAL(e.name + " " + name + " p=0 output", tz.output, t0.output);
        CHECK_BIT_EQUAL(e.name + " " + name + " p=0 grads", tz.grads, t0.grads);
        CHECK_BIT_EQUAL(e.name + " " + name + " p=0 dx", tz.dx, t0.dx);
        // Training with the options changes the result; the same seed repeats it.
        Run<float>(q, e.engine, &c);
        Result<float> c2;
        Run<float>(q, e.engine, &c2);
        CHECK_BIT_EQUAL(e.name + " " + name + " same seed", c2.output, c.output);
        CHECK_MSG(c.output != t0.output, e.name << " " << name << ": masks change the output");
        Problem q2 = q;
        q2.dropout_seed = 6;
        Result<float> c3;
        Run<float>(q2, e.engine, &c3);
        CHECK_MSG(c3.output != c.output, e.name << " " << name << ": another seed, other masks");
      }
    }
  });

  RunCase("drawn masks: about p zeros, the rest 1/(1-p), the same on every row of time", [&] {
    // A 1×1 identity RNN with relu (W_ih = 1, W_hh = 1, no bias) on x = 1 at t = 0 and 0 after:
    // h_t = (h_{t-1} ⊙ m) for t ≥ 1, so output row b at t = 1 is m_b and at t = 2 is m_b².
    Config cfg;
    cfg.cell = Cell::kRNN;
    cfg.rnn.relu = true;
    cfg.input_size = 1;
    cfg.hidden_size = 1;
    cfg.recurrent_dropout = 0.3f;
    const int B = 4000, T = 3;
    Problem p;
    p.cfg = cfg;
    p.T = T;
    p.B = B;
    p.x.assign(size_t(T) * B, 0.0);
    for (int b = 0; b < B; ++b) p.x[b] = 1.0;
    p.params = {1.0, 1.0, 0.0, 0.0};
    p.d_output.assign(size_t(T) * B, 0.0);
    p.dropout_seed = 42;
    Result<double> r;
    Run<double>(p, RefEngineDouble(), &r);
    if (!CHECK(r.ok())) return;
    const double keep = 1.0 / (1.0 - double(0.3f));
    int zeros = 0;
    for (int b = 0; b < B; ++b) {
      const double m = r.output[size_t(B) + b];
      CHECK_MSG(m == 0.0 || std::fabs(m - keep) < 1e-12, "mask value " << m);
      CHECK_MSG(std::fabs(r.output[size_t(2) * B + b] - m * m) < 1e-12, "mask changed over time");
      zeros += m == 0.0;
    }
    // 4000 draws of p = 0.3: sd = sqrt(4000·0.21) ≈ 29; 5 sd either side.
    CHECK_MSG(std::abs(zeros - 1200) < 145, zeros << " zeros of 4000");
  });

  RunCase("validation", [&] {
    Config cfg;
    cfg.input_size = 2;
    cfg.hidden_size = 3;
    for (float v : {-0.1f, 1.0f, 1.5f, NAN}) {
      Config a = cfg, b = cfg;
      a.recurrent_dropout = v;
      b.input_dropout = v;
      CHECK(cellstate::Validate(a).code == cellstate::Code::kOutOfRange);
      CHECK(cellstate::Validate(b).code == cellstate::Code::kOutOfRange);
    }
    cellstate::Options o = {cellstate::Option::String("cell", "gru"),
                            cellstate::Option::Number("inputSize", 2),
                            cellstate::Option::Number("hiddenSize", 3),
                            cellstate::Option::Number("recurrentDropout", 0.25),
                            cellstate::Option::Number("inputDropout", 0.5)};
    Config parsed;
    if (CHECK_OK(cellstate::ParseConfig(o, &parsed))) {
      CHECK(parsed.recurrent_dropout == 0.25f);
      CHECK(parsed.input_dropout == 0.5f);
    }
    o.push_back(cellstate::Option::Bool("recurrentDropout", true));
    CHECK(cellstate::ParseConfig(o, &parsed).code == cellstate::Code::kInvalidArgument);
  });
  return suite.Finish();
}
