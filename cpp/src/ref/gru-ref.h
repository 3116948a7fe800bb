// The GRU family's reference post-GEMM: naive loops and <cmath>, written straight from
// docs/cells.md, templated on float and double, and FillRefGru, which puts them into the
// reference table by name. Included by ref-kernels.cc only (inside its anonymous namespace; built
// with -ffp-contract=off).
#pragma once

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
constexpr void FillRefGru(GruKernels<T>* t) {
  t->fwd = GruFwd<T>;
  t->bwd = GruBwd<T>;
  t->fwd_rz = GruFwdRz<T>;
  t->fwd_n = GruFwdN<T>;
  t->bwd_n = GruBwdN<T>;
  t->bwd_r = GruBwdR<T>;
  t->fwd_act = ref::GruFwdAct<T>;
  t->bwd_act = ref::GruBwdAct<T>;
  t->fwd_rz_act = ref::GruFwdRzAct<T>;
  t->fwd_n_act = ref::GruFwdNAct<T>;
  t->bwd_n_act = ref::GruBwdNAct<T>;
  t->bwd_r_act = ref::GruBwdRAct<T>;
}
