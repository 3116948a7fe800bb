// Layer normalization (cpp/src/ukernel/postgemm/layernorm.h): the double reference's backward
// against central finite differences of its forward; then every ISA's table (and the float
// reference) against the double reference on the float inputs, for row lengths equal to, below,
// above and multiples of every vector width, rows far from zero mean, constant rows (variance
// 0: x̂ = 0, y = β), NaN, accumulation, aliasing (y on x, dx on dy), null optional outputs, and
// no write past the row. An ISA the build or CPU lacks is skipped and reported.
#include "ukernel/postgemm/layernorm.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using namespace cstest;
using cellstate::LayerNormKernels;

const int kSizes[] = {1,  2,  3,  4,  5,  7,  8,  9,   15,  16,  17,  20,  31,     32,
                      33, 47, 48, 49, 63, 64, 65, 100, 127, 128, 129, 257, 4 * 257};

// Float against the double reference on the same (float-rounded) inputs: |got − want| ≤
// kAbs + kRel·scale, where scale is what float rounding is proportional to for that output
// (Bounds below): every value of a row shares the row's mean and sums, so the scale is the
// row's, and forward errors grow with cond = max(1, max|x|·rstd), the conditioning of x − mean
// (float rounds x at |x|, and x̂ multiplies that by rstd). Float sums of up to 1028 values in
// another order than the reference, and FMA contraction: measured at most ~2e-6·scale.
constexpr double kAbs = 2e-6, kRel = 2e-5;

double MaxAbs(const std::vector<double>& v, int n) {
  double m = 0;
  for (int j = 0; j < n; ++j) m = std::max(m, std::fabs(v[j]));
  return m;
}

struct Row {
  int n;
  std::vector<float> x, gamma, beta, dy, y0, dx0, dg0, db0;
};

Row MakeRow(Rng& rng, int n, double offset, double spread) {
  Row r;
  r.n = n;
  auto vec = [&](double lo, double hi) {
    std::vector<float> v(n);
    for (auto& e : v) e = static_cast<float>(rng.Uniform(lo, hi));
    return v;
  };
  r.x = vec(offset - spread, offset + spread);
  r.gamma = vec(0.5, 1.5);
  r.beta = vec(-0.5, 0.5);
  r.dy = vec(-1, 1);
  r.y0 = vec(-1, 1);
  r.dx0 = vec(-1, 1);
  r.dg0 = vec(-1, 1);
  r.db0 = vec(-1, 1);
  return r;
}

std::vector<double> D(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// got (float) against want (double) within kAbs + kRel·scale.
void CheckRow(const std::string& what, const std::vector<float>& got,
              const std::vector<double>& want, int n, double scale) {
  const double bound = kAbs + kRel * scale;
  for (int j = 0; j < n; ++j) {
    const double err = std::fabs(static_cast<double>(got[j]) - want[j]);
    if (!(err <= bound)) {
      CSTEST_FAIL(what + "[" + std::to_string(j) + "] = " + Num(got[j]) + ", want " + Num(want[j]) +
                  " (n " + std::to_string(n) + ", bound " + Num(bound) + ")");
      return;
    }
  }
}

// Sentinels past the end of every output row: a tail must not write there.
constexpr int kPad = 17;
constexpr float kSentinel = -12345.f;

std::vector<float> Padded(const std::vector<float>& v) {
  std::vector<float> out(v);
  out.resize(v.size() + kPad, kSentinel);
  return out;
}

void CheckPad(const std::string& what, const std::vector<float>& v, int n) {
  for (int j = n; j < n + kPad; ++j) {
    if (v[j] != kSentinel) {
      CSTEST_FAIL(what + ": wrote past the row at " + std::to_string(j) + " (n " +
                  std::to_string(n) + ")");
      return;
    }
  }
}

// One row through a float table and the double reference, in every mode.
void CheckTable(const LayerNormKernels<float>* k, const Row& r) {
  const auto* ref = cellstate::RefLayerNorm<double>();
  const int n = r.n;
  // Double reference, fresh outputs and accumulating ones.
  std::vector<double> xh_w(n), y_w(n), yacc_w = D(r.y0), dx_w(n), dg_w = D(r.dg0), db_w = D(r.db0);
  double rstd_w = 0;
  const std::vector<double> x = D(r.x), g = D(r.gamma), b = D(r.beta), dy = D(r.dy);
  ref->fwd(n, x.data(), g.data(), b.data(), xh_w.data(), &rstd_w, y_w.data(), false);
  ref->fwd(n, x.data(), g.data(), b.data(), nullptr, nullptr, yacc_w.data(), true);
  ref->bwd(n, dy.data(), xh_w.data(), rstd_w, g.data(), dx_w.data(), dg_w.data(), db_w.data(),
           false);
  // Bounds: see kRel.
  std::vector<double> dyg(n);
  for (int j = 0; j < n; ++j) dyg[j] = dy[j] * g[j];
  const double cond = std::max(1.0, MaxAbs(x, n) * rstd_w);
  const double s_xhat = cond, s_y = cond * MaxAbs(g, n) + MaxAbs(b, n);
  const double s_yacc = s_y + MaxAbs(D(r.y0), n);
  const double s_dx = rstd_w * MaxAbs(dyg, n) * std::max(1.0, MaxAbs(xh_w, n));
  const double s_dg = MaxAbs(dy, n) * std::max(1.0, MaxAbs(xh_w, n)) + MaxAbs(D(r.dg0), n);
  const double s_db = MaxAbs(dy, n) + MaxAbs(D(r.db0), n);

  // Forward, fresh y, x̂ and rstd stored.
  std::vector<float> xh = Padded(std::vector<float>(n, NAN)),
                     y = Padded(std::vector<float>(n, NAN));
  float rstd = NAN;
  k->fwd(n, r.x.data(), r.gamma.data(), r.beta.data(), xh.data(), &rstd, y.data(), false);
  CheckRow("fwd y", y, y_w, n, s_y);
  CheckRow("fwd xhat", xh, xh_w, n, s_xhat);
  CheckPad("fwd y", y, n);
  CheckPad("fwd xhat", xh, n);
  CHECK_MSG(std::fabs(rstd - rstd_w) <= kRel * rstd_w,
            "rstd " << rstd << ", want " << rstd_w << " (n " << n << ")");

  // Forward accumulating into y, without x̂ or rstd.
  std::vector<float> yacc = Padded(r.y0);
  k->fwd(n, r.x.data(), r.gamma.data(), r.beta.data(), nullptr, nullptr, yacc.data(), true);
  CheckRow("fwd accumulate y", yacc, yacc_w, n, s_yacc);
  CheckPad("fwd accumulate y", yacc, n);

  // In place: y and x̂ on x.
  std::vector<float> inplace = Padded(r.x), xh2 = Padded(r.x);
  k->fwd(n, inplace.data(), r.gamma.data(), r.beta.data(), nullptr, nullptr, inplace.data(), false);
  CheckRow("fwd y aliasing x", inplace, y_w, n, s_y);
  k->fwd(n, xh2.data(), r.gamma.data(), r.beta.data(), xh2.data(), nullptr, y.data(), false);
  CheckRow("fwd xhat aliasing x", xh2, xh_w, n, s_xhat);

  // Backward from the float forward's own x̂ and rstd (what a layer saves), fresh dx and
  // accumulating dγ, dβ. Its reference: the double backward of the same saved values.
  std::vector<double> dx_s(n), dg_s = D(r.dg0), db_s = D(r.db0);
  const std::vector<double> xh_s = D(std::vector<float>(xh.begin(), xh.begin() + n));
  ref->bwd(n, dy.data(), xh_s.data(), static_cast<double>(rstd), g.data(), dx_s.data(), dg_s.data(),
           db_s.data(), false);
  std::vector<float> dx = Padded(std::vector<float>(n, NAN)), dg = Padded(r.dg0),
                     db = Padded(r.db0);
  k->bwd(n, r.dy.data(), xh.data(), rstd, r.gamma.data(), dx.data(), dg.data(), db.data(), false);
  CheckRow("bwd dx", dx, dx_s, n, s_dx);
  CheckRow("bwd dgamma", dg, dg_s, n, s_dg);
  CheckRow("bwd dbeta", db, db_s, n, s_db);
  CheckPad("bwd dx", dx, n);
  CheckPad("bwd dgamma", dg, n);
  CheckPad("bwd dbeta", db, n);
  // ... and the whole chain (float forward then float backward) against the double one.
  CheckRow("fwd+bwd dx", dx, dx_w, n, s_dx * cond);
  CheckRow("fwd+bwd dgamma", dg, dg_w, n, s_dg * cond);

  // Accumulating dx, dγ and dβ skipped (null).
  std::vector<float> dxacc = Padded(r.dx0);
  std::vector<double> dxacc_s = D(r.dx0);
  ref->bwd(n, dy.data(), xh_s.data(), static_cast<double>(rstd), g.data(), dxacc_s.data(), nullptr,
           nullptr, true);
  k->bwd(n, r.dy.data(), xh.data(), rstd, r.gamma.data(), dxacc.data(), nullptr, nullptr, true);
  CheckRow("bwd accumulate dx", dxacc, dxacc_s, n, s_dx + MaxAbs(D(r.dx0), n));
  CheckPad("bwd accumulate dx", dxacc, n);

  // dx on dy.
  std::vector<float> dyx = Padded(r.dy);
  k->bwd(n, dyx.data(), xh.data(), rstd, r.gamma.data(), dyx.data(), nullptr, nullptr, false);
  CheckRow("bwd dx aliasing dy", dyx, dx_s, n, s_dx);
}

// Variance 0: x̂ = 0 exactly, y = β exactly, rstd = 1/sqrt(ε); backward stays finite.
void CheckConstantRow(const LayerNormKernels<float>* k, int n) {
  std::vector<float> x(n, 0.375f), gamma(n, 1.25f), beta(n), xh(n, NAN), y(n, NAN);
  for (int j = 0; j < n; ++j) beta[j] = 0.01f * static_cast<float>(j) - 0.2f;
  float rstd = NAN;
  k->fwd(n, x.data(), gamma.data(), beta.data(), xh.data(), &rstd, y.data(), false);
  for (int j = 0; j < n; ++j) {
    if (!(xh[j] == 0.f && y[j] == beta[j])) {
      CSTEST_FAIL("constant row (n " + std::to_string(n) + "): xhat " + Num(xh[j]) + ", y " +
                  Num(y[j]) + ", want 0 and beta " + Num(beta[j]));
      return;
    }
  }
  const double want = 1.0 / std::sqrt(static_cast<double>(static_cast<float>(1e-5)));
  CHECK_MSG(std::fabs(rstd - want) <= 1e-6 * want,
            "constant row rstd " << rstd << ", want " << want);
  std::vector<float> dy(n, 0.5f), dx(n, NAN);
  k->bwd(n, dy.data(), xh.data(), rstd, gamma.data(), dx.data(), nullptr, nullptr, false);
  for (int j = 0; j < n; ++j)
    CHECK_MSG(std::isfinite(dx[j]), "constant row dx[" << j << "] " << dx[j]);
}

void CheckNan(const LayerNormKernels<float>* k, int n) {
  std::vector<float> x(n), gamma(n, 1.f), beta(n, 0.f), y(n, 0.f);
  for (int j = 0; j < n; ++j) x[j] = static_cast<float>(j % 5) - 2.f;
  x[n / 2] = std::numeric_limits<float>::quiet_NaN();
  k->fwd(n, x.data(), gamma.data(), beta.data(), nullptr, nullptr, y.data(), false);
  for (int j = 0; j < n; ++j)
    CHECK_MSG(std::isnan(y[j]), "NaN row (n " << n << "): y[" << j << "] " << y[j]);
}

// The double reference's backward against central differences of its forward, loss Σ w ⊙ y.
void CheckReferenceGradient(int n, uint64_t seed) {
  const auto* ref = cellstate::RefLayerNorm<double>();
  Rng rng(seed);
  std::vector<double> x = rng.Vec(n, 1.0, 3.0), g = rng.Vec(n, 0.5, 1.5), b = rng.Vec(n),
                      w = rng.Vec(n), xh(n), y(n), dx(n), dg(n, 0), db(n, 0);
  double rstd = 0;
  ref->fwd(n, x.data(), g.data(), b.data(), xh.data(), &rstd, y.data(), false);
  ref->bwd(n, w.data(), xh.data(), rstd, g.data(), dx.data(), dg.data(), db.data(), false);
  auto loss = [&]() {
    std::vector<double> yy(n);
    ref->fwd(n, x.data(), g.data(), b.data(), nullptr, nullptr, yy.data(), false);
    double s = 0;
    for (int j = 0; j < n; ++j) s += w[j] * yy[j];
    return s;
  };
  const double eps = 1e-6, tol = 1e-7;
  auto fd = [&](std::vector<double>& v, int j) {
    const double keep = v[j];
    v[j] = keep + eps;
    const double up = loss();
    v[j] = keep - eps;
    const double down = loss();
    v[j] = keep;
    return (up - down) / (2 * eps);
  };
  for (int j = 0; j < n; ++j) {
    const double fx = fd(x, j), fg = fd(g, j), fb = fd(b, j);
    CHECK_MSG(std::fabs(fx - dx[j]) <= tol * std::max(1.0, std::fabs(dx[j])),
              "d/dx[" << j << "] " << dx[j] << ", fd " << fx << " (n " << n << ")");
    CHECK_MSG(std::fabs(fg - dg[j]) <= tol * std::max(1.0, std::fabs(dg[j])),
              "d/dgamma[" << j << "] " << dg[j] << ", fd " << fg);
    CHECK_MSG(std::fabs(fb - db[j]) <= tol * std::max(1.0, std::fabs(db[j])),
              "d/dbeta[" << j << "] " << db[j] << ", fd " << fb);
  }
}

}  // namespace

// Column sums (col_sums): against the double reference on the same float inputs, for every mix
// of the optional sums, strided rows (lda, ldx wider than n), rows = 0, nothing written past n;
// and split anywhere into two calls, bit-identical to one call (what lets threads own columns).
// Float sums of up to 67 rows of products of values in [-1, 1], in row order with FMA: within
// 1e-5 · (1 + Σ|terms|).
void CheckColSums(const LayerNormKernels<float>* k, int n, size_t rows, uint64_t seed) {
  Rng rng(seed);
  const size_t lda = size_t(n) + 5, ldx = size_t(n) + 3;
  auto vec = [&](size_t len) {
    std::vector<float> v(len);
    for (auto& e : v) e = static_cast<float>(rng.Uniform(-1, 1));
    return v;
  };
  const std::vector<float> a = vec(rows * lda + 1), x1 = vec(rows * ldx + 1),
                           x2 = vec(rows * ldx + 1), s0 = vec(size_t(n));
  // Want: double sums of the float values (plus the initial s0), and Σ|terms| for the bound.
  std::vector<double> wa(n), w1(n), w2(n), ma(n), m1(n), m2(n);
  for (int j = 0; j < n; ++j) {
    for (size_t m = 0; m < rows; ++m) {
      const double av = a[m * lda + j];
      wa[j] += av, ma[j] += std::fabs(av);
      w1[j] += av * x1[m * ldx + j], m1[j] += std::fabs(av * x1[m * ldx + j]);
      w2[j] += av * x2[m * ldx + j], m2[j] += std::fabs(av * x2[m * ldx + j]);
    }
    wa[j] += s0[j], w1[j] += s0[j], w2[j] += s0[j];
  }
  auto check = [&](const std::string& what, const std::vector<float>& got,
                   const std::vector<double>& want, const std::vector<double>& mag) {
    for (int j = 0; j < n; ++j) {
      const double bound = 1e-5 * (1 + mag[j] + std::fabs(s0[j]));
      if (!(std::fabs(got[j] - want[j]) <= bound)) {
        CSTEST_FAIL(what + "[" + std::to_string(j) + "] = " + Num(got[j]) + ", want " +
                    Num(want[j]) + " (n " + std::to_string(n) + ", rows " + std::to_string(rows) +
                    ")");
        return;
      }
    }
    CheckPad(what, got, n);
  };
  // Every combination of the three sums (x1 absent only with x2 absent too, or swapped in).
  for (int mask = 1; mask < 8; ++mask) {
    const bool ua = mask & 1, u1 = mask & 2, u2 = mask & 4;
    std::vector<float> sa = Padded(s0), sx1 = Padded(s0), sx2 = Padded(s0);
    k->col_sums(rows, n, a.data(), lda, u1 ? x1.data() : nullptr, u2 ? x2.data() : nullptr, ldx,
                ua ? sa.data() : nullptr, u1 ? sx1.data() : nullptr, u2 ? sx2.data() : nullptr);
    const std::string tag = "col_sums mask " + std::to_string(mask) + " ";
    if (ua) check(tag + "sa", sa, wa, ma);
    if (u1) check(tag + "sx1", sx1, w1, m1);
    if (u2) check(tag + "sx2", sx2, w2, m2);
    for (auto* unused : {ua ? nullptr : &sa, u1 ? nullptr : &sx1, u2 ? nullptr : &sx2})
      if (unused) CHECK_MSG(*unused == Padded(s0), tag << "wrote an output that was null");
    // Split at every point: the same bits as one call.
    for (int cut = 0; cut <= n; cut += (n > 40 ? 7 : 1)) {
      std::vector<float> ta = Padded(s0), t1 = Padded(s0), t2 = Padded(s0);
      for (int part = 0; part < 2; ++part) {
        const int j0 = part ? cut : 0, j1 = part ? n : cut;
        if (j1 == j0) continue;
        k->col_sums(rows, j1 - j0, a.data() + j0, lda, u1 ? x1.data() + j0 : nullptr,
                    u2 ? x2.data() + j0 : nullptr, ldx, ua ? ta.data() + j0 : nullptr,
                    u1 ? t1.data() + j0 : nullptr, u2 ? t2.data() + j0 : nullptr);
      }
      if (ua)
        CHECK_MSG(std::memcmp(ta.data(), sa.data(), sizeof(float) * n) == 0,
                  tag << "sa split at " << cut << " differs");
      if (u1)
        CHECK_MSG(std::memcmp(t1.data(), sx1.data(), sizeof(float) * n) == 0,
                  tag << "sx1 split at " << cut << " differs");
      if (u2)
        CHECK_MSG(std::memcmp(t2.data(), sx2.data(), sizeof(float) * n) == 0,
                  tag << "sx2 split at " << cut << " differs");
    }
  }
}

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("layernorm_test");

  for (int n : {1, 2, 3, 8, 17, 64}) {
    RunCase("ref-double/finite-differences/n" + std::to_string(n),
            [&] { CheckReferenceGradient(n, 900 + static_cast<uint64_t>(n)); });
  }

  std::vector<std::pair<std::string, const LayerNormKernels<float>*>> tables = {
      {"ref-float", cellstate::RefLayerNorm<float>()}};
  for (const char* isa : {"avx512", "avx2", "neon", "scalar"}) {
    const LayerNormKernels<float>* k = cellstate::LayerNormFor(isa);
    if (k == nullptr) {
      suite.Skip(isa, "not built for this target or not supported by this CPU");
      continue;
    }
    tables.emplace_back(isa, k);
  }
  RunCase("tables/names", [&] {
    for (const auto& t : tables) {
      const std::string want = t.first == "ref-float" ? "ref" : t.first;
      CHECK_MSG(t.second->name == want, t.second->name << " vs " << want);
    }
  });

  for (const auto& t : tables) {
    for (double offset : {0.0, 4.0}) {
      RunCase(t.first + "/rows/offset" + Num(offset), [&] {
        Rng rng(4242 + static_cast<uint64_t>(offset));
        for (int n : kSizes) CheckTable(t.second, MakeRow(rng, n, offset, 1.0));
      });
    }
    RunCase(t.first + "/rows/tiny-spread", [&] {
      Rng rng(77);
      // Spread comparable to sqrt(ε): ε matters in rstd.
      for (int n : kSizes) CheckTable(t.second, MakeRow(rng, n, 0.5, 3e-3));
    });
    RunCase(t.first + "/constant-rows", [&] {
      for (int n : kSizes) CheckConstantRow(t.second, n);
    });
    RunCase(t.first + "/nan", [&] {
      for (int n : kSizes) CheckNan(t.second, n);
    });
    RunCase(t.first + "/col-sums", [&] {
      uint64_t seed = 31;
      for (int n : kSizes)
        for (size_t rows : {size_t(0), size_t(1), size_t(3), size_t(67)})
          CheckColSums(t.second, n, rows, seed++);
    });
  }
  return suite.Finish();
}
