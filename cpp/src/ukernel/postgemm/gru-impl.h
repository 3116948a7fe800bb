// The GRU family's fused post-GEMM steps, forward and backward, written once over a vector
// type V (cell/gru.h documents the contract), and FillGru<V>, which puts them into an ISA's table
// by name. Included by each ISA translation unit inside an anonymous namespace after common.h; no
// STL here.
#pragma once

template <class V>
static void PgGruFwd(int H, float* gx, const float* gh, const float* hp, float* h) {
  ForChunks<V>(H, [&](int j, int w) {
    const V r = Sigmoid(Add(LoadN<V>(gx + j, w), LoadN<V>(gh + j, w)));
    const V z = Sigmoid(Add(LoadN<V>(gx + H + j, w), LoadN<V>(gh + H + j, w)));
    const V n = Tanh(Fmadd(r, LoadN<V>(gh + 2 * H + j, w), LoadN<V>(gx + 2 * H + j, w)));
    StoreN(gx + j, r, w);
    StoreN(gx + H + j, z, w);
    StoreN(gx + 2 * H + j, n, w);
    StoreN(h + j, Fmadd(z, Sub(LoadN<V>(hp + j, w), n), n), w);  // (1-z)n + z h
  });
}

template <class V>
static void PgGruBwd(int H, const float* a, const float* gh, const float* hp, const float* dh,
                     float* dgx, float* dgh, float* dhp) {
  const V one = Set1(1.f);
  ForChunks<V>(H, [&](int j, int w) {
    const V r = LoadN<V>(a + j, w), z = LoadN<V>(a + H + j, w), n = LoadN<V>(a + 2 * H + j, w);
    const V d = LoadN<V>(dh + j, w);
    const V dan = Mul(Mul(d, Sub(one, z)), Fnmadd(n, n, one));
    const V daz = Mul(Mul(d, Sub(LoadN<V>(hp + j, w), n)), Mul(z, Sub(one, z)));
    const V dar = Mul(Mul(dan, LoadN<V>(gh + 2 * H + j, w)), Mul(r, Sub(one, r)));
    StoreN(dgx + j, dar, w);
    StoreN(dgh + j, dar, w);
    StoreN(dgx + H + j, daz, w);
    StoreN(dgh + H + j, daz, w);
    StoreN(dgx + 2 * H + j, dan, w);
    StoreN(dgh + 2 * H + j, Mul(dan, r), w);
    StoreN(dhp + j, Mul(d, z), w);
  });
}

template <class V>
static void PgGruFwdRz(int H, float* gx, const float* gh, const float* hp, float* rh) {
  ForChunks<V>(H, [&](int j, int w) {
    const V r = Sigmoid(Add(LoadN<V>(gx + j, w), LoadN<V>(gh + j, w)));
    const V z = Sigmoid(Add(LoadN<V>(gx + H + j, w), LoadN<V>(gh + H + j, w)));
    StoreN(gx + j, r, w);
    StoreN(gx + H + j, z, w);
    StoreN(rh + j, Mul(r, LoadN<V>(hp + j, w)), w);
  });
}

template <class V>
static void PgGruFwdN(int H, float* gx, const float* ghn, const float* hp, float* h) {
  ForChunks<V>(H, [&](int j, int w) {
    const V z = LoadN<V>(gx + H + j, w);
    const V n = Tanh(Add(LoadN<V>(gx + 2 * H + j, w), LoadN<V>(ghn + j, w)));
    StoreN(gx + 2 * H + j, n, w);
    StoreN(h + j, Fmadd(z, Sub(LoadN<V>(hp + j, w), n), n), w);
  });
}

template <class V>
static void PgGruBwdN(int H, const float* a, const float* hp, const float* dh, float* dgx,
                      float* dgh, float* dhp) {
  const V one = Set1(1.f);
  ForChunks<V>(H, [&](int j, int w) {
    const V z = LoadN<V>(a + H + j, w), n = LoadN<V>(a + 2 * H + j, w);
    const V d = LoadN<V>(dh + j, w);
    const V dan = Mul(Mul(d, Sub(one, z)), Fnmadd(n, n, one));
    const V daz = Mul(Mul(d, Sub(LoadN<V>(hp + j, w), n)), Mul(z, Sub(one, z)));
    StoreN(dgx + H + j, daz, w);
    StoreN(dgh + H + j, daz, w);
    StoreN(dgx + 2 * H + j, dan, w);
    StoreN(dgh + 2 * H + j, dan, w);
    StoreN(dhp + j, Mul(d, z), w);
  });
}

template <class V>
static void PgGruBwdR(int H, const float* a, const float* hp, const float* drh, float* dgx,
                      float* dgh, float* dhp) {
  const V one = Set1(1.f);
  ForChunks<V>(H, [&](int j, int w) {
    const V r = LoadN<V>(a + j, w), d = LoadN<V>(drh + j, w);
    const V dar = Mul(Mul(d, LoadN<V>(hp + j, w)), Mul(r, Sub(one, r)));
    StoreN(dgx + j, dar, w);
    StoreN(dgh + j, dar, w);
    StoreN(dhp + j, Fmadd(d, r, LoadN<V>(dhp + j, w)), w);
  });
}

template <class V>
static void PgGruFwdAct(int H, const cellstate::CellActivations& ca, float* gx, const float* gh,
                        const float* hp, float* h, float* pre) {
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(H, [&](int j, int w) {
    const V xr = Add(LoadN<V>(gx + j, w), LoadN<V>(gh + j, w));
    const V xz = Add(LoadN<V>(gx + H + j, w), LoadN<V>(gh + H + j, w));
    const V r = ActFwd(ca.gate, cl.Apply(xr));
    const V z = ActFwd(ca.gate, cl.Apply(xz));
    const V xn = Fmadd(r, LoadN<V>(gh + 2 * H + j, w), LoadN<V>(gx + 2 * H + j, w));
    const V n = ActFwd(ca.cell, cl.Apply(xn));
    if (pre) {
      StoreN(pre + j, xr, w);
      StoreN(pre + H + j, xz, w);
      StoreN(pre + 2 * H + j, xn, w);
    }
    StoreN(gx + j, r, w);
    StoreN(gx + H + j, z, w);
    StoreN(gx + 2 * H + j, n, w);
    StoreN(h + j, Fmadd(z, Sub(LoadN<V>(hp + j, w), n), n), w);  // (1-z)n + z h
  });
}

template <class V>
static void PgGruBwdAct(int H, const cellstate::CellActivations& ca, const float* a,
                        const float* pre, const float* gh, const float* hp, const float* dh,
                        float* dgx, float* dgh, float* dhp) {
  const V one = Set1(1.f);
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(H, [&](int j, int w) {
    const V r = LoadN<V>(a + j, w), z = LoadN<V>(a + H + j, w), n = LoadN<V>(a + 2 * H + j, w);
    const V d = LoadN<V>(dh + j, w);
    const V dan = Mul(Mul(d, Sub(one, z)), DerivAt(ca.cell, cl, n, pre, 2 * H + j, w));
    const V daz = Mul(Mul(d, Sub(LoadN<V>(hp + j, w), n)), DerivAt(ca.gate, cl, z, pre, H + j, w));
    const V dar = Mul(Mul(dan, LoadN<V>(gh + 2 * H + j, w)), DerivAt(ca.gate, cl, r, pre, j, w));
    StoreN(dgx + j, dar, w);
    StoreN(dgh + j, dar, w);
    StoreN(dgx + H + j, daz, w);
    StoreN(dgh + H + j, daz, w);
    StoreN(dgx + 2 * H + j, dan, w);
    StoreN(dgh + 2 * H + j, Mul(dan, r), w);
    StoreN(dhp + j, Mul(d, z), w);
  });
}

template <class V>
static void PgGruFwdRzAct(int H, const cellstate::CellActivations& ca, float* gx, const float* gh,
                          const float* hp, float* rh, float* pre) {
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(H, [&](int j, int w) {
    const V xr = Add(LoadN<V>(gx + j, w), LoadN<V>(gh + j, w));
    const V xz = Add(LoadN<V>(gx + H + j, w), LoadN<V>(gh + H + j, w));
    if (pre) {
      StoreN(pre + j, xr, w);
      StoreN(pre + H + j, xz, w);
    }
    const V r = ActFwd(ca.gate, cl.Apply(xr));
    StoreN(gx + j, r, w);
    StoreN(gx + H + j, ActFwd(ca.gate, cl.Apply(xz)), w);
    StoreN(rh + j, Mul(r, LoadN<V>(hp + j, w)), w);
  });
}

template <class V>
static void PgGruFwdNAct(int H, const cellstate::CellActivations& ca, float* gx, const float* ghn,
                         const float* hp, float* h, float* pre) {
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(H, [&](int j, int w) {
    const V z = LoadN<V>(gx + H + j, w);
    const V xn = Add(LoadN<V>(gx + 2 * H + j, w), LoadN<V>(ghn + j, w));
    if (pre) StoreN(pre + 2 * H + j, xn, w);
    const V n = ActFwd(ca.cell, cl.Apply(xn));
    StoreN(gx + 2 * H + j, n, w);
    StoreN(h + j, Fmadd(z, Sub(LoadN<V>(hp + j, w), n), n), w);
  });
}

template <class V>
static void PgGruBwdNAct(int H, const cellstate::CellActivations& ca, const float* a,
                         const float* pre, const float* hp, const float* dh, float* dgx, float* dgh,
                         float* dhp) {
  const V one = Set1(1.f);
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(H, [&](int j, int w) {
    const V z = LoadN<V>(a + H + j, w), n = LoadN<V>(a + 2 * H + j, w);
    const V d = LoadN<V>(dh + j, w);
    const V dan = Mul(Mul(d, Sub(one, z)), DerivAt(ca.cell, cl, n, pre, 2 * H + j, w));
    const V daz = Mul(Mul(d, Sub(LoadN<V>(hp + j, w), n)), DerivAt(ca.gate, cl, z, pre, H + j, w));
    StoreN(dgx + H + j, daz, w);
    StoreN(dgh + H + j, daz, w);
    StoreN(dgx + 2 * H + j, dan, w);
    StoreN(dgh + 2 * H + j, dan, w);
    StoreN(dhp + j, Mul(d, z), w);
  });
}

template <class V>
static void PgGruBwdRAct(int H, const cellstate::CellActivations& ca, const float* a,
                         const float* pre, const float* hp, const float* drh, float* dgx,
                         float* dgh, float* dhp) {
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(H, [&](int j, int w) {
    const V r = LoadN<V>(a + j, w), d = LoadN<V>(drh + j, w);
    const V dar = Mul(Mul(d, LoadN<V>(hp + j, w)), DerivAt(ca.gate, cl, r, pre, j, w));
    StoreN(dgx + j, dar, w);
    StoreN(dgh + j, dar, w);
    StoreN(dhp + j, Fmadd(d, r, LoadN<V>(dhp + j, w)), w);
  });
}

template <class V>
constexpr void FillGru(cellstate::GruKernels<float>* t) {
  t->fwd = PgGruFwd<V>;
  t->bwd = PgGruBwd<V>;
  t->fwd_rz = PgGruFwdRz<V>;
  t->fwd_n = PgGruFwdN<V>;
  t->bwd_n = PgGruBwdN<V>;
  t->bwd_r = PgGruBwdR<V>;
  t->fwd_act = PgGruFwdAct<V>;
  t->bwd_act = PgGruBwdAct<V>;
  t->fwd_rz_act = PgGruFwdRzAct<V>;
  t->fwd_n_act = PgGruFwdNAct<V>;
  t->bwd_n_act = PgGruBwdNAct<V>;
  t->bwd_r_act = PgGruBwdRAct<V>;
}
