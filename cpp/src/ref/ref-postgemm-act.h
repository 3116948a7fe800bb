// The reference post-GEMM steps of the cells with any activation functions and clip
// (docs/cells.md, "Activation functions and clipping"), written straight from the definitions,
// templated on float and double. Same contracts as the Kernels slots of the default functions
// (kernels.h), plus:
//   ca   the activation roles and clip;
//   pre  forward: where the pre-activations (after the peephole terms, before the clip) of the
//        gate and candidate blocks are written, in the layout of the gates row; null when
//        !CellActivationsNeedPre(ca). Backward reads them from there (null likewise).
// The gradient of a clipped pre-activation is 0; c_t is not clipped.
#pragma once

#include "cell/activation.h"
#include "kernels.h"
#include "ref/activation-ref.h"

namespace cellstate {
namespace ref {

template <typename T>
void LstmFwdAct(const LstmDesc<T>& d, const CellActivations& ca, T* a, const T* c_prev, T* c, T* m,
                T* pre) {
  auto gate = [&](int off, T x) {
    if (pre) pre[off] = x;
    return a[off] = ActFwd(ca.gate, ClipAt(ca.clip, x));
  };
  for (int j = 0; j < d.H; ++j) {
    const T cp = c_prev[j];
    T f = 1, i = 1, o = 1;
    if (d.off_f >= 0) f = gate(d.off_f + j, a[d.off_f + j] + (d.ph ? d.ph[d.ph_f + j] * cp : T(0)));
    if (d.coupled) {
      i = 1 - f;
    } else if (d.off_i >= 0) {
      i = gate(d.off_i + j, a[d.off_i + j] + (d.ph ? d.ph[d.ph_i + j] * cp : T(0)));
    }
    const T xg = a[d.off_g + j];
    if (pre) pre[d.off_g + j] = xg;
    const T g = a[d.off_g + j] =
        d.input_activation ? ActFwd(ca.cell, ClipAt(ca.clip, xg)) : ClipAt(ca.clip, xg);
    const T ct = c[j] = f * cp + i * g;
    if (d.off_o >= 0) o = gate(d.off_o + j, a[d.off_o + j] + (d.ph ? d.ph[d.ph_o + j] * ct : T(0)));
    m[j] = o * (d.output_activation ? ActFwd(ca.hidden, ct) : ct);
  }
}

template <typename T>
void LstmBwdAct(const LstmDesc<T>& d, const CellActivations& ca, const T* a, const T* pre,
                const T* c_prev, const T* c, const T* dm, T* dc, T* dg) {
  auto dgate = [&](const Activation& act, int off) {
    return ActDerivAt(act, ca.clip, a[off], pre ? pre + off : nullptr);
  };
  for (int j = 0; j < d.H; ++j) {
    const T cp = c_prev[j], ct = c[j];
    const T f = d.off_f >= 0 ? a[d.off_f + j] : T(1);
    const T i = d.coupled ? 1 - f : d.off_i >= 0 ? a[d.off_i + j] : T(1);
    const T g = a[d.off_g + j];
    const T o = d.off_o >= 0 ? a[d.off_o + j] : T(1);
    const T hc = d.output_activation ? ActFwd(ca.hidden, ct) : ct;
    T dct = dc[j];
    if (d.off_o >= 0) {
      const T dao = dm[j] * hc * dgate(ca.gate, d.off_o + j);
      dg[d.off_o + j] = dao;
      if (d.ph) dct += dao * d.ph[d.ph_o + j];
    }
    dct += dm[j] * o * (d.output_activation ? ActDeriv(ca.hidden, ct) : T(1));
    const T di = dct * g;
    T df = dct * cp;
    if (d.coupled) df -= di;
    const T dgg = dct * i;
    if (d.input_activation) {
      dg[d.off_g + j] = dgg * dgate(ca.cell, d.off_g + j);
    } else {
      const bool clipped = ca.clip > 0 && pre && std::fabs(pre[d.off_g + j]) > T(ca.clip);
      dg[d.off_g + j] = clipped ? T(0) : dgg;
    }
    T dcp = dct * f;
    if (d.off_i >= 0 && !d.coupled) {
      const T dai = di * dgate(ca.gate, d.off_i + j);
      dg[d.off_i + j] = dai;
      if (d.ph) dcp += dai * d.ph[d.ph_i + j];
    }
    if (d.off_f >= 0) {
      const T daf = df * dgate(ca.gate, d.off_f + j);
      dg[d.off_f + j] = daf;
      if (d.ph) dcp += daf * d.ph[d.ph_f + j];
    }
    dc[j] = dcp;
  }
}

// GRU, resetAfter: true (gru_fwd / gru_bwd). pre [3H]: r, z, n pre-activations.
template <typename T>
void GruFwdAct(int H, const CellActivations& ca, T* gx, const T* gh, const T* hp, T* h, T* pre) {
  for (int j = 0; j < H; ++j) {
    const T xr = gx[j] + gh[j], xz = gx[H + j] + gh[H + j];
    const T r = ActFwd(ca.gate, ClipAt(ca.clip, xr));
    const T z = ActFwd(ca.gate, ClipAt(ca.clip, xz));
    const T xn = gx[2 * H + j] + r * gh[2 * H + j];
    const T n = ActFwd(ca.cell, ClipAt(ca.clip, xn));
    if (pre) {
      pre[j] = xr;
      pre[H + j] = xz;
      pre[2 * H + j] = xn;
    }
    gx[j] = r;
    gx[H + j] = z;
    gx[2 * H + j] = n;
    h[j] = (1 - z) * n + z * hp[j];
  }
}

template <typename T>
void GruBwdAct(int H, const CellActivations& ca, const T* a, const T* pre, const T* gh, const T* hp,
               const T* dh, T* dgx, T* dgh, T* dhp) {
  auto p = [&](int k) { return pre ? pre + k : nullptr; };
  for (int j = 0; j < H; ++j) {
    const T r = a[j], z = a[H + j], n = a[2 * H + j];
    const T dan = dh[j] * (1 - z) * ActDerivAt(ca.cell, ca.clip, n, p(2 * H + j));
    const T daz = dh[j] * (hp[j] - n) * ActDerivAt(ca.gate, ca.clip, z, p(H + j));
    const T dar = dan * gh[2 * H + j] * ActDerivAt(ca.gate, ca.clip, r, p(j));
    dgx[j] = dgh[j] = dar;
    dgx[H + j] = dgh[H + j] = daz;
    dgx[2 * H + j] = dan;
    dgh[2 * H + j] = dan * r;
    dhp[j] = dh[j] * z;
  }
}

// GRU, resetAfter: false, phase 1 (gru_fwd_rz). pre [3H]: r, z written here, n in phase 2.
template <typename T>
void GruFwdRzAct(int H, const CellActivations& ca, T* gx, const T* gh, const T* hp, T* rh, T* pre) {
  for (int j = 0; j < H; ++j) {
    const T xr = gx[j] + gh[j], xz = gx[H + j] + gh[H + j];
    if (pre) {
      pre[j] = xr;
      pre[H + j] = xz;
    }
    const T r = gx[j] = ActFwd(ca.gate, ClipAt(ca.clip, xr));
    gx[H + j] = ActFwd(ca.gate, ClipAt(ca.clip, xz));
    rh[j] = r * hp[j];
  }
}

template <typename T>
void GruFwdNAct(int H, const CellActivations& ca, T* gx, const T* ghn, const T* hp, T* h, T* pre) {
  for (int j = 0; j < H; ++j) {
    const T z = gx[H + j];
    const T xn = gx[2 * H + j] + ghn[j];
    if (pre) pre[2 * H + j] = xn;
    const T n = gx[2 * H + j] = ActFwd(ca.cell, ClipAt(ca.clip, xn));
    h[j] = (1 - z) * n + z * hp[j];
  }
}

template <typename T>
void GruBwdNAct(int H, const CellActivations& ca, const T* a, const T* pre, const T* hp,
                const T* dh, T* dgx, T* dgh, T* dhp) {
  auto p = [&](int k) { return pre ? pre + k : nullptr; };
  for (int j = 0; j < H; ++j) {
    const T z = a[H + j], n = a[2 * H + j];
    const T dan = dh[j] * (1 - z) * ActDerivAt(ca.cell, ca.clip, n, p(2 * H + j));
    const T daz = dh[j] * (hp[j] - n) * ActDerivAt(ca.gate, ca.clip, z, p(H + j));
    dgx[H + j] = dgh[H + j] = daz;
    dgx[2 * H + j] = dgh[2 * H + j] = dan;
    dhp[j] = dh[j] * z;
  }
}

template <typename T>
void GruBwdRAct(int H, const CellActivations& ca, const T* a, const T* pre, const T* hp,
                const T* drh, T* dgx, T* dgh, T* dhp) {
  for (int j = 0; j < H; ++j) {
    const T r = a[j];
    const T dar = drh[j] * hp[j] * ActDerivAt(ca.gate, ca.clip, r, pre ? pre + j : nullptr);
    dgx[j] = dgh[j] = dar;
    dhp[j] += drh[j] * r;
  }
}

// Simple RNN: h = f(clip(a)) with f = ca.cell. pre [H] (may not alias a or h).
template <typename T>
void RnnFwdAct(int H, const CellActivations& ca, const T* a, T* h, T* pre) {
  for (int j = 0; j < H; ++j) {
    const T x = a[j];
    if (pre) pre[j] = x;
    h[j] = ActFwd(ca.cell, ClipAt(ca.clip, x));
  }
}

template <typename T>
void RnnBwdAct(int H, const CellActivations& ca, const T* h, const T* pre, const T* dh, T* da) {
  for (int j = 0; j < H; ++j)
    da[j] = dh[j] * ActDerivAt(ca.cell, ca.clip, h[j], pre ? pre + j : nullptr);
}

}  // namespace ref
}  // namespace cellstate
