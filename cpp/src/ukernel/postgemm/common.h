// What every cell family's post-GEMM shares: the activations, written once over a vector type V
// (vec-scalar.h documents the contract), and the chunk loops. Included by each ISA translation
// unit inside an anonymous namespace, after its vec-<isa>.h, so every ISA gets its own copy
// with internal linkage; no STL here. The families' element-wise steps are in <family>-impl.h.
//
// The activations (Tanh, Sigmoid and the others of docs/cells.md) are in activation-impl.h.
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

#include "ukernel/postgemm/activation-impl.h"

// Runs body(j, n) over [0, H) in vector-width chunks; n < kWidth only for the tail.
template <class V, class F>
static inline void ForChunks(int H, F body) {
  int j = 0;
  for (; j + V::kWidth <= H; j += V::kWidth) body(j, V::kWidth);
  if (j < H) body(j, H - j);
}

// The clip of a cell: Apply clamps when on; Mask zeroes a gradient where x was clipped.
template <class V>
struct ClipV {
  bool on;
  V hi, lo;
  explicit ClipV(double clip)
      : on(clip > 0), hi(Set1(static_cast<float>(clip))), lo(Set1(-static_cast<float>(clip))) {}
  V Apply(V x) const { return on ? Clamp(x, lo, hi) : x; }
  V Mask(V d, V x) const { return on ? Select(Lt(hi, Abs(x)), Set1(0.f), d) : d; }
};

// The derivative of act ∘ clip at a block: from the saved pre-activation when there is one,
// else from the output y alone.
template <class V>
static inline V DerivAt(const cellstate::Activation& act, const ClipV<V>& cl, V y, const float* pre,
                        int off, int w) {
  if (!pre) return ActDeriv(act, y, y);
  const V x = LoadN<V>(pre + off, w);
  return cl.Mask(ActDeriv(act, y, cl.Apply(x)), x);
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
