// The reference layer normalization (layernorm.h): naive loops, two passes for mean and
// variance, templated on float and double. The double instance is the oracle every ISA's
// table is tested against. Built with -ffp-contract=off.
#include <cmath>

#include "ukernel/postgemm/layernorm.h"

namespace cellstate {

template <typename T>
void RefLnFwd(int n, const T* x, const T* gamma, const T* beta, T* xhat, T* rstd_out, T* y,
              bool accumulate) {
  T s = 0;
  for (int j = 0; j < n; ++j) s += x[j];
  const T mean = s / static_cast<T>(n);
  T q = 0;
  for (int j = 0; j < n; ++j) q += (x[j] - mean) * (x[j] - mean);
  const T rstd = T(1) / std::sqrt(q / static_cast<T>(n) + static_cast<T>(kLayerNormEps));
  for (int j = 0; j < n; ++j) {
    const T xh = (x[j] - mean) * rstd;
    const T out = gamma[j] * xh + beta[j];
    if (xhat) xhat[j] = xh;
    y[j] = accumulate ? y[j] + out : out;
  }
  if (rstd_out) *rstd_out = rstd;
}

template <typename T>
void RefLnBwd(int n, const T* dy, const T* xhat, T rstd, const T* gamma, T* dx, T* dgamma, T* dbeta,
              bool accumulate) {
  T s1 = 0, s2 = 0;
  for (int j = 0; j < n; ++j) {
    s1 += dy[j] * gamma[j];
    s2 += dy[j] * gamma[j] * xhat[j];
  }
  const T m1 = s1 / static_cast<T>(n), m2 = s2 / static_cast<T>(n);
  for (int j = 0; j < n; ++j) {
    const T d = dy[j];
    const T out = rstd * (d * gamma[j] - m1 - xhat[j] * m2);
    if (dgamma) dgamma[j] += d * xhat[j];
    if (dbeta) dbeta[j] += d;
    dx[j] = accumulate ? dx[j] + out : out;
  }
}

template <typename T>
void RefLnColSums(size_t rows, int n, const T* a, size_t lda, const T* x1, const T* x2, size_t ldx,
                  T* sa, T* sx1, T* sx2) {
  for (int j = 0; j < n; ++j) {
    T s = 0, s1 = 0, s2 = 0;
    for (size_t m = 0; m < rows; ++m) {
      const T v = a[m * lda + j];
      s += v;
      if (sx1) s1 += v * x1[m * ldx + j];
      if (sx2) s2 += v * x2[m * ldx + j];
    }
    if (sa) sa[j] += s;
    if (sx1) sx1[j] += s1;
    if (sx2) sx2[j] += s2;
  }
}

template void RefLnFwd<float>(int, const float*, const float*, const float*, float*, float*, float*,
                              bool);
template void RefLnFwd<double>(int, const double*, const double*, const double*, double*, double*,
                               double*, bool);
template void RefLnBwd<float>(int, const float*, const float*, float, const float*, float*, float*,
                              float*, bool);
template void RefLnBwd<double>(int, const double*, const double*, double, const double*, double*,
                               double*, double*, bool);
template void RefLnColSums<float>(size_t, int, const float*, size_t, const float*, const float*,
                                  size_t, float*, float*, float*);
template void RefLnColSums<double>(size_t, int, const double*, size_t, const double*, const double*,
                                   size_t, double*, double*, double*);

namespace {
template <typename T>
constexpr LayerNormKernels<T> kTable = {"ref", RefLnFwd<T>, RefLnBwd<T>, RefLnColSums<T>};

}  // namespace

template <typename T>
const LayerNormKernels<T>* RefLayerNorm() {
  return &kTable<T>;
}

template const LayerNormKernels<float>* RefLayerNorm<float>();
template const LayerNormKernels<double>* RefLayerNorm<double>();

}  // namespace cellstate
