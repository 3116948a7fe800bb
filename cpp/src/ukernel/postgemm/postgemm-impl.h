// Fused post-GEMM element-wise steps of every cell, forward and backward, and the
// activations they use, written once over a vector type V (vec-scalar.h documents the
// contract). Included by each ISA translation unit inside an anonymous namespace, after its
// vec-<isa>.h, so every ISA gets its own copy with internal linkage; no STL here.
//
// The activations (Tanh, Sigmoid and the others of docs/cells.md) are in activation-impl.h.
#pragma once

#include "ukernel/postgemm/activation-impl.h"

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

// Runs body(j, n) over [0, H) in vector-width chunks; n < kWidth only for the tail.
template <class V, class F>
static inline void ForChunks(int H, F body) {
  int j = 0;
  for (; j + V::kWidth <= H; j += V::kWidth) body(j, V::kWidth);
  if (j < H) body(j, H - j);
}

template <class V>
static void PgLstmFwd(const cellstate::LstmDesc<float>& d, float* a, const float* c_prev, float* c,
                      float* m) {
  const V one = Set1(1.f);
  ForChunks<V>(d.H, [&](int j, int w) {
    const V cp = LoadN<V>(c_prev + j, w);
    V f = one, i = one, o = one;
    if (d.off_f >= 0) {
      V x = LoadN<V>(a + d.off_f + j, w);
      if (d.ph) x = Fmadd(LoadN<V>(d.ph + d.ph_f + j, w), cp, x);
      f = Sigmoid(x);
      StoreN(a + d.off_f + j, f, w);
    }
    if (d.coupled) {
      i = Sub(one, f);
    } else if (d.off_i >= 0) {
      V x = LoadN<V>(a + d.off_i + j, w);
      if (d.ph) x = Fmadd(LoadN<V>(d.ph + d.ph_i + j, w), cp, x);
      i = Sigmoid(x);
      StoreN(a + d.off_i + j, i, w);
    }
    V g = LoadN<V>(a + d.off_g + j, w);
    if (d.input_activation) {
      g = Tanh(g);
      StoreN(a + d.off_g + j, g, w);
    }
    const V ct = Fmadd(f, cp, Mul(i, g));
    StoreN(c + j, ct, w);
    if (d.off_o >= 0) {
      V x = LoadN<V>(a + d.off_o + j, w);
      if (d.ph) x = Fmadd(LoadN<V>(d.ph + d.ph_o + j, w), ct, x);
      o = Sigmoid(x);
      StoreN(a + d.off_o + j, o, w);
    }
    StoreN(m + j, Mul(o, d.output_activation ? Tanh(ct) : ct), w);
  });
}

template <class V>
static void PgLstmBwd(const cellstate::LstmDesc<float>& d, const float* a, const float* c_prev,
                      const float* c, const float* dm, float* dc, float* dg) {
  const V one = Set1(1.f);
  ForChunks<V>(d.H, [&](int j, int w) {
    const V cp = LoadN<V>(c_prev + j, w), ct = LoadN<V>(c + j, w);
    const V f = d.off_f >= 0 ? LoadN<V>(a + d.off_f + j, w) : one;
    const V i = d.coupled ? Sub(one, f) : d.off_i >= 0 ? LoadN<V>(a + d.off_i + j, w) : one;
    const V g = LoadN<V>(a + d.off_g + j, w);
    const V o = d.off_o >= 0 ? LoadN<V>(a + d.off_o + j, w) : one;
    const V tc = d.output_activation ? Tanh(ct) : ct;
    const V dmv = LoadN<V>(dm + j, w);
    V dct = LoadN<V>(dc + j, w);
    if (d.off_o >= 0) {
      const V dao = Mul(Mul(dmv, tc), Mul(o, Sub(one, o)));
      StoreN(dg + d.off_o + j, dao, w);
      if (d.ph) {
        dct = Fmadd(dao, LoadN<V>(d.ph + d.ph_o + j, w), dct);
      }
    }
    const V dmo = Mul(dmv, o);
    dct = d.output_activation ? Fmadd(dmo, Fnmadd(tc, tc, one), dct) : Add(dct, dmo);
    const V di = Mul(dct, g);
    V df = Mul(dct, cp);
    if (d.coupled) df = Sub(df, di);
    const V dgg = Mul(dct, i);
    StoreN(dg + d.off_g + j, d.input_activation ? Mul(dgg, Fnmadd(g, g, one)) : dgg, w);
    V dcp = Mul(dct, f);
    if (d.off_i >= 0 && !d.coupled) {
      const V dai = Mul(di, Mul(i, Sub(one, i)));
      StoreN(dg + d.off_i + j, dai, w);
      if (d.ph) {
        dcp = Fmadd(dai, LoadN<V>(d.ph + d.ph_i + j, w), dcp);
      }
    }
    if (d.off_f >= 0) {
      const V daf = Mul(df, Mul(f, Sub(one, f)));
      StoreN(dg + d.off_f + j, daf, w);
      if (d.ph) {
        dcp = Fmadd(daf, LoadN<V>(d.ph + d.ph_f + j, w), dcp);
      }
    }
    StoreN(dc + j, dcp, w);
  });
}

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

#include "ukernel/postgemm/postgemm-act-impl.h"

// The complete table of an ISA, given its GEMM functions.
#define CELLSTATE_KERNEL_TABLE(NAME, V, PACKED_SIZE, PACK, GEMM)                                   \
  {                                                                                                \
    NAME, PACKED_SIZE, PACK, GEMM, PgLstmFwd<V>, PgLstmBwd<V>, PgGruFwd<V>, PgGruBwd<V>,           \
        PgGruFwdRz<V>, PgGruFwdN<V>, PgGruBwdN<V>, PgGruBwdR<V>, PgRnnFwd<V>, PgRnnBwd<V>,         \
        PgSigmoid<V>, PgTanh<V>, PgLstmFwdAct<V>, PgLstmBwdAct<V>, PgGruFwdAct<V>, PgGruBwdAct<V>, \
        PgGruFwdRzAct<V>, PgGruFwdNAct<V>, PgGruBwdNAct<V>, PgGruBwdRAct<V>, PgRnnFwdAct<V>,       \
        PgRnnBwdAct<V>                                                                             \
  }
