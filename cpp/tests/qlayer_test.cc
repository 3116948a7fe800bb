// int8 inference through the driver (Layer<float>::Quantize, cpp/src/cell/quant.cc): every cell
// and option, on every float ISA this CPU runs (its int8 table: QKernelsForIsa), and:
//   - a float64 simulation of the scheme (LSTM with and without projection, GRU both resets, RNN
//     tanh and relu), every ISA, within float rounding;
//   - within the error of int8 quantization of the float layer (bound next to the check);
//   - every ISA within a float-epilogue rounding of the scalar table (the int32 sums are exact);
//   - threads (split by columns, by rows, the wavefront) bit for bit like one thread;
//   - lengths: each row equals that sequence alone, bit for bit (rows are quantized alone);
//   - batch-first bit for bit like time-major; Step bit for bit like forward;
//   - the layer keeps no float copy: its weights read back dequantized, Quantize(false) runs
//     float on them bit for bit like a float layer given them, and quantizing again gives the
//     same results; training and double layers are refused; a NaN weight is refused without
//     changing anything, and new weights with a NaN return a quantized layer to float on them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cellstate/cellstate.h"
#include "qcheck.h"
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {
namespace {

double MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = a.size() == b.size() ? 0 : 1e30;
  // A plain compare, not std::fmax (GCC 12.2 for aarch64 crashes vectorizing that reduction).
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

struct Out {
  std::vector<float> y, hn, cn;
  bool operator==(const Out& o) const { return y == o.y && hn == o.hn && cn == o.cn; }
};

struct Case {
  Config cfg;
  int T, B;
  std::vector<float> params, x, h0, c0;
  std::vector<int32_t> lens;
};

Status Run(Layer<float>& layer, const Case& c, bool batch_first, bool lengths, Out* o) {
  const Config& cfg = c.cfg;
  const int D = cfg.directions(), L = cfg.num_layers, R = cfg.out_size();
  const size_t SB = size_t(L) * D * c.B;
  o->y.assign(size_t(c.T) * c.B * D * R, -7.0f);
  o->hn.assign(SB * R, -7.0f);
  o->cn.assign(SB * std::max(cfg.cell_state_size(), 1), -7.0f);
  std::vector<float> xb;
  ForwardArgs a;
  a.seq_len = c.T;
  a.batch = c.B;
  a.x = c.x.data();
  if (batch_first) {
    const size_t I = size_t(cfg.input_size);
    xb.resize(c.x.size());
    for (int t = 0; t < c.T; ++t)
      for (int b = 0; b < c.B; ++b)
        std::memcpy(&xb[(size_t(b) * c.T + t) * I], &c.x[(size_t(t) * c.B + b) * I], I * 4);
    a.x = xb.data();
    a.batch_first = true;
  }
  a.h0 = c.h0.data();
  a.c0 = cfg.cell_state_size() ? c.c0.data() : nullptr;
  a.lengths = lengths ? c.lens.data() : nullptr;
  a.output = o->y.data();
  a.h_n = o->hn.data();
  a.c_n = cfg.cell_state_size() ? o->cn.data() : nullptr;
  const Status st = layer.Forward(a);
  if (batch_first) {  // back to time-major
    const size_t F = size_t(D) * R;
    std::vector<float> y = o->y;
    for (int t = 0; t < c.T; ++t)
      for (int b = 0; b < c.B; ++b)
        std::memcpy(&o->y[(size_t(t) * c.B + b) * F], &y[(size_t(b) * c.T + t) * F], F * 4);
  }
  return st;
}

std::unique_ptr<Layer<float>> Make(const Case& c, const Engine& e, bool quantize) {
  std::unique_ptr<Layer<float>> layer;
  if (!Layer<float>::Create(c.cfg, e, &layer).ok()) return nullptr;
  std::memcpy(layer->param_data(), c.params.data(), c.params.size() * 4);
  layer->ParamsChanged();
  if (quantize && !layer->Quantize(true).ok()) return nullptr;
  return layer;
}

Case MakeCase(const Config& cfg, int T, int B, unsigned seed) {
  Case c;
  c.cfg = cfg;
  c.T = T;
  c.B = B;
  // Parameters as in test/fixtures: [-0.5, 0.5], past H = 32 PyTorch's 1/sqrt(H).
  std::mt19937 rng(seed);
  const float range = cfg.hidden_size > 32 ? 1.0f / std::sqrt(float(cfg.hidden_size)) : 0.5f;
  std::uniform_real_distribution<float> up(-range, range), ux(-1.0f, 1.0f);
  c.params.resize(ParamCount(cfg));
  for (auto& v : c.params) v = up(rng);
  // layerNorm's gains near 1, as initialized.
  for (const ParamInfo& p : ParamTable(cfg))
    if (p.name.rfind("ln_", 0) == 0 && p.name.find("weight") != std::string::npos)
      for (size_t i = 0; i < p.size; ++i) c.params[p.offset + i] += 1.0f;
  const size_t SB = size_t(cfg.num_layers) * cfg.directions() * B;
  c.x.resize(size_t(T) * B * cfg.input_size);
  c.h0.resize(SB * cfg.out_size());
  c.c0.resize(SB * std::max(cfg.cell_state_size(), 1));
  for (auto* v : {&c.x, &c.h0, &c.c0})
    for (auto& f : *v) f = ux(rng);
  for (int b = 0; b < B; ++b) c.lens.push_back(b == 0 ? T : std::max(1, T - 2 * b - 1));
  return c;
}

// Row b of a forward with lengths equals the sequence alone (T = len_b, B = 1), bit for bit.
bool CheckLengths(const std::string& name, const Case& c, const Engine& e, const Out& with) {
  const Config& cfg = c.cfg;
  const int D = cfg.directions(), R = cfg.out_size(), L = cfg.num_layers;
  const size_t I = cfg.input_size, CS = size_t(std::max(cfg.cell_state_size(), 1));
  for (int b = 0; b < c.B; ++b) {
    Case one = c;
    one.T = c.lens[b];
    one.B = 1;
    one.x.assign(size_t(one.T) * I, 0);
    for (int t = 0; t < one.T; ++t)
      std::memcpy(&one.x[t * I], &c.x[(size_t(t) * c.B + b) * I], I * 4);
    one.h0.assign(size_t(L) * D * R, 0);
    one.c0.assign(size_t(L) * D * CS, 0);
    for (int s = 0; s < L * D; ++s) {
      std::memcpy(&one.h0[s * R], &c.h0[(size_t(s) * c.B + b) * R], R * 4);
      std::memcpy(&one.c0[s * CS], &c.c0[(size_t(s) * c.B + b) * CS], CS * 4);
    }
    auto layer = Make(one, e, true);
    Out o;
    QCHECK(layer && Run(*layer, one, false, false, &o).ok(), "%s: row %d alone", name.c_str(), b);
    for (int t = 0; t < c.T; ++t) {
      const float* got = &with.y[(size_t(t) * c.B + b) * D * R];
      for (int j = 0; j < D * R; ++j) {
        const float want = t < one.T ? o.y[size_t(t) * D * R + j] : 0.0f;
        QCHECK(std::memcmp(&got[j], &want, 4) == 0, "%s: lengths: row %d t %d differs",
               name.c_str(), b, t);
      }
    }
    for (int s = 0; s < L * D; ++s)
      QCHECK(std::memcmp(&with.hn[(size_t(s) * c.B + b) * R], &o.hn[s * R], R * 4) == 0,
             "%s: lengths: h_n of row %d", name.c_str(), b);
  }
  return true;
}

// T Steps of B streams equal forward (one direction only: streams refuse the others).
bool CheckSteps(const std::string& name, const Case& c, Layer<float>& layer, const Out& fwd) {
  const Config& cfg = c.cfg;
  const int L = cfg.num_layers, R = cfg.out_size(), CS = cfg.cell_state_size();
  const size_t per = size_t(c.B) * (R + CS);
  std::vector<float> state(layer.StreamStateSize(c.B)), scratch(layer.StreamScratchSize(c.B) + 1);
  for (int l = 0; l < L; ++l) {
    std::memcpy(&state[l * per], &c.h0[size_t(l) * c.B * R], size_t(c.B) * R * 4);
    if (CS)
      std::memcpy(&state[l * per + size_t(c.B) * R], &c.c0[size_t(l) * c.B * CS],
                  size_t(c.B) * CS * 4);
  }
  std::vector<float> out(size_t(c.B) * R);
  const size_t I = cfg.input_size;
  for (int t = 0; t < c.T; ++t) {
    // scratch + 1: an unaligned scratch, as a caller may pass.
    QCHECK(layer.Step(c.B, &c.x[size_t(t) * c.B * I], state.data(), scratch.data() + 1, out.data())
               .ok(),
           "%s: Step", name.c_str());
    QCHECK(std::memcmp(out.data(), &fwd.y[size_t(t) * c.B * R], out.size() * 4) == 0,
           "%s: Step %d differs from forward", name.c_str(), t);
  }
  return true;
}

bool CheckCase(const std::string& name, const Config& cfg, int T, int B, double tol) {
  const Case c = MakeCase(cfg, T, B, 11);
  Engine e1;
  if (!MakeEngine("scalar", 1, &e1).ok()) return false;
  auto fl = Make(c, e1, false);
  QCHECK(fl, "%s: float layer", name.c_str());
  Out f;
  QCHECK(Run(*fl, c, false, true, &f).ok(), "%s: float forward", name.c_str());
  double big = 1.0;
  if (cfg.cell_state_size() > 0)
    for (float v : f.cn) big = std::max(big, double(std::fabs(v)));
  Out scalar_out;
  bool have_scalar = false;
  for (const char* isa : {"scalar", "avx2", "avx512", "neon"}) {
    Engine e;
    if (!MakeEngine(isa, 1, &e).ok()) continue;  // not this CPU
    const std::string n = name + " " + isa;
    auto q = Make(c, e, true);
    QCHECK(q && q->quantized(), "%s: Quantize", n.c_str());
    Out o;
    QCHECK(Run(*q, c, false, true, &o).ok(), "%s: forward", n.c_str());
    // Against float: tol (relative to the largest state, which grows without a forget gate).
    const double d = std::max({MaxDiff(o.y, f.y), MaxDiff(o.hn, f.hn), MaxDiff(o.cn, f.cn)});
    if (std::getenv("CSTEST_STATS")) std::printf("%s: max |int8 - float| %.3g\n", n.c_str(), d);
    QCHECK(d > 0 && d <= tol * big, "%s: int8 vs float %.3g (bound %.3g)", n.c_str(), d, tol * big);
    if (!have_scalar) {
      scalar_out = o;
      have_scalar = true;
    } else {  // the epilogue's last bit may move one activation to the next int8 value
      QCHECK(MaxDiff(o.y, scalar_out.y) <= 1e-3 * big, "%s: differs from scalar by %.3g", n.c_str(),
             MaxDiff(o.y, scalar_out.y));
    }
    QCHECK(CheckLengths(n, c, e, o), "%s", n.c_str());
    Out bf;
    QCHECK(Run(*q, c, true, true, &bf).ok() && bf == o, "%s: batch-first differs", n.c_str());
    Out full;
    QCHECK(Run(*q, c, false, false, &full).ok(), "%s: forward without lengths", n.c_str());
    if (cfg.directions() == 1 && !cfg.reverse) QCHECK(CheckSteps(n, c, *q, full), "%s", n.c_str());
    // Threads: columns split, rows split, and the wavefront, bit for bit like one thread.
    for (int mode = 0; mode < 3; ++mode) {
      Engine e2;
      QCHECK(MakeEngine(isa, 2, &e2).ok(), "engine");
      e2.parallel_min_flops = mode == 2 ? 1e30 : 0;
      e2.row_split_min_rows = mode == 1 ? 1 : 1 << 20;
      e2.wavefront_min_flops = 0;
      e2.wavefront_chunk_rows = 2;
      auto q2 = Make(c, e2, true);
      Out o2, full2;
      QCHECK(q2 && Run(*q2, c, false, true, &o2).ok() && o2 == o, "%s: threads mode %d differ",
             n.c_str(), mode);
      QCHECK(Run(*q2, c, false, false, &full2).ok() && full2 == full,
             "%s: threads mode %d differ (no lengths)", n.c_str(), mode);
    }
    // Training refused, nothing changed; then back to float bit for bit.
    {
      ForwardArgs a;
      a.seq_len = c.T;
      a.batch = c.B;
      a.x = c.x.data();
      a.output = o.y.data();
      a.train = true;
      QCHECK(q->Forward(a).code == Code::kUnsupported && q->quantized(), "%s: training", n.c_str());
      Out again;
      QCHECK(Run(*q, c, false, true, &again).ok() && again == o, "%s: changed by a refusal",
             n.c_str());
    }
    // The layer keeps no float weights: it reads them back dequantized, and Quantize(false)
    // runs float on those, bit for bit like a float layer given them; quantizing again gives
    // the same int8 weights, so the same results.
    QCHECK(q->param_data() == nullptr && q->grad_data() == nullptr, "%s: float copies kept",
           n.c_str());
    Case dq = c;
    q->ReadParams(dq.params.data());
    QCHECK(dq.params != c.params, "%s: dequantized weights equal the float ones", n.c_str());
    QCHECK(q->Quantize(false).ok() && !q->quantized(), "%s: Quantize(false)", n.c_str());
    auto fe = Make(dq, e, false);
    Out back, want;
    QCHECK(
        Run(*q, c, false, true, &back).ok() && Run(*fe, c, false, true, &want).ok() && back == want,
        "%s: float results differ after Quantize(false)", n.c_str());
    Out requant;
    QCHECK(q->Quantize(true).ok() && Run(*q, c, false, true, &requant).ok() && requant == o,
           "%s: quantized again, results differ", n.c_str());
    ++g_passed;
  }
  return true;
}

// ---- a float64 simulation of the scheme (one layer, one direction) --------------------------
// Weights and activations quantized as QuantizeWeights / quantize_rows do (float scale and
// reciprocal, round half to even, ±127); exact int32 sums; dequantization and the cell in double.

struct QRow {
  std::vector<int32_t> q;
  double scale = 0;
};

QRow QuantizeRow(const float* v, size_t K) {
  QRow r;
  float amax = 0.0f;
  for (size_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(v[k]));
  r.scale = double(amax / 127.0f);
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  r.q.resize(K);
  for (size_t k = 0; k < K; ++k) {
    const float x = v[k] * inv;  // a float product, as every path computes it
    r.q[k] = int32_t(std::max(-127.0f, std::min(127.0f, std::nearbyint(x))));
  }
  return r;
}

// y[n] = Σ_k q(a)[k] q(W)[n, k] · s_a · s_w[n] for rows [row0, row0 + N) of W [·, K].
std::vector<double> SimGemm(const std::vector<float>& a, const float* W, size_t row0, size_t N,
                            size_t K) {
  const QRow qa = QuantizeRow(a.data(), K);
  std::vector<double> y(N);
  for (size_t n = 0; n < N; ++n) {
    const QRow qw = QuantizeRow(W + (row0 + n) * K, K);
    int64_t acc = 0;
    for (size_t k = 0; k < K; ++k) acc += int64_t(qa.q[k]) * qw.q[k];
    y[n] = double(acc) * qa.scale * qw.scale;
  }
  return y;
}

double Sig(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Output [T, B, R] of the simulated layer (float state between steps, as the layer keeps it).
std::vector<double> Simulate(const Case& c) {
  const Config& cfg = c.cfg;
  const size_t I = cfg.input_size, H = cfg.hidden_size, R = cfg.out_size();
  const size_t P = cfg.cell == Cell::kLSTM ? size_t(cfg.lstm.proj_size) : 0;
  std::map<std::string, const float*> w;
  for (const ParamInfo& p : ParamTable(cfg)) w[p.name] = c.params.data() + p.offset;
  const float* Wih = w["weight_ih_l0"];
  const float* Whh = w["weight_hh_l0"];
  const float* bih = w["bias_ih_l0"];
  const float* bhh = w["bias_hh_l0"];
  std::vector<double> y(size_t(c.T) * c.B * R);
  for (int b = 0; b < c.B; ++b) {
    std::vector<float> h(c.h0.begin() + b * R, c.h0.begin() + (b + 1) * R);
    std::vector<double> cs(H);
    for (size_t j = 0; j < H && cfg.cell == Cell::kLSTM; ++j) cs[j] = c.c0[b * H + j];
    for (int t = 0; t < c.T; ++t) {
      std::vector<float> x(c.x.begin() + (size_t(t) * c.B + b) * I,
                           c.x.begin() + (size_t(t) * c.B + b + 1) * I);
      std::vector<double> hn(R);
      if (cfg.cell == Cell::kLSTM) {
        std::vector<double> gi = SimGemm(x, Wih, 0, 4 * H, I), gh = SimGemm(h, Whh, 0, 4 * H, R);
        std::vector<float> m(H);
        for (size_t j = 0; j < H; ++j) {
          auto a = [&](size_t blk) {
            const size_t n = blk * H + j;
            return gi[n] + double(bih[n]) + double(bhh[n]) + gh[n];
          };
          const double i = Sig(a(0)), f = Sig(a(1)), g = std::tanh(a(2)), o = Sig(a(3));
          cs[j] = f * cs[j] + i * g;
          cs[j] = double(float(cs[j]));  // the layer keeps c in float
          m[j] = float(o * std::tanh(cs[j]));
        }
        if (P > 0) {
          const std::vector<double> hp = SimGemm(m, w["weight_hr_l0"], 0, P, H);
          for (size_t j = 0; j < P; ++j) hn[j] = hp[j];
        } else {
          for (size_t j = 0; j < H; ++j) hn[j] = m[j];
        }
      } else if (cfg.cell == Cell::kGRU) {
        const std::vector<double> gi = SimGemm(x, Wih, 0, 3 * H, I);
        const std::vector<double> g2 = SimGemm(h, Whh, 0, cfg.gru.reset_after ? 3 * H : 2 * H, H);
        std::vector<double> r(H), z(H);
        std::vector<float> rh(H);
        for (size_t j = 0; j < H; ++j) {
          r[j] = Sig(gi[j] + bih[j] + g2[j] + bhh[j]);
          z[j] = Sig(gi[H + j] + bih[H + j] + g2[H + j] + bhh[H + j]);
          rh[j] = float(r[j] * h[j]);
        }
        std::vector<double> ghn(H);
        if (cfg.gru.reset_after)
          for (size_t j = 0; j < H; ++j) ghn[j] = r[j] * (g2[2 * H + j] + bhh[2 * H + j]);
        else {
          const std::vector<double> q = SimGemm(rh, Whh, 2 * H, H, H);  // r ⊙ h quantized
          for (size_t j = 0; j < H; ++j) ghn[j] = q[j] + bhh[2 * H + j];
        }
        for (size_t j = 0; j < H; ++j) {
          const double n = std::tanh(gi[2 * H + j] + bih[2 * H + j] + ghn[j]);
          hn[j] = (1 - z[j]) * n + z[j] * h[j];
        }
      } else {
        const std::vector<double> gi = SimGemm(x, Wih, 0, H, I), gh = SimGemm(h, Whh, 0, H, H);
        for (size_t j = 0; j < H; ++j) {
          const double a = gi[j] + bih[j] + bhh[j] + gh[j];
          hn[j] = cfg.rnn.relu ? std::max(a, 0.0) : std::tanh(a);
        }
      }
      for (size_t j = 0; j < R; ++j) {
        y[(size_t(t) * c.B + b) * R + j] = hn[j];
        h[j] = float(hn[j]);
      }
    }
  }
  return y;
}

// Every ISA's quantized forward against the simulation. Bound 1e-5: float against double
// arithmetic in the dequantization and the cell (measured up to 6.3e-7); a wrong scheme (an
// activation or weight quantized differently, a missing scale) moves outputs by ~1e-3. An
// activation within a rounding of a half-step would also move one int8 value: the seeds avoid it.
bool CheckSimulation(const std::string& name, const Config& cfg) {
  const Case c = MakeCase(cfg, 6, 3, 5);
  const std::vector<double> want = Simulate(c);
  int isas = 0;
  for (const char* isa : {"scalar", "avx2", "avx512", "neon"}) {
    Engine e;
    if (!MakeEngine(isa, 1, &e).ok()) continue;
    auto q = Make(c, e, true);
    Out o;
    QCHECK(q && Run(*q, c, false, false, &o).ok(), "%s %s: forward", name.c_str(), isa);
    double d = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double di = std::fabs(want[i] - o.y[i]);
      if (!(di <= d)) d = di;
    }
    if (std::getenv("CSTEST_STATS"))
      std::printf("%s %s: max |int8 - simulation| %.3g\n", name.c_str(), isa, d);
    QCHECK(d <= 1e-5, "%s %s: differs from the float64 simulation by %.3g", name.c_str(), isa, d);
    ++isas;
  }
  QCHECK(isas > 0, "no ISA ran");
  ++g_passed;
  return true;
}

// A quantized layer moved to another engine (another ISA) keeps its int8 weights and runs the
// new engine's int8 table: the results of a layer quantized on that engine, bit for bit.
bool CheckSetEngine() {
  Engine best, scalar;
  if (!MakeEngine("", 1, &best).ok() || !MakeEngine("scalar", 1, &scalar).ok()) return false;
  Config c;
  c.input_size = 7;
  c.hidden_size = 10;
  c.num_layers = 2;
  c.lstm.proj_size = 6;
  c.lstm.layer_norm = true;
  const Case k = MakeCase(c, 5, 3, 11);
  auto q = Make(k, best, true);
  auto want_layer = Make(k, scalar, true);
  QCHECK(q && want_layer, "Make");
  q->SetEngine(scalar);
  Out got, want;
  QCHECK(q->quantized() && Run(*q, k, false, true, &got).ok(), "forward after SetEngine");
  QCHECK(Run(*want_layer, k, false, true, &want).ok() && got == want,
         "SetEngine: results differ from a layer quantized on the engine");
  q->SetEngine(best);
  auto back = Make(k, best, true);
  QCHECK(
      Run(*q, k, false, true, &got).ok() && Run(*back, k, false, true, &want).ok() && got == want,
      "SetEngine back: results differ");
  ++g_passed;
  return true;
}

bool CheckRefusals() {
  Engine e;
  if (!MakeEngine("", 1, &e).ok()) return false;
  Config c;
  c.input_size = 4;
  c.hidden_size = 5;
  std::unique_ptr<Layer<double>> dbl;
  QCHECK(Layer<double>::Create(c, e, &dbl).ok(), "Create double");
  QCHECK(dbl->Quantize(true).code == Code::kUnsupported && !dbl->quantized(), "double");
  const Case k = MakeCase(c, 3, 2, 1);
  auto layer = Make(k, e, false);
  QCHECK(layer, "Make");
  Out before;
  QCHECK(Run(*layer, k, false, false, &before).ok(), "forward");
  // A NaN weight: Quantize refuses and changes nothing (still float, on the same weights).
  layer->param_data()[2] = std::numeric_limits<float>::quiet_NaN();
  const Status st = layer->Quantize(true);
  QCHECK(st.code == Code::kInvalidArgument && st.message.find("weight_ih_l0") != std::string::npos,
         "NaN: %s", st.message.c_str());
  QCHECK(
      !layer->quantized() && layer->param_data() != nullptr && std::isnan(layer->param_data()[2]),
      "a refused Quantize changed the layer");
  layer->param_data()[2] = k.params[2];
  layer->ParamsChanged();
  Out after;
  QCHECK(Run(*layer, k, false, false, &after).ok() && after == before, "changed by a refusal");
  // New weights on a quantized layer are quantized; a NaN among them returns it to float on them.
  QCHECK(layer->Quantize(true).ok(), "Quantize");
  std::vector<float> w = k.params;
  w[2] = std::numeric_limits<float>::quiet_NaN();
  QCHECK(layer->WriteParams(w.data()).ok() && !layer->quantized(), "WriteParams NaN");
  std::vector<float> got(w.size());
  layer->ReadParams(got.data());
  QCHECK(std::isnan(got[2]) && got[3] == k.params[3], "WriteParams NaN: weights");
  QCHECK(layer->Quantize(true).code == Code::kInvalidArgument, "NaN weights quantized");
  QCHECK(layer->WriteParams(k.params.data()).ok() && !layer->quantized(), "WriteParams float");
  QCHECK(
      layer->Quantize(true).ok() && layer->WriteParams(k.params.data()).ok() && layer->quantized(),
      "WriteParams on a quantized layer");
  Out q1;
  auto fresh = Make(k, e, true);
  QCHECK(Run(*layer, k, false, false, &q1).ok() && Run(*fresh, k, false, false, &after).ok() &&
             q1 == after,
         "WriteParams on a quantized layer: results differ from quantizing them");
  ++g_passed;
  return true;
}

}  // namespace
}  // namespace cellstate

int main() {
  using namespace cellstate;
  auto cfg = [](Cell cell, int I, int H, int L) {
    Config c;
    c.cell = cell;
    c.input_size = I;
    c.hidden_size = H;
    c.num_layers = L;
    return c;
  };
  // Bound: 2e-2 of the largest state (PyTorch's onednn engine reaches 1.7e-2 on the fixture
  // shapes, scripts/quant/torch-dynamic-accuracy.py); layerNorm 6e-2: LN(W_hh h) divides the
  // product's quantization error by the spread of W_hh h, small when h is; the RNN 4e-2: no gate
  // damps the error of h_{t-1} (PyTorch has no dynamic quantization of nn.RNN to compare).
  const double tol = 2e-2;
  CheckCase("lstm I7 H33", cfg(Cell::kLSTM, 7, 33, 1), 12, 3, tol);
  CheckCase("lstm I16 H32 L3", cfg(Cell::kLSTM, 16, 32, 3), 9, 5, tol);
  {
    Config c = cfg(Cell::kLSTM, 5, 17, 2);
    c.lstm.peephole = true;
    c.lstm.proj_size = 6;
    c.bidirectional = true;
    CheckCase("lstm peephole proj bidir L2", c, 7, 4, tol);
  }
  {
    Config c = cfg(Cell::kLSTM, 6, 9, 2);
    c.lstm.coupled = true;
    c.lstm.output_gate = false;
    c.lstm.output_activation = false;
    c.reverse = true;
    CheckCase("lstm cifg nog noaf reverse L2", c, 8, 3, tol);
  }
  {
    Config c = cfg(Cell::kLSTM, 6, 20, 2);
    c.lstm.layer_norm = true;
    c.lstm.proj_size = 7;
    CheckCase("lstm layerNorm proj L2", c, 8, 3, 6e-2);
  }
  {
    Config c = cfg(Cell::kLSTM, 6, 20, 1);
    c.lstm.acts.clip = 0.7f;
    CheckCase("lstm clip", c, 8, 3, tol);
  }
  CheckCase("gru resetAfter L2", cfg(Cell::kGRU, 9, 24, 2), 9, 4, tol);
  // T·B past the int8 input GEMM's chunk (256 rows: 42 steps of 6, the last chunk short), both
  // directions: the chunks against the rows alone (one chunk) and the steps, bit for bit.
  {
    Config c = cfg(Cell::kLSTM, 7, 12, 2);
    c.bidirectional = true;
    CheckCase("lstm bidir L2 T100 B6 (chunks)", c, 100, 6, tol);
    Config g = cfg(Cell::kGRU, 7, 12, 1);
    CheckCase("gru T100 B6 (chunks)", g, 100, 6, tol);
  }
  {
    Config c = cfg(Cell::kGRU, 9, 17, 2);
    c.gru.reset_after = false;
    c.bidirectional = true;
    CheckCase("gru resetBefore bidir L2", c, 9, 4, tol);
  }
  {
    Config c = cfg(Cell::kGRU, 9, 17, 1);
    c.gru.reset_after = false;
    CheckCase("gru resetBefore", c, 9, 4, tol);
  }
  CheckCase("rnn tanh L2", cfg(Cell::kRNN, 8, 19, 2), 9, 3, 4e-2);
  {
    Config c = cfg(Cell::kRNN, 8, 19, 1);
    c.rnn.relu = true;
    c.reverse = true;
    CheckCase("rnn relu reverse", c, 9, 3, 4e-2);
  }
  {
    CheckSimulation("sim lstm", cfg(Cell::kLSTM, 12, 24, 1));
    Config c = cfg(Cell::kLSTM, 12, 24, 1);
    c.lstm.proj_size = 9;
    CheckSimulation("sim lstm proj", c);
    CheckSimulation("sim gru", cfg(Cell::kGRU, 12, 24, 1));
    c = cfg(Cell::kGRU, 12, 24, 1);
    c.gru.reset_after = false;
    CheckSimulation("sim gru resetBefore", c);
    CheckSimulation("sim rnn", cfg(Cell::kRNN, 12, 24, 1));
    c = cfg(Cell::kRNN, 12, 24, 1);
    c.rnn.relu = true;
    CheckSimulation("sim rnn relu", c);
  }
  CheckRefusals();
  CheckSetEngine();
  return QReport("qlayer");
}
