// The activation functions of docs/cells.md (ukernel/postgemm/activation-impl.h) on every ISA
// against the float64 reference (ref/activation-ref.h): forward and derivative over the whole
// float range (a dense grid, special values, the kinks), NaN in -> NaN out, exact saturation,
// clip (clamped forward, zero gradient where clipped), derivatives against central finite
// differences of the float64 forward; and the rules of cell/activation.h (names, defaults,
// ONNX's order of consuming activation_alpha / activation_beta). An ISA the CPU lacks is
// skipped and reported.
//
// Tolerances: forward 1e-6 · max(1, |f(x)|), derivative 2e-6 · max(1, |f'(x)|) (the float
// tanh is within 2.6e-7 of tanh; sigmoid, elu, softplus and their derivatives are derived from
// it, which at most doubles that); finite differences step 1e-4 in float64 (error ~1e-8).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "cell/activation.h"
#include "cellstate/cellstate.h"
#include "dispatch/cpu.h"
#include "ref/activation-ref.h"

// Each ISA: the element-wise forms of activation-impl.h. Kept free of STL.
#define CELLSTATE_ACT_KERNEL(V)                                                                  \
  void Fwd(const cellstate::Activation& a, float clip, size_t n, const float* x, float* y) {     \
    PgActFwd<V>(a, clip, n, x, y);                                                               \
  }                                                                                              \
  void Bwd(const cellstate::Activation& a, float clip, size_t n, const float* y, const float* x, \
           const float* dy, float* dx) {                                                         \
    PgActBwd<V>(a, clip, n, y, x, dy, dx);                                                       \
  }

namespace scalar {
namespace {
#include "ukernel/vec-scalar.h"
//
#include "ukernel/postgemm/activation-impl.h"
CELLSTATE_ACT_KERNEL(VecScalar)
}  // namespace
}  // namespace scalar

#if defined(__x86_64__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace avx2 {
namespace {
#include "ukernel/vec-avx2.h"
//
#include "ukernel/postgemm/activation-impl.h"
CELLSTATE_ACT_KERNEL(VecAvx2)
}  // namespace
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))), \
                             apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,fma")
#endif
namespace avx512 {
namespace {
#include "ukernel/vec-avx512.h"
//
#include "ukernel/postgemm/activation-impl.h"
CELLSTATE_ACT_KERNEL(VecAvx512)
}  // namespace
}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#endif

#if defined(__aarch64__)
namespace neon {
namespace {
#include "ukernel/vec-neon.h"
//
#include "ukernel/postgemm/activation-impl.h"
CELLSTATE_ACT_KERNEL(VecNeon)
}  // namespace
}  // namespace neon
#endif

namespace {

using cellstate::Activation;
using cellstate::ActKind;

using FwdFn = void (*)(const Activation&, float, size_t, const float*, float*);
using BwdFn = void (*)(const Activation&, float, size_t, const float*, const float*, const float*,
                       float*);

int g_failed = 0;
int g_checks = 0;

#define EXPECT(cond, ...)                  \
  do {                                     \
    ++g_checks;                            \
    if (!(cond)) {                         \
      if (g_failed < 40) {                 \
        std::printf("FAIL: " __VA_ARGS__); \
        std::printf("\n");                 \
      }                                    \
      ++g_failed;                          \
    }                                      \
  } while (0)

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

std::string Label(const Activation& a) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s(%g, %g)", cellstate::ActivationName(a.kind),
                static_cast<double>(a.alpha), static_cast<double>(a.beta));
  return buf;
}

// Every kind, with its defaults and with parameters that take the other branches (negative α
// where the derivative then needs the pre-activation, α = 0).
std::vector<Activation> Cases() {
  return {
      {ActKind::kSigmoid, 0, 0},
      {ActKind::kTanh, 0, 0},
      {ActKind::kRelu, 0, 0},
      {ActKind::kHardSigmoid, 0.2f, 0.5f},
      {ActKind::kHardSigmoid, -0.3f, 0.4f},
      {ActKind::kHardSigmoid, 0.f, 0.25f},
      {ActKind::kLeakyRelu, 0.01f, 0},
      {ActKind::kLeakyRelu, -0.5f, 0},
      {ActKind::kLeakyRelu, 0.f, 0},
      {ActKind::kLeakyRelu, 1.5f, 0},
      {ActKind::kThresholdedRelu, 1.f, 0},
      {ActKind::kThresholdedRelu, -0.5f, 0},
      {ActKind::kThresholdedRelu, 0.f, 0},
      {ActKind::kScaledTanh, 1.f, 1.f},
      {ActKind::kScaledTanh, 1.7f, 0.6f},
      {ActKind::kScaledTanh, -0.8f, -1.3f},
      {ActKind::kScaledTanh, 0.f, 2.f},
      {ActKind::kAffine, 1.f, 0.f},
      {ActKind::kAffine, -0.5f, 0.3f},
      {ActKind::kElu, 1.f, 0},
      {ActKind::kElu, 0.5f, 0},
      {ActKind::kElu, -0.7f, 0},
      {ActKind::kElu, 0.f, 0},
      {ActKind::kSoftsign, 0, 0},
      {ActKind::kSoftplus, 0, 0},
  };
}

// A dense grid over [-40, 40], special values, and the kinks of a.
std::vector<float> Inputs(const Activation& a) {
  std::vector<float> x;
  for (int i = -8000; i <= 8000; ++i) x.push_back(static_cast<float>(i) * 0.005f);
  const float specials[] = {0.f,
                            -0.f,
                            1e-40f,
                            -1e-40f,
                            1e-20f,
                            -1e-20f,
                            1e-7f,
                            -1e-7f,
                            1e-3f,
                            -1e-3f,
                            0.5f,
                            -0.5f,
                            1.f,
                            -1.f,
                            8.99f,
                            -8.99f,
                            9.f,
                            -9.f,
                            18.f,
                            -18.f,
                            40.f,
                            -40.f,
                            88.f,
                            -88.f,
                            89.f,
                            -89.f,
                            1e4f,
                            -1e4f,
                            1e10f,
                            -1e10f,
                            1e30f,
                            -1e30f,
                            3.4e38f,
                            -3.4e38f,
                            kInf,
                            -kInf,
                            kNaN,
                            static_cast<float>(a.alpha),
                            -static_cast<float>(a.alpha)};
  for (float v : specials) x.push_back(v);
  if (a.alpha != 0.f) {
    x.push_back(static_cast<float>(-a.beta / a.alpha));
    x.push_back(static_cast<float>((1.0 - a.beta) / a.alpha));
  }
  x.push_back(0.3f);  // an odd count: the tail of every vector width is exercised
  if (x.size() % 2 == 0) x.push_back(-0.3f);
  return x;
}

bool Close(double got, double want, double tol) {
  if (std::isnan(want)) return std::isnan(got);
  // Beyond the float range the float code overflows to ±∞, as it should.
  if (std::isinf(static_cast<float>(want)))
    return got == static_cast<double>(static_cast<float>(want));
  return std::fabs(got - want) <= tol * std::fmax(1.0, std::fabs(want));
}

// Activations whose float64 value rounds to a bound the float code must reach exactly.
bool Saturates(const Activation& a, float x) {
  if (!(std::fabs(x) >= 40.f)) return false;
  switch (a.kind) {
    case ActKind::kSigmoid:
      return x > 0;  // 1; below, e^x is tiny and the float code gives exactly 0 (|x| ≥ 18)
    case ActKind::kTanh:
    case ActKind::kHardSigmoid:
    case ActKind::kRelu:
      return true;
    case ActKind::kScaledTanh:
      return std::fabs(a.beta) >= 1.f;
    case ActKind::kElu:
      return x < 0;
    case ActKind::kSoftplus:
      return x > 0;
    case ActKind::kSoftsign:
      return std::isinf(x);
    default:
      return false;
  }
}

void CheckIsa(const char* isa, FwdFn fwd, BwdFn bwd) {
  const int before = g_failed;
  for (const Activation& a : Cases()) {
    const std::string what = std::string(isa) + " " + Label(a);
    const std::vector<float> x = Inputs(a);
    const size_t n = x.size();
    std::vector<float> y(n, 42.f), dx(n, 42.f), dx_y(n, 42.f), ones(n, 1.f);
    fwd(a, kInf, n, x.data(), y.data());
    // Derivative from x (always valid), and from y alone where the kind allows it.
    bwd(a, kInf, n, y.data(), x.data(), ones.data(), dx.data());
    const bool y_only = !cellstate::ActivationNeedsInput(a);
    if (y_only) bwd(a, kInf, n, y.data(), nullptr, ones.data(), dx_y.data());
    for (size_t i = 0; i < n; ++i) {
      const double xd = x[i];
      const double want = cellstate::ref::ActFwd<double>(a, xd);
      EXPECT(Close(y[i], want, 1e-6), "%s f(%.9g) = %.9g, want %.9g", what.c_str(), xd,
             static_cast<double>(y[i]), want);
      if (Saturates(a, x[i]) && !std::isnan(want))
        EXPECT(y[i] == static_cast<float>(want), "%s f(%g) = %.9g does not saturate to %.9g",
               what.c_str(), xd, static_cast<double>(y[i]), want);
      if (std::isnan(x[i])) EXPECT(std::isnan(dx[i]), "%s f'(NaN) is not NaN", what.c_str());
      if (std::isnan(x[i]) || std::isinf(x[i])) continue;
      double dwant = cellstate::ref::ActDeriv<double>(a, xd);
      // hardSigmoid: αx + β in float (fused) and in double may fall on either side of 0 or 1
      // within a rounding; accept the derivative of either side there.
      const double h = 1e-5 * std::fmax(1.0, std::fabs(xd));
      const double dl = cellstate::ref::ActDeriv<double>(a, xd - h);
      const double dr = cellstate::ref::ActDeriv<double>(a, xd + h);
      auto ok = [&](double got) {
        if (Close(got, dwant, 2e-6)) return true;
        return a.kind == ActKind::kHardSigmoid && (Close(got, dl, 2e-6) || Close(got, dr, 2e-6));
      };
      EXPECT(ok(dx[i]), "%s f'(%.9g) = %.9g, want %.9g", what.c_str(), xd,
             static_cast<double>(dx[i]), dwant);
      if (y_only)
        EXPECT(ok(dx_y[i]), "%s f'(%.9g) from y = %.9g, want %.9g", what.c_str(), xd,
               static_cast<double>(dx_y[i]), dwant);
    }

    // Central finite differences of the float64 forward, away from the kinks.
    std::vector<float> xs;
    for (double v = -6.03; v < 6.1; v += 0.37) xs.push_back(static_cast<float>(v));
    std::vector<float> ys(xs.size()), ds(xs.size()), ones_s(xs.size(), 1.f);
    fwd(a, kInf, xs.size(), xs.data(), ys.data());
    bwd(a, kInf, xs.size(), ys.data(), xs.data(), ones_s.data(), ds.data());
    for (size_t i = 0; i < xs.size(); ++i) {
      const double xd = xs[i], h = 1e-4;
      const double dl = cellstate::ref::ActDeriv<double>(a, xd - h);
      const double dr = cellstate::ref::ActDeriv<double>(a, xd + h);
      if (std::fabs(dl - dr) > 1e-2) continue;  // a kink inside [x − h, x + h]
      const double fd =
          (cellstate::ref::ActFwd<double>(a, xd + h) - cellstate::ref::ActFwd<double>(a, xd - h)) /
          (2 * h);
      EXPECT(Close(ds[i], fd, 2e-6), "%s f'(%.9g) = %.9g, finite differences %.9g", what.c_str(),
             xd, static_cast<double>(ds[i]), fd);
    }

    // clip: f(clamp(x)) forward; gradient f'(x) where |x| ≤ clip (boundary included), 0 beyond.
    const float clip = 2.5f;
    std::vector<float> xc = {-3.f, -2.5f,      -2.4f, -1.f, -0.f, 0.7f,
                             2.5f, 2.5000002f, 7.f,   kNaN, kInf};
    std::vector<float> yc(xc.size()), dc(xc.size()), up(xc.size(), 0.75f);
    fwd(a, clip, xc.size(), xc.data(), yc.data());
    bwd(a, clip, xc.size(), yc.data(), xc.data(), up.data(), dc.data());
    for (size_t i = 0; i < xc.size(); ++i) {
      const double xd = xc[i];
      const double cl = std::isnan(xd) ? xd : std::fmax(-2.5, std::fmin(2.5, xd));
      const double want = cellstate::ref::ActFwd<double>(a, cl);
      EXPECT(Close(yc[i], want, 1e-6), "%s clip 2.5: f(%g) = %.9g, want %.9g", what.c_str(), xd,
             static_cast<double>(yc[i]), want);
      const double dwant =
          std::fabs(xd) > 2.5 ? 0.0 : 0.75 * cellstate::ref::ActDeriv<double>(a, cl);
      EXPECT(Close(dc[i], dwant, 2e-6), "%s clip 2.5: gradient at %g = %.9g, want %.9g",
             what.c_str(), xd, static_cast<double>(dc[i]), dwant);
      if (std::fabs(xd) > 2.5)
        EXPECT(dc[i] == 0.f && !std::signbit(dc[i]),
               "%s clip 2.5: gradient at %g is %g, not exactly 0", what.c_str(), xd,
               static_cast<double>(dc[i]));
    }
  }
  std::printf("%s: %s\n", isa, g_failed == before ? "ok" : "FAILED");
}

// The rules of cell/activation.h.
void CheckRules() {
  using cellstate::ActivationFromName;
  ActKind k = ActKind::kTanh;
  for (int i = 0; i < cellstate::kNumActKinds; ++i) {
    const ActKind kind = static_cast<ActKind>(i);
    EXPECT(ActivationFromName(cellstate::ActivationName(kind), &k) && k == kind, "name %d", i);
    EXPECT(ActivationFromName(cellstate::ActivationOnnxName(kind), &k) && k == kind, "ONNX name %d",
           i);
  }
  EXPECT(ActivationFromName("HARDSIGMOID", &k) && k == ActKind::kHardSigmoid, "case ignored");
  k = ActKind::kTanh;
  EXPECT(!ActivationFromName("hard_sigmoid", &k) && k == ActKind::kTanh, "unknown name");
  EXPECT(!ActivationFromName("", &k) && !ActivationFromName(nullptr, &k), "empty name");
  EXPECT(!ActivationFromName("sigmoidx", &k) && !ActivationFromName("sigmoi", &k), "prefix");

  const Activation hs = cellstate::DefaultActivation(ActKind::kHardSigmoid);
  EXPECT(hs.alpha == 0.2 && hs.beta == 0.5, "hardSigmoid defaults");
  EXPECT(cellstate::DefaultActivation(ActKind::kLeakyRelu).alpha == 0.01, "leakyRelu default");
  EXPECT(cellstate::DefaultActivation(ActKind::kThresholdedRelu).alpha == 1.f, "tRelu default");
  const Activation st = cellstate::DefaultActivation(ActKind::kScaledTanh);
  EXPECT(st.alpha == 1.f && st.beta == 1.f, "scaledTanh defaults");
  const Activation af = cellstate::DefaultActivation(ActKind::kAffine);
  EXPECT(af.alpha == 1.f && af.beta == 0.f, "affine defaults");
  EXPECT(cellstate::DefaultActivation(ActKind::kElu).alpha == 1.f, "elu default");

  Activation out{ActKind::kTanh, 7.f, 7.f};
  cellstate::Status s = cellstate::MakeActivation(ActKind::kElu, kNaN, 0.f, "cellActivation", &out);
  EXPECT(s.code == cellstate::Code::kOutOfRange && out.kind == ActKind::kTanh && out.alpha == 7.f,
         "NaN alpha refused, out untouched: %s", s.message.c_str());
  EXPECT(s.message.find("cellActivation") != std::string::npos, "message names the option");
  s = cellstate::MakeActivation(ActKind::kAffine, 2.f, kInf, "x", &out);
  EXPECT(s.code == cellstate::Code::kOutOfRange, "infinite beta refused");
  s = cellstate::MakeActivation(ActKind::kSigmoid, kNaN, kNaN, "x", &out);
  EXPECT(s.ok() && out.alpha == 0.f && out.beta == 0.f, "unused parameters ignored");
  s = cellstate::MakeActivation(static_cast<ActKind>(99), 0.f, 0.f, "x", &out);
  EXPECT(s.code == cellstate::Code::kInvalidArgument, "kind out of range refused");

  using cellstate::ActivationNeedsInput;
  EXPECT(ActivationNeedsInput({ActKind::kLeakyRelu, -0.1f, 0}), "leakyRelu α<0 needs x");
  EXPECT(ActivationNeedsInput({ActKind::kLeakyRelu, 0.f, 0}), "leakyRelu α=0 needs x");
  EXPECT(!ActivationNeedsInput({ActKind::kLeakyRelu, 0.01f, 0}), "leakyRelu α>0 from y");
  EXPECT(ActivationNeedsInput({ActKind::kThresholdedRelu, -1.f, 0}), "tRelu α<0 needs x");
  EXPECT(!ActivationNeedsInput({ActKind::kThresholdedRelu, 0.f, 0}), "tRelu α=0 from y");
  EXPECT(ActivationNeedsInput({ActKind::kElu, 0.f, 0}), "elu α=0 needs x");
  EXPECT(!ActivationNeedsInput({ActKind::kElu, 1.f, 0}), "elu α>0 from y");
  EXPECT(!ActivationNeedsInput({ActKind::kHardSigmoid, -0.2f, 0.5f}), "hardSigmoid from y");

  // ONNX: alpha/beta consumed in order by the functions that take them.
  {
    const char* names[] = {"Sigmoid", "Softsign", "Affine"};
    const float alphas[] = {0.9f};
    Activation acts[3];
    s = cellstate::ParseOnnxActivations(names, 3, alphas, 1, nullptr, 0, acts);
    EXPECT(s.ok() && acts[2].kind == ActKind::kAffine && acts[2].alpha == 0.9f &&
               acts[2].beta == 0.f && acts[0].kind == ActKind::kSigmoid &&
               acts[1].kind == ActKind::kSoftsign,
           "[Sigmoid, Softsign, Affine] alpha [0.9]");
  }
  {
    const char* names[] = {"HardSigmoid", "LeakyRelu", "ScaledTanh",
                           "hardsigmoid", "elu",       "Affine"};
    const float alphas[] = {0.3f, 0.02f, 2.f};
    const float betas[] = {0.6f, 0.7f};
    Activation acts[6];
    s = cellstate::ParseOnnxActivations(names, 6, alphas, 3, betas, 2, acts);
    EXPECT(s.ok(), "six functions: %s", s.message.c_str());
    EXPECT(acts[0].alpha == 0.3f && acts[0].beta == 0.6f, "HardSigmoid takes α0, β0");
    EXPECT(acts[1].alpha == 0.02f && acts[1].beta == 0.f, "LeakyRelu takes α1 only");
    EXPECT(acts[2].alpha == 2.f && acts[2].beta == 0.7f, "ScaledTanh takes α2, β1");
    EXPECT(acts[3].alpha == 0.2f && acts[3].beta == 0.5f, "lists exhausted: defaults");
    EXPECT(acts[4].kind == ActKind::kElu && acts[4].alpha == 1.f, "Elu default 1");
    EXPECT(acts[5].alpha == 0.f && acts[5].beta == 0.f, "Affine: onnxruntime's default 0");
  }
  {
    const char* names[] = {"Tanh", "Swish"};
    Activation acts[2] = {{ActKind::kRelu, 3.f, 3.f}, {ActKind::kRelu, 3.f, 3.f}};
    s = cellstate::ParseOnnxActivations(names, 2, nullptr, 0, nullptr, 0, acts);
    EXPECT(s.code == cellstate::Code::kInvalidArgument &&
               s.message.find("Swish") != std::string::npos && acts[0].kind == ActKind::kRelu,
           "unknown name refused, nothing written: %s", s.message.c_str());
    const char* names2[] = {"Elu"};
    const float bad[] = {kNaN};
    s = cellstate::ParseOnnxActivations(names2, 1, bad, 1, nullptr, 0, acts);
    EXPECT(s.code == cellstate::Code::kOutOfRange, "NaN alpha refused");
    const float extra[] = {1.f, 2.f};
    s = cellstate::ParseOnnxActivations(names, 1, extra, 2, extra, 2, acts);
    EXPECT(s.ok() && acts[0].kind == ActKind::kTanh, "values left over are ignored");
  }
  std::printf("rules: %s\n", g_failed == 0 ? "ok" : "FAILED");
}

}  // namespace

int main() {
  CheckRules();
  CheckIsa("scalar", scalar::Fwd, scalar::Bwd);
#if defined(__x86_64__)
  if (cellstate::CpuHasAvx2Fma()) {
    CheckIsa("avx2", avx2::Fwd, avx2::Bwd);
  } else {
    std::printf("SKIPPED avx2: not supported by this CPU\n");
  }
  if (cellstate::CpuHasAvx512()) {
    CheckIsa("avx512", avx512::Fwd, avx512::Bwd);
  } else {
    std::printf("SKIPPED avx512: not supported by this CPU\n");
  }
#else
  std::printf("SKIPPED avx2, avx512: not built for this architecture\n");
#endif
#if defined(__aarch64__)
  CheckIsa("neon", neon::Fwd, neon::Bwd);
#else
  std::printf("SKIPPED neon: not built for this architecture\n");
#endif
  std::printf("activation: %d checks, %d failed\n", g_checks, g_failed);
  return g_failed == 0 ? 0 : 1;
}
