// The reference micro-kernels: naive loops and <cmath>, written straight from docs/cells.md,
// templated on float and double. The double instance is the oracle of the gradient checks;
// every ISA table is tested against these. Built with -ffp-contract=off.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels.h"
#include "ref/ref-postgemm-act.h"

namespace cellstate {
namespace {

template <typename T>
T Sigm(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <typename T>
size_t PackedSize(size_t K, size_t N) {
  return K * N;
}

// Reference packing: plain row-major [K, N].
template <typename T>
void Pack(size_t K, size_t N, const T* src, ptrdiff_t rs, ptrdiff_t cs, T* dst) {
  for (size_t k = 0; k < K; ++k)
    for (size_t n = 0; n < N; ++n)
      dst[k * N + n] = src[static_cast<ptrdiff_t>(k) * rs + static_cast<ptrdiff_t>(n) * cs];
}

template <typename T>
void Gemm(size_t M, size_t N, size_t K, const T* A, size_t lda, const T* B, const T* bias, T* C,
          size_t ldc, bool accumulate, Part part) {
  const size_t n0 = N * part.ith / part.nth, n1 = N * (part.ith + 1) / part.nth;
  for (size_t m = 0; m < M; ++m) {
    for (size_t n = n0; n < n1; ++n) {
      T s = 0;
      for (size_t k = 0; k < K; ++k) s += A[m * lda + k] * B[k * N + n];
      if (bias) s += bias[n];
      C[m * ldc + n] = accumulate ? C[m * ldc + n] + s : s;
    }
  }
}

template <typename T>
void LstmFwd(const LstmDesc<T>& d, T* a, const T* c_prev, T* c, T* m) {
  for (int j = 0; j < d.H; ++j) {
    const T cp = c_prev[j];
    T f = 1, i = 1, o = 1;
    if (d.off_f >= 0) {
      T x = a[d.off_f + j];
      if (d.ph) x += d.ph[d.ph_f + j] * cp;
      f = a[d.off_f + j] = Sigm(x);
    }
    if (d.coupled) {
      i = 1 - f;
    } else if (d.off_i >= 0) {
      T x = a[d.off_i + j];
      if (d.ph) x += d.ph[d.ph_i + j] * cp;
      i = a[d.off_i + j] = Sigm(x);
    }
    const T g = a[d.off_g + j] = d.input_activation ? std::tanh(a[d.off_g + j]) : a[d.off_g + j];
    const T ct = c[j] = f * cp + i * g;
    if (d.off_o >= 0) {
      T x = a[d.off_o + j];
      if (d.ph) x += d.ph[d.ph_o + j] * ct;
      o = a[d.off_o + j] = Sigm(x);
    }
    m[j] = o * (d.output_activation ? std::tanh(ct) : ct);
  }
}

template <typename T>
void LstmBwd(const LstmDesc<T>& d, const T* a, const T* c_prev, const T* c, const T* dm, T* dc,
             T* dg) {
  for (int j = 0; j < d.H; ++j) {
    const T cp = c_prev[j], ct = c[j];
    const T f = d.off_f >= 0 ? a[d.off_f + j] : T(1);
    const T i = d.coupled ? 1 - f : d.off_i >= 0 ? a[d.off_i + j] : T(1);
    const T g = a[d.off_g + j];
    const T o = d.off_o >= 0 ? a[d.off_o + j] : T(1);
    const T tc = d.output_activation ? std::tanh(ct) : ct;
    T dct = dc[j];
    if (d.off_o >= 0) {
      const T dao = dm[j] * tc * o * (1 - o);
      dg[d.off_o + j] = dao;
      if (d.ph) {
        dct += dao * d.ph[d.ph_o + j];
      }
    }
    dct += d.output_activation ? dm[j] * o * (1 - tc * tc) : dm[j] * o;
    const T di = dct * g;
    T df = dct * cp;
    if (d.coupled) df -= di;
    const T dgg = dct * i;
    dg[d.off_g + j] = d.input_activation ? dgg * (1 - g * g) : dgg;
    T dcp = dct * f;
    if (d.off_i >= 0 && !d.coupled) {
      const T dai = di * i * (1 - i);
      dg[d.off_i + j] = dai;
      if (d.ph) {
        dcp += dai * d.ph[d.ph_i + j];
      }
    }
    if (d.off_f >= 0) {
      const T daf = df * f * (1 - f);
      dg[d.off_f + j] = daf;
      if (d.ph) {
        dcp += daf * d.ph[d.ph_f + j];
      }
    }
    dc[j] = dcp;
  }
}

template <typename T>
void GruFwd(int H, T* gx, const T* gh, const T* hp, T* h) {
  for (int j = 0; j < H; ++j) {
    const T r = Sigm(gx[j] + gh[j]);
    const T z = Sigm(gx[H + j] + gh[H + j]);
    const T n = std::tanh(gx[2 * H + j] + r * gh[2 * H + j]);
    gx[j] = r;
    gx[H + j] = z;
    gx[2 * H + j] = n;
    h[j] = (1 - z) * n + z * hp[j];
  }
}

template <typename T>
void GruBwd(int H, const T* a, const T* gh, const T* hp, const T* dh, T* dgx, T* dgh, T* dhp) {
  for (int j = 0; j < H; ++j) {
    const T r = a[j], z = a[H + j], n = a[2 * H + j];
    const T dn = dh[j] * (1 - z);
    const T dz = dh[j] * (hp[j] - n);
    const T dan = dn * (1 - n * n);
    const T dr = dan * gh[2 * H + j];
    const T dar = dr * r * (1 - r);
    const T daz = dz * z * (1 - z);
    dgx[j] = dgh[j] = dar;
    dgx[H + j] = dgh[H + j] = daz;
    dgx[2 * H + j] = dan;
    dgh[2 * H + j] = dan * r;
    dhp[j] = dh[j] * z;
  }
}

template <typename T>
void GruFwdRz(int H, T* gx, const T* gh, const T* hp, T* rh) {
  for (int j = 0; j < H; ++j) {
    const T r = gx[j] = Sigm(gx[j] + gh[j]);
    gx[H + j] = Sigm(gx[H + j] + gh[H + j]);
    rh[j] = r * hp[j];
  }
}

template <typename T>
void GruFwdN(int H, T* gx, const T* ghn, const T* hp, T* h) {
  for (int j = 0; j < H; ++j) {
    const T z = gx[H + j];
    const T n = gx[2 * H + j] = std::tanh(gx[2 * H + j] + ghn[j]);
    h[j] = (1 - z) * n + z * hp[j];
  }
}

template <typename T>
void GruBwdN(int H, const T* a, const T* hp, const T* dh, T* dgx, T* dgh, T* dhp) {
  for (int j = 0; j < H; ++j) {
    const T z = a[H + j], n = a[2 * H + j];
    const T dan = dh[j] * (1 - z) * (1 - n * n);
    const T daz = dh[j] * (hp[j] - n) * z * (1 - z);
    dgx[H + j] = dgh[H + j] = daz;
    dgx[2 * H + j] = dgh[2 * H + j] = dan;
    dhp[j] = dh[j] * z;
  }
}

template <typename T>
void GruBwdR(int H, const T* a, const T* hp, const T* drh, T* dgx, T* dgh, T* dhp) {
  for (int j = 0; j < H; ++j) {
    const T r = a[j];
    const T dar = drh[j] * hp[j] * r * (1 - r);
    dgx[j] = dgh[j] = dar;
    dhp[j] += drh[j] * r;
  }
}

template <typename T>
void RnnFwd(int H, bool relu, const T* a, T* h) {
  for (int j = 0; j < H; ++j) h[j] = relu ? (a[j] > 0 ? a[j] : T(0)) : std::tanh(a[j]);
}

template <typename T>
void RnnBwd(int H, bool relu, const T* h, const T* dh, T* da) {
  for (int j = 0; j < H; ++j) da[j] = relu ? (h[j] > 0 ? dh[j] : T(0)) : dh[j] * (1 - h[j] * h[j]);
}

template <typename T>
void SigmoidN(size_t n, const T* x, T* y) {
  for (size_t j = 0; j < n; ++j) y[j] = Sigm(x[j]);
}

template <typename T>
void TanhN(size_t n, const T* x, T* y) {
  for (size_t j = 0; j < n; ++j) y[j] = std::tanh(x[j]);
}

template <typename T>
constexpr Kernels<T> kRef = {
    "ref",
    PackedSize<T>,
    Pack<T>,
    Gemm<T>,
    LstmFwd<T>,
    LstmBwd<T>,
    GruFwd<T>,
    GruBwd<T>,
    GruFwdRz<T>,
    GruFwdN<T>,
    GruBwdN<T>,
    GruBwdR<T>,
    RnnFwd<T>,
    RnnBwd<T>,
    SigmoidN<T>,
    TanhN<T>,
    ref::LstmFwdAct<T>,
    ref::LstmBwdAct<T>,
    ref::GruFwdAct<T>,
    ref::GruBwdAct<T>,
    ref::GruFwdRzAct<T>,
    ref::GruFwdNAct<T>,
    ref::GruBwdNAct<T>,
    ref::GruBwdRAct<T>,
    ref::RnnFwdAct<T>,
    ref::RnnBwdAct<T>,
};

}  // namespace

template <typename T>
const Kernels<T>* RefKernels() {
  return &kRef<T>;
}

template const Kernels<float>* RefKernels<float>();
template const Kernels<double>* RefKernels<double>();

}  // namespace cellstate
