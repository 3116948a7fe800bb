// The simple RNN family's reference post-GEMM: naive loops and <cmath>, written straight from
// docs/cells.md, templated on float and double, and FillRefRnn, which puts them into the
// reference table by name. Included by ref-kernels.cc only (inside its anonymous namespace; built
// with -ffp-contract=off).
#pragma once

template <typename T>
void RnnFwd(int H, bool relu, const T* a, T* h) {
  for (int j = 0; j < H; ++j) h[j] = relu ? (a[j] > 0 ? a[j] : T(0)) : std::tanh(a[j]);
}

template <typename T>
void RnnBwd(int H, bool relu, const T* h, const T* dh, T* da) {
  for (int j = 0; j < H; ++j) da[j] = relu ? (h[j] > 0 ? dh[j] : T(0)) : dh[j] * (1 - h[j] * h[j]);
}

template <typename T>
constexpr void FillRefRnn(RnnKernels<T>* t) {
  t->fwd = RnnFwd<T>;
  t->bwd = RnnBwd<T>;
  t->fwd_act = ref::RnnFwdAct<T>;
  t->bwd_act = ref::RnnBwdAct<T>;
}
