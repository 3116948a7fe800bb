// Layer normalization of one row, written once over a vector type V (vec-scalar.h documents
// the contract); the declarations and the exact definitions are in layernorm.h. Included by
// each layernorm-<isa>.cc inside an anonymous namespace, after its vec-<isa>.h, so every ISA
// gets its own copy with internal linkage; no STL here.
//
// Sums run lane-wise over whole vectors, then over the lanes in order, then over the tail
// (n mod kWidth values) one at a time: a fixed order per ISA, so a row's result depends only on
// its values. The variance takes a second pass over (x − mean)², which keeps it accurate for
// rows far from zero mean.
#pragma once

#if !(defined(__GNUC__) || defined(__clang__))
#include <cmath>
#endif

static inline float LnSqrt(float v) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_sqrtf(v);  // no inline function shared with other translation units
#else
  return std::sqrt(v);
#endif
}

template <class V>
static inline float LnLaneSum(V v) {
  float lanes[V::kWidth];
  Store(lanes, v);
  float s = 0.f;
  for (int k = 0; k < V::kWidth; ++k) s += lanes[k];
  return s;
}

template <class V>
static inline V LnLoadN(const float* p, int n) {
  return n == V::kWidth ? Load(p) : LoadPartial(p, n);
}

template <class V>
static inline void LnStoreN(float* p, V v, int n) {
  if (n == V::kWidth)
    Store(p, v);
  else
    StorePartial(p, v, n);
}

// Runs body(j, w) over [0, n) in vector-width chunks; w < kWidth only for the tail.
template <class V, class F>
static inline void LnForChunks(int n, F body) {
  int j = 0;
  for (; j + V::kWidth <= n; j += V::kWidth) body(j, V::kWidth);
  if (j < n) body(j, n - j);
}

template <class V>
static void LnFwd(int n, const float* x, const float* gamma, const float* beta, float* xhat,
                  float* rstd_out, float* y, bool accumulate) {
  const int nv = n - n % V::kWidth;
  V acc = Set1(0.f);
  for (int j = 0; j < nv; j += V::kWidth) acc = Add(acc, Load(x + j));
  float s = LnLaneSum(acc);
  for (int j = nv; j < n; ++j) s += x[j];
  const float mean = s / static_cast<float>(n);
  const V vmean = Set1(mean);
  acc = Set1(0.f);
  for (int j = 0; j < nv; j += V::kWidth) {
    const V d = Sub(Load(x + j), vmean);
    acc = Fmadd(d, d, acc);
  }
  float q = LnLaneSum(acc);
  for (int j = nv; j < n; ++j) {
    const float d = x[j] - mean;
    q += d * d;
  }
  const float rstd = 1.f / LnSqrt(q / static_cast<float>(n) + static_cast<float>(1e-5));
  const V vr = Set1(rstd);
  LnForChunks<V>(n, [&](int j, int w) {
    const V xh = Mul(Sub(LnLoadN<V>(x + j, w), vmean), vr);
    V out = Fmadd(LnLoadN<V>(gamma + j, w), xh, LnLoadN<V>(beta + j, w));
    if (accumulate) out = Add(out, LnLoadN<V>(y + j, w));
    if (xhat) LnStoreN(xhat + j, xh, w);
    LnStoreN(y + j, out, w);
  });
  if (rstd_out) *rstd_out = rstd;
}

template <class V>
static void LnBwd(int n, const float* dy, const float* xhat, float rstd, const float* gamma,
                  float* dx, float* dgamma, float* dbeta, bool accumulate) {
  const int nv = n - n % V::kWidth;
  V a1 = Set1(0.f), a2 = Set1(0.f);
  for (int j = 0; j < nv; j += V::kWidth) {
    const V g = Mul(Load(dy + j), Load(gamma + j));
    a1 = Add(a1, g);
    a2 = Fmadd(g, Load(xhat + j), a2);
  }
  float s1 = LnLaneSum(a1), s2 = LnLaneSum(a2);
  for (int j = nv; j < n; ++j) {
    const float g = dy[j] * gamma[j];
    s1 += g;
    s2 += g * xhat[j];
  }
  const V m1 = Set1(s1 / static_cast<float>(n)), m2 = Set1(s2 / static_cast<float>(n));
  const V vr = Set1(rstd);
  LnForChunks<V>(n, [&](int j, int w) {
    const V d = LnLoadN<V>(dy + j, w), xh = LnLoadN<V>(xhat + j, w);
    const V g = Mul(d, LnLoadN<V>(gamma + j, w));
    V out = Mul(Fnmadd(xh, m2, Sub(g, m1)), vr);
    if (accumulate) out = Add(out, LnLoadN<V>(dx + j, w));
    if (dgamma) LnStoreN(dgamma + j, Fmadd(d, xh, LnLoadN<V>(dgamma + j, w)), w);
    if (dbeta) LnStoreN(dbeta + j, Add(d, LnLoadN<V>(dbeta + j, w)), w);
    LnStoreN(dx + j, out, w);
  });
}

// Column sums, streamed row by row (rows are long and far apart: walking a narrow strip of
// columns down the rows would touch a new page per row and array). Columns go in blocks of
// kLnColBlock whose partial sums sit in small buffers (L1) while the rows stream through; each
// column's sum starts at 0 and takes the rows in order with the same lane operation wherever the
// column sits, then is added to the output.
constexpr int kLnColBlock = 512;  // a multiple of every vector width

template <class V, bool kA, bool kX1, bool kX2>
static inline void LnColBlock(size_t rows, int n, const float* a, size_t lda, const float* x1,
                              const float* x2, size_t ldx, float* sa, float* sx1, float* sx2) {
  float acc_a[kA ? kLnColBlock : 1], acc_1[kX1 ? kLnColBlock : 1], acc_2[kX2 ? kLnColBlock : 1];
  for (int j = 0; j < n; ++j) {
    if (kA) acc_a[j] = 0.f;
    if (kX1) acc_1[j] = 0.f;
    if (kX2) acc_2[j] = 0.f;
  }
  for (size_t m = 0; m < rows; ++m) {
    const float* am = a + m * lda;
    const float* x1m = kX1 ? x1 + m * ldx : nullptr;
    const float* x2m = kX2 ? x2 + m * ldx : nullptr;
    LnForChunks<V>(n, [&](int j, int w) {
      const V av = LnLoadN<V>(am + j, w);
      if (kA) LnStoreN(acc_a + j, Add(LnLoadN<V>(acc_a + j, w), av), w);
      if (kX1) LnStoreN(acc_1 + j, Fmadd(av, LnLoadN<V>(x1m + j, w), LnLoadN<V>(acc_1 + j, w)), w);
      if (kX2) LnStoreN(acc_2 + j, Fmadd(av, LnLoadN<V>(x2m + j, w), LnLoadN<V>(acc_2 + j, w)), w);
    });
  }
  LnForChunks<V>(n, [&](int j, int w) {
    if (kA) LnStoreN(sa + j, Add(LnLoadN<V>(sa + j, w), LnLoadN<V>(acc_a + j, w)), w);
    if (kX1) LnStoreN(sx1 + j, Add(LnLoadN<V>(sx1 + j, w), LnLoadN<V>(acc_1 + j, w)), w);
    if (kX2) LnStoreN(sx2 + j, Add(LnLoadN<V>(sx2 + j, w), LnLoadN<V>(acc_2 + j, w)), w);
  });
}

template <class V, bool kA, bool kX1, bool kX2>
static inline void LnColSumsT(size_t rows, int n, const float* a, size_t lda, const float* x1,
                              const float* x2, size_t ldx, float* sa, float* sx1, float* sx2) {
  for (int j = 0; j < n; j += kLnColBlock) {
    const int w = n - j < kLnColBlock ? n - j : kLnColBlock;
    LnColBlock<V, kA, kX1, kX2>(rows, w, a + j, lda, kX1 ? x1 + j : nullptr, kX2 ? x2 + j : nullptr,
                                ldx, kA ? sa + j : nullptr, kX1 ? sx1 + j : nullptr,
                                kX2 ? sx2 + j : nullptr);
  }
}

template <class V>
static void LnColSums(size_t rows, int n, const float* a, size_t lda, const float* x1,
                      const float* x2, size_t ldx, float* sa, float* sx1, float* sx2) {
  if (!sx1) x1 = nullptr;
  if (!sx2) x2 = nullptr;
  if (!x1 && x2) x1 = x2, sx1 = sx2, x2 = nullptr, sx2 = nullptr;
  const bool has_a = sa != nullptr, has1 = x1 != nullptr, has2 = x2 != nullptr;
  if (has_a && has1 && has2)
    LnColSumsT<V, true, true, true>(rows, n, a, lda, x1, x2, ldx, sa, sx1, sx2);
  else if (has_a && has1)
    LnColSumsT<V, true, true, false>(rows, n, a, lda, x1, x2, ldx, sa, sx1, sx2);
  else if (has1 && has2)
    LnColSumsT<V, false, true, true>(rows, n, a, lda, x1, x2, ldx, sa, sx1, sx2);
  else if (has1)
    LnColSumsT<V, false, true, false>(rows, n, a, lda, x1, x2, ldx, sa, sx1, sx2);
  else if (has_a)
    LnColSumsT<V, true, false, false>(rows, n, a, lda, x1, x2, ldx, sa, sx1, sx2);
}

#define CELLSTATE_LAYERNORM_TABLE(NAME, V) \
  { NAME, LnFwd<V>, LnBwd<V>, LnColSums<V> }
