// Reverse-only layers (Config::reverse, direction: 'reverse'): one direction that runs
// t = len_b − 1 … 0, its parameters named without the _reverse suffix.
//   - A one-layer reverse layer equals the reverse half of a bidirectional layer with the same
//     weights, bit for bit: output, hN, cN, and (with the forward half's upstream gradients
//     zero) dx, dh0, dc0 and the gradients, lengths and batch-first included; every flavor of
//     docs/cells.md, every engine (ISAs, threads, row split), float and the float64 reference.
//   - A stack of reverse layers equals the same layers run one after the other (the output of
//     one is the input of the next; dx of the upper one is dOutput of the lower), training and
//     inference (the wavefront engines included).
//   - Streaming refuses a reverse layer; the parameter table has no _reverse names.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "layer_util.h"
#include "test_util.h"

namespace {

using namespace cstest;
using cellstate::ParamInfo;

// Copies the parameters of `from` (a table of fcfg) named `prefix`-mapped into the table of tcfg:
// entry n of the target takes the source entry named rename(n).
template <class Rename>
std::vector<double> MapParams(const Config& fcfg, const std::vector<double>& from,
                              const Config& tcfg, Rename rename) {
  const std::vector<ParamInfo> ft = cellstate::ParamTable(fcfg), tt = cellstate::ParamTable(tcfg);
  std::vector<double> out(cellstate::ParamCount(tcfg), std::nan(""));
  for (const ParamInfo& t : tt) {
    const std::string want = rename(t.name);
    bool found = false;
    for (const ParamInfo& f : ft)
      if (f.name == want) {
        CHECK_EQ(f.size, t.size);
        for (size_t i = 0; i < t.size && i < f.size; ++i) out[t.offset + i] = from[f.offset + i];
        found = true;
      }
    CHECK_MSG(found, "no parameter " << want);
  }
  return out;
}

// The columns [c0, c0 + n) of every row of a [rows, w] tensor.
template <typename V>
std::vector<V> Columns(const std::vector<V>& a, size_t w, size_t c0, size_t n) {
  std::vector<V> out;
  for (size_t r = 0; r < a.size() / w; ++r)
    for (size_t c = 0; c < n; ++c) out.push_back(a[r * w + c0 + c]);
  return out;
}

// Rows [r0, r0 + n) of a [rows, w] tensor.
template <typename V>
std::vector<V> Rows(const std::vector<V>& a, size_t w, size_t r0, size_t n) {
  if (a.empty()) return a;
  return std::vector<V>(a.begin() + r0 * w, a.begin() + (r0 + n) * w);
}

template <typename T>
void CheckVsBidirectional(const Problem& bi, const Engine& e) {
  const Dims d = DimsOf(bi.cfg, bi.T, bi.B);  // L = 1, D = 2
  const size_t BR = size_t(d.B) * d.R, BH = size_t(d.B) * d.H;
  Problem bp = bi;  // the forward half gets no upstream gradient
  for (size_t r = 0; r < bp.d_output.size() / (2 * d.R); ++r)
    for (int k = 0; k < d.R; ++k) bp.d_output[r * 2 * d.R + k] = 0;
  for (size_t k = 0; k < BR; ++k) bp.d_hn[k] = 0;
  for (size_t k = 0; k < BH && d.lstm; ++k) bp.d_cn[k] = 0;

  Problem rp = bp;
  rp.cfg.bidirectional = false;
  rp.cfg.reverse = true;
  rp.params =
      MapParams(bp.cfg, bp.params, rp.cfg, [](const std::string& n) { return n + "_reverse"; });
  rp.h0 = Rows(bp.h0, BR, 1, 1);
  rp.c0 = Rows(bp.c0, BH, 1, 1);
  rp.d_output = Columns(bp.d_output, 2 * d.R, d.R, d.R);
  rp.d_hn = Rows(bp.d_hn, BR, 1, 1);
  rp.d_cn = Rows(bp.d_cn, BH, 1, 1);

  Result<T> rb, rr;
  Run(bp, e, &rb);
  Run(rp, e, &rr);
  if (!CHECK_OK(rb.create) || !CHECK_OK(rb.forward) || !CHECK_OK(rb.backward)) return;
  if (!CHECK_OK(rr.create) || !CHECK_OK(rr.forward) || !CHECK_OK(rr.backward)) return;
  CHECK_BIT_EQUAL("output", rr.output, Columns(rb.output, 2 * d.R, d.R, d.R));
  CHECK_BIT_EQUAL("hN", rr.hn, Rows(rb.hn, BR, 1, 1));
  CHECK_BIT_EQUAL("cN", rr.cn, Rows(rb.cn, BH, 1, 1));
  CHECK_BIT_EQUAL("dx", rr.dx, rb.dx);
  CHECK_BIT_EQUAL("dh0", rr.dh0, Rows(rb.dh0, BR, 1, 1));
  CHECK_BIT_EQUAL("dc0", rr.dc0, Rows(rb.dc0, BH, 1, 1));
  // The reverse half's gradients, in the reverse layer's table order.
  std::vector<double> gb(rb.grads.begin(), rb.grads.end());
  const std::vector<double> want =
      MapParams(bp.cfg, gb, rp.cfg, [](const std::string& n) { return n + "_reverse"; });
  CHECK_BIT_EQUAL("grads", std::vector<double>(rr.grads.begin(), rr.grads.end()), want);
  CheckPadding(rp, rr, "reverse: ");
}

// A 2-layer reverse stack against its two layers run one after the other.
template <typename T>
void CheckStack(const Problem& sp, const Engine& e, bool train) {
  const Dims d = DimsOf(sp.cfg, sp.T, sp.B);  // L = 2, D = 1
  const size_t BR = size_t(d.B) * d.R, BH = size_t(d.B) * d.H;
  auto layer_of = [&](int l, int in) {
    Problem p = sp;
    p.cfg.num_layers = 1;
    p.cfg.input_size = in;
    const std::string from = "_l" + std::to_string(l);
    p.params = MapParams(sp.cfg, sp.params, p.cfg, [&](const std::string& n) {
      return n.substr(0, n.size() - 3) + from;  // every name ends in "_l0"
    });
    p.h0 = Rows(sp.h0, BR, l, 1);
    p.c0 = Rows(sp.c0, BH, l, 1);
    p.d_hn = Rows(sp.d_hn, BR, l, 1);
    p.d_cn = Rows(sp.d_cn, BH, l, 1);
    return p;
  };
  Result<T> rs;
  Run(sp, e, &rs, train);
  if (!CHECK_OK(rs.create) || !CHECK_OK(rs.forward) || (train && !CHECK_OK(rs.backward))) return;

  Problem p0 = layer_of(0, d.I);
  Problem p1 = layer_of(1, d.R);
  Result<T> r0f;
  Run(p0, e, &r0f, false);  // layer 0's output is layer 1's input
  if (!CHECK_OK(r0f.forward)) return;
  p1.x.assign(r0f.output.begin(), r0f.output.end());
  Result<T> r1;
  Run(p1, e, &r1, train);
  if (!CHECK_OK(r1.forward) || (train && !CHECK_OK(r1.backward))) return;
  CHECK_BIT_EQUAL("output", rs.output, r1.output);
  std::vector<T> hn = r0f.hn;
  hn.insert(hn.end(), r1.hn.begin(), r1.hn.end());
  CHECK_BIT_EQUAL("hN", rs.hn, hn);
  if (d.lstm) {
    std::vector<T> cn = r0f.cn;
    cn.insert(cn.end(), r1.cn.begin(), r1.cn.end());
    CHECK_BIT_EQUAL("cN", rs.cn, cn);
  }
  if (!train) return;
  p0.d_output.assign(r1.dx.begin(), r1.dx.end());
  Result<T> r0;
  Run(p0, e, &r0, true);
  if (!CHECK_OK(r0.backward)) return;
  CHECK_BIT_EQUAL("dx", rs.dx, r0.dx);
  std::vector<T> dh0 = r0.dh0;
  dh0.insert(dh0.end(), r1.dh0.begin(), r1.dh0.end());
  CHECK_BIT_EQUAL("dh0", rs.dh0, dh0);
  std::vector<T> grads = r0.grads;
  grads.insert(grads.end(), r1.grads.begin(), r1.grads.end());
  CHECK_BIT_EQUAL("grads", rs.grads, grads);
}

}  // namespace

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("reverse_test");
  const std::vector<NamedEngine> engines = FloatEngines();
  const std::vector<Flavor> flavors = AllFlavors();
  const int kSizes[] = {1, 3, 7, 8, 9, 16, 17, 33};
  Rng rng(0x4e7e45e);
  int idx = 0;
  for (const Flavor& fl : flavors) {
    for (int j = 0; j < 2; ++j, ++idx) {
      Config cfg = fl.cfg;
      cfg.input_size = kSizes[(idx * 3 + j) % 8];
      cfg.hidden_size = kSizes[(idx * 5 + 2) % 8];
      if (fl.proj) {
        if (cfg.hidden_size < 2) cfg.hidden_size = 3;
        cfg.lstm.proj_size = 1 + (idx % (cfg.hidden_size - 1));
      }
      const int T = j ? 5 : 3, B = j ? 3 : 2;
      const bool batch_first = (idx % 2) == 1, lengths = j == 1 || idx % 3 == 0;
      const double scale = std::min(0.5, 1.5 / std::sqrt(static_cast<double>(cfg.hidden_size)));

      Config bc = cfg;
      bc.bidirectional = true;
      const Problem bi = RandomProblem(bc, T, B, batch_first, lengths, true, true, scale, &rng);
      RunCase("#" + std::to_string(idx) + " vs bidirectional: " + Describe(bi), [&] {
        CheckVsBidirectional<double>(bi, RefEngineDouble());
        for (const NamedEngine& ne : engines) CheckVsBidirectional<float>(bi, ne.engine);
      });

      Config sc = cfg;
      sc.reverse = true;
      sc.num_layers = 2;
      // B = 1 makes the wavefront engines' chunks two steps long (a chunk's times reversed).
      const Problem st =
          RandomProblem(sc, j ? T : 6, j ? B : 1, batch_first, lengths, true, true, scale, &rng);
      RunCase("#" + std::to_string(idx) + " reverse stack: " + Describe(st), [&] {
        CheckStack<double>(st, RefEngineDouble(), true);
        for (const NamedEngine& ne : engines) {
          CheckStack<float>(st, ne.engine, true);
          CheckStack<float>(st, ne.engine, false);
        }
      });
    }
  }
  // Larger: threads really split (rows and columns), full-width tiles, longer wavefronts.
  for (const char* name : {"lstm_peephole_proj", "gru", "gru_reset_before", "rnn_relu"}) {
    for (const Flavor& fl : flavors) {
      if (fl.name != name) continue;
      Config cfg = fl.cfg;
      cfg.input_size = 40;
      cfg.hidden_size = 72;
      if (fl.proj) cfg.lstm.proj_size = 33;
      const double scale = 1.5 / std::sqrt(72.0);
      Config bc = cfg;
      bc.bidirectional = true;
      const Problem bi = RandomProblem(bc, 9, 16, idx % 2 == 0, true, true, true, scale, &rng);
      RunCase("#" + std::to_string(idx) + " big vs bidirectional: " + Describe(bi), [&] {
        for (const NamedEngine& ne : engines) CheckVsBidirectional<float>(bi, ne.engine);
      });
      Config sc = cfg;
      sc.reverse = true;
      sc.num_layers = 2;
      const Problem st = RandomProblem(sc, 12, 4, idx % 2 == 1, true, true, true, scale, &rng);
      RunCase("#" + std::to_string(idx++) + " big reverse stack: " + Describe(st), [&] {
        for (const NamedEngine& ne : engines) {
          CheckStack<float>(st, ne.engine, true);
          CheckStack<float>(st, ne.engine, false);
        }
      });
    }
  }

  RunCase("the parameter table of a reverse stack has no _reverse names", [] {
    Config c;
    c.input_size = 3;
    c.hidden_size = 4;
    c.num_layers = 2;
    c.reverse = true;
    c.lstm.proj_size = 2;
    const std::vector<ParamInfo> t = cellstate::ParamTable(c);
    CHECK_EQ(t.size(), size_t(10));
    for (const ParamInfo& p : t)
      CHECK_MSG(p.name.find("reverse") == std::string::npos, "name " << p.name);
    CHECK_EQ(t[0].name, std::string("weight_ih_l0"));
    CHECK_EQ(t[5].name, std::string("weight_ih_l1"));
    CHECK_EQ(t[5].shape[1], 2);  // layer 1 reads R = projSize values (D = 1)
  });
  RunCase("Step refuses a reverse layer", [] {
    Config c;
    c.input_size = 2;
    c.hidden_size = 3;
    c.reverse = true;
    std::unique_ptr<cellstate::Layer<float>> layer;
    if (!CHECK_OK(cellstate::Layer<float>::Create(c, RefEngineFloat(), &layer))) return;
    std::vector<float> x(2), state(64), scratch(256), out(8);
    const cellstate::Status s = layer->Step(1, x.data(), state.data(), scratch.data(), out.data());
    CHECK_CODE(s, cellstate::Code::kUnsupported);
    CHECK_MSG(s.message.find("reverse") != std::string::npos, "message " << s.message);
  });
  RunCase("reverse and bidirectional together are refused", [] {
    Config c;
    c.input_size = 2;
    c.hidden_size = 3;
    c.reverse = c.bidirectional = true;
    CHECK_CODE(cellstate::Validate(c), cellstate::Code::kInvalidArgument);
  });
  return suite.Finish();
}
