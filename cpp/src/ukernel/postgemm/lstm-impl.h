// The LSTM family's fused post-GEMM steps, forward and backward, written once over a vector
// type V (cell/lstm.h documents the contract), and FillLstm<V>, which puts them into an ISA's table
// by name. Included by each ISA translation unit inside an anonymous namespace after common.h; no
// STL here.
#pragma once

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
static void PgLstmFwdAct(const cellstate::LstmDesc<float>& d, const cellstate::CellActivations& ca,
                         float* a, const float* c_prev, float* c, float* m, float* pre) {
  const V one = Set1(1.f);
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(d.H, [&](int j, int w) {
    auto gate = [&](int off, V x) {
      if (pre) StoreN(pre + off + j, x, w);
      const V y = ActFwd(ca.gate, cl.Apply(x));
      StoreN(a + off + j, y, w);
      return y;
    };
    const V cp = LoadN<V>(c_prev + j, w);
    V f = one, i = one, o = one;
    if (d.off_f >= 0) {
      V x = LoadN<V>(a + d.off_f + j, w);
      if (d.ph) x = Fmadd(LoadN<V>(d.ph + d.ph_f + j, w), cp, x);
      f = gate(d.off_f, x);
    }
    if (d.coupled) {
      i = Sub(one, f);
    } else if (d.off_i >= 0) {
      V x = LoadN<V>(a + d.off_i + j, w);
      if (d.ph) x = Fmadd(LoadN<V>(d.ph + d.ph_i + j, w), cp, x);
      i = gate(d.off_i, x);
    }
    const V xg = LoadN<V>(a + d.off_g + j, w);
    if (pre) StoreN(pre + d.off_g + j, xg, w);
    const V g = d.input_activation ? ActFwd(ca.cell, cl.Apply(xg)) : cl.Apply(xg);
    StoreN(a + d.off_g + j, g, w);
    const V ct = Fmadd(f, cp, Mul(i, g));
    StoreN(c + j, ct, w);
    if (d.off_o >= 0) {
      V x = LoadN<V>(a + d.off_o + j, w);
      if (d.ph) x = Fmadd(LoadN<V>(d.ph + d.ph_o + j, w), ct, x);
      o = gate(d.off_o, x);
    }
    StoreN(m + j, Mul(o, d.output_activation ? ActFwd(ca.hidden, ct) : ct), w);
  });
}

template <class V>
static void PgLstmBwdAct(const cellstate::LstmDesc<float>& d, const cellstate::CellActivations& ca,
                         const float* a, const float* pre, const float* c_prev, const float* c,
                         const float* dm, float* dc, float* dg) {
  const V one = Set1(1.f);
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(d.H, [&](int j, int w) {
    const V cp = LoadN<V>(c_prev + j, w), ct = LoadN<V>(c + j, w);
    const V f = d.off_f >= 0 ? LoadN<V>(a + d.off_f + j, w) : one;
    const V i = d.coupled ? Sub(one, f) : d.off_i >= 0 ? LoadN<V>(a + d.off_i + j, w) : one;
    const V g = LoadN<V>(a + d.off_g + j, w);
    const V o = d.off_o >= 0 ? LoadN<V>(a + d.off_o + j, w) : one;
    const V hc = d.output_activation ? ActFwd(ca.hidden, ct) : ct;
    const V dmv = LoadN<V>(dm + j, w);
    V dct = LoadN<V>(dc + j, w);
    if (d.off_o >= 0) {
      const V dao = Mul(Mul(dmv, hc), DerivAt(ca.gate, cl, o, pre, d.off_o + j, w));
      StoreN(dg + d.off_o + j, dao, w);
      if (d.ph) dct = Fmadd(dao, LoadN<V>(d.ph + d.ph_o + j, w), dct);
    }
    const V dmo = Mul(dmv, o);
    dct = d.output_activation ? Fmadd(dmo, ActDeriv(ca.hidden, hc, ct), dct) : Add(dct, dmo);
    const V di = Mul(dct, g);
    V df = Mul(dct, cp);
    if (d.coupled) df = Sub(df, di);
    const V dgg = Mul(dct, i);
    V dag;
    if (d.input_activation) {
      dag = Mul(dgg, DerivAt(ca.cell, cl, g, pre, d.off_g + j, w));
    } else {
      dag = pre ? cl.Mask(dgg, LoadN<V>(pre + d.off_g + j, w)) : dgg;
    }
    StoreN(dg + d.off_g + j, dag, w);
    V dcp = Mul(dct, f);
    if (d.off_i >= 0 && !d.coupled) {
      const V dai = Mul(di, DerivAt(ca.gate, cl, i, pre, d.off_i + j, w));
      StoreN(dg + d.off_i + j, dai, w);
      if (d.ph) dcp = Fmadd(dai, LoadN<V>(d.ph + d.ph_i + j, w), dcp);
    }
    if (d.off_f >= 0) {
      const V daf = Mul(df, DerivAt(ca.gate, cl, f, pre, d.off_f + j, w));
      StoreN(dg + d.off_f + j, daf, w);
      if (d.ph) dcp = Fmadd(daf, LoadN<V>(d.ph + d.ph_f + j, w), dcp);
    }
    StoreN(dc + j, dcp, w);
  });
}

// The layer-normalized LSTM's steps (and the row normalization they use).
#include "ukernel/postgemm/layernorm-impl.h"
//
#include "ukernel/postgemm/lstm-ln-impl.h"

template <class V>
constexpr void FillLstm(cellstate::LstmKernels<float>* t) {
  t->fwd = PgLstmFwd<V>;
  t->bwd = PgLstmBwd<V>;
  t->ln_fwd = LnFwd<V>;
  t->ln_bwd = LnBwd<V>;
  t->ln_col_sums = LnColSums<V>;
  t->ln_step_fwd = PgLstmLnFwd<V>;
  t->ln_step_bwd = PgLstmLnBwd<V>;
  t->fwd_act = PgLstmFwdAct<V>;
  t->bwd_act = PgLstmBwdAct<V>;
  t->ln_step_fwd_act = PgLstmLnFwdAct<V>;
  t->ln_step_bwd_act = PgLstmLnBwdAct<V>;
}
