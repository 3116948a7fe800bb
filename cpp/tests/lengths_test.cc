// Empty sequences: a 0 in `lengths` (ONNX's sequence_lens accepts it). For every flavor of
// docs/cells.md, one and two layers, forward, reverse and bidirectional, time-major and
// batch-first, in float64 on the reference engine:
//   - the empty row's output is 0 at every step, its h_n / c_n are its h0 / c0 (bit for bit), its
//     dx is 0 and its d_h0 / d_c0 are its d_h_n / d_c_n (bit for bit): the state passes through;
//   - every other row, and the parameter gradients, equal those of the batch without the empty
//     row (it adds nothing to the gradients);
//   - a batch of empty rows only: outputs 0, states and their gradients passed through, parameter
//     gradients 0.
// Every float engine (ISAs, threads, row split, wavefront) against the float64 run, with lengths
// holding 0s, runs in isa_test / gradcheck_test / reverse_test through RandomProblem (lengths in
// [0, T]).
#include <cmath>
#include <string>
#include <vector>

#include "layer_util.h"
#include "test_util.h"

namespace {

using namespace cstest;

// The problem without batch row `drop` (every per-row tensor sliced; the same parameters).
Problem DropRow(const Problem& p, int drop) {
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  Problem q = p;
  q.B = p.B - 1;
  q.lengths.erase(q.lengths.begin() + drop);
  // [T,B,F] or [B,T,F] sequences
  auto seq = [&](const std::vector<double>& v, int F) {
    if (v.empty()) return v;
    std::vector<double> out;
    if (p.batch_first) {
      for (int b = 0; b < p.B; ++b)
        if (b != drop)
          out.insert(out.end(), v.begin() + long(size_t(b) * p.T * F),
                     v.begin() + long(size_t(b + 1) * p.T * F));
    } else {
      for (int t = 0; t < p.T; ++t)
        for (int b = 0; b < p.B; ++b)
          if (b != drop)
            out.insert(out.end(), v.begin() + long((size_t(t) * p.B + b) * F),
                       v.begin() + long((size_t(t) * p.B + b + 1) * F));
    }
    return out;
  };
  // [L·D,B,F] states
  auto state = [&](const std::vector<double>& v, int F) {
    if (v.empty()) return v;
    std::vector<double> out;
    for (int k = 0; k < d.L * d.D; ++k)
      for (int b = 0; b < p.B; ++b)
        if (b != drop)
          out.insert(out.end(), v.begin() + long((size_t(k) * p.B + b) * F),
                     v.begin() + long((size_t(k) * p.B + b + 1) * F));
    return out;
  };
  q.x = seq(p.x, d.I);
  q.d_output = seq(p.d_output, d.D * d.R);
  q.h0 = state(p.h0, d.R);
  q.d_hn = state(p.d_hn, d.R);
  q.c0 = state(p.c0, d.H);
  q.d_cn = state(p.d_cn, d.H);
  return q;
}

// Row b of an [L·D,B,F] state.
std::vector<double> StateRow(const std::vector<double>& v, int rows, int B, int b, int F) {
  std::vector<double> out;
  for (int k = 0; k < rows; ++k)
    out.insert(out.end(), v.begin() + long((size_t(k) * B + b) * F),
               v.begin() + long((size_t(k) * B + b + 1) * F));
  return out;
}

void CheckEmptyRow(const Problem& p, int empty) {
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  const int rows = d.L * d.D;
  Result<double> full, rest;
  Run<double>(p, RefEngineDouble(), &full);
  if (!CHECK_OK(full.create) || !CHECK_OK(full.forward) || !CHECK_OK(full.backward)) return;
  CheckPadding(p, full, "empty row: ");  // output and dx 0 at every step of the empty row
  CHECK_BIT_EQUAL("h_n of the empty row is its h0", StateRow(full.hn, rows, p.B, empty, d.R),
                  StateRow(p.h0, rows, p.B, empty, d.R));
  CHECK_BIT_EQUAL("d_h0 of the empty row is its d_h_n", StateRow(full.dh0, rows, p.B, empty, d.R),
                  StateRow(p.d_hn, rows, p.B, empty, d.R));
  if (d.lstm) {
    CHECK_BIT_EQUAL("c_n of the empty row is its c0", StateRow(full.cn, rows, p.B, empty, d.H),
                    StateRow(p.c0, rows, p.B, empty, d.H));
    CHECK_BIT_EQUAL("d_c0 of the empty row is its d_c_n", StateRow(full.dc0, rows, p.B, empty, d.H),
                    StateRow(p.d_cn, rows, p.B, empty, d.H));
  }
  // The other rows and the gradients: those of the batch without the empty row.
  const Problem q = DropRow(p, empty);
  Run<double>(q, RefEngineDouble(), &rest);
  if (!CHECK_OK(rest.forward) || !CHECK_OK(rest.backward)) return;
  // the full run's results, sliced as the problem is
  Problem outs = p;
  outs.x = std::vector<double>(full.dx.begin(), full.dx.end());
  outs.d_output = std::vector<double>(full.output.begin(), full.output.end());
  outs.h0 = std::vector<double>(full.hn.begin(), full.hn.end());
  outs.d_hn = std::vector<double>(full.dh0.begin(), full.dh0.end());
  if (d.lstm) {
    outs.c0 = std::vector<double>(full.cn.begin(), full.cn.end());
    outs.d_cn = std::vector<double>(full.dc0.begin(), full.dc0.end());
  }
  const Problem sliced = DropRow(outs, empty);
  Tol tol;
  tol.abs = 1e-13;
  tol.rel = 1e-12;
  CHECK_TENSOR("output of the other rows", sliced.d_output.data(), rest.output.data(),
               rest.output.size(), tol);
  CHECK_TENSOR("dx of the other rows", sliced.x.data(), rest.dx.data(), rest.dx.size(), tol);
  CHECK_TENSOR("h_n of the other rows", sliced.h0.data(), rest.hn.data(), rest.hn.size(), tol);
  CHECK_TENSOR("d_h0 of the other rows", sliced.d_hn.data(), rest.dh0.data(), rest.dh0.size(), tol);
  if (d.lstm) {
    CHECK_TENSOR("c_n of the other rows", sliced.c0.data(), rest.cn.data(), rest.cn.size(), tol);
    CHECK_TENSOR("d_c0 of the other rows", sliced.d_cn.data(), rest.dc0.data(), rest.dc0.size(),
                 tol);
  }
  CHECK_TENSOR("parameter gradients", full.grads.data(), rest.grads.data(), rest.grads.size(), tol);
}

}  // namespace

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("lengths_test");
  Rng rng(0x1e9e0);
  int idx = 0;
  for (const Flavor& fl : AllFlavors()) {
    for (int j = 0; j < 6; ++j, ++idx) {
      Config cfg = fl.cfg;
      cfg.input_size = 3 + idx % 4;
      cfg.hidden_size = 4 + idx % 3;
      if (fl.proj) cfg.lstm.proj_size = 2;
      cfg.num_layers = 1 + (j & 1);
      cfg.bidirectional = j == 2 || j == 3;
      cfg.reverse = j >= 4;
      const int T = 3 + idx % 2, B = 3;
      const bool batch_first = idx % 2 == 1;
      Problem p = RandomProblem(cfg, T, B, batch_first, true, true, true, 0.6, &rng);
      const int empty = idx % B;
      for (int b = 0; b < B; ++b) p.lengths[b] = b == empty ? 0 : 1 + (b + idx) % T;
      RunCase("#" + std::to_string(idx) + " " + fl.name + ": " + Describe(p),
              [&] { CheckEmptyRow(p, empty); });
    }
  }
  RunCase("a batch of empty sequences only", [&] {
    for (const Flavor& fl : AllFlavors()) {
      Config cfg = fl.cfg;
      cfg.input_size = 3;
      cfg.hidden_size = 4;
      if (fl.proj) cfg.lstm.proj_size = 2;
      cfg.num_layers = 2;
      cfg.bidirectional = true;
      Problem p = RandomProblem(cfg, 3, 2, false, true, true, true, 0.6, &rng);
      p.lengths = {0, 0};
      Result<double> r;
      Run<double>(p, RefEngineDouble(), &r);
      if (!CHECK_OK(r.forward) || !CHECK_OK(r.backward)) return;
      CheckPadding(p, r, fl.name + ": ");
      CHECK_BIT_EQUAL(fl.name + ": h_n", r.hn, p.h0);
      CHECK_BIT_EQUAL(fl.name + ": d_h0", r.dh0, p.d_hn);
      if (!p.c0.empty()) {
        CHECK_BIT_EQUAL(fl.name + ": c_n", r.cn, p.c0);
        CHECK_BIT_EQUAL(fl.name + ": d_c0", r.dc0, p.d_cn);
      }
      for (double g : r.grads) CHECK_MSG(g == 0.0, fl.name << ": a parameter gradient is " << g);
    }
  });
  return suite.Finish();
}
