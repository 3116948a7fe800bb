// The layer-normalized LSTM's post-GEMM step (docs/cells.md, "Layer-normalized LSTM"), over a
// vector type V: the LSTM step of postgemm-impl.h with LN(c_t) before the output activation.
// Included by lstm-impl.h (after PgLstmFwd / PgLstmBwd, their *Act forms and layernorm-impl.h),
// inside each ISA's anonymous namespace; no STL here.
//
// Forward: PgLstmFwd with the output gate held back computes f, i, g and c_t (into c); LnFwd
// writes LN(c_t) into m; then o (with its peephole on the un-normalized c_t) and
// m = o ⊙ act(LN(c_t)). Backward: the gradients of a_o and of LN's output, LnBwd to c_t, the
// p_o peephole term, then PgLstmBwd with the output gate held back, which adds that gradient
// of c_t to the one arriving from step t+1 and does the rest.
#pragma once

template <class V>
static void PgLstmLnFwd(const cellstate::LstmDesc<float>& d, float* a, const float* c_prev,
                        float* c, float* chat, float* rstd_c, float* m) {
  cellstate::LstmDesc<float> core = d;
  core.off_o = -1;
  core.output_activation = false;  // m = c_t here: scratch, overwritten below
  PgLstmFwd<V>(core, a, c_prev, c, m);
  LnFwd<V>(d.H, c, d.ln_c_gamma, d.ln_c_beta, chat, rstd_c, m, false);
  ForChunks<V>(d.H, [&](int j, int w) {
    V o = Set1(1.f);
    if (d.off_o >= 0) {
      V x = LoadN<V>(a + d.off_o + j, w);
      if (d.ph) x = Fmadd(LoadN<V>(d.ph + d.ph_o + j, w), LoadN<V>(c + j, w), x);
      o = Sigmoid(x);
      StoreN(a + d.off_o + j, o, w);
    }
    const V y = LoadN<V>(m + j, w);
    StoreN(m + j, Mul(o, d.output_activation ? Tanh(y) : y), w);
  });
}

template <class V>
static void PgLstmLnBwd(const cellstate::LstmDesc<float>& d, const float* a, const float* c_prev,
                        const float* c, const float* chat, float rstd_c, const float* dm, float* dc,
                        float* dg, float* dyc, float* tmp) {
  const V one = Set1(1.f);
  ForChunks<V>(d.H, [&](int j, int w) {
    const V y =
        Fmadd(LoadN<V>(d.ln_c_gamma + j, w), LoadN<V>(chat + j, w), LoadN<V>(d.ln_c_beta + j, w));
    const V tc = d.output_activation ? Tanh(y) : y;
    const V dmv = LoadN<V>(dm + j, w);
    V o = one;
    if (d.off_o >= 0) {
      o = LoadN<V>(a + d.off_o + j, w);
      StoreN(dg + d.off_o + j, Mul(Mul(dmv, tc), Mul(o, Sub(one, o))), w);
    }
    const V dmo = Mul(dmv, o);
    StoreN(dyc + j, d.output_activation ? Mul(dmo, Fnmadd(tc, tc, one)) : dmo, w);
  });
  LnBwd<V>(d.H, dyc, chat, rstd_c, d.ln_c_gamma, tmp, nullptr, nullptr, false);
  if (d.off_o >= 0 && d.ph) {
    ForChunks<V>(d.H, [&](int j, int w) {
      StoreN(tmp + j,
             Fmadd(LoadN<V>(dg + d.off_o + j, w), LoadN<V>(d.ph + d.ph_o + j, w),
                   LoadN<V>(tmp + j, w)),
             w);
    });
  }
  cellstate::LstmDesc<float> core = d;
  core.off_o = -1;
  core.output_activation = false;  // dc_t += tmp, then f, i, g as without layer norm
  PgLstmBwd<V>(core, a, c_prev, c, tmp, dc, dg);
}

// With any activation functions and clip (docs/cells.md, "Layer-normalized LSTM"): the same
// steps over PgLstmFwdAct / PgLstmBwdAct. The gates' functions act on their clipped
// pre-activations (LN'ed, with the biases and peephole terms); hiddenActivation on LN(c_t), whose
// value y = γ_c ⊙ ĉ + β_c backward recomputes from the saved ĉ (the same FMA as LnFwd's).
template <class V>
static void PgLstmLnFwdAct(const cellstate::LstmDesc<float>& d,
                           const cellstate::CellActivations& ca, float* a, const float* c_prev,
                           float* c, float* chat, float* rstd_c, float* m, float* pre) {
  cellstate::LstmDesc<float> core = d;
  core.off_o = -1;
  core.output_activation = false;  // m = c_t here: scratch, overwritten below
  PgLstmFwdAct<V>(core, ca, a, c_prev, c, m, pre);
  LnFwd<V>(d.H, c, d.ln_c_gamma, d.ln_c_beta, chat, rstd_c, m, false);
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(d.H, [&](int j, int w) {
    V o = Set1(1.f);
    if (d.off_o >= 0) {
      V x = LoadN<V>(a + d.off_o + j, w);
      if (d.ph) x = Fmadd(LoadN<V>(d.ph + d.ph_o + j, w), LoadN<V>(c + j, w), x);
      if (pre) StoreN(pre + d.off_o + j, x, w);
      o = ActFwd(ca.gate, cl.Apply(x));
      StoreN(a + d.off_o + j, o, w);
    }
    const V y = LoadN<V>(m + j, w);
    StoreN(m + j, Mul(o, d.output_activation ? ActFwd(ca.hidden, y) : y), w);
  });
}

template <class V>
static void PgLstmLnBwdAct(const cellstate::LstmDesc<float>& d,
                           const cellstate::CellActivations& ca, const float* a, const float* pre,
                           const float* c_prev, const float* c, const float* chat, float rstd_c,
                           const float* dm, float* dc, float* dg, float* dyc, float* tmp) {
  const ClipV<V> cl(ca.clip);
  ForChunks<V>(d.H, [&](int j, int w) {
    const V y =
        Fmadd(LoadN<V>(d.ln_c_gamma + j, w), LoadN<V>(chat + j, w), LoadN<V>(d.ln_c_beta + j, w));
    const V hy = d.output_activation ? ActFwd(ca.hidden, y) : y;
    const V dmv = LoadN<V>(dm + j, w);
    V o = Set1(1.f);
    if (d.off_o >= 0) {
      o = LoadN<V>(a + d.off_o + j, w);
      StoreN(dg + d.off_o + j, Mul(Mul(dmv, hy), DerivAt(ca.gate, cl, o, pre, d.off_o + j, w)), w);
    }
    const V dmo = Mul(dmv, o);
    StoreN(dyc + j, d.output_activation ? Mul(dmo, ActDeriv(ca.hidden, hy, y)) : dmo, w);
  });
  LnBwd<V>(d.H, dyc, chat, rstd_c, d.ln_c_gamma, tmp, nullptr, nullptr, false);
  if (d.off_o >= 0 && d.ph) {
    ForChunks<V>(d.H, [&](int j, int w) {
      StoreN(tmp + j,
             Fmadd(LoadN<V>(dg + d.off_o + j, w), LoadN<V>(d.ph + d.ph_o + j, w),
                   LoadN<V>(tmp + j, w)),
             w);
    });
  }
  cellstate::LstmDesc<float> core = d;
  core.off_o = -1;
  core.output_activation = false;  // dc_t += tmp, then f, i, g as without layer norm
  PgLstmBwdAct<V>(core, ca, a, pre, c_prev, c, tmp, dc, dg);
}
