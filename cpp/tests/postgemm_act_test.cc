// The post-GEMM steps with activation functions and clip (Kernels::*_act; docs/cells.md,
// "Activation functions and clipping"): every ISA's float steps against the double reference
// steps (ref/ref-postgemm-act.h) on awkward widths, for LSTM flavors (peepholes, CIFG, NIAF,
// NOAF), the GRU in both reset placements and the RNN, with and without the saved
// pre-activations; and the double reference's backward against central finite differences of
// its forward (clip, kinks avoided by the data). An ISA the CPU lacks is skipped and reported.
//
// Tolerances: float against double 2e-5 · max(1, |value|) (a few float activations, each within
// 1e-6, and products of O(1) values); finite differences step 1e-6 in double, 1e-7 relative.
#include <cmath>
#include <string>
#include <vector>

#include "cell/activation.h"
#include "kernels.h"
#include "layer_util.h"
#include "test_util.h"

namespace {

using namespace cstest;
using cellstate::Activation;
using cellstate::ActKind;
using cellstate::CellActivations;
using cellstate::Kernels;
using cellstate::LstmDesc;

constexpr double kTol = 2e-5;
constexpr double kFdTol = 1e-7;

struct Named {
  std::string name;
  CellActivations ca;
};

std::vector<Named> Configs() {
  std::vector<Named> out;
  CellActivations a;
  a.gate = {ActKind::kHardSigmoid, 0.2f, 0.5f};
  a.cell = {ActKind::kElu, 0.75f, 0};
  a.hidden = {ActKind::kSoftsign, 0, 0};
  out.push_back({"hardSigmoid/elu/softsign", a});
  CellActivations b;
  b.gate = {ActKind::kLeakyRelu, -0.25f, 0};  // derivative needs the pre-activation
  b.cell = {ActKind::kThresholdedRelu, -0.125f, 0};
  b.hidden = {ActKind::kScaledTanh, 1.5f, 0.75f};
  b.clip = 0.625f;
  out.push_back({"leakyRelu-/thresholdedRelu-/scaledTanh clip", b});
  CellActivations c;
  c.clip = 0.5f;
  out.push_back({"defaults clip", c});
  CellActivations d;
  d.gate = {ActKind::kAffine, 0.25f, 0.5f};
  d.cell = {ActKind::kSoftplus, 0, 0};
  d.hidden = {ActKind::kRelu, 0, 0};
  out.push_back({"affine/softplus/relu", d});
  CellActivations e;
  e.gate = {ActKind::kSigmoid, 0, 0};
  e.cell = {ActKind::kElu, -0.5f, 0};  // needs the pre-activation
  e.hidden = {ActKind::kTanh, 0, 0};
  out.push_back({"sigmoid/elu-/tanh", e});
  return out;
}

std::vector<double> Random(Rng& rng, size_t n, double r) {
  std::vector<double> v(n);
  for (auto& x : v) x = rng.Uniform(-r, r);
  return v;
}

std::vector<float> ToF(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}

void Compare(const std::string& what, const std::vector<float>& got,
             const std::vector<double>& want) {
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got[i], w = want[i];
    if (std::isnan(w) && std::isnan(g)) continue;
    if (!(std::fabs(g - w) <= kTol * std::fmax(1.0, std::fabs(w)))) {
      CSTEST_FAIL(what + "[" + std::to_string(i) + "] = " + std::to_string(g) + ", want " +
                  std::to_string(w));
      return;
    }
  }
}

// ---- LSTM ------------------------------------------------------------------------------------

struct LstmFlavor {
  const char* name;
  bool i, f, o, coupled, peephole, iaf, oaf;
};

template <typename T>
LstmDesc<T> Desc(const LstmFlavor& fl, int H, const T* ph) {
  LstmDesc<T> d;
  d.H = H;
  int k = 0;
  if (fl.i && !fl.coupled) d.off_i = H * k++;
  if (fl.f) d.off_f = H * k++;
  d.off_g = H * k++;
  if (fl.o) d.off_o = H * k++;
  d.coupled = fl.coupled;
  d.input_activation = fl.iaf;
  d.output_activation = fl.oaf;
  if (fl.peephole) {
    int p = 0;
    d.ph = ph;
    if (d.off_i >= 0) d.ph_i = H * p++;
    if (d.off_f >= 0) d.ph_f = H * p++;
    if (d.off_o >= 0) d.ph_o = H * p++;
  }
  return d;
}

int Gates(const LstmFlavor& fl) { return (fl.i && !fl.coupled) + fl.f + 1 + fl.o; }

void CheckLstm(const Kernels<float>* k, const Named& cfg, const LstmFlavor& fl, int H) {
  const Kernels<double>* r = cellstate::RefKernels<double>();
  const bool with_pre = cellstate::CellActivationsNeedPre(cfg.ca);
  Rng rng(H * 7 + 1);
  const int G = Gates(fl);
  const auto a = Random(rng, G * H, 1.5), cp = Random(rng, H, 1.0), ph = Random(rng, 3 * H, 0.5);
  const auto dm = Random(rng, H, 1.0), dc = Random(rng, H, 1.0);
  const LstmDesc<double> dd = Desc<double>(fl, H, ph.data());
  const auto phf = ToF(ph);
  const LstmDesc<float> df = Desc<float>(fl, H, phf.data());

  std::vector<double> ad = a, c(H), m(H), pre(G * H, 0), dcd = dc, dg(G * H);
  r->lstm.fwd_act(dd, cfg.ca, ad.data(), cp.data(), c.data(), m.data(),
                  with_pre ? pre.data() : nullptr);
  r->lstm.bwd_act(dd, cfg.ca, ad.data(), with_pre ? pre.data() : nullptr, cp.data(), c.data(),
                  dm.data(), dcd.data(), dg.data());

  auto af = ToF(a), cpf = ToF(cp), dmf = ToF(dm), dcf = ToF(dc);
  std::vector<float> cf(H), mf(H), pref(G * H, 0), dgf(G * H);
  k->lstm.fwd_act(df, cfg.ca, af.data(), cpf.data(), cf.data(), mf.data(),
                  with_pre ? pref.data() : nullptr);
  k->lstm.bwd_act(df, cfg.ca, af.data(), with_pre ? pref.data() : nullptr, cpf.data(), cf.data(),
                  dmf.data(), dcf.data(), dgf.data());
  Compare("acts", af, ad);
  Compare("c", cf, c);
  Compare("m", mf, m);
  Compare("pre", pref, pre);
  Compare("dgates", dgf, dg);
  Compare("dc_prev", dcf, dcd);
}

// Finite differences of L = Σ dm·m + Σ dc·c over the gate pre-activations and c_prev (double
// reference).
void CheckLstmFd(const Named& cfg, const LstmFlavor& fl, int H) {
  const Kernels<double>* r = cellstate::RefKernels<double>();
  const bool with_pre = cellstate::CellActivationsNeedPre(cfg.ca);
  Rng rng(H * 13 + 5);
  const int G = Gates(fl);
  auto a = Random(rng, G * H, 1.5), cp = Random(rng, H, 1.0);
  const auto ph = Random(rng, 3 * H, 0.5), dm = Random(rng, H, 1.0), dc = Random(rng, H, 1.0);
  const LstmDesc<double> d = Desc<double>(fl, H, ph.data());
  auto loss = [&]() {
    std::vector<double> ac = a, c(H), m(H), pre(G * H);
    r->lstm.fwd_act(d, cfg.ca, ac.data(), cp.data(), c.data(), m.data(), pre.data());
    double l = 0;
    for (int j = 0; j < H; ++j) l += dm[j] * m[j] + dc[j] * c[j];
    return l;
  };
  std::vector<double> ac = a, c(H), m(H), pre(G * H), dcd = dc, dg(G * H);
  r->lstm.fwd_act(d, cfg.ca, ac.data(), cp.data(), c.data(), m.data(),
                  with_pre ? pre.data() : nullptr);
  r->lstm.bwd_act(d, cfg.ca, ac.data(), with_pre ? pre.data() : nullptr, cp.data(), c.data(),
                  dm.data(), dcd.data(), dg.data());
  auto fd = [&](double& v) {
    const double keep = v, h = 1e-6;
    v = keep + h;
    const double up = loss();
    v = keep - h;
    const double down = loss();
    v = keep;
    return (up - down) / (2 * h);
  };
  for (int i = 0; i < G * H; ++i) {
    const double want = fd(a[i]);
    CHECK_MSG(std::fabs(want - dg[i]) <= kFdTol * std::fmax(1.0, std::fabs(want)),
              "d/da[" << i << "] backward " << dg[i] << ", finite differences " << want);
  }
  for (int j = 0; j < H; ++j) {
    const double want = fd(cp[j]);
    CHECK_MSG(std::fabs(want - dcd[j]) <= kFdTol * std::fmax(1.0, std::fabs(want)),
              "d/dc_prev[" << j << "] backward " << dcd[j] << ", finite differences " << want);
  }
}

// ---- GRU and RNN -------------------------------------------------------------------------------

template <typename T>
struct GruOut {
  std::vector<T> gx, h, pre, dgx, dgh, dhp;
};

// resetAfter true (fused) or false (two phases around rh · Wn, Wn an H×H matrix given here).
template <typename T>
GruOut<T> RunGru(const Kernels<T>* k, const CellActivations& ca, bool after, int H, bool with_pre,
                 std::vector<T> gx, const std::vector<T>& gh, const std::vector<T>& hp,
                 const std::vector<T>& wn, const std::vector<T>& dh) {
  GruOut<T> o;
  o.h.assign(H, 0);
  o.pre.assign(3 * H, 0);
  o.dgx.assign(3 * H, 0);
  o.dgh.assign(3 * H, 0);
  o.dhp.assign(H, 0);
  T* pre = with_pre ? o.pre.data() : nullptr;
  if (after) {
    k->gru.fwd_act(H, ca, gx.data(), gh.data(), hp.data(), o.h.data(), pre);
    k->gru.bwd_act(H, ca, gx.data(), pre, gh.data(), hp.data(), dh.data(), o.dgx.data(),
                   o.dgh.data(), o.dhp.data());
  } else {
    std::vector<T> rh(H), ghn(H, 0), drh(H, 0);
    k->gru.fwd_rz_act(H, ca, gx.data(), gh.data(), hp.data(), rh.data(), pre);
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < H; ++j) ghn[i] += wn[i * H + j] * rh[j];
    k->gru.fwd_n_act(H, ca, gx.data(), ghn.data(), hp.data(), o.h.data(), pre);
    k->gru.bwd_n_act(H, ca, gx.data(), pre, hp.data(), dh.data(), o.dgx.data(), o.dgh.data(),
                     o.dhp.data());
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < H; ++j) drh[j] += o.dgh[2 * H + i] * wn[i * H + j];
    k->gru.bwd_r_act(H, ca, gx.data(), pre, hp.data(), drh.data(), o.dgx.data(), o.dgh.data(),
                     o.dhp.data());
  }
  o.gx = gx;
  return o;
}

void CheckGru(const Kernels<float>* k, const Named& cfg, bool after, int H) {
  const bool with_pre = cellstate::CellActivationsNeedPre(cfg.ca);
  Rng rng(H * 3 + after);
  const auto gx = Random(rng, 3 * H, 1.5), gh = Random(rng, 3 * H, 1.0), hp = Random(rng, H, 1.0);
  const auto wn = Random(rng, H * H, 0.5), dh = Random(rng, H, 1.0);
  const auto want = RunGru<double>(cellstate::RefKernels<double>(), cfg.ca, after, H, with_pre, gx,
                                   gh, hp, wn, dh);
  const auto got =
      RunGru<float>(k, cfg.ca, after, H, with_pre, ToF(gx), ToF(gh), ToF(hp), ToF(wn), ToF(dh));
  Compare("acts", got.gx, want.gx);
  Compare("h", got.h, want.h);
  Compare("pre", got.pre, want.pre);
  Compare("dgx", got.dgx, want.dgx);
  Compare("dgh", got.dgh, want.dgh);
  Compare("dh_prev", got.dhp, want.dhp);
}

// Finite differences of L = Σ dh·h over gx, gh (the r and z blocks; n's for resetAfter) and
// h_prev (its direct part, plus the path through rh for resetAfter false).
void CheckGruFd(const Named& cfg, bool after, int H) {
  const Kernels<double>* r = cellstate::RefKernels<double>();
  const bool with_pre = cellstate::CellActivationsNeedPre(cfg.ca);
  Rng rng(H * 17 + after);
  auto gx = Random(rng, 3 * H, 1.5), gh = Random(rng, 3 * H, 1.0), hp = Random(rng, H, 1.0);
  const auto wn = Random(rng, H * H, 0.5), dh = Random(rng, H, 1.0);
  const auto res = RunGru<double>(r, cfg.ca, after, H, with_pre, gx, gh, hp, wn, dh);
  auto loss = [&]() {
    const auto o = RunGru<double>(r, cfg.ca, after, H, true, gx, gh, hp, wn, dh);
    double l = 0;
    for (int j = 0; j < H; ++j) l += dh[j] * o.h[j];
    return l;
  };
  auto fd = [&](double& v) {
    const double keep = v, h = 1e-6;
    v = keep + h;
    const double up = loss();
    v = keep - h;
    const double down = loss();
    v = keep;
    return (up - down) / (2 * h);
  };
  auto check = [&](const char* what, int i, double want, double got) {
    CHECK_MSG(std::fabs(want - got) <= kFdTol * std::fmax(1.0, std::fabs(want)),
              what << "[" << i << "] backward " << got << ", finite differences " << want);
  };
  for (int i = 0; i < 3 * H; ++i) check("dgx", i, fd(gx[i]), res.dgx[i]);
  // gh feeds r and z directly; for resetAfter, gh_n too (for false, n's GEMM is internal here).
  for (int i = 0; i < (after ? 3 : 2) * H; ++i) check("dgh", i, fd(gh[i]), res.dgh[i]);
  for (int j = 0; j < H; ++j) check("dh_prev", j, fd(hp[j]), res.dhp[j]);
}

template <typename T>
std::vector<T> RunRnn(const Kernels<T>* k, const CellActivations& ca, int H, bool with_pre,
                      const std::vector<T>& a, const std::vector<T>& dh, std::vector<T>* h) {
  std::vector<T> pre(H, 0), da(H, 0);
  h->assign(H, 0);
  k->rnn.fwd_act(H, ca, a.data(), h->data(), with_pre ? pre.data() : nullptr);
  k->rnn.bwd_act(H, ca, h->data(), with_pre ? pre.data() : nullptr, dh.data(), da.data());
  return da;
}

void CheckRnn(const Kernels<float>* k, const Named& cfg, int H) {
  const bool with_pre = cellstate::CellActivationsNeedPre(cfg.ca);
  Rng rng(H * 5 + 2);
  auto a = Random(rng, H, 2.0);
  const auto dh = Random(rng, H, 1.0);
  std::vector<double> h;
  std::vector<float> hf;
  const auto da = RunRnn<double>(cellstate::RefKernels<double>(), cfg.ca, H, with_pre, a, dh, &h);
  const auto daf = RunRnn<float>(k, cfg.ca, H, with_pre, ToF(a), ToF(dh), &hf);
  Compare("h", hf, h);
  Compare("da", daf, da);
  // Finite differences of Σ dh·h in double.
  for (int j = 0; j < H; ++j) {
    const double keep = a[j], step = 1e-6;
    std::vector<double> hu, hd;
    a[j] = keep + step;
    RunRnn<double>(cellstate::RefKernels<double>(), cfg.ca, H, true, a, dh, &hu);
    a[j] = keep - step;
    RunRnn<double>(cellstate::RefKernels<double>(), cfg.ca, H, true, a, dh, &hd);
    a[j] = keep;
    const double want = dh[j] * (hu[j] - hd[j]) / (2 * step);
    CHECK_MSG(std::fabs(want - da[j]) <= kFdTol * std::fmax(1.0, std::fabs(want)),
              "da[" << j << "] backward " << da[j] << ", finite differences " << want);
  }
}

}  // namespace

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("postgemm_act_test");
  std::vector<std::pair<std::string, const Kernels<float>*>> tables = {
      {"ref", cellstate::RefKernels<float>()}};
  for (const NamedEngine& ne : FloatEngines(/*with_ref=*/false))
    if (ne.threads == 1)
      tables.push_back({ne.name, static_cast<const Kernels<float>*>(ne.engine.kernels)});
  const LstmFlavor flavors[] = {
      {"standard", true, true, true, false, false, true, true},
      {"peephole", true, true, true, false, true, true, true},
      {"cifg peephole", true, true, true, true, true, true, true},
      {"niaf noaf", true, true, true, false, false, false, false},
      {"nig nog peephole", false, true, false, false, true, true, true},
  };
  const int sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 33};
  for (const Named& cfg : Configs()) {
    for (const LstmFlavor& fl : flavors) {
      RunCase("fd/lstm/" + cfg.name + "/" + fl.name, [&] { CheckLstmFd(cfg, fl, 7); });
      for (const auto& t : tables)
        for (int H : sizes)
          RunCase(t.first + "/lstm/" + cfg.name + "/" + fl.name + "/H" + std::to_string(H),
                  [&] { CheckLstm(t.second, cfg, fl, H); });
    }
    for (bool after : {true, false}) {
      const std::string g = after ? "gru" : "gru resetBefore";
      RunCase("fd/" + g + "/" + cfg.name, [&] { CheckGruFd(cfg, after, 7); });
      for (const auto& t : tables)
        for (int H : sizes)
          RunCase(t.first + "/" + g + "/" + cfg.name + "/H" + std::to_string(H),
                  [&] { CheckGru(t.second, cfg, after, H); });
    }
    for (const auto& t : tables)
      for (int H : sizes)
        RunCase(t.first + "/rnn/" + cfg.name + "/H" + std::to_string(H),
                [&] { CheckRnn(t.second, cfg, H); });
  }
  return suite.Finish();
}
