// The GRU family's micro-kernel contract: its sub-table of Kernels<T> (kernels.h). Filled per
// ISA by FillGru<V> (ukernel/postgemm/gru-impl.h) and for the reference by ref/gru-ref.h.
// Included by ISA translation units: no STL here.
#pragma once

#include "cell/activation.h"

namespace cellstate {

// Post-GEMM, one batch row at a time (n = H).
template <typename T>
struct GruKernels {
  // resetAfter: true. gx [3H]: W_ih x + b_ih in, activations r, z, n out (in place).
  // gh [3H]: W_hh h + b_hh (kept: gh_n is needed by backward). h_prev [H] in, h [H] out.
  void (*fwd)(int H, T* gx, const T* gh, const T* h_prev, T* h) = nullptr;
  // dh [H] in. dgx [3H], dgh [3H] out. dh_prev [H] out: the direct part dh ⊙ z.
  void (*bwd)(int H, const T* acts, const T* gh, const T* h_prev, const T* dh, T* dgx, T* dgh,
              T* dh_prev) = nullptr;
  // resetAfter: false, in two phases around the GEMM W_hn (r ⊙ h).
  // phase 1: gx[0:2H] += gh[0:2H] then r, z activated in place; rh = r ⊙ h_prev.
  void (*fwd_rz)(int H, T* gx, const T* gh, const T* h_prev, T* rh) = nullptr;
  // phase 2: gh_n [H] = W_hn rh + b_hn; n = tanh(gx_n + gh_n) stored in gx[2H:3H];
  // h = (1 - z) n + z h_prev.
  void (*fwd_n)(int H, T* gx, const T* gh_n, const T* h_prev, T* h) = nullptr;
  // phase 1: dgx[2H:3H] = dgh[2H:3H] = da_n; dgx[H:2H] = dgh[H:2H] = da_z; dh_prev = dh ⊙ z.
  void (*bwd_n)(int H, const T* acts, const T* h_prev, const T* dh, T* dgx, T* dgh,
                T* dh_prev) = nullptr;
  // phase 2, after d_rh = da_n · W_hn: dgx[0:H] = dgh[0:H] = da_r with dr = d_rh ⊙ h_prev;
  // dh_prev += d_rh ⊙ r.
  void (*bwd_r)(int H, const T* acts, const T* h_prev, const T* d_rh, T* dgx, T* dgh,
                T* dh_prev) = nullptr;
  // With any activation functions and clip (docs/cells.md, "Activation functions and
  // clipping"): the contracts above, plus ca, and pre [3H]: the pre-activations of r, z, n
  // (before the clip; n's after r ⊙ (...)), written by the forward steps and read by the
  // backward ones; null when !CellActivationsNeedPre(ca).
  void (*fwd_act)(int H, const CellActivations& ca, T* gx, const T* gh, const T* h_prev, T* h,
                  T* pre) = nullptr;
  void (*bwd_act)(int H, const CellActivations& ca, const T* acts, const T* pre, const T* gh,
                  const T* h_prev, const T* dh, T* dgx, T* dgh, T* dh_prev) = nullptr;
  void (*fwd_rz_act)(int H, const CellActivations& ca, T* gx, const T* gh, const T* h_prev, T* rh,
                     T* pre) = nullptr;
  void (*fwd_n_act)(int H, const CellActivations& ca, T* gx, const T* gh_n, const T* h_prev, T* h,
                    T* pre) = nullptr;
  void (*bwd_n_act)(int H, const CellActivations& ca, const T* acts, const T* pre, const T* h_prev,
                    const T* dh, T* dgx, T* dgh, T* dh_prev) = nullptr;
  void (*bwd_r_act)(int H, const CellActivations& ca, const T* acts, const T* pre, const T* h_prev,
                    const T* d_rh, T* dgx, T* dgh, T* dh_prev) = nullptr;
};

}  // namespace cellstate
