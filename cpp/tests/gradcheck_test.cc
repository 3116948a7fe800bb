// Central finite differences in double on Layer<double> (reference kernels) against Backward,
// on 40 random small configurations covering every option of docs/cells.md. The loss is
// L = Σ output⊙dOut + Σ hN⊙dhN + Σ cN⊙dcN with random upstream gradients; every element of dx,
// dh0, dc0 and of every parameter is checked.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "layer_util.h"
#include "test_util.h"

namespace {

using namespace cstest;

// Step and tolerance: central differences have truncation error O(eps²·L''') ≈ 1e-12 and
// rounding error O(1e-16·|L|/eps) ≈ 1e-9 here, far below the tolerance of 1e-6·max(1, |g|).
// ReLU has a kink at 0; with random values a pre-activation within eps of 0 is improbable.
constexpr double kEps = 1e-6;
constexpr double kTol = 1e-6;

class LossFn {
 public:
  LossFn(const Problem& p, cellstate::Layer<double>* layer) : p_(p), layer_(layer) {
    const Dims d = DimsOf(p.cfg, p.T, p.B);
    out_.resize(d.out);
    hn_.resize(d.h);
    cn_.resize(d.c);
  }
  // Inference forward with explicit (possibly zero) initial states.
  double operator()(const std::vector<double>& x, const std::vector<double>& h0,
                    const std::vector<double>& c0) {
    cellstate::ForwardArgs fa;
    fa.seq_len = p_.T;
    fa.batch = p_.B;
    fa.batch_first = p_.batch_first;
    fa.x = x.data();
    fa.h0 = h0.data();
    fa.c0 = c0.empty() ? nullptr : c0.data();
    fa.lengths = PtrOrNull(p_.lengths);
    fa.train = false;
    fa.output = out_.data();
    fa.h_n = hn_.data();
    fa.c_n = cn_.empty() ? nullptr : cn_.data();
    cellstate::Status s = layer_->Forward(fa);
    if (!s.ok()) {
      ok_ = false;
      return NAN;
    }
    return UpstreamLoss(p_, out_, hn_, cn_);
  }
  bool ok() const { return ok_; }
  const std::vector<double>& output() const { return out_; }

 private:
  const Problem& p_;
  cellstate::Layer<double>* layer_;
  std::vector<double> out_, hn_, cn_;
  bool ok_ = true;
};

void GradCheck(const Problem& p) {
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  Result<double> an;
  Run<double>(p, RefEngineDouble(), &an);
  if (!CHECK_OK(an.create) || !CHECK_OK(an.forward) || !CHECK_OK(an.backward)) return;

  cellstate::Status created;
  auto layer = LayerWith<double>(p.cfg, RefEngineDouble(), p.params, &created);
  if (!CHECK_OK(created)) return;
  double* pd = layer->param_data();
  LossFn loss(p, layer.get());

  std::vector<double> x = p.x;
  std::vector<double> h0 = p.h0.empty() ? std::vector<double>(d.h, 0.0) : p.h0;
  std::vector<double> c0 = p.c0.empty() ? std::vector<double>(d.c, 0.0) : p.c0;

  // The inference forward (explicit zero states for null ones) equals the training forward.
  loss(x, h0, c0);
  if (!CHECK(loss.ok())) return;
  {
    Tol t;
    t.abs = 1e-14;
    t.rel = 1e-14;
    CHECK_TENSOR("output (train=false vs train=true)", loss.output().data(), an.output.data(),
                 an.output.size(), t);
  }

  auto at = [&] { return loss(x, h0, c0); };
  auto check_vec = [&](const char* name, std::vector<double>* v, const std::vector<double>& g,
                       const std::vector<int>& shape) {
    FdWorst w{name, kTol};
    for (size_t i = 0; i < v->size(); ++i)
      w.Add(i, CentralDifference(&(*v)[i], kEps, at, [] {}), g[i]);
    w.Report(__FILE__, __LINE__, shape);
  };
  const std::vector<int> xs =
      p.batch_first ? std::vector<int>{d.B, d.T, d.I} : std::vector<int>{d.T, d.B, d.I};
  check_vec("dx", &x, an.dx, xs);
  check_vec("dh0", &h0, an.dh0, {d.L * d.D, d.B, d.R});
  if (d.lstm) check_vec("dc0", &c0, an.dc0, {d.L * d.D, d.B, d.H});

  for (const auto& info : cellstate::ParamTable(p.cfg)) {
    FdWorst w{"grad " + info.name, kTol};
    for (size_t k = 0; k < info.size; ++k) {
      const size_t i = info.offset + k;
      w.Add(k, CentralDifference(pd + i, kEps, at, [&] { layer->ParamsChanged(); }), an.grads[i]);
    }
    w.Report(__FILE__, __LINE__, info.shape);
  }
  CHECK(loss.ok());

  // dx is exactly 0 at padded steps.
  for (int b = 0; b < (p.lengths.empty() ? 0 : p.B); ++b)
    for (int t = p.lengths[b]; t < p.T; ++t)
      for (int i = 0; i < d.I; ++i)
        CHECK_MSG(an.dx[SeqOffset(t, b, p.T, p.B, d.I, p.batch_first) + i] == 0.0,
                  "dx at padded t=" << t << " b=" << b);
}

}  // namespace

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("gradcheck_test");
  Rng rng(0x5eed0001);

  // Every flavor once, GRU and RNN flavors twice more, then random LSTM flavors: 40 cases.
  const std::vector<Flavor> flavors = AllFlavors();
  std::vector<Flavor> plan = flavors;
  for (const Flavor& f : flavors)
    if (f.cfg.cell != Cell::kLSTM) {
      plan.push_back(f);
      plan.push_back(f);
    }
  while (plan.size() < 40) {
    const Flavor& f = rng.Pick(flavors);
    if (f.cfg.cell == Cell::kLSTM) plan.push_back(f);
  }

  for (size_t k = 0; k < plan.size(); ++k) {
    const Flavor& fl = plan[k];
    Config cfg = fl.cfg;
    cfg.num_layers = 1 + static_cast<int>(k % 3);
    cfg.bidirectional = (k / 3) % 2 == 1;
    cfg.input_size = rng.Int(1, 6);
    cfg.hidden_size = rng.Int(fl.proj ? 2 : 1, 6);
    if (fl.proj) cfg.lstm.proj_size = rng.Int(1, cfg.hidden_size - 1);
    cfg.dropout = 0.f;
    // Mostly T >= 2 so that every case has a recurrence to differentiate through.
    const int T = k % 7 == 3 ? 1 : rng.Int(2, 5), B = rng.Int(1, 3);
    const bool batch_first = rng.Coin(), lengths = rng.Coin(0.6), h0 = rng.Coin(0.6),
               c0 = rng.Coin(0.6);
    const Problem p = RandomProblem(cfg, T, B, batch_first, lengths, h0, c0, 0.6, &rng);
    RunCase("#" + std::to_string(k) + " " + fl.name + ": " + Describe(p), [&] { GradCheck(p); });
  }
  // Reverse-only layers (direction: 'reverse'), one and two layers, lengths included.
  for (size_t k = 0; k < 8; ++k) {
    const Flavor& fl = flavors[(k * 5) % flavors.size()];
    Config cfg = fl.cfg;
    cfg.reverse = true;
    cfg.num_layers = 1 + static_cast<int>(k % 2);
    cfg.input_size = rng.Int(1, 5);
    cfg.hidden_size = rng.Int(fl.proj ? 2 : 1, 5);
    if (fl.proj) cfg.lstm.proj_size = rng.Int(1, cfg.hidden_size - 1);
    const int T = rng.Int(2, 5), B = rng.Int(1, 3);
    const Problem p =
        RandomProblem(cfg, T, B, rng.Coin(), true, rng.Coin(0.6), rng.Coin(0.6), 0.6, &rng);
    RunCase("#reverse" + std::to_string(k) + " " + fl.name + ": " + Describe(p),
            [&] { GradCheck(p); });
  }

  // Activation functions and clip: every flavor three times, with its own random stream.
  Rng arng(0x5eed0002);
  const std::vector<Flavor> acts = ActivationFlavors();
  for (size_t k = 0; k < 3 * acts.size(); ++k) {
    const Flavor& fl = acts[k % acts.size()];
    Config cfg = fl.cfg;
    cfg.num_layers = 1 + static_cast<int>(k % 2);
    cfg.bidirectional = (k / 2) % 2 == 1;
    cfg.input_size = arng.Int(1, 6);
    cfg.hidden_size = arng.Int(fl.proj ? 2 : 1, 6);
    if (fl.proj) cfg.lstm.proj_size = arng.Int(1, cfg.hidden_size - 1);
    const int T = arng.Int(2, 5), B = arng.Int(1, 3);
    const bool batch_first = arng.Coin(), lengths = arng.Coin(0.6), h0 = arng.Coin(0.6),
               c0 = arng.Coin(0.6);
    const Problem p = RandomProblem(cfg, T, B, batch_first, lengths, h0, c0, 0.6, &arng);
    RunCase("#acts" + std::to_string(k) + " " + fl.name + ": " + Describe(p),
            [&] { GradCheck(p); });
  }

  // layerNorm with activation functions and clip: every flavor four times, its own stream.
  Rng lrng(0x5eed0003);
  const std::vector<Flavor> ln_acts = LnActivationFlavors();
  for (size_t k = 0; k < 4 * ln_acts.size(); ++k) {
    const Flavor& fl = ln_acts[k % ln_acts.size()];
    Config cfg = fl.cfg;
    cfg.num_layers = 1 + static_cast<int>((k / 4) % 2);
    cfg.bidirectional = (k / 8) % 2 == 1;
    cfg.input_size = lrng.Int(1, 6);
    cfg.hidden_size = lrng.Int(2, 6);
    if (fl.proj) cfg.lstm.proj_size = lrng.Int(1, cfg.hidden_size - 1);
    const int T = lrng.Int(2, 5), B = lrng.Int(1, 3);
    // With clip, always an h0: LN(W_hh h_0) of a zero h_0 scales a step of h_0 by
    // γ_hh / sqrt(1e-5) ≈ 316, so the finite difference's ±1e-6 moves pre-activations by ~3e-4
    // and can straddle the clip's kink (a case of zero h_0 failed by 100x on dh0 alone and
    // passed with a step of 1e-8).
    const bool batch_first = lrng.Coin(), lengths = lrng.Coin(0.6),
               h0 = lrng.Coin(0.6) || cfg.lstm.acts.clip > 0, c0 = lrng.Coin(0.6);
    const Problem p = RandomProblem(cfg, T, B, batch_first, lengths, h0, c0, 0.6, &lrng);
    RunCase("#ln_acts" + std::to_string(k) + " " + fl.name + ": " + Describe(p),
            [&] { GradCheck(p); });
  }

  // Two-layer (even) bidirectional stacks whose input is wider than the layer output
  // (I > 2·R, as with a small hidden size): the lowest layer's dx is I columns wide and was
  // written into a backward buffer sized for 2·R columns, overwriting the upstream gradient
  // that the layer's reverse unit had not read yet (dx of the forward unit is computed first).
  // Only the layer-0 reverse gradients (and dx, dh0 through them) were wrong, and only when
  // the overflow T·B·(I − 2·R) passed the workspace's 16-element rounding and reached a
  // reverse column at an active step: 8 of these 12 cases failed before the fix (by 1e3–1e5×
  // the tolerance, the same with a step of 1e-8, so no finite-difference artifact).
  for (size_t k = 0; k < 12; ++k) {
    const char* names[] = {"gru",      "gru_reset_before", "rnn_tanh",
                           "rnn_relu", "lstm_std",         "lstm_proj"};
    const std::string name = names[k % 6];
    const Flavor* fl = nullptr;
    for (const Flavor& f : flavors)
      if (f.name == name) fl = &f;
    if (fl == nullptr) {
      CHECK_MSG(false, "no flavor " << name);
      continue;
    }
    Config cfg = fl->cfg;
    cfg.num_layers = k < 6 ? 2 : 4;
    cfg.bidirectional = true;
    cfg.hidden_size = fl->proj ? rng.Int(2, 3) : rng.Int(1, 2);
    if (fl->proj) cfg.lstm.proj_size = 1;
    const int R = fl->proj ? cfg.lstm.proj_size : cfg.hidden_size;
    cfg.input_size = 2 * R + rng.Int(1, 3);
    const int T = rng.Int(2, 5), B = rng.Int(1, 3);
    const Problem p = RandomProblem(cfg, T, B, rng.Coin(), rng.Coin(0.5), rng.Coin(0.6),
                                    rng.Coin(0.6), 0.6, &rng);
    RunCase("#wide_input" + std::to_string(k) + " " + name + ": " + Describe(p),
            [&] { GradCheck(p); });
  }
  return suite.Finish();
}
