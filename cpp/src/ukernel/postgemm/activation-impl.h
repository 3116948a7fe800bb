// The activation functions of docs/cells.md, forward and derivative, written once over a vector
// type V (vec-scalar.h documents the contract), so that every ISA computes the same thing.
// Included inside an ISA namespace after vec-<isa>.h (by postgemm-impl.h, and by the tests);
// everything is static, no STL. Needs cell/activation.h (cellstate::Activation) before it.
//
// Accuracy, float against the float64 functions (cpp/tests/activation_test.cc, every ISA):
// within 1e-6 · max(1, |f(x)|) for the function and 2e-6 · max(1, |f'(x)|) for the
// derivative, over the whole float range; saturating exactly (sigmoid, tanh, hardSigmoid,
// softsign reach their bounds, softplus(x) = x and elu(x) = −α for large |x|); NaN in -> NaN
// out. Only Add/Mul/Div/Min/Max/Select are used besides Tanh: e^x − 1 and log(1 + e^−|x|) are
// derived from tanh(x/2) (no exp or log in the contract):
//   e^x − 1 = 2t / (1 − t),  t = tanh(x/2)          (exact in relative terms near 0)
//   log(1 + e^−|x|) = 2 atanh(s), s = (1 + t) / (3 − t) ∈ [0, 1/3], t = tanh(−|x|/2)
// and atanh(s) by its odd series up to s^15 (truncation below 1e-9 for s ≤ 1/3).
//
// No include guard on purpose: a test includes it once into each of its ISA namespaces
// (cpp/tests/activation_test.cc); a kernel table gets it once through postgemm-impl.h.

// tanh: the odd rational minimax approximation x·P(x²)/Q(x²) of degrees 13/6 with Eigen's
// coefficients (also MLAS's), on x clamped to [-9, 9], where it rounds to exactly ±1; clamped
// to [-1, 1]. Odd, so tanh(±0) = ±0 and tiny arguments keep their relative accuracy.
// Within 1e-6 absolute of the float64 tanh over the whole float range (at most 2.6e-7
// measured); NaN in -> NaN out.
template <class V>
static inline V Tanh(V x) {
  const V one = Set1(1.f), minus_one = Set1(-1.f);
  const V xc = Max(Min(x, Set1(9.f)), Set1(-9.f));
  const V s = Mul(xc, xc);
  V p = Fmadd(s, Set1(-2.76076847742355e-16f), Set1(2.00018790482477e-13f));
  p = Fmadd(s, p, Set1(-8.60467152213735e-11f));
  p = Fmadd(s, p, Set1(5.12229709037114e-08f));
  p = Fmadd(s, p, Set1(1.48572235717979e-05f));
  p = Fmadd(s, p, Set1(6.37261928875436e-04f));
  p = Fmadd(s, p, Set1(4.89352455891786e-03f));
  V q = Fmadd(s, Set1(1.19825839466702e-06f), Set1(1.18534705686654e-04f));
  q = Fmadd(s, q, Set1(2.26843463243900e-03f));
  q = Fmadd(s, q, Set1(4.89352518554385e-03f));
  const V y = Max(Min(Div(Mul(p, xc), q), one), minus_one);
  return Select(IsNan(x), x, y);
}

// sigmoid(x) = 1/2 + tanh(x/2)/2: exactly 0 and 1 where tanh saturates (|x| ≥ 18).
template <class V>
static inline V Sigmoid(V x) {
  const V half = Set1(0.5f);
  return Fmadd(half, Tanh(Mul(half, x)), half);
}

// |x| (NaN stays NaN, |−0| = +0).
template <class V>
static inline V Abs(V x) {
  return Max(x, Sub(Set1(0.f), x));
}

// max(lo, min(hi, x)), NaN in -> NaN out (Min and Max return their second operand on NaN).
template <class V>
static inline V Clamp(V x, V lo, V hi) {
  return Max(lo, Min(hi, x));
}

// e^x − 1 for x ≤ 0 (callers pass min(x, 0)): 2t / (1 − t) with t = tanh(x/2) ∈ [−1, 0].
template <class V>
static inline V Expm1NonPos(V x) {
  const V t = Tanh(Mul(Set1(0.5f), x));
  return Div(Add(t, t), Sub(Set1(1.f), t));
}

// log(1 + e^−|x|) ∈ [0, log 2].
template <class V>
static inline V Log1pExpNegAbs(V ax) {
  const V one = Set1(1.f);
  const V t = Tanh(Mul(Set1(-0.5f), ax));
  const V s = Div(Add(one, t), Sub(Set1(3.f), t));
  const V s2 = Mul(s, s);
  V p = Set1(1.f / 15);
  p = Fmadd(p, s2, Set1(1.f / 13));
  p = Fmadd(p, s2, Set1(1.f / 11));
  p = Fmadd(p, s2, Set1(1.f / 9));
  p = Fmadd(p, s2, Set1(1.f / 7));
  p = Fmadd(p, s2, Set1(1.f / 5));
  p = Fmadd(p, s2, Set1(1.f / 3));
  p = Fmadd(p, s2, one);
  return Mul(Add(s, s), p);
}

// f(x) for the activation a.
template <class V>
static inline V ActFwd(const cellstate::Activation& a, V x) {
  using cellstate::ActKind;
  const V zero = Set1(0.f);
  switch (a.kind) {
    case ActKind::kSigmoid:
      return Sigmoid(x);
    case ActKind::kTanh:
      return Tanh(x);
    case ActKind::kRelu:
      return Max(zero, x);
    case ActKind::kHardSigmoid:
      return Clamp(Fmadd(Set1(static_cast<float>(a.alpha)), x, Set1(static_cast<float>(a.beta))),
                   zero, Set1(1.f));
    case ActKind::kLeakyRelu:
      return Select(Lt(x, zero), Mul(Set1(static_cast<float>(a.alpha)), x), x);
    case ActKind::kThresholdedRelu: {
      const V y = Select(Lt(Set1(static_cast<float>(a.alpha)), x), x, zero);
      return Select(IsNan(x), x, y);
    }
    case ActKind::kScaledTanh:
      return Mul(Set1(static_cast<float>(a.alpha)), Tanh(Mul(Set1(static_cast<float>(a.beta)), x)));
    case ActKind::kAffine:
      return Fmadd(Set1(static_cast<float>(a.alpha)), x, Set1(static_cast<float>(a.beta)));
    case ActKind::kElu:
      return Select(Lt(x, zero), Mul(Set1(static_cast<float>(a.alpha)), Expm1NonPos(Min(x, zero))),
                    x);
    case ActKind::kSoftsign: {
      // Clamped first so that ±∞ gives ±1 (1e30 / (1 + 1e30) rounds to exactly 1).
      const V xc = Clamp(x, Set1(-1e30f), Set1(1e30f));
      return Div(xc, Add(Set1(1.f), Abs(xc)));
    }
    case ActKind::kSoftplus:
      // max(x, 0) + log(1 + e^−|x|): exact x for large x, no overflow.
      return Add(Max(zero, x), Log1pExpNegAbs(Abs(x)));
  }
  return x;
}

// f'(x) from y = f(x) and, for the activations where ActivationNeedsInput(a), from x (any value
// may be passed as x otherwise; it is not read). The conventions at the kinks are those of the
// forward branches: relu' (0) = 0, leakyRelu' (0) = 1, thresholdedRelu' (α) = 0, elu' (0) = 1,
// hardSigmoid' = 0 where αx + β is 0 or 1. NaN where y is NaN.
template <class V>
static inline V ActDeriv(const cellstate::Activation& a, V y, V x) {
  using cellstate::ActKind;
  const V zero = Set1(0.f), one = Set1(1.f);
  V d;
  switch (a.kind) {
    case ActKind::kSigmoid:
      d = Fnmadd(y, y, y);  // y − y²
      break;
    case ActKind::kTanh:
      d = Fnmadd(y, y, one);
      break;
    case ActKind::kRelu:
      d = Select(Lt(zero, y), one, zero);
      break;
    case ActKind::kHardSigmoid:
      d = Select(Lt(zero, y), Select(Lt(y, one), Set1(static_cast<float>(a.alpha)), zero), zero);
      break;
    case ActKind::kLeakyRelu:
      // α > 0: y < 0 exactly where x < 0.
      d = Select(Lt(static_cast<float>(a.alpha) > 0.f ? y : x, zero),
                 Set1(static_cast<float>(a.alpha)), one);
      break;
    case ActKind::kThresholdedRelu:
      // α ≥ 0: y > 0 exactly where x > α.
      d = static_cast<float>(a.alpha) >= 0.f
              ? Select(Lt(zero, y), one, zero)
              : Select(Lt(Set1(static_cast<float>(a.alpha)), x), one, zero);
      break;
    case ActKind::kScaledTanh: {
      if (static_cast<float>(a.alpha) == 0.f) {
        d = zero;
        break;
      }
      const V t = Div(y, Set1(static_cast<float>(a.alpha)));  // tanh(βx)
      d = Mul(Set1(static_cast<float>(a.alpha * a.beta)), Fnmadd(t, t, one));
      break;
    }
    case ActKind::kAffine:
      d = Set1(static_cast<float>(a.alpha));
      break;
    case ActKind::kElu:
      // x < 0: α e^x = y + α. α > 0: y < 0 exactly where x < 0.
      d = Select(Lt(static_cast<float>(a.alpha) > 0.f ? y : x, zero),
                 Add(y, Set1(static_cast<float>(a.alpha))), one);
      break;
    case ActKind::kSoftsign: {
      const V u = Sub(one, Abs(y));  // 1 / (1 + |x|)
      d = Mul(u, u);
      break;
    }
    case ActKind::kSoftplus: {
      // sigmoid(x) = 1 − e^−y = −2τ / (1 − τ), τ = tanh(−y/2): accurate for small y too.
      const V tau = Tanh(Mul(Set1(-0.5f), y));
      d = Div(Sub(zero, Add(tau, tau)), Sub(one, tau));
      break;
    }
    default:
      d = one;
      break;
  }
  return Select(IsNan(y), y, d);
}

// ---- element-wise forms over n values (tests; the cells call ActFwd / ActDeriv per block) ----

// y = f(clamp(x, −clip, clip)); clip = +∞ for none. y may alias x.
template <class V>
static void PgActFwd(const cellstate::Activation& a, double clip, size_t n, const float* x,
                     float* y) {
  const V hi = Set1(static_cast<float>(clip)), lo = Set1(-static_cast<float>(clip));
  size_t j = 0;
  for (; j + V::kWidth <= n; j += V::kWidth) Store(y + j, ActFwd(a, Clamp(Load(x + j), lo, hi)));
  if (j < n) {
    const int w = static_cast<int>(n - j);
    StorePartial(y + j, ActFwd(a, Clamp(LoadPartial(x + j, w), lo, hi)), w);
  }
}

// dx = dy · f'(clamp(x)) where |x| ≤ clip, 0 where clipped; y = f(clamp(x)) as PgActFwd gave
// it. x (the pre-activation before the clip) is read only when clip is finite or
// ActivationNeedsInput(a); it may be null otherwise. dx may alias dy.
template <class V>
static void PgActBwd(const cellstate::Activation& a, double clip, size_t n, const float* y,
                     const float* x, const float* dy, float* dx) {
  const bool use_x = x != nullptr;
  const V c = Set1(static_cast<float>(clip)), lo = Set1(-static_cast<float>(clip)),
          zero = Set1(0.f);
  auto one = [&](size_t j, int w) {
    const V yv = w == V::kWidth ? Load(y + j) : LoadPartial(y + j, w);
    const V dyv = w == V::kWidth ? Load(dy + j) : LoadPartial(dy + j, w);
    V xv = yv;
    if (use_x) xv = w == V::kWidth ? Load(x + j) : LoadPartial(x + j, w);
    V d = Mul(dyv, ActDeriv(a, yv, use_x ? Clamp(xv, lo, c) : xv));
    if (use_x) d = Select(Lt(c, Abs(xv)), zero, d);
    if (w == V::kWidth)
      Store(dx + j, d);
    else
      StorePartial(dx + j, d, w);
  };
  size_t j = 0;
  for (; j + V::kWidth <= n; j += V::kWidth) one(j, V::kWidth);
  if (j < n) one(j, static_cast<int>(n - j));
}
