// Every fixture of test/fixtures and test/fixtures/layernorm, or of CELLSTATE_FIXTURES (and its
// layernorm/ sub-folder) when set (float64 oracle of docs/cells.md, schema in
// test/fixtures/README.md), through
// Layer<double> on the reference kernels and through Layer<float> on the float reference and on
// every ISA of AvailableIsas(), with 1 and 2 threads: forward (train) outputs and states, and
// backward dx, dh0, dc0 and every parameter gradient.
#include <cstdio>
#include <string>
#include <vector>

#include "layer_util.h"
#include "test_util.h"

namespace {

using namespace cstest;

// double: the same equations in the same precision; only summation order may differ.
const Tol kDoubleTol = [] {
  Tol t;
  t.rel_norm = 1e-10;
  t.abs = 1e-10;
  t.rel = 1e-10;
  return t;
}();
// float outputs and states: the README's bound |got − want| ≤ 1e-5 + 1e-4·|want| elementwise,
// and 1e-5 in relative norm (float32 deviation of the reference is ≤ 3.7e-7).
const Tol kFloatOutTol = [] {
  Tol t;
  t.rel_norm = 1e-5;
  t.abs = 1e-5;
  t.rel = 1e-4;
  return t;
}();
// float gradients: 1e-4 in relative norm (float32 deviation of the reference ≤ 1.3e-6 abs).
const Tol kFloatGradTol = [] {
  Tol t;
  t.rel_norm = 1e-4;
  return t;
}();

// Maps the fixture's parameters onto the flat ParamTable layout; fails on a missing or extra
// name, a shape mismatch, or an order that differs from PyTorch's (which both follow).
bool FlattenParams(const Fixture& f, const std::vector<std::pair<std::string, Tensor>>& named,
                   const char* what, std::vector<double>* flat) {
  const std::vector<cellstate::ParamInfo> table = cellstate::ParamTable(f.cfg);
  const size_t total = cellstate::ParamCount(f.cfg);
  bool ok = true;
  flat->assign(total, 0.0);
  std::vector<bool> covered(total, false);
  for (const auto& info : table) {
    const Tensor* t = nullptr;
    for (const auto& kv : named)
      if (kv.first == info.name) t = &kv.second;
    if (!t) {
      CSTEST_FAIL(std::string(what) + ": ParamTable name " + info.name + " missing in fixture");
      ok = false;
      continue;
    }
    if (t->shape != info.shape) {
      CSTEST_FAIL(std::string(what) + ": " + info.name + " has shape " + ShapeString(info.shape) +
                  " in ParamTable, " + ShapeString(t->shape) + " in the fixture");
      ok = false;
      continue;
    }
    if (info.size != t->size() || info.offset + info.size > total) {
      CSTEST_FAIL(std::string(what) + ": " + info.name + " offset/size out of the flat buffer");
      ok = false;
      continue;
    }
    for (size_t i = 0; i < info.size; ++i) {
      if (covered[info.offset + i]) {
        CSTEST_FAIL(std::string(what) + ": " + info.name + " overlaps another parameter");
        ok = false;
        break;
      }
      covered[info.offset + i] = true;
      (*flat)[info.offset + i] = t->data[i];
    }
  }
  for (const auto& kv : named) {
    bool found = false;
    for (const auto& info : table) found |= info.name == kv.first;
    if (!found) {
      CSTEST_FAIL(std::string(what) + ": fixture parameter " + kv.first + " not in ParamTable");
      ok = false;
    }
  }
  if (ok && table.size() == named.size()) {
    for (size_t i = 0; i < table.size(); ++i) {
      if (table[i].name != named[i].first) {
        CSTEST_FAIL(std::string(what) + ": ParamTable order differs from PyTorch's at #" +
                    std::to_string(i) + ": " + table[i].name + " vs " + named[i].first);
        ok = false;
        break;
      }
    }
  }
  for (size_t i = 0; i < total && ok; ++i) {
    if (!covered[i]) {
      CSTEST_FAIL(std::string(what) + ": flat parameter element " + std::to_string(i) +
                  " belongs to no ParamTable entry");
      ok = false;
    }
  }
  return ok;
}

Problem ProblemOf(const Fixture& f, const std::vector<double>& params) {
  Problem p;
  p.cfg = f.cfg;
  p.T = f.T;
  p.B = f.B;
  p.batch_first = f.batch_first;
  if (f.has_lengths) p.lengths = f.lengths;
  p.x = f.x.data;
  if (f.h0.present) p.h0 = f.h0.data;
  if (f.c0.present) p.c0 = f.c0.data;
  p.params = params;
  p.d_output = f.dOutput.data;
  p.d_hn = f.dhN.data;
  if (f.dcN.present) p.d_cn = f.dcN.data;
  return p;
}

template <typename T>
void CheckAgainstFixture(const Fixture& f, const Problem& p, const Engine& e, const Tol& out_tol,
                         const Tol& grad_tol) {
  Result<T> r;
  Run<T>(p, e, &r);
  if (!CHECK_OK(r.create) || !CHECK_OK(r.forward) || !CHECK_OK(r.backward)) return;
  CHECK_TENSOR("output", r.output.data(), f.output.data.data(), f.output.size(), out_tol,
               f.output.shape);
  CHECK_TENSOR("hN", r.hn.data(), f.hN.data.data(), f.hN.size(), out_tol, f.hN.shape);
  if (f.cN.present)
    CHECK_TENSOR("cN", r.cn.data(), f.cN.data.data(), f.cN.size(), out_tol, f.cN.shape);
  CHECK_TENSOR("dx", r.dx.data(), f.dx.data.data(), f.dx.size(), grad_tol, f.dx.shape);
  CHECK_TENSOR("dh0", r.dh0.data(), f.dh0.data.data(), f.dh0.size(), grad_tol, f.dh0.shape);
  if (f.dc0.present)
    CHECK_TENSOR("dc0", r.dc0.data(), f.dc0.data.data(), f.dc0.size(), grad_tol, f.dc0.shape);
  for (const auto& info : cellstate::ParamTable(f.cfg)) {
    for (const auto& kv : f.grad_params) {
      if (kv.first != info.name || kv.second.size() != info.size) continue;
      CHECK_TENSOR("grad " + info.name, r.grads.data() + info.offset, kv.second.data.data(),
                   info.size, grad_tol, info.shape);
    }
  }
  CheckPadding(p, r);
}

}  // namespace

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("fixtures_test");
  const std::string dir = FixturesDir();
  std::vector<std::string> files = ListFixtures(dir);
  // The layer-normalized LSTM's set lives in a sub-folder (test/fixtures/layernorm/README.md).
  for (const std::string& ln : ListFixtures(dir.empty() ? dir : dir + "/layernorm"))
    files.push_back(ln);
  if (dir.empty()) {
    CSTEST_FAIL("no fixtures directory (CELLSTATE_FIXTURES unset and no CELLSTATE_FIXTURES_DIR)");
    return suite.Finish();
  }
  if (files.empty()) {
    CSTEST_FAIL("no *.json fixtures in " + dir + " (missing directory or empty)");
    return suite.Finish();
  }
  const std::vector<NamedEngine> engines = FloatEngines(/*with_ref=*/true);

  for (const std::string& path : files) {
    Fixture f;
    bool loaded = false;
    const std::string base = std::filesystem::path(path).stem().string();
    RunCase(base + "/load", [&] {
      f = LoadFixture(path);
      CHECK_EQ(f.name, base);
      CHECK_OK(cellstate::Validate(f.cfg));
      loaded = true;
    });
    if (!loaded) continue;
    std::vector<double> params;
    bool mapped = false;
    RunCase(base + "/params", [&] {
      std::vector<double> grads_flat;
      mapped = FlattenParams(f, f.params, "params", &params) &&
               FlattenParams(f, f.grad_params, "grads.params", &grads_flat);
    });
    if (!mapped) continue;
    const Problem p = ProblemOf(f, params);

    for (int th : {1, 2}) {
      RunCase(base + "/double-ref" + (th == 1 ? "" : "/t2"), [&] {
        CheckAgainstFixture<double>(f, p, RefEngineDouble(th), kDoubleTol, kDoubleTol);
      });
    }
    for (const NamedEngine& ne : engines) {
      RunCase(base + "/float-" + ne.name,
              [&] { CheckAgainstFixture<float>(f, p, ne.engine, kFloatOutTol, kFloatGradTol); });
    }
  }
  return suite.Finish();
}
