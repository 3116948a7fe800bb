// The LSTM family's reference post-GEMM: naive loops and <cmath>, written straight from
// docs/cells.md, templated on float and double, and FillRefLstm, which puts them into the
// reference table by name. Included by ref-kernels.cc only (inside its anonymous namespace; built
// with -ffp-contract=off).
#pragma once

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

// The layer-normalized LSTM step: LstmFwd with the output gate held back gives c_t; then
// m = o ⊙ act(LN(c_t)), the peephole of o reading the un-normalized c_t. RefLnFwd / RefLnBwd:
// ref/ref-layernorm.cc.
template <typename T>
void LstmLnFwd(const LstmDesc<T>& d, T* a, const T* c_prev, T* c, T* chat, T* rstd_c, T* m) {
  LstmDesc<T> core = d;
  core.off_o = -1;
  core.output_activation = false;
  LstmFwd(core, a, c_prev, c, m);
  RefLnFwd(d.H, c, d.ln_c_gamma, d.ln_c_beta, chat, rstd_c, m, false);
  for (int j = 0; j < d.H; ++j) {
    T o = 1;
    if (d.off_o >= 0) {
      T x = a[d.off_o + j];
      if (d.ph) x += d.ph[d.ph_o + j] * c[j];
      o = a[d.off_o + j] = Sigm(x);
    }
    m[j] = o * (d.output_activation ? std::tanh(m[j]) : m[j]);
  }
}

template <typename T>
void LstmLnBwd(const LstmDesc<T>& d, const T* a, const T* c_prev, const T* c, const T* chat,
               T rstd_c, const T* dm, T* dc, T* dg, T* dyc, T* tmp) {
  for (int j = 0; j < d.H; ++j) {
    const T y = d.ln_c_gamma[j] * chat[j] + d.ln_c_beta[j];
    const T tc = d.output_activation ? std::tanh(y) : y;
    const T o = d.off_o >= 0 ? a[d.off_o + j] : T(1);
    if (d.off_o >= 0) dg[d.off_o + j] = dm[j] * tc * o * (1 - o);
    dyc[j] = dm[j] * o * (d.output_activation ? 1 - tc * tc : T(1));
  }
  // dL/dc_t through LN(c_t), plus the output gate's peephole on c_t.
  RefLnBwd(d.H, dyc, chat, rstd_c, d.ln_c_gamma, tmp, static_cast<T*>(nullptr),
           static_cast<T*>(nullptr), false);
  if (d.off_o >= 0 && d.ph)
    for (int j = 0; j < d.H; ++j) tmp[j] += dg[d.off_o + j] * d.ph[d.ph_o + j];
  LstmDesc<T> core = d;
  core.off_o = -1;
  core.output_activation = false;  // dc_t = dc + tmp, then f, i, g as without layer norm
  LstmBwd(core, a, c_prev, c, tmp, dc, dg);
}

// With any activation functions and clip: the same over ref::LstmFwdAct / LstmBwdAct (the
// gates' functions on their clipped pre-activations, which come after LN, the biases and the
// peephole terms; hiddenActivation on LN(c_t)).
template <typename T>
void LstmLnFwdAct(const LstmDesc<T>& d, const CellActivations& ca, T* a, const T* c_prev, T* c,
                  T* chat, T* rstd_c, T* m, T* pre) {
  LstmDesc<T> core = d;
  core.off_o = -1;
  core.output_activation = false;
  ref::LstmFwdAct(core, ca, a, c_prev, c, m, pre);
  RefLnFwd(d.H, c, d.ln_c_gamma, d.ln_c_beta, chat, rstd_c, m, false);
  for (int j = 0; j < d.H; ++j) {
    T o = 1;
    if (d.off_o >= 0) {
      const T x = a[d.off_o + j] + (d.ph ? d.ph[d.ph_o + j] * c[j] : T(0));
      if (pre) pre[d.off_o + j] = x;
      o = a[d.off_o + j] = ref::ActFwd(ca.gate, ref::ClipAt(ca.clip, x));
    }
    m[j] = o * (d.output_activation ? ref::ActFwd(ca.hidden, m[j]) : m[j]);
  }
}

template <typename T>
void LstmLnBwdAct(const LstmDesc<T>& d, const CellActivations& ca, const T* a, const T* pre,
                  const T* c_prev, const T* c, const T* chat, T rstd_c, const T* dm, T* dc, T* dg,
                  T* dyc, T* tmp) {
  for (int j = 0; j < d.H; ++j) {
    const T y = d.ln_c_gamma[j] * chat[j] + d.ln_c_beta[j];
    const T hy = d.output_activation ? ref::ActFwd(ca.hidden, y) : y;
    const T o = d.off_o >= 0 ? a[d.off_o + j] : T(1);
    if (d.off_o >= 0)
      dg[d.off_o + j] =
          dm[j] * hy * ref::ActDerivAt(ca.gate, ca.clip, o, pre ? pre + d.off_o + j : nullptr);
    dyc[j] = dm[j] * o * (d.output_activation ? ref::ActDeriv(ca.hidden, y) : T(1));
  }
  RefLnBwd(d.H, dyc, chat, rstd_c, d.ln_c_gamma, tmp, static_cast<T*>(nullptr),
           static_cast<T*>(nullptr), false);
  if (d.off_o >= 0 && d.ph)
    for (int j = 0; j < d.H; ++j) tmp[j] += dg[d.off_o + j] * d.ph[d.ph_o + j];
  LstmDesc<T> core = d;
  core.off_o = -1;
  core.output_activation = false;
  ref::LstmBwdAct(core, ca, a, pre, c_prev, c, tmp, dc, dg);
}

template <typename T>
constexpr void FillRefLstm(LstmKernels<T>* t) {
  t->fwd = LstmFwd<T>;
  t->bwd = LstmBwd<T>;
  t->ln_fwd = RefLnFwd<T>;
  t->ln_bwd = RefLnBwd<T>;
  t->ln_col_sums = RefLnColSums<T>;
  t->ln_step_fwd = LstmLnFwd<T>;
  t->ln_step_bwd = LstmLnBwd<T>;
  t->fwd_act = ref::LstmFwdAct<T>;
  t->bwd_act = ref::LstmBwdAct<T>;
  t->ln_step_fwd_act = LstmLnFwdAct<T>;
  t->ln_step_bwd_act = LstmLnBwdAct<T>;
}
