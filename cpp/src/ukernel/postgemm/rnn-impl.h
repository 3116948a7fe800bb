// The simple RNN family's fused post-GEMM steps, forward and backward, written once over a vector
// type V (cell/rnn.h documents the contract), and FillRnn<V>, which puts them into an ISA's table
// by name. Included by each ISA translation unit inside an anonymous namespace after common.h; no
// STL here.
#pragma once

template <class V>
static void PgRnnFwd(int H, bool relu, const float* a, float* h) {
  const V zero = Set1(0.f);
  ForChunks<V>(H, [&](int j, int w) {
    const V x = LoadN<V>(a + j, w);
    StoreN(h + j, relu ? Max(zero, x) : Tanh(x), w);
  });
}

template <class V>
static void PgRnnBwd(int H, bool relu, const float* h, const float* dh, float* da) {
  const V zero = Set1(0.f), one = Set1(1.f);
  ForChunks<V>(H, [&](int j, int w) {
    const V y = LoadN<V>(h + j, w), d = LoadN<V>(dh + j, w);
    StoreN(da + j, relu ? Select(Lt(zero, y), d, zero) : Mul(d, Fnmadd(y, y, one)), w);
  });
}

template <class V>
static void PgRnnFwdAct(int H, const cellstate::CellActivations& ca, const float* a, float* h,
                        float* pre) {
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(H, [&](int j, int w) {
    const V x = LoadN<V>(a + j, w);
    if (pre) StoreN(pre + j, x, w);
    StoreN(h + j, ActFwd(ca.cell, cl.Apply(x)), w);
  });
}

template <class V>
static void PgRnnBwdAct(int H, const cellstate::CellActivations& ca, const float* h,
                        const float* pre, const float* dh, float* da) {
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(H, [&](int j, int w) {
    const V y = LoadN<V>(h + j, w), d = LoadN<V>(dh + j, w);
    StoreN(da + j, Mul(d, DerivAt(ca.cell, cl, y, pre, j, w)), w);
  });
}
template <class V>
constexpr void FillRnn(cellstate::RnnKernels<float>* t) {
  t->fwd = PgRnnFwd<V>;
  t->bwd = PgRnnBwd<V>;
  t->fwd_act = PgRnnFwdAct<V>;
  t->bwd_act = PgRnnBwdAct<V>;
}
