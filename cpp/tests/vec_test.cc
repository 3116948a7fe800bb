// The vector types of vec-avx2.h, vec-avx512.h and vec-neon.h lane by lane against the contract of
// vec-scalar.h, written out in plain C++ (Fmaf below for the fused operations), on special values:
// signed zeros, infinities, NaN, subnormals. Bits must match exactly
// (any NaN matches any NaN). An ISA the CPU lacks is skipped and reported.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "dispatch/cpu.h"

namespace {

enum Op {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMin,
  kMax,
  kFmadd,
  kFnmadd,
  kSelLt,
  kSelNan,
  kLoadStore,
  kNumOps
};
const char* const kOpNames[kNumOps] = {"Add",       "Sub",          "Mul",       "Div",
                                       "Min",       "Max",          "Fmadd",     "Fnmadd",
                                       "Lt/Select", "IsNan/Select", "Load/Store"};

// a·b + c rounded once to float, without libm: MinGW-w64's software fmaf is not fused (it gives
// NaN for 1.5·3.4e38 − ∞). The product of two floats is exact in double; the sum is rounded to
// odd (53 bits ≥ 2·24 + 2), so that rounding it to float then rounds once.
float Fmaf(float a, float b, float c) {
  const double p = double(a) * double(b);
  const double s = p + double(c);
  if (!std::isfinite(s) || !std::isfinite(p)) return float(s);
  // TwoSum: s + e == p + c exactly.
  const double bv = s - p;
  const double e = (p - (s - bv)) + (double(c) - bv);
  if (e == 0) return float(s);
  uint64_t bits;
  std::memcpy(&bits, &s, sizeof bits);
  if ((bits & 1) == 0) {
    // Round to odd: of s's two neighbours, the one on e's side has an odd last bit.
    const double toward = std::nextafter(s, e > 0 ? HUGE_VAL : -HUGE_VAL);
    return float(toward);
  }
  return float(s);
}

float Expected(int op, float a, float b, float c) {
  switch (op) {
    case kAdd:
      return a + b;
    case kSub:
      return a - b;
    case kMul:
      return a * b;
    case kDiv:
      return a / b;
    case kMin:
      return a < b ? a : b;
    case kMax:
      return a > b ? a : b;
    case kFmadd:
      return Fmaf(a, b, c);
    case kFnmadd:
      return Fmaf(-a, b, c);
    case kSelLt:
      return a < b ? c : b;
    case kSelNan:
      return a != a ? c : a;
    default:
      return a;
  }
}

}  // namespace

// Each ISA: out[op][i] for lanes i in [0, n), n a multiple of kWidth. Kept free of STL.
#define CELLSTATE_VEC_KERNEL(V)                                                                \
  void RunOps(const float* a, const float* b, const float* c, float* out, int n) {             \
    for (int i = 0; i < n; i += V::kWidth) {                                                   \
      const V va = Load(a + i), vb = Load(b + i), vc = Load(c + i);                            \
      Store(out + kAdd * n + i, Add(va, vb));                                                  \
      Store(out + kSub * n + i, Sub(va, vb));                                                  \
      Store(out + kMul * n + i, Mul(va, vb));                                                  \
      Store(out + kDiv * n + i, Div(va, vb));                                                  \
      Store(out + kMin * n + i, Min(va, vb));                                                  \
      Store(out + kMax * n + i, Max(va, vb));                                                  \
      Store(out + kFmadd * n + i, Fmadd(va, vb, vc));                                          \
      Store(out + kFnmadd * n + i, Fnmadd(va, vb, vc));                                        \
      Store(out + kSelLt * n + i, Select(Lt(va, vb), vc, vb));                                 \
      Store(out + kSelNan * n + i, Select(IsNan(va), vc, va));                                 \
      Store(out + kLoadStore * n + i, Set1(0.0f));                                             \
      StorePartial(out + kLoadStore * n + i, LoadPartial(a + i, (i / V::kWidth) % V::kWidth),  \
                   (i / V::kWidth) % V::kWidth);                                               \
    }                                                                                          \
  }                                                                                            \
  /* Lanes [0, m) of a partial load are a's (NaN matching NaN), lanes [m, kWidth) are zero. */ \
  bool PartialZeros(const float* a) {                                                          \
    for (int m = 0; m < V::kWidth; ++m) {                                                      \
      float t[V::kWidth];                                                                      \
      Store(t, LoadPartial(a, m));                                                             \
      for (int j = 0; j < V::kWidth; ++j) {                                                    \
        const bool same = t[j] == a[j] || (t[j] != t[j] && a[j] != a[j]);                      \
        if (j < m ? !same : t[j] != 0.0f) return false;                                        \
      }                                                                                        \
    }                                                                                          \
    return true;                                                                               \
  }

#if defined(__x86_64__)
// The AVX2 code of this test only: everything else stays baseline, and runs only after
// CpuHasAvx2Fma().
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace avx2 {
namespace {
#include "ukernel/vec-avx2.h"
CELLSTATE_VEC_KERNEL(VecAvx2)
}  // namespace
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#endif

#if defined(__x86_64__)
// Likewise the AVX-512 code, run only after CpuHasAvx512().
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
CELLSTATE_VEC_KERNEL(VecAvx512)
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
CELLSTATE_VEC_KERNEL(VecNeon)
}  // namespace
}  // namespace neon
#endif

namespace {

constexpr int kVals = 26;
// Every pair (a, b); a multiple of every width (4, 8, 16).
constexpr int kLanes = (kVals * kVals + 15) / 16 * 16;

int Check(const char* isa, int width,
          void (*run)(const float*, const float*, const float*, float*, int),
          bool (*partial_zeros)(const float*)) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float vals[kVals] = {
      0.0f,     -0.0f,    1.0f,        -1.0f,     0.5f,   -0.5f,  1.5f,    2.5f,
      -2.5f,    3.5f,     inf,         -inf,      nan,    1e-40f, -1e-40f, 1.17549435e-38f,
      3.4e38f,  -3.4e38f, 0.49999997f, 8388609.f, -7.25f, 1e7f,   3.1f,    -0.1f,
      123.456f, 1.0f / 3};
  static float a[kLanes], b[kLanes], c[kLanes], out[kNumOps * kLanes];
  for (int i = 0; i < kLanes; ++i) {
    a[i] = vals[i / kVals % kVals];
    b[i] = vals[i % kVals];
    c[i] = vals[(i * 7 + 3) % kVals];
  }
  for (float& x : out) x = 42.0f;
  run(a, b, c, out, kLanes);
  int failed = 0;
  for (int op = 0; op < kNumOps; ++op) {
    for (int i = 0; i < kLanes; ++i) {
      float want = Expected(op, a[i], b[i], c[i]);
      if (op == kLoadStore) {
        const int w = width;
        const int m = (i / w) % w;
        want = i % w < m ? a[i] : 0.0f;
      }
      const float got = out[op * kLanes + i];
      const bool same = (got != got && want != want) || std::memcmp(&got, &want, 4) == 0;
      if (!same) {
        if (failed < 10) {
          std::printf("FAIL %s %s(%g, %g, %g): %g, want %g\n", isa, kOpNames[op], a[i], b[i], c[i],
                      got, want);
        }
        ++failed;
      }
    }
  }
  if (!partial_zeros(vals)) {
    std::printf("FAIL %s LoadPartial: lanes past n are not zero\n", isa);
    ++failed;
  }
  std::printf("%s: %d ops x %d lanes, %d failed\n", isa, kNumOps, kLanes, failed);
  return failed;
}

}  // namespace

int main() {
  int passed = 0, failed = 0;
#if defined(__x86_64__)
  if (cellstate::CpuHasAvx2Fma()) {
    const int f = Check("avx2", 8, avx2::RunOps, avx2::PartialZeros);
    failed += f;
    passed += f == 0;
  } else {
    std::printf("SKIPPED avx2: not supported by this CPU\n");
  }
  if (cellstate::CpuHasAvx512()) {
    const int f = Check("avx512", 16, avx512::RunOps, avx512::PartialZeros);
    failed += f;
    passed += f == 0;
  } else {
    std::printf("SKIPPED avx512: not supported by this CPU\n");
  }
#else
  std::printf("SKIPPED avx2: not built for this architecture\n");
  std::printf("SKIPPED avx512: not built for this architecture\n");
#endif
#if defined(__aarch64__)
  if (cellstate::CpuHasNeon()) {
    const int f = Check("neon", 4, neon::RunOps, neon::PartialZeros);
    failed += f;
    passed += f == 0;
  } else {
    std::printf("SKIPPED neon: not supported by this CPU\n");
  }
#else
  std::printf("SKIPPED neon: not built for this architecture\n");
#endif
  std::printf("vec: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
