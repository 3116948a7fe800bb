// The LSTM family's micro-kernel contract: its post-GEMM descriptor and its sub-table of
// Kernels<T> (kernels.h). Filled per ISA by FillLstm<V> (ukernel/postgemm/lstm-impl.h) and for
// the reference by ref/lstm-ref.h. Included by ISA translation units: no STL here.
#pragma once

#include "cell/activation.h"

namespace cellstate {

// Gate blocks inside a gates row of G·H values, in docs/cells.md order i, f, g, o (absent
// blocks have offset -1). Peephole vectors are null when absent.
template <typename T>
struct LstmDesc {
  int H = 0;
  int off_i = -1, off_f = -1, off_g = 0, off_o = -1;  // element offsets of the blocks
  bool coupled = false;                               // i = 1 - f
  bool input_activation = true;                       // g = tanh(a_g) (else a_g)
  bool output_activation = true;                      // m = o * tanh(c) (else o * c)
  // Peepholes: ph points at weight_ph (null without peepholes); ph_i, ph_f, ph_o are the
  // element offsets of p_i, p_f, p_o inside it (-1 when absent). The peephole gradient
  // uses the same offsets.
  const T* ph = nullptr;
  int ph_i = -1, ph_f = -1, ph_o = -1;
  // layerNorm: γ_c and β_c of LN(c_t) (ln_c_weight, ln_c_bias [H], read in place); null
  // without layer norm.
  const T* ln_c_gamma = nullptr;
  const T* ln_c_beta = nullptr;
};

// Post-GEMM, one batch row at a time (n = H).
template <typename T>
struct LstmKernels {
  // Forward. gates: the G·H pre-activations in, the activations out (in place).
  // c_prev [H] in; c [H] out; m [H] out (o ⊙ act(c)).
  void (*fwd)(const LstmDesc<T>& d, T* gates, const T* c_prev, T* c, T* m) = nullptr;
  // Backward. acts: the activations saved by fwd. dm [H]: gradient of m.
  // dc [H]: in, the gradient reaching c_t from step t+1 (and dcN); out, the gradient of
  // c_{t-1}. dgates [G·H] out: gradient of the pre-activations. (Peephole gradients are
  // reduced after the time loop from dgates and the saved cell states, in a fixed order.)
  void (*bwd)(const LstmDesc<T>& d, const T* acts, const T* c_prev, const T* c, const T* dm, T* dc,
              T* dgates) = nullptr;

  // ---- layerNorm (ukernel/postgemm/layernorm.h has the primitive's exact contract) -------
  // One row of n values: y = (accumulate ? y : 0) + γ ⊙ x̂ + β; x̂ [n] and rstd = 1/sqrt(var +
  // 1e-5) saved when not null (x̂ may alias x; y may alias x when !accumulate).
  void (*ln_fwd)(int n, const T* x, const T* gamma, const T* beta, T* xhat, T* rstd, T* y,
                 bool accumulate) = nullptr;
  // dx = (accumulate ? dx : 0) + rstd · (ĝ − mean ĝ − x̂ · mean(ĝ ⊙ x̂)), ĝ = dy ⊙ γ; dgamma +=
  // dy ⊙ x̂ and dbeta += dy unless null. dx may alias dy when !accumulate.
  void (*ln_bwd)(int n, const T* dy, const T* xhat, T rstd, const T* gamma, T* dx, T* dgamma,
                 T* dbeta, bool accumulate) = nullptr;
  // Column sums over rows (layernorm.h, LayerNormKernels::col_sums): sa[j] += Σ_m a[m·lda + j],
  // sx1[j] += Σ_m a[m·lda + j]·x1[m·ldx + j], sx2 likewise; each column's sum in row order from 0,
  // so a result does not depend on how the columns are split. The γ/β, bias and peephole
  // gradients after the time loop.
  void (*ln_col_sums)(size_t rows, int n, const T* a, size_t lda, const T* x1, const T* x2,
                      size_t ldx, T* sa, T* sx1, T* sx2) = nullptr;
  // The step with LN(c_t) before the output activation: as fwd, but m = o ⊙ act(LN(c_t;
  // d.ln_c_gamma, d.ln_c_beta)); the carried c_t stays un-normalized and feeds the peepholes.
  // chat [H] and rstd_c out: ĉ and 1/std of c_t (null: not stored).
  void (*ln_step_fwd)(const LstmDesc<T>& d, T* gates, const T* c_prev, T* c, T* chat, T* rstd_c,
                      T* m) = nullptr;
  // Its backward, as bwd, from the saved chat and rstd_c. dyc [H] out: the gradient of LN(c_t)'s
  // output (γ_c, β_c get Σ dyc ⊙ ĉ and Σ dyc, reduced by the caller). tmp [H]: scratch.
  void (*ln_step_bwd)(const LstmDesc<T>& d, const T* acts, const T* c_prev, const T* c,
                      const T* chat, T rstd_c, const T* dm, T* dc, T* dgates, T* dyc,
                      T* tmp) = nullptr;
  // With any activation functions and clip (docs/cells.md, "Activation functions and
  // clipping"; used when the cell's are not the defaults): the contracts above, plus ca, and
  // pre: the pre-activations of the blocks (after the peephole terms, before the clip) in the
  // layout of the gates row, written by fwd_act and read by bwd_act; null when
  // !CellActivationsNeedPre(ca).
  void (*fwd_act)(const LstmDesc<T>& d, const CellActivations& ca, T* gates, const T* c_prev, T* c,
                  T* m, T* pre) = nullptr;
  void (*bwd_act)(const LstmDesc<T>& d, const CellActivations& ca, const T* acts, const T* pre,
                  const T* c_prev, const T* c, const T* dm, T* dc, T* dgates) = nullptr;
  // The layer-normalized step with any activation functions and clip: ln_step_fwd /
  // ln_step_bwd with the functions of ca (the gates' on their clipped pre-activations, which
  // come after LN, the biases and the peephole terms; hiddenActivation on LN(c_t)), and pre as
  // in fwd_act / bwd_act.
  void (*ln_step_fwd_act)(const LstmDesc<T>& d, const CellActivations& ca, T* gates,
                          const T* c_prev, T* c, T* chat, T* rstd_c, T* m, T* pre) = nullptr;
  void (*ln_step_bwd_act)(const LstmDesc<T>& d, const CellActivations& ca, const T* acts,
                          const T* pre, const T* c_prev, const T* c, const T* chat, T rstd_c,
                          const T* dm, T* dc, T* dgates, T* dyc, T* tmp) = nullptr;
};

}  // namespace cellstate
