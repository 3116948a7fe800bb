// The post-GEMM steps of the cells with any activation functions and clip (docs/cells.md,
// "Activation functions and clipping"), over a vector type V; the same contracts as the
// reference in ref/ref-postgemm-act.h (pre: the pre-activations before the clip, written by
// forward and read by backward, null when !CellActivationsNeedPre). The default functions
// (sigmoid gates, tanh, no clip) keep their own fast steps in postgemm-impl.h; these run only
// when a cell has another activation or a clip. Included by postgemm-impl.h, after LoadN,
// StoreN and ForChunks; no STL.
#pragma once

// The clip of a cell: Apply clamps when on; Mask zeroes a gradient where x was clipped.
template <class V>
struct ClipV {
  bool on;
  V hi, lo;
  explicit ClipV(float clip) : on(clip > 0.f), hi(Set1(clip)), lo(Set1(-clip)) {}
  V Apply(V x) const { return on ? Clamp(x, lo, hi) : x; }
  V Mask(V d, V x) const { return on ? Select(Lt(hi, Abs(x)), Set1(0.f), d) : d; }
};

// The derivative of act ∘ clip at a block: from the saved pre-activation when there is one,
// else from the output y alone.
template <class V>
static inline V DerivAt(const cellstate::Activation& act, const ClipV<V>& cl, V y, const float* pre,
                        int off, int w) {
  if (!pre) return ActDeriv(act, y, y);
  const V x = LoadN<V>(pre + off, w);
  return cl.Mask(ActDeriv(act, y, cl.Apply(x)), x);
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
