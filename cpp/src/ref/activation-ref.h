// The reference activation functions of docs/cells.md and their derivatives, written straight
// from the definitions with <cmath>, templated on float and double (the double instance is the
// oracle of cpp/tests/activation_test.cc and of the reference cells). NaN in -> NaN out.
// The derivative is taken from x; at the kinks it follows the forward branches (relu'(0) = 0,
// leakyRelu'(0) = 1, thresholdedRelu'(α) = 0, elu'(0) = 1, hardSigmoid' = 0 where αx + β is
// 0 or 1), as the vector code (ukernel/postgemm/activation-impl.h) does.
#pragma once

#include <cmath>

#include "cell/activation.h"

namespace cellstate {
namespace ref {

template <typename T>
T ActFwd(const Activation& a, T x) {
  if (x != x) return x;
  const T al = static_cast<T>(a.alpha), be = static_cast<T>(a.beta);
  switch (a.kind) {
    case ActKind::kSigmoid:
      return T(1) / (T(1) + std::exp(-x));
    case ActKind::kTanh:
      return std::tanh(x);
    case ActKind::kRelu:
      return x > 0 ? x : T(0);
    case ActKind::kHardSigmoid: {
      const T v = al * x + be;
      return v < 0 ? T(0) : v > 1 ? T(1) : v;
    }
    case ActKind::kLeakyRelu:
      return x >= 0 ? x : al * x;
    case ActKind::kThresholdedRelu:
      return x > al ? x : T(0);
    case ActKind::kScaledTanh:
      return al * std::tanh(be * x);
    case ActKind::kAffine:
      return al * x + be;
    case ActKind::kElu:
      return x >= 0 ? x : al * std::expm1(x);
    case ActKind::kSoftsign:
      return std::isinf(x) ? std::copysign(T(1), x) : x / (T(1) + std::fabs(x));
    case ActKind::kSoftplus:
      return (x > 0 ? x : T(0)) + std::log1p(std::exp(-std::fabs(x)));
  }
  return x;
}

template <typename T>
T ActDeriv(const Activation& a, T x) {
  if (x != x) return x;
  const T al = static_cast<T>(a.alpha), be = static_cast<T>(a.beta);
  switch (a.kind) {
    case ActKind::kSigmoid: {
      const T s = ActFwd(a, x);
      return s * (T(1) - s);
    }
    case ActKind::kTanh: {
      const T t = std::tanh(x);
      return T(1) - t * t;
    }
    case ActKind::kRelu:
      return x > 0 ? T(1) : T(0);
    case ActKind::kHardSigmoid: {
      const T v = al * x + be;
      return v > 0 && v < 1 ? al : T(0);
    }
    case ActKind::kLeakyRelu:
      return x >= 0 ? T(1) : al;
    case ActKind::kThresholdedRelu:
      return x > al ? T(1) : T(0);
    case ActKind::kScaledTanh: {
      const T t = std::tanh(be * x);
      return al * be * (T(1) - t * t);
    }
    case ActKind::kAffine:
      return al;
    case ActKind::kElu:
      return x >= 0 ? T(1) : al * std::exp(x);
    case ActKind::kSoftsign: {
      const T u = T(1) / (T(1) + std::fabs(x));
      return u * u;
    }
    case ActKind::kSoftplus:
      return T(1) / (T(1) + std::exp(-x));
  }
  return T(1);
}

// f'(x) from y = f(x) alone, for the activations where !ActivationNeedsInput(a) (the same
// formulas as the vector code, in T).
template <typename T>
T ActDerivFromY(const Activation& a, T y) {
  if (y != y) return y;
  const T al = static_cast<T>(a.alpha), be = static_cast<T>(a.beta);
  switch (a.kind) {
    case ActKind::kSigmoid:
      return y * (T(1) - y);
    case ActKind::kTanh:
      return T(1) - y * y;
    case ActKind::kRelu:
      return y > 0 ? T(1) : T(0);
    case ActKind::kHardSigmoid:
      return y > 0 && y < 1 ? al : T(0);
    case ActKind::kLeakyRelu:
      return y < 0 ? al : T(1);
    case ActKind::kThresholdedRelu:
      return y > 0 ? T(1) : T(0);
    case ActKind::kScaledTanh: {
      if (al == 0) return T(0);
      const T t = y / al;
      return al * be * (T(1) - t * t);
    }
    case ActKind::kAffine:
      return al;
    case ActKind::kElu:
      return y < 0 ? y + al : T(1);
    case ActKind::kSoftsign: {
      const T u = T(1) - std::fabs(y);
      return u * u;
    }
    case ActKind::kSoftplus:
      return -std::expm1(-y);
  }
  return T(1);
}

// The derivative of f ∘ clip at the pre-activation x (pre-clip), or from y alone when x is null.
template <typename T>
T ActDerivAt(const Activation& a, double clip, T y, const T* x) {
  if (!x) return ActDerivFromY(a, y);
  if (clip > 0 && std::fabs(*x) > T(clip)) return T(0);
  const T xc = clip > 0 ? std::fmax(-T(clip), std::fmin(T(clip), *x)) : *x;
  return ActDeriv(a, *x != *x ? *x : xc);
}

// clamp(x, −clip, clip) when clip > 0, NaN kept.
template <typename T>
T ClipAt(double clip, T x) {
  if (!(clip > 0) || x != x) return x;
  return std::fmax(-T(clip), std::fmin(T(clip), x));
}

}  // namespace ref
}  // namespace cellstate
