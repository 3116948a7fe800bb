// Running a Layer<T> on one problem (inputs, parameters and upstream gradients in double) and
// collecting every result, the engines under test, and the option flavors of docs/cells.md.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cell/activation.h"
#include "cellstate/cellstate.h"
#include "dispatch/pool.h"
#include "kernels.h"
#include "test_util.h"

namespace cstest {

using cellstate::Cell;
using cellstate::Config;
using cellstate::Engine;

// ---- sizes -------------------------------------------------------------------------------

struct Dims {
  int T, B, I, H, R, L, D;
  size_t x, out, h, c;  // element counts
  bool lstm;
};

inline Dims DimsOf(const Config& c, int T, int B) {
  Dims d;
  d.T = T;
  d.B = B;
  d.I = c.input_size;
  d.H = c.hidden_size;
  d.lstm = c.cell == Cell::kLSTM;
  d.R = (d.lstm && c.lstm.proj_size > 0) ? c.lstm.proj_size : c.hidden_size;
  d.L = c.num_layers;
  d.D = c.bidirectional ? 2 : 1;
  d.x = static_cast<size_t>(T) * B * d.I;
  d.out = static_cast<size_t>(T) * B * d.D * d.R;
  d.h = static_cast<size_t>(d.L) * d.D * B * d.R;
  d.c = d.lstm ? static_cast<size_t>(d.L) * d.D * B * d.H : 0;
  return d;
}

// Offset of step t of sequence b in a [T,B,F] or [B,T,F] tensor.
inline size_t SeqOffset(int t, int b, int T, int B, int F, bool batch_first) {
  return batch_first ? (static_cast<size_t>(b) * T + t) * F : (static_cast<size_t>(t) * B + b) * F;
}

// ---- one problem, one run -----------------------------------------------------------------

struct Problem {
  Config cfg;
  int T = 1, B = 1;
  bool batch_first = false;
  std::vector<int32_t> lengths;  // empty: null (all T)
  std::vector<double> x;
  std::vector<double> h0, c0;                // empty: null (zeros)
  std::vector<double> params;                // flat, ParamTable order
  std::vector<double> d_output, d_hn, d_cn;  // empty: null
  uint64_t dropout_seed = 0;                 // the training forward's masks
  std::vector<double> rmask;                 // [L·D,B,R] recurrent dropout masks; empty: drawn
};

template <typename T>
struct Result {
  cellstate::Status create, forward, backward;
  std::vector<T> output, hn, cn;
  std::vector<T> dx, dh0, dc0, grads;
  bool ok() const { return create.ok() && forward.ok() && backward.ok(); }
};

template <typename T>
std::vector<T> Cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <typename T>
const T* PtrOrNull(const std::vector<T>& v) {
  return v.empty() ? nullptr : v.data();
}

// A Layer<T> of cfg on engine e holding `params` (double, cast to T; ParamsChanged done), or
// null with the reason in *st (creation refused, or params not ParamCount(cfg) long).
template <typename T>
std::unique_ptr<cellstate::Layer<T>> LayerWith(const Config& cfg, const Engine& e,
                                               const std::vector<double>& params,
                                               cellstate::Status* st) {
  std::unique_ptr<cellstate::Layer<T>> layer;
  *st = cellstate::Layer<T>::Create(cfg, e, &layer);
  if (!st->ok()) return nullptr;
  if (!layer) {
    *st = cellstate::Status::Error(cellstate::Code::kOutOfMemory, "Create returned no layer");
    return nullptr;
  }
  const size_t np = cellstate::ParamCount(cfg);
  if (np != params.size()) {
    *st = cellstate::Status::Error(
        cellstate::Code::kInvalidArgument,
        "test: ParamCount " + std::to_string(np) + " != " + std::to_string(params.size()));
    return nullptr;
  }
  T* pd = layer->param_data();
  for (size_t i = 0; i < np; ++i) pd[i] = static_cast<T>(params[i]);
  layer->ParamsChanged();
  return layer;
}

// Creates a Layer<T> on engine e, sets the parameters, ZeroGrad (over a NaN-poisoned gradient
// buffer), a training forward and (when backward) Backward. Output buffers are NaN-poisoned so
// that an element the kernel forgets to write shows up.
template <typename T>
void Run(const Problem& p, const Engine& e, Result<T>* r, bool backward = true) {
  const T kNaN = std::numeric_limits<T>::quiet_NaN();
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  std::unique_ptr<cellstate::Layer<T>> layer = LayerWith<T>(p.cfg, e, p.params, &r->create);
  if (!layer) return;
  const size_t np = p.params.size();
  T* gd = layer->grad_data();
  for (size_t i = 0; i < np; ++i) gd[i] = kNaN;
  layer->ZeroGrad();

  std::vector<T> x = Cast<T>(p.x), h0 = Cast<T>(p.h0), c0 = Cast<T>(p.c0);
  const std::vector<T> rmask = Cast<T>(p.rmask);
  r->output.assign(d.out, kNaN);
  r->hn.assign(d.h, kNaN);
  r->cn.assign(d.c, kNaN);
  cellstate::ForwardArgs fa;
  fa.seq_len = p.T;
  fa.batch = p.B;
  fa.batch_first = p.batch_first;
  fa.x = x.data();
  fa.h0 = PtrOrNull(h0);
  fa.c0 = PtrOrNull(c0);
  fa.lengths = PtrOrNull(p.lengths);
  fa.train = backward;
  fa.dropout_seed = p.dropout_seed;
  fa.recurrent_mask = PtrOrNull(rmask);
  fa.output = r->output.data();
  fa.h_n = r->hn.data();
  fa.c_n = d.lstm ? r->cn.data() : nullptr;
  r->forward = layer->Forward(fa);
  if (!r->forward.ok() || !backward) return;

  std::vector<T> dout = Cast<T>(p.d_output), dhn = Cast<T>(p.d_hn), dcn = Cast<T>(p.d_cn);
  r->dx.assign(d.x, kNaN);
  r->dh0.assign(d.h, kNaN);
  r->dc0.assign(d.c, kNaN);
  cellstate::BackwardArgs ba;
  ba.d_output = PtrOrNull(dout);
  ba.d_h_n = PtrOrNull(dhn);
  ba.d_c_n = PtrOrNull(dcn);
  ba.d_x = r->dx.data();
  ba.d_h0 = r->dh0.data();
  ba.d_c0 = d.lstm ? r->dc0.data() : nullptr;
  r->backward = layer->Backward(ba);
  if (!r->backward.ok()) return;
  r->grads.assign(layer->grad_data(), layer->grad_data() + np);
}

// Output rows and dx rows at padded steps t >= len_b must be exactly 0 (docs/cells.md).
template <typename T>
bool CheckPadding(const Problem& p, const Result<T>& r, const std::string& what = "") {
  if (p.lengths.empty()) return true;
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  const int F = d.D * d.R;
  for (int b = 0; b < p.B; ++b) {
    for (int t = p.lengths[b]; t < p.T; ++t) {
      const size_t xo = SeqOffset(t, b, p.T, p.B, d.I, p.batch_first);
      for (int i = 0; i < d.I && !r.dx.empty(); ++i) {
        if (r.dx[xo + i] != T(0)) {
          CSTEST_FAIL(what + "dx is " + Num(static_cast<double>(r.dx[xo + i])) +
                      ", not 0, at padded t=" + std::to_string(t) + " b=" + std::to_string(b) +
                      " i=" + std::to_string(i));
          return false;
        }
      }
      const size_t oo = SeqOffset(t, b, p.T, p.B, F, p.batch_first);
      for (int i = 0; i < F; ++i) {
        if (r.output[oo + i] != T(0)) {
          CSTEST_FAIL(what + "output is " + Num(static_cast<double>(r.output[oo + i])) +
                      ", not 0, at padded t=" + std::to_string(t) + " b=" + std::to_string(b) +
                      " k=" + std::to_string(i));
          return false;
        }
      }
    }
  }
  return true;
}

// Random inputs, parameters (uniform in ±param_scale) and upstream gradients for cfg.
inline Problem RandomProblem(const Config& cfg, int T, int B, bool batch_first, bool lengths,
                             bool h0, bool c0, double param_scale, Rng* rng) {
  Problem p;
  p.cfg = cfg;
  p.T = T;
  p.B = B;
  p.batch_first = batch_first;
  const Dims d = DimsOf(cfg, T, B);
  if (lengths)
    for (int b = 0; b < B; ++b) p.lengths.push_back(rng->Int(0, T));  // 0: an empty sequence
  p.x = rng->Vec(d.x);
  if (h0) p.h0 = rng->Vec(d.h);
  if (c0 && d.lstm) p.c0 = rng->Vec(d.c);
  p.params = rng->Vec(cellstate::ParamCount(cfg), -param_scale, param_scale);
  p.d_output = rng->Vec(d.out);
  p.d_hn = rng->Vec(d.h);
  if (d.lstm) p.d_cn = rng->Vec(d.c);
  return p;
}

// ---- engines ----------------------------------------------------------------------------

struct NamedEngine {
  std::string name;  // "ref", "avx2/t2", ...
  std::string isa;   // "ref" or the ISA name
  int threads;
  Engine engine;
};

inline Engine RefEngineDouble(int threads = 1) {
  Engine e;
  e.kernels = cellstate::RefKernels<double>();
  e.threads = threads;
  return e;
}

inline Engine RefEngineFloat(int threads = 1) {
  Engine e;
  e.kernels = cellstate::RefKernels<float>();
  e.threads = threads;
  if (threads > 1) {
    e.pool = std::make_shared<cellstate::ThreadPool>(threads);
    e.parallel_min_flops = 0;  // really split even tiny problems
  }
  return e;
}

// A 2-thread engine that never splits a step and runs every stacked one-direction inference as
// a wavefront (layer l one chunk of 1 or 2 steps behind layer l-1 on another thread).
inline Engine WaveEngine(Engine e) {
  e.parallel_min_flops = 1e300;
  e.wavefront_min_flops = 0;
  e.wavefront_chunk_rows = 2;  // chunks of 1 or 2 steps: the short test sequences overlap
  return e;
}

// Every ISA the build knows of; those missing from AvailableIsas() are reported as skipped.
inline const std::vector<std::string>& KnownIsas() {
  // Keep in step with TableFor() in cpp/src/dispatch/engine.cc; an available ISA missing here is
  // still tested (engines come from AvailableIsas()), only its absence would go unreported.
  static const std::vector<std::string> k = {"avx512", "avx2", "neon", "scalar"};
  return k;
}

// The float engines: each ISA in AvailableIsas() with 1 thread and with 2 threads (forced to
// split work whatever the size: parallel_min_flops = 0; once splitting GEMM columns and once
// splitting batch rows; and once as a wavefront), preceded by the float reference. Records
// skipped ISAs (with MakeEngine's reason) in the suite, and a failure when an ISA listed as
// available cannot be made.
inline std::vector<NamedEngine> FloatEngines(bool with_ref = true) {
  std::vector<NamedEngine> out;
  if (with_ref) {
    out.push_back({"ref", "ref", 1, RefEngineFloat(1)});
    out.push_back({"ref/t2", "ref", 2, RefEngineFloat(2)});
    Engine rows = RefEngineFloat(2);
    rows.row_split_min_rows = 1;
    out.push_back({"ref/t2rows", "ref", 2, rows});
    out.push_back({"ref/t2wave", "ref", 2, WaveEngine(RefEngineFloat(2))});
  }
  const std::vector<std::string> avail = cellstate::AvailableIsas();
  for (const auto& isa : KnownIsas()) {
    bool listed = false;
    for (const auto& a : avail) listed |= a == isa;
    if (listed) continue;
    Engine e;
    cellstate::Status s = cellstate::MakeEngine(isa, 1, &e);
    std::string reason = s.ok() ? "not in AvailableIsas()" : s.message;
    if (reason.empty()) reason = std::string("MakeEngine: ") + CodeName(s.code);
    Suite::Get().Skip(isa, reason);
  }
  for (const auto& isa : avail) {
    for (int th : {1, 2}) {
      Engine e;
      cellstate::Status s = cellstate::MakeEngine(isa, th, &e);
      if (!s.ok()) {
        Suite::Get().Fail(__FILE__, __LINE__,
                          "MakeEngine(\"" + isa + "\", " + std::to_string(th) +
                              ") failed for an available ISA: " + StatusString(s));
        continue;
      }
      if (th > 1) e.parallel_min_flops = 0;  // really split even tiny problems
      if (e.kernels == nullptr) {
        Suite::Get().Fail(__FILE__, __LINE__, "MakeEngine(\"" + isa + "\") gave no kernels");
        continue;
      }
      // Float inference's input GEMM in chunks of one step or so (the all-at-once path runs on
      // the t2rows engines and the reference).
      e.input_chunk_rows = 3;
      out.push_back({th == 1 ? isa : isa + "/t2", isa, th, e});
      e.input_chunk_rows = 0;
      if (th > 1) {
        out.push_back({isa + "/t2wave", isa, th, WaveEngine(e)});
        // Three threads: the layers of a 3-layer stack all run at once (layers 0 and 2 share
        // an inference buffer that layer 1 reads in between).
        Engine e3;
        if (cellstate::MakeEngine(isa, 3, &e3).ok())
          out.push_back({isa + "/t3wave", isa, 3, WaveEngine(e3)});
        e.row_split_min_rows = 1;  // steps split batch rows, not columns, from B = 2 on
        out.push_back({isa + "/t2rows", isa, th, e});
      }
    }
  }
  return out;
}

// ---- option flavors of docs/cells.md -----------------------------------------------------------

struct Flavor {
  std::string name;
  Config cfg;         // cell and options; sizes, layers and directions set per case
  bool proj = false;  // LSTM with a projection 0 < P < H (chosen per case)
};

inline std::vector<Flavor> AllFlavors() {
  std::vector<Flavor> f;
  auto lstm = [&](const std::string& name, bool proj, auto setter) {
    Flavor fl;
    fl.name = "lstm_" + name;
    fl.cfg.cell = Cell::kLSTM;
    fl.proj = proj;
    setter(fl.cfg);
    f.push_back(fl);
  };
  lstm("std", false, [](Config&) {});
  lstm("peephole", false, [](Config& c) { c.lstm.peephole = true; });
  lstm("cifg", false, [](Config& c) { c.lstm.coupled = true; });
  lstm("cifg_peephole", false, [](Config& c) { c.lstm.coupled = c.lstm.peephole = true; });
  lstm("nig", false, [](Config& c) { c.lstm.input_gate = false; });
  lstm("nfg", false, [](Config& c) { c.lstm.forget_gate = false; });
  lstm("nog", false, [](Config& c) { c.lstm.output_gate = false; });
  lstm("niaf", false, [](Config& c) { c.lstm.input_activation = false; });
  lstm("noaf", false, [](Config& c) { c.lstm.output_activation = false; });
  lstm("proj", true, [](Config&) {});
  lstm("peephole_proj", true, [](Config& c) { c.lstm.peephole = true; });
  lstm("peephole_nig", false, [](Config& c) { c.lstm.peephole = true, c.lstm.input_gate = false; });
  lstm("peephole_nfg", false,
       [](Config& c) { c.lstm.peephole = true, c.lstm.forget_gate = false; });
  lstm("peephole_nog", false,
       [](Config& c) { c.lstm.peephole = true, c.lstm.output_gate = false; });
  lstm("peephole_nig_nog", false, [](Config& c) {
    c.lstm.peephole = true, c.lstm.input_gate = false, c.lstm.output_gate = false;
  });
  lstm("peephole_nig_nfg", false, [](Config& c) {
    c.lstm.peephole = true, c.lstm.input_gate = false, c.lstm.forget_gate = false;
  });
  lstm("no_gates", false, [](Config& c) {
    c.lstm.input_gate = false, c.lstm.forget_gate = false, c.lstm.output_gate = false;
  });
  lstm("cifg_nog_peephole", false, [](Config& c) {
    c.lstm.coupled = true, c.lstm.output_gate = false, c.lstm.peephole = true;
  });
  lstm("niaf_noaf_proj", true,
       [](Config& c) { c.lstm.input_activation = false, c.lstm.output_activation = false; });
  lstm("cifg_peephole_proj_noaf", true, [](Config& c) {
    c.lstm.coupled = c.lstm.peephole = true, c.lstm.output_activation = false;
  });
  lstm("nfg_niaf", false,
       [](Config& c) { c.lstm.forget_gate = false, c.lstm.input_activation = false; });
  // layerNorm (docs/cells.md, "Layer-normalized LSTM") alone and with the options it combines with.
  lstm("ln", false, [](Config& c) { c.lstm.layer_norm = true; });
  lstm("ln_peephole_proj", true, [](Config& c) { c.lstm.layer_norm = c.lstm.peephole = true; });
  lstm("ln_cifg_noaf", false, [](Config& c) {
    c.lstm.layer_norm = c.lstm.coupled = true, c.lstm.output_activation = false;
  });
  lstm("ln_peephole_nig_nog", false, [](Config& c) {
    c.lstm.layer_norm = c.lstm.peephole = true, c.lstm.input_gate = false,
    c.lstm.output_gate = false;
  });
  lstm("ln_no_gates_niaf", false, [](Config& c) {
    c.lstm.layer_norm = true, c.lstm.input_gate = c.lstm.forget_gate = c.lstm.output_gate = false;
    c.lstm.input_activation = false;
  });
  {
    Flavor fl;
    fl.name = "gru";
    fl.cfg.cell = Cell::kGRU;
    fl.cfg.gru.reset_after = true;
    f.push_back(fl);
    fl.name = "gru_reset_before";
    fl.cfg.gru.reset_after = false;
    f.push_back(fl);
    fl.name = "rnn_tanh";
    fl.cfg = Config();
    fl.cfg.cell = Cell::kRNN;
    fl.cfg.rnn.relu = false;
    f.push_back(fl);
    fl.name = "rnn_relu";
    fl.cfg.rnn.relu = true;
    f.push_back(fl);
  }
  return f;
}

// ---- finite differences (gradcheck_test, rdrop_test) ----------------------------------------

// The scalar loss whose gradient backward computes: the outputs dotted with p's upstream
// gradients.
inline double UpstreamLoss(const Problem& p, const std::vector<double>& out,
                           const std::vector<double>& hn, const std::vector<double>& cn) {
  double s = 0;
  for (size_t i = 0; i < out.size() && i < p.d_output.size(); ++i) s += out[i] * p.d_output[i];
  for (size_t i = 0; i < hn.size() && i < p.d_hn.size(); ++i) s += hn[i] * p.d_hn[i];
  for (size_t i = 0; i < cn.size() && i < p.d_cn.size(); ++i) s += cn[i] * p.d_cn[i];
  return s;
}

// The central difference (loss(v + eps) - loss(v - eps)) / 2eps at *v, which is put back;
// `changed` runs after each change (a parameter: ParamsChanged).
template <typename Loss, typename Changed>
double CentralDifference(double* v, double eps, Loss&& loss, Changed&& changed) {
  const double saved = *v;
  *v = saved + eps;
  changed();
  const double lp = loss();
  *v = saved - eps;
  changed();
  const double lm = loss();
  *v = saved;
  changed();
  return (lp - lm) / (2 * eps);
}

// The worst disagreement of one gradient tensor (|fd - an| over tol·max(1, |an|)), reported
// once: a failure when it exceeds 1 (NaN counts as infinite).
struct FdWorst {
  std::string what;
  double tol = 1e-6;
  double excess = 0;
  size_t index = 0;
  double fd = 0, an = 0;
  void Add(size_t i, double fd_v, double an_v) {
    double e = std::fabs(fd_v - an_v) / (tol * std::max(1.0, std::fabs(an_v)));
    if (!(e <= excess)) {  // also catches NaN
      if (std::isnan(e)) e = INFINITY;
      excess = e;
      index = i;
      fd = fd_v;
      an = an_v;
    }
  }
  void Report(const char* file, int line, const std::vector<int>& shape) const {
    if (Suite::Get().stats_enabled()) Suite::Get().Stat(what, excess);
    if (excess > 1.0)
      Suite::Get().Fail(file, line,
                        what + ": finite difference " + Num(fd) + " vs backward " + Num(an) +
                            " at " + IndexString(index, shape) + " (|diff| " +
                            Num(std::fabs(fd - an)) + ", " + Num(excess) + "x the tolerance)");
  }
};

// The LSTM activation flavors of both lists below (ActivationFlavors alone, LnActivationFlavors
// with layerNorm).
inline void LstmActsPeephole(Config& c) {
  using cellstate::ActKind;
  c.lstm.peephole = true;
  c.lstm.acts.gate = {ActKind::kHardSigmoid, 0.2, 0.5};
  c.lstm.acts.cell = {ActKind::kElu, 0.75, 0};
  c.lstm.acts.hidden = {ActKind::kSoftsign, 0, 0};
  c.lstm.acts.clip = 1.5;
}
inline void LstmActsEluScaledTanh(Config& c) {
  using cellstate::ActKind;
  c.lstm.acts.cell = {ActKind::kElu, -0.5, 0};  // derivative needs the pre-activation
  c.lstm.acts.hidden = {ActKind::kScaledTanh, 1.5, 0.75};
}
inline void LstmActsSoftsignCifgNoaf(Config& c) {
  using cellstate::ActKind;
  c.lstm.coupled = true;
  c.lstm.output_activation = false;
  c.lstm.acts.gate = {ActKind::kSoftsign, 0, 0};
  c.lstm.acts.cell = {ActKind::kSoftplus, 0, 0};
}

// Activation functions and clip (docs/cells.md, "Activation functions and clipping"): the
// *_act steps, with and without the saved pre-activations. Separate from AllFlavors so that
// the random problems drawn for those stay what they were.
inline std::vector<Flavor> ActivationFlavors() {
  std::vector<Flavor> f;
  auto lstm = [&](const std::string& name, bool proj, auto setter) {
    Flavor fl;
    fl.name = "lstm_" + name;
    fl.cfg.cell = Cell::kLSTM;
    fl.proj = proj;
    setter(fl.cfg);
    f.push_back(fl);
  };
  using cellstate::ActKind;
  lstm("acts_hardsigmoid_elu_softsign_clip_peephole", false, LstmActsPeephole);
  lstm("acts_elu_neg_softplus_scaledtanh_proj", true, LstmActsEluScaledTanh);
  lstm("acts_softsign_gates_cifg_noaf", false, LstmActsSoftsignCifgNoaf);
  {
    Flavor fl;
    fl.name = "gru_acts_hardsigmoid_softplus_clip";
    fl.cfg.cell = Cell::kGRU;
    fl.cfg.gru.acts.gate = {ActKind::kHardSigmoid, 0.25, 0.5};
    fl.cfg.gru.acts.cell = {ActKind::kSoftplus, 0, 0};
    fl.cfg.gru.acts.clip = 1.0;
    f.push_back(fl);
    fl.name = "gru_reset_before_acts_affine_elu_neg";
    fl.cfg.gru.reset_after = false;
    fl.cfg.gru.acts.gate = {ActKind::kAffine, 0.25, 0.5};
    fl.cfg.gru.acts.cell = {ActKind::kElu, -0.5, 0};
    fl.cfg.gru.acts.clip = 0;
    f.push_back(fl);
    fl.name = "rnn_acts_leakyrelu_neg_clip";
    fl.cfg = Config();
    fl.cfg.cell = Cell::kRNN;
    fl.cfg.rnn.acts.cell = {ActKind::kLeakyRelu, -0.25, 0};
    fl.cfg.rnn.acts.clip = 1.0;
    f.push_back(fl);
    fl.name = "rnn_acts_softsign";
    fl.cfg.rnn.acts.cell = {ActKind::kSoftsign, 0, 0};
    fl.cfg.rnn.acts.clip = 0;
    f.push_back(fl);
    fl.name = "rnn_relu_clip";
    fl.cfg.rnn.relu = true;
    fl.cfg.rnn.acts.clip = 0.75;
    f.push_back(fl);
  }
  return f;
}

// layerNorm with activation functions and clip (docs/cells.md, "Layer-normalized LSTM"): the
// ln_step_*_act steps, with and without the saved pre-activations. Separate again so that the
// problems drawn for the flavors above stay what they were.
inline std::vector<Flavor> LnActivationFlavors() {
  std::vector<Flavor> f;
  auto lstm = [&](const std::string& name, bool proj, auto setter) {
    Flavor fl;
    fl.name = "lstm_" + name;
    fl.cfg.cell = Cell::kLSTM;
    fl.cfg.lstm.layer_norm = true;
    fl.proj = proj;
    setter(fl.cfg);
    f.push_back(fl);
  };
  using cellstate::ActKind;
  lstm("ln_acts_hardsigmoid_elu_softsign_clip_peephole", false, LstmActsPeephole);
  lstm("ln_acts_elu_neg_scaledtanh_proj", true, LstmActsEluScaledTanh);
  lstm("ln_acts_softsign_gates_cifg_noaf_clip", false, [](Config& c) {
    LstmActsSoftsignCifgNoaf(c);
    c.lstm.acts.clip = 1.0;
  });
  lstm("ln_clip_leakyrelu_hidden_nog_niaf_peephole", false, [](Config& c) {
    c.lstm.peephole = true;
    c.lstm.output_gate = false;
    c.lstm.input_activation = false;
    c.lstm.acts.hidden = {ActKind::kLeakyRelu, -0.25, 0};
    c.lstm.acts.clip = 0.75;  // default sigmoid gates, clipped
  });
  return f;
}

inline std::string Describe(const Problem& p) {
  const Config& c = p.cfg;
  std::ostringstream s;
  s << (c.cell == Cell::kLSTM ? "lstm" : c.cell == Cell::kGRU ? "gru" : "rnn");
  if (c.cell == Cell::kLSTM) {
    if (c.lstm.proj_size) s << " P" << c.lstm.proj_size;
    if (c.lstm.peephole) s << " peephole";
    if (c.lstm.coupled) s << " coupled";
    if (!c.lstm.input_gate) s << " NIG";
    if (!c.lstm.forget_gate) s << " NFG";
    if (!c.lstm.output_gate) s << " NOG";
    if (!c.lstm.input_activation) s << " NIAF";
    if (!c.lstm.output_activation) s << " NOAF";
    if (c.lstm.layer_norm) s << " layerNorm";
  }
  if (c.cell == Cell::kGRU) s << (c.gru.reset_after ? " resetAfter" : " resetBefore");
  if (c.cell == Cell::kRNN) s << (c.rnn.relu ? " relu" : " tanh");
  {
    const cellstate::CellActivations& a = c.cell == Cell::kLSTM  ? c.lstm.acts
                                          : c.cell == Cell::kGRU ? c.gru.acts
                                                                 : c.rnn.acts;
    if (!cellstate::CellActivationsAreDefault(a) || c.cell == Cell::kRNN)
      s << " acts " << cellstate::ActivationName(a.gate.kind) << "/"
        << cellstate::ActivationName(a.cell.kind) << "/" << cellstate::ActivationName(a.hidden.kind)
        << (a.clip > 0 ? " clip " + std::to_string(a.clip) : "");
  }
  s << " I" << c.input_size << " H" << c.hidden_size << " L" << c.num_layers
    << (c.bidirectional ? " bidir" : "") << (c.reverse ? " reverse" : "") << " T" << p.T << " B"
    << p.B << (p.batch_first ? " batchFirst" : "");
  if (!p.lengths.empty()) {
    s << " lengths=";
    for (size_t i = 0; i < p.lengths.size(); ++i) s << (i ? "," : "") << p.lengths[i];
  }
  s << (p.h0.empty() ? " h0=null" : "")
    << (c.cell == Cell::kLSTM && p.c0.empty() ? " c0=null" : "");
  return s.str();
}

}  // namespace cstest
