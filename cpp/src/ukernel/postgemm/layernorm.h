// Layer normalization of one row (Ba, Kiros and Hinton 2016), the primitive of the
// layer-normalized LSTM (docs/cells.md, "Layer-normalized LSTM"):
//
//   LN(x; γ, β) = γ ⊙ x̂ + β,   x̂ = (x − mean x) · rstd,   rstd = 1 / sqrt(var x + 1e-5)
//
// with mean and the biased variance over the row's n values. One table per ISA
// (layernorm-<isa>.cc, written once over the vector contract in layernorm-impl.h) and the
// reference templated on float and double (cpp/src/ref/ref-layernorm.cc), the oracle of the
// tests. Every function works on one row and touches nothing else, so callers split rows over
// threads freely; the result of a row does not depend on the thread that computes it.
#pragma once

#include <cstddef>

namespace cellstate {

// The ε of every layer normalization (added to the biased variance).
constexpr double kLayerNormEps = 1e-5;

template <typename T>
struct LayerNormKernels {
  const char* name;  // "ref", "scalar", "avx2", "avx512", "neon"

  // Forward over x [n], n ≥ 1: y = (accumulate ? y : 0) + γ ⊙ x̂ + β.
  // xhat [n] out: x̂, what backward needs (null: not stored; may alias x). rstd out: 1/sqrt(var
  // + ε) (null: not stored). y may alias x when !accumulate. A NaN or ±∞ in x gives NaN in the
  // whole row.
  void (*fwd)(int n, const T* x, const T* gamma, const T* beta, T* xhat, T* rstd, T* y,
              bool accumulate);

  // Backward, from dy [n] (the gradient of y) and what forward saved (x̂, rstd):
  //   dx = (accumulate ? dx : 0) + rstd · (ĝ − mean ĝ − x̂ · mean(ĝ ⊙ x̂)),   ĝ = dy ⊙ γ
  //   dgamma += dy ⊙ x̂,   dbeta += dy        (each skipped when null)
  // dx may alias dy when !accumulate.
  void (*bwd)(int n, const T* dy, const T* xhat, T rstd, const T* gamma, T* dx, T* dgamma, T* dbeta,
              bool accumulate);

  // Column sums over `rows` rows of n values (the γ/β gradients of the layer-normalized LSTM,
  // reduced after the time loop, and its peephole gradients): for every column j < n,
  //   sa[j] += Σ_m a[m·lda + j],   sx1[j] += Σ_m a[m·lda + j] · x1[m·ldx + j],
  //   sx2[j] += Σ_m a[m·lda + j] · x2[m·ldx + j],
  // each sum formed from 0 over m = 0, 1, … rows − 1 in order and then added: a column's result
  // depends only on its own values (not on n or on where the column starts), so callers may
  // split the columns over threads freely. sa, x2 and sx2 may be null (x1 and sx1 may be null
  // together); rows may be 0.
  void (*col_sums)(size_t rows, int n, const T* a, size_t lda, const T* x1, const T* x2, size_t ldx,
                   T* sa, T* sx1, T* sx2);
};

// The reference: naive loops in T, two passes for mean and variance (also the ln_fwd / ln_bwd
// of the reference kernel table, kernels.h).
template <typename T>
void RefLnFwd(int n, const T* x, const T* gamma, const T* beta, T* xhat, T* rstd, T* y,
              bool accumulate);
template <typename T>
void RefLnBwd(int n, const T* dy, const T* xhat, T rstd, const T* gamma, T* dx, T* dgamma, T* dbeta,
              bool accumulate);
template <typename T>
void RefLnColSums(size_t rows, int n, const T* a, size_t lda, const T* x1, const T* x2, size_t ldx,
                  T* sa, T* sx1, T* sx2);
template <typename T>
const LayerNormKernels<T>* RefLayerNorm();
// The ISA tables (float): nullptr where this build cannot target the ISA.
const LayerNormKernels<float>* ScalarLayerNorm();
const LayerNormKernels<float>* Avx2LayerNorm();
const LayerNormKernels<float>* Avx512LayerNorm();
const LayerNormKernels<float>* NeonLayerNorm();
// The table of an ISA by name ("scalar", "avx2", "avx512", "neon"), or nullptr when this build
// or this CPU lacks it.
const LayerNormKernels<float>* LayerNormFor(const char* isa);

}  // namespace cellstate
