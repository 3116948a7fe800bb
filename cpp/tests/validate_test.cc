// Validate's refusals (docs/cells.md), ParamTable names, shapes and offsets, and the status
// contract of Forward and Backward (lengths out of range, backward without a pending training
// forward, gradient accumulation, null upstream gradients).
#include <climits>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "layer_util.h"
#include "test_util.h"

namespace {

using namespace cstest;
using cellstate::Code;
using cellstate::ParamInfo;
using cellstate::Status;

Config Lstm(int I, int H) {
  Config c;
  c.cell = Cell::kLSTM;
  c.input_size = I;
  c.hidden_size = H;
  return c;
}

Config Of(Cell cell, int I, int H) {
  Config c = Lstm(I, H);
  c.cell = cell;
  return c;
}

// Sets (value non-null) or removes an environment variable.
void SetEnv(const char* name, const char* value) {
#ifdef _WIN32
  _putenv_s(name, value ? value : "");
#else
  if (value)
    setenv(name, value, 1);
  else
    unsetenv(name);
#endif
}

bool Contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

// ---- Validate --------------------------------------------------------------------------

struct Refusal {
  std::string what;
  Config cfg;
  Code code;
  std::vector<std::string> names;  // the message names these options
};

void CheckRefusals() {
  std::vector<Refusal> r;
  auto add = [&](const std::string& what, Config c, Code code,
                 std::vector<std::string> names = {}) {
    r.push_back({what, c, code, std::move(names)});
  };
  for (Cell cell : {Cell::kLSTM, Cell::kGRU, Cell::kRNN}) {
    const std::string cn = cell == Cell::kLSTM ? "lstm" : cell == Cell::kGRU ? "gru" : "rnn";
    add(cn + " inputSize 0", Of(cell, 0, 4), Code::kOutOfRange, {"inputSize"});
    add(cn + " inputSize -1", Of(cell, -1, 4), Code::kOutOfRange, {"inputSize"});
    add(cn + " inputSize INT_MAX", Of(cell, INT_MAX, 4), Code::kOutOfRange, {"inputSize"});
    add(cn + " hiddenSize 0", Of(cell, 3, 0), Code::kOutOfRange, {"hiddenSize"});
    add(cn + " hiddenSize -5", Of(cell, 3, -5), Code::kOutOfRange, {"hiddenSize"});
    add(cn + " hiddenSize INT_MAX", Of(cell, 3, INT_MAX), Code::kOutOfRange, {"hiddenSize"});
    Config c = Of(cell, 3, 4);
    c.num_layers = 0;
    add(cn + " numLayers 0", c, Code::kOutOfRange, {"numLayers"});
    c.num_layers = -2;
    add(cn + " numLayers -2", c, Code::kOutOfRange, {"numLayers"});
    for (float p : {-0.1f, 1.0f, 1.5f, std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity()}) {
      c = Of(cell, 3, 4);
      c.num_layers = 2;
      c.dropout = p;
      add(cn + " dropout " + Num(p), c, Code::kOutOfRange, {"dropout"});
    }
  }
  Config c = Lstm(3, 4);
  c.lstm.proj_size = -1;
  add("lstm projSize -1", c, Code::kOutOfRange, {"projSize"});
  c.lstm.proj_size = 4;
  add("lstm projSize == hiddenSize", c, Code::kOutOfRange, {"projSize"});
  c.lstm.proj_size = 9;
  add("lstm projSize > hiddenSize", c, Code::kOutOfRange, {"projSize"});
  // (projSize or layerNorm given to a GRU or RNN is refused by ParseConfig: config_test.cc.)
  // Contradictions of docs/cells.md: a RangeError naming both options.
  c = Lstm(3, 4);
  c.lstm.coupled = true;
  c.lstm.input_gate = false;
  add("coupled + inputGate false", c, Code::kOutOfRange, {"coupled", "inputGate"});
  c = Lstm(3, 4);
  c.lstm.coupled = true;
  c.lstm.forget_gate = false;
  add("coupled + forgetGate false", c, Code::kOutOfRange, {"coupled", "forgetGate"});
  c.lstm.peephole = true;
  add("coupled + forgetGate false + peephole", c, Code::kOutOfRange, {"coupled", "forgetGate"});
  c = Lstm(3, 4);
  c.lstm.peephole = true;
  c.lstm.input_gate = c.lstm.forget_gate = c.lstm.output_gate = false;
  add("peephole with all gates off", c, Code::kOutOfRange,
      {"peephole", "inputGate", "forgetGate", "outputGate"});
  c.cell = static_cast<Cell>(7);
  add("unknown cell", c, Code::kInvalidArgument);

  const Engine ref = RefEngineDouble();
  for (const Refusal& x : r) {
    RunCase("Validate refuses " + x.what, [&] {
      const Status s = cellstate::Validate(x.cfg);
      CHECK_CODE(s, x.code);
      for (const auto& n : x.names)
        CHECK_MSG(Contains(s.message, n), "message \"" << s.message << "\" does not name " << n);
      std::unique_ptr<cellstate::Layer<double>> layer;
      const Status sc = cellstate::Layer<double>::Create(x.cfg, ref, &layer);
      CHECK_CODE(sc, x.code);
      CHECK(layer == nullptr);
    });
  }
}

void CheckAccepted() {
  std::vector<std::pair<std::string, Config>> ok;
  Config c = Lstm(3, 4);
  ok.emplace_back("lstm default", c);
  c.lstm.coupled = c.lstm.peephole = true;
  ok.emplace_back("coupled + peephole", c);
  c = Lstm(3, 4);
  c.lstm.input_gate = c.lstm.forget_gate = c.lstm.output_gate = false;
  ok.emplace_back("all gates off without peephole", c);
  c.lstm.input_gate = true;
  c.lstm.peephole = true;
  ok.emplace_back("peephole with only the input gate", c);
  c = Lstm(1, 2);
  c.lstm.proj_size = 1;
  ok.emplace_back("projSize = hiddenSize - 1", c);
  c = Lstm(3, 4);
  c.num_layers = 3;
  c.dropout = 0.999f;
  ok.emplace_back("dropout 0.999", c);
  c.dropout = 0.5f;
  c.num_layers = 1;
  ok.emplace_back("dropout 0.5 with one layer", c);
  ok.emplace_back("gru", Of(Cell::kGRU, 1, 1));
  c = Of(Cell::kGRU, 2, 3);
  c.gru.reset_after = false;
  c.bidirectional = true;
  ok.emplace_back("gru resetBefore bidirectional", c);
  c = Of(Cell::kRNN, 5, 1);
  c.rnn.relu = true;
  c.num_layers = 4;
  ok.emplace_back("rnn relu 4 layers", c);
  for (const auto& x : ok) {
    RunCase("Validate accepts " + x.first, [&] {
      CHECK_OK(cellstate::Validate(x.second));
      std::unique_ptr<cellstate::Layer<double>> layer;
      if (CHECK_OK(cellstate::Layer<double>::Create(x.second, RefEngineDouble(), &layer)))
        CHECK(layer != nullptr);
    });
  }
}

// ---- ParamTable ------------------------------------------------------------------------

struct Expect {
  std::string name;
  std::vector<int> shape;
};

// Names and shapes in this order, packed contiguously from offset 0.
void CheckTable(const Config& cfg, const std::vector<Expect>& want) {
  const std::vector<ParamInfo> t = cellstate::ParamTable(cfg);
  CHECK_EQ(t.size(), want.size());
  size_t off = 0;
  for (size_t i = 0; i < t.size() && i < want.size(); ++i) {
    size_t n = 1;
    for (int s : want[i].shape) n *= static_cast<size_t>(s);
    CHECK_EQ(t[i].name, want[i].name);
    CHECK_MSG(t[i].shape == want[i].shape, t[i].name << " shape " << ShapeString(t[i].shape)
                                                     << ", want " << ShapeString(want[i].shape));
    CHECK_EQ(t[i].offset, off);
    CHECK_EQ(t[i].size, n);
    off += n;
  }
  CHECK_EQ(cellstate::ParamCount(cfg), off);
  // The layer exposes the same table.
  std::unique_ptr<cellstate::Layer<double>> layer;
  if (CHECK_OK(cellstate::Layer<double>::Create(cfg, RefEngineDouble(), &layer))) {
    const auto& lp = layer->params();
    CHECK_EQ(lp.size(), t.size());
    for (size_t i = 0; i < lp.size() && i < t.size(); ++i) {
      CHECK_EQ(lp[i].name, t[i].name);
      CHECK_EQ(lp[i].offset, t[i].offset);
      CHECK_EQ(lp[i].size, t[i].size);
      CHECK(lp[i].shape == t[i].shape);
    }
  }
}

std::vector<Expect> Unit(const std::string& sfx, int G, int H, int in, int R, int P, int K) {
  std::vector<Expect> v = {{"weight_ih" + sfx, {G * H, in}},
                           {"weight_hh" + sfx, {G * H, R}},
                           {"bias_ih" + sfx, {G * H}},
                           {"bias_hh" + sfx, {G * H}}};
  if (P > 0) v.push_back({"weight_hr" + sfx, {P, H}});
  if (K > 0) v.push_back({"weight_ph" + sfx, {K * H}});
  return v;
}

// A unit with layerNorm: the six ln_* tensors after weight_hr / weight_ph.
std::vector<Expect> LnUnit(const std::string& sfx, int G, int H, int in, int R, int P, int K) {
  std::vector<Expect> v = Unit(sfx, G, H, in, R, P, K);
  for (const char* n : {"ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias"})
    v.push_back({n + sfx, {G * H}});
  v.push_back({"ln_c_weight" + sfx, {H}});
  v.push_back({"ln_c_bias" + sfx, {H}});
  return v;
}

void Append(std::vector<Expect>* a, const std::vector<Expect>& b) {
  a->insert(a->end(), b.begin(), b.end());
}

void CheckParamTables() {
  RunCase("ParamTable lstm I3 H4", [] {
    const Config c = Lstm(3, 4);
    CHECK_EQ(c.gates(), 4);
    CHECK_EQ(c.peepholes(), 0);
    CheckTable(c, {{"weight_ih_l0", {16, 3}},
                   {"weight_hh_l0", {16, 4}},
                   {"bias_ih_l0", {16}},
                   {"bias_hh_l0", {16}}});
  });
  RunCase("ParamTable lstm coupled + peephole", [] {
    Config c = Lstm(3, 4);
    c.lstm.coupled = c.lstm.peephole = true;
    CHECK_EQ(c.gates(), 3);
    CHECK_EQ(c.peepholes(), 2);
    CheckTable(c, {{"weight_ih_l0", {12, 3}},
                   {"weight_hh_l0", {12, 4}},
                   {"bias_ih_l0", {12}},
                   {"bias_hh_l0", {12}},
                   {"weight_ph_l0", {8}}});
  });
  RunCase("ParamTable lstm peephole (all gates)", [] {
    Config c = Lstm(2, 5);
    c.lstm.peephole = true;
    CHECK_EQ(c.peepholes(), 3);
    CheckTable(c, Unit("_l0", 4, 5, 2, 5, 0, 3));
  });
  RunCase("ParamTable lstm peephole NIG + NOG", [] {
    Config c = Lstm(2, 5);
    c.lstm.peephole = true;
    c.lstm.input_gate = c.lstm.output_gate = false;
    CHECK_EQ(c.gates(), 2);
    CHECK_EQ(c.peepholes(), 1);
    CheckTable(c, Unit("_l0", 2, 5, 2, 5, 0, 1));
  });
  RunCase("ParamTable lstm NFG + peephole", [] {
    Config c = Lstm(2, 5);
    c.lstm.peephole = true;
    c.lstm.forget_gate = false;
    CHECK_EQ(c.gates(), 3);
    CHECK_EQ(c.peepholes(), 2);
    CheckTable(c, Unit("_l0", 3, 5, 2, 5, 0, 2));
  });
  RunCase("ParamTable lstm no gates", [] {
    Config c = Lstm(2, 5);
    c.lstm.input_gate = c.lstm.forget_gate = c.lstm.output_gate = false;
    CHECK_EQ(c.gates(), 1);
    CheckTable(c, Unit("_l0", 1, 5, 2, 5, 0, 0));
  });
  RunCase("ParamTable lstm bidirectional 2 layers projection", [] {
    Config c = Lstm(3, 5);
    c.lstm.proj_size = 2;
    c.num_layers = 2;
    c.bidirectional = true;
    CHECK_EQ(c.out_size(), 2);
    std::vector<Expect> w;
    Append(&w, Unit("_l0", 4, 5, 3, 2, 2, 0));
    Append(&w, Unit("_l0_reverse", 4, 5, 3, 2, 2, 0));
    Append(&w, Unit("_l1", 4, 5, 4, 2, 2, 0));  // weight_ih_l1 [4H, 2P]
    Append(&w, Unit("_l1_reverse", 4, 5, 4, 2, 2, 0));
    CheckTable(c, w);
  });
  RunCase("ParamTable lstm layerNorm, projection + peephole + CIFG, bidirectional 2 layers", [] {
    Config c = Lstm(3, 5);
    c.lstm.layer_norm = true;
    c.lstm.proj_size = 2;
    c.lstm.coupled = c.lstm.peephole = true;
    c.num_layers = 2;
    c.bidirectional = true;
    std::vector<Expect> w;
    Append(&w, LnUnit("_l0", 3, 5, 3, 2, 2, 2));
    Append(&w, LnUnit("_l0_reverse", 3, 5, 3, 2, 2, 2));
    Append(&w, LnUnit("_l1", 3, 5, 4, 2, 2, 2));
    Append(&w, LnUnit("_l1_reverse", 3, 5, 4, 2, 2, 2));
    CheckTable(c, w);
  });
  RunCase("ParamTable lstm 3 layers projection + peephole + CIFG", [] {
    Config c = Lstm(6, 4);
    c.lstm.proj_size = 3;
    c.num_layers = 3;
    c.lstm.coupled = c.lstm.peephole = true;
    std::vector<Expect> w;
    Append(&w, Unit("_l0", 3, 4, 6, 3, 3, 2));
    Append(&w, Unit("_l1", 3, 4, 3, 3, 3, 2));
    Append(&w, Unit("_l2", 3, 4, 3, 3, 3, 2));
    CheckTable(c, w);
  });
  RunCase("ParamTable gru bidirectional 2 layers", [] {
    Config c = Of(Cell::kGRU, 2, 3);
    c.bidirectional = true;
    c.num_layers = 2;
    c.gru.reset_after = false;
    CHECK_EQ(c.gates(), 3);
    CHECK_EQ(c.peepholes(), 0);
    std::vector<Expect> w;
    Append(&w, Unit("_l0", 3, 3, 2, 3, 0, 0));
    Append(&w, Unit("_l0_reverse", 3, 3, 2, 3, 0, 0));
    Append(&w, Unit("_l1", 3, 3, 6, 3, 0, 0));
    Append(&w, Unit("_l1_reverse", 3, 3, 6, 3, 0, 0));
    CheckTable(c, w);
  });
  RunCase("ParamTable rnn 2 layers", [] {
    Config c = Of(Cell::kRNN, 7, 3);
    c.num_layers = 2;
    c.rnn.relu = true;
    CHECK_EQ(c.gates(), 1);
    std::vector<Expect> w;
    Append(&w, Unit("_l0", 1, 3, 7, 3, 0, 0));
    Append(&w, Unit("_l1", 1, 3, 3, 3, 0, 0));
    CheckTable(c, w);
  });
  RunCase("ParamTable ignores LSTM options on gru and rnn", [] {
    // peephole, coupled and gate options are LSTM-only; Validate accepts them on other cells
    // (the TypeScript layer rejects unknown options) and they change nothing.
    for (Cell cell : {Cell::kGRU, Cell::kRNN}) {
      Config c = Of(cell, 2, 3);
      c.lstm.peephole = c.lstm.coupled = true;
      c.lstm.input_gate = false;
      if (!CHECK_OK(cellstate::Validate(c))) continue;
      const int G = cell == Cell::kGRU ? 3 : 1;
      CheckTable(c, Unit("_l0", G, 3, 2, 3, 0, 0));
    }
  });
}

// ---- Forward / Backward status contract ----------------------------------------------------

template <typename T>
struct Fixture1 {
  Problem p;
  std::unique_ptr<cellstate::Layer<T>> layer;
  std::vector<T> x, h0, c0, out, hn, cn, dout, dhn, dcn, dx, dh0, dc0;
  std::vector<int32_t> lengths;

  Fixture1(const Config& cfg, const Engine& e, uint64_t seed) {
    Rng rng(seed);
    p = RandomProblem(cfg, 4, 3, false, false, true, true, 0.5, &rng);
    cellstate::Status created;
    layer = LayerWith<T>(cfg, e, p.params, &created);
    if (!CHECK_OK(created)) return;
    layer->ZeroGrad();
    x = Cast<T>(p.x);
    h0 = Cast<T>(p.h0);
    c0 = Cast<T>(p.c0);
    dout = Cast<T>(p.d_output);
    dhn = Cast<T>(p.d_hn);
    dcn = Cast<T>(p.d_cn);
    const Dims d = DimsOf(cfg, p.T, p.B);
    out.assign(d.out, T(0));
    hn.assign(d.h, T(0));
    cn.assign(d.c, T(0));
    dx.assign(d.x, T(0));
    dh0.assign(d.h, T(0));
    dc0.assign(d.c, T(0));
  }
  bool ok() const { return layer != nullptr; }

  cellstate::ForwardArgs FArgs(bool train) {
    cellstate::ForwardArgs a;
    a.seq_len = p.T;
    a.batch = p.B;
    a.x = x.data();
    a.h0 = h0.data();
    a.c0 = PtrOrNull(c0);
    a.lengths = PtrOrNull(lengths);
    a.train = train;
    a.output = out.data();
    a.h_n = hn.data();
    a.c_n = cn.empty() ? nullptr : cn.data();
    return a;
  }
  Status Fwd(bool train) { return layer->Forward(FArgs(train)); }
  cellstate::BackwardArgs BArgs() {
    cellstate::BackwardArgs b;
    b.d_output = dout.data();
    b.d_h_n = dhn.data();
    b.d_c_n = PtrOrNull(dcn);
    b.d_x = dx.data();
    b.d_h0 = dh0.data();
    b.d_c0 = dc0.empty() ? nullptr : dc0.data();
    return b;
  }
  Status Bwd() { return layer->Backward(BArgs()); }
  std::vector<T> Grads() const {
    return std::vector<T>(layer->grad_data(), layer->grad_data() + p.params.size());
  }
};

template <typename T>
void CheckStatusContract(const std::string& tname, const Engine& e) {
  Config lstm = Lstm(3, 4);
  lstm.lstm.peephole = true;
  Config gru = Of(Cell::kGRU, 3, 4);
  for (const Config& cfg : {lstm, gru}) {
    const std::string cn = cfg.cell == Cell::kLSTM ? "lstm" : "gru";
    const std::string pre = tname + " " + cn + ": ";

    RunCase(pre + "lengths out of [0, T] -> kOutOfRange", [&] {
      Fixture1<T> f(cfg, e, 1);
      if (!f.ok()) return;
      for (int32_t bad : {-1, 5 /* T + 1 */, INT_MAX, INT_MIN}) {
        f.lengths = {2, bad, 4};
        CHECK_CODE(f.Fwd(true), Code::kOutOfRange);
        CHECK(!f.layer->has_pending_backward());
        CHECK_CODE(f.Fwd(false), Code::kOutOfRange);
      }
      f.lengths = {4, 1, 3};
      CHECK_OK(f.Fwd(true));
      f.lengths = {0, 4, 0};  // empty sequences (ONNX's sequence_lens 0)
      CHECK_OK(f.Fwd(true));
      f.lengths = {};
    });
    RunCase(pre + "seqLen or batch < 1 -> kOutOfRange", [&] {
      Fixture1<T> f(cfg, e, 2);
      if (!f.ok()) return;
      auto a = f.FArgs(false);
      a.seq_len = 0;
      CHECK_CODE(f.layer->Forward(a), Code::kOutOfRange);
      a = f.FArgs(false);
      a.batch = 0;
      CHECK_CODE(f.layer->Forward(a), Code::kOutOfRange);
      a.batch = -3;
      CHECK_CODE(f.layer->Forward(a), Code::kOutOfRange);
    });
    RunCase(pre + "backward without a training forward -> kNoForward", [&] {
      Fixture1<T> f(cfg, e, 3);
      if (!f.ok()) return;
      CHECK(!f.layer->has_pending_backward());
      CHECK_CODE(f.Bwd(), Code::kNoForward);
      CHECK_OK(f.Fwd(false));
      CHECK(!f.layer->has_pending_backward());
      CHECK_CODE(f.Bwd(), Code::kNoForward);
    });
    RunCase(pre + "backward twice -> kNoForward", [&] {
      Fixture1<T> f(cfg, e, 4);
      if (!f.ok()) return;
      CHECK_OK(f.Fwd(true));
      CHECK(f.layer->has_pending_backward());
      CHECK_OK(f.Bwd());
      CHECK(!f.layer->has_pending_backward());
      CHECK_CODE(f.Bwd(), Code::kNoForward);
    });
    RunCase(pre + "ParamsChanged between forward and backward -> kNoForward", [&] {
      Fixture1<T> f(cfg, e, 5);
      if (!f.ok()) return;
      CHECK_OK(f.Fwd(true));
      f.layer->ParamsChanged();
      CHECK_CODE(f.Bwd(), Code::kNoForward);
    });
    RunCase(pre + "inference forward between forward and backward -> kNoForward", [&] {
      Fixture1<T> f(cfg, e, 6);
      if (!f.ok()) return;
      CHECK_OK(f.Fwd(true));
      CHECK_OK(f.Fwd(false));
      CHECK_CODE(f.Bwd(), Code::kNoForward);
    });
    RunCase(pre + "SetEngine between forward and backward", [&] {
      // Other kernels: the workspace belongs to the old ones, the forward is discarded.
      // The same kernels with another thread count keep it.
      Fixture1<T> f(cfg, e, 7);
      if (!f.ok()) return;
      CHECK_OK(f.Fwd(true));
      Engine more = e;
      more.threads = 2;
      f.layer->SetEngine(more);
      CHECK(f.layer->has_pending_backward());
      CHECK_OK(f.Bwd());
      if (std::is_same<T, float>::value) {
        const Engine other = e.kernels == RefEngineFloat().kernels ? e : RefEngineFloat();
        if (other.kernels != e.kernels) {
          CHECK_OK(f.Fwd(true));
          f.layer->SetEngine(other);
          CHECK_CODE(f.Bwd(), Code::kNoForward);
        }
      }
    });
    if (cfg.cell != Cell::kLSTM) {
      RunCase(pre + "c0 or a c gradient on a non-LSTM -> kInvalidArgument", [&] {
        Fixture1<T> f(cfg, e, 8);
        if (!f.ok()) return;
        std::vector<T> c(f.hn.size(), T(0.5));
        auto a = f.FArgs(true);
        a.c0 = c.data();
        CHECK_CODE(f.layer->Forward(a), Code::kInvalidArgument);
        CHECK_OK(f.Fwd(true));
        auto b = f.BArgs();
        b.d_c_n = c.data();
        CHECK_CODE(f.layer->Backward(b), Code::kInvalidArgument);
        CHECK_OK(f.Bwd());  // the refused call left the forward pending
      });
    }
    RunCase(pre + "gradients accumulate; ZeroGrad clears", [&] {
      Fixture1<T> f(cfg, e, 9);
      if (!f.ok()) return;
      CHECK_OK(f.Fwd(true));
      CHECK_OK(f.Bwd());
      const std::vector<T> g1 = f.Grads();
      CHECK_OK(f.Fwd(true));
      CHECK_OK(f.Bwd());
      const std::vector<T> g2 = f.Grads();
      std::vector<double> twice(g1.begin(), g1.end());
      for (auto& v : twice) v *= 2;
      Tol t;
      t.abs = std::is_same<T, double>::value ? 1e-14 : 1e-6;
      t.rel = std::is_same<T, double>::value ? 1e-14 : 1e-6;
      CHECK_TENSOR("grads after two backwards", g2.data(), twice.data(), g2.size(), t);
      f.layer->ZeroGrad();
      for (size_t i = 0; i < g2.size(); ++i)
        CHECK_MSG(f.layer->grad_data()[i] == T(0), "grad[" << i << "] after ZeroGrad");
    });
    RunCase(pre + "null upstream = zeros; null dx/dh0/dc0 allowed", [&] {
      Fixture1<T> f(cfg, e, 10);
      if (!f.ok()) return;
      CHECK_OK(f.Fwd(true));
      CHECK_OK(f.Bwd());
      const std::vector<T> g_full = f.Grads(), dx_full = f.dx, dh0_full = f.dh0;
      // Same again with dx/dh0/dc0 null: the parameter gradients are unchanged.
      f.layer->ZeroGrad();
      CHECK_OK(f.Fwd(true));
      cellstate::BackwardArgs b = f.BArgs();
      b.d_x = b.d_h0 = b.d_c0 = nullptr;
      CHECK_OK(f.layer->Backward(b));
      CHECK_BIT_EQUAL("grads with null dx/dh0/dc0", f.Grads(), g_full);
      // Null upstream gradients mean zeros: everything is zero.
      f.layer->ZeroGrad();
      CHECK_OK(f.Fwd(true));
      std::fill(f.dx.begin(), f.dx.end(), T(1));
      std::fill(f.dh0.begin(), f.dh0.end(), T(1));
      b = f.BArgs();
      b.d_output = b.d_h_n = b.d_c_n = nullptr;
      CHECK_OK(f.layer->Backward(b));
      for (T v : f.Grads()) CHECK(v == T(0));
      for (T v : f.dx) CHECK(v == T(0));
      for (T v : f.dh0) CHECK(v == T(0));
      // Only dOutput given equals dOutput with explicit zero dhN/dcN.
      f.layer->ZeroGrad();
      CHECK_OK(f.Fwd(true));
      b = f.BArgs();
      b.d_h_n = b.d_c_n = nullptr;
      CHECK_OK(f.layer->Backward(b));
      const std::vector<T> g_null = f.Grads();
      f.layer->ZeroGrad();
      std::fill(f.dhn.begin(), f.dhn.end(), T(0));
      std::fill(f.dcn.begin(), f.dcn.end(), T(0));
      CHECK_OK(f.Fwd(true));
      CHECK_OK(f.Bwd());
      CHECK_BIT_EQUAL("grads, null dhN/dcN vs zeros", f.Grads(), g_null);
    });
    RunCase(pre + "null h0/c0 = zeros; null hN/cN allowed", [&] {
      Fixture1<T> f(cfg, e, 11);
      if (!f.ok()) return;
      std::fill(f.h0.begin(), f.h0.end(), T(0));
      std::fill(f.c0.begin(), f.c0.end(), T(0));
      CHECK_OK(f.Fwd(false));
      const std::vector<T> out_zero = f.out, hn_zero = f.hn;
      auto a = f.FArgs(false);
      a.h0 = a.c0 = nullptr;
      a.h_n = a.c_n = nullptr;
      std::fill(f.hn.begin(), f.hn.end(), T(7));
      CHECK_OK(f.layer->Forward(a));
      CHECK_BIT_EQUAL("output, null h0/c0 vs zeros", f.out, out_zero);
      for (T v : f.hn) CHECK(v == T(7));  // h_n null: nothing written there
    });
  }
  RunCase(tname + " dropout does not change inference; train with dropout is seeded", [&] {
    Config c = Lstm(3, 4);
    c.num_layers = 3;
    Fixture1<T> plain(c, e, 12);
    c.dropout = 0.5f;
    Fixture1<T> drop(c, e, 12);
    if (!plain.ok() || !drop.ok()) return;
    CHECK_OK(plain.Fwd(false));
    CHECK_OK(drop.Fwd(false));
    CHECK_BIT_EQUAL("inference output with dropout 0.5 vs 0", drop.out, plain.out);
    auto a = drop.FArgs(true);
    a.dropout_seed = 42;
    CHECK_OK(drop.layer->Forward(a));
    const std::vector<T> o1 = drop.out;
    CHECK_OK(drop.layer->Forward(a));
    CHECK_BIT_EQUAL("train output, same dropout seed", drop.out, o1);
    CHECK_MSG(o1 != plain.out, "dropout 0.5 in training changed nothing");
  });
}

}  // namespace

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("validate_test");
  CheckRefusals();
  CheckAccepted();
  CheckParamTables();
  CheckStatusContract<double>("double/ref", RefEngineDouble());
  Engine e;
  if (CHECK_OK(cellstate::MakeEngine("", 1, &e))) CheckStatusContract<float>("float/auto", e);
  RunCase("MakeEngine refuses an unknown ISA", [] {
    Engine x;
    const Status s = cellstate::MakeEngine("sse9", 1, &x);
    CHECK(!s.ok());
  });
  RunCase("AvailableIsas, MakeEngine, IsaName, CELLSTATE_ISA", [] {
    const std::vector<std::string> isas = cellstate::AvailableIsas();
    if (!CHECK(!isas.empty())) return;
    CHECK_EQ(isas.back(), std::string("scalar"));
    for (const auto& isa : isas) {
      Engine x;
      if (!CHECK_OK(cellstate::MakeEngine(isa, 1, &x))) continue;
      CHECK_EQ(std::string(cellstate::IsaName(x)), isa);
      CHECK_EQ(x.threads, 1);
      CHECK_OK(cellstate::MakeEngine(isa, 0, &x));
      CHECK_EQ(x.threads, 1);
    }
    // "" is the best ISA unless CELLSTATE_ISA names another one; a named ISA wins over it.
    const char* saved = std::getenv("CELLSTATE_ISA");
    const std::string saved_value = saved ? saved : "";
    SetEnv("CELLSTATE_ISA", nullptr);
    Engine x;
    if (CHECK_OK(cellstate::MakeEngine("", 1, &x)))
      CHECK_EQ(std::string(cellstate::IsaName(x)), isas.front());
    SetEnv("CELLSTATE_ISA", "scalar");
    if (CHECK_OK(cellstate::MakeEngine("", 1, &x)))
      CHECK_EQ(std::string(cellstate::IsaName(x)), std::string("scalar"));
    if (CHECK_OK(cellstate::MakeEngine(isas.front(), 1, &x)))
      CHECK_EQ(std::string(cellstate::IsaName(x)), isas.front());
    SetEnv("CELLSTATE_ISA", saved ? saved_value.c_str() : nullptr);
  });
  return suite.Finish();
}
