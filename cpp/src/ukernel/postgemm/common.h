// What every cell family's post-GEMM shares: the activations, written once over a vector type V
// (vec-scalar.h documents the contract), and the chunk loops. Included by each ISA translation
// unit inside an anonymous namespace, after its vec-<isa>.h, so every ISA gets its own copy
// with internal linkage; no STL here. The families' element-wise steps are in <family>-impl.h.
//
// Activations (within 1e-6 absolute of the float64 functions over the whole float range: at
// most 2.6e-7 measured; saturating exactly; NaN in -> NaN out):
//   tanh:    a rational minimax approximation (no exp), see Tanh.
//   sigmoid: 1/2 + tanh(x/2)/2.
#pragma once

template <class V>
static inline V LoadN(const float* p, int n) {
  return n == V::kWidth ? Load(p) : LoadPartial(p, n);
}

template <class V>
static inline void StoreN(float* p, V v, int n) {
  if (n == V::kWidth)
    Store(p, v);
  else
    StorePartial(p, v, n);
}

// tanh: the odd rational minimax approximation x·P(x²)/Q(x²) of degrees 13/6 with Eigen's
// coefficients (also MLAS's), on x clamped to [-9, 9], where it rounds to exactly ±1; clamped
// to [-1, 1]. Odd, so tanh(±0) = ±0 and tiny arguments keep their relative accuracy.
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

// Runs body(j, n) over [0, H) in vector-width chunks; n < kWidth only for the tail.
template <class V, class F>
static inline void ForChunks(int H, F body) {
  int j = 0;
  for (; j + V::kWidth <= H; j += V::kWidth) body(j, V::kWidth);
  if (j < H) body(j, H - j);
}

template <class V>
static void PgSigmoid(size_t n, const float* x, float* y) {
  size_t j = 0;
  for (; j + V::kWidth <= n; j += V::kWidth) Store(y + j, Sigmoid(Load(x + j)));
  if (j < n) {
    const int w = static_cast<int>(n - j);
    StorePartial(y + j, Sigmoid(LoadPartial(x + j, w)), w);
  }
}

template <class V>
static void PgTanh(size_t n, const float* x, float* y) {
  size_t j = 0;
  for (; j + V::kWidth <= n; j += V::kWidth) Store(y + j, Tanh(Load(x + j)));
  if (j < n) {
    const int w = static_cast<int>(n - j);
    StorePartial(y + j, Tanh(LoadPartial(x + j, w)), w);
  }
}

// The family-independent part of an ISA's table.
template <class V>
constexpr void FillCommon(cellstate::Kernels<float>* t) {
  t->sigmoid = PgSigmoid<V>;
  t->tanh = PgTanh<V>;
}
