// The micro-kernel table: what an ISA provides to the time loop. One table per ISA
// (cpp/src/dispatch), plus the reference table templated on float and double (cpp/src/ref).
// The time loop (cpp/src/cell) only ever calls through this table.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cell/activation.h"

namespace cellstate {

struct Team;

// Partition of the work of one call among nth threads; this thread is ith. team is the
// barrier of the parallel region (null on one thread).
struct Part {
  int ith = 0;
  int nth = 1;
  Team* team = nullptr;
};

// ---- LSTM post-GEMM descriptor --------------------------------------------------------
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
  // passed to lstm_bwd uses the same offsets.
  const T* ph = nullptr;
  int ph_i = -1, ph_f = -1, ph_o = -1;
};

template <typename T>
struct Kernels {
  const char* name;  // "ref", "scalar", "avx2", "avx512", "neon"

  // ---- GEMM: C[M,N] (=|+=) bias + A[M,K] · B[K,N] -------------------------------------
  // B is packed once (weights) or per call (activations) into an ISA-specific layout.
  size_t (*packed_size)(size_t K, size_t N);  // elements needed for a packed B
  // B(k, n) = src[k*rs + n*cs]. dst holds packed_size(K, N) elements.
  void (*pack)(size_t K, size_t N, const T* src, ptrdiff_t rs, ptrdiff_t cs, T* dst);
  // C[m*ldc + n] = (accumulate ? C[m*ldc + n] : 0) + (bias ? bias[n] : 0)
  //              + sum_k A[m*lda + k] * B(k, n)
  // Thread part.ith of part.nth computes a disjoint slice of the columns n; the union over
  // all threads is the whole product. Results do not depend on nth. K may be 0.
  void (*gemm)(size_t M, size_t N, size_t K, const T* A, size_t lda, const T* Bp, const T* bias,
               T* C, size_t ldc, bool accumulate, Part part);

  // ---- post-GEMM, one batch row at a time (n = H) ---------------------------------------
  // LSTM forward. gates: the G·H pre-activations in, the activations out (in place).
  // c_prev [H] in; c [H] out; m [H] out (o ⊙ act(c)).
  void (*lstm_fwd)(const LstmDesc<T>& d, T* gates, const T* c_prev, T* c, T* m);
  // LSTM backward. acts: the activations saved by lstm_fwd. dm [H]: gradient of m.
  // dc [H]: in, the gradient reaching c_t from step t+1 (and dcN); out, the gradient of
  // c_{t-1}. dgates [G·H] out: gradient of the pre-activations. (Peephole gradients are
  // reduced after the time loop from dgates and the saved cell states, in a fixed order.)
  void (*lstm_bwd)(const LstmDesc<T>& d, const T* acts, const T* c_prev, const T* c, const T* dm,
                   T* dc, T* dgates);

  // GRU, resetAfter: true. gx [3H]: W_ih x + b_ih in, activations r, z, n out (in place).
  // gh [3H]: W_hh h + b_hh (kept: gh_n is needed by backward). h_prev [H] in, h [H] out.
  void (*gru_fwd)(int H, T* gx, const T* gh, const T* h_prev, T* h);
  // dh [H] in. dgx [3H], dgh [3H] out. dh_prev [H] out: the direct part dh ⊙ z.
  void (*gru_bwd)(int H, const T* acts, const T* gh, const T* h_prev, const T* dh, T* dgx, T* dgh,
                  T* dh_prev);
  // GRU, resetAfter: false, in two phases around the GEMM W_hn (r ⊙ h).
  // phase 1: gx[0:2H] += gh[0:2H] then r, z activated in place; rh = r ⊙ h_prev.
  void (*gru_fwd_rz)(int H, T* gx, const T* gh, const T* h_prev, T* rh);
  // phase 2: gh_n [H] = W_hn rh + b_hn; n = tanh(gx_n + gh_n) stored in gx[2H:3H];
  // h = (1 - z) n + z h_prev.
  void (*gru_fwd_n)(int H, T* gx, const T* gh_n, const T* h_prev, T* h);
  // phase 1: dgx[2H:3H] = dgh[2H:3H] = da_n; dgx[H:2H] = dgh[H:2H] = da_z; dh_prev = dh ⊙ z.
  void (*gru_bwd_n)(int H, const T* acts, const T* h_prev, const T* dh, T* dgx, T* dgh, T* dh_prev);
  // phase 2, after d_rh = da_n · W_hn: dgx[0:H] = dgh[0:H] = da_r with dr = d_rh ⊙ h_prev;
  // dh_prev += d_rh ⊙ r.
  void (*gru_bwd_r)(int H, const T* acts, const T* h_prev, const T* d_rh, T* dgx, T* dgh,
                    T* dh_prev);

  // Simple RNN. a [H]: pre-activation in; h [H] = act(a) out (may alias a).
  void (*rnn_fwd)(int H, bool relu, const T* a, T* h);
  // da [H] = dh ⊙ act'(.) computed from h = act(a).
  void (*rnn_bwd)(int H, bool relu, const T* h, const T* dh, T* da);

  // Element-wise helpers used by tests and activations checks.
  void (*sigmoid)(size_t n, const T* x, T* y);
  void (*tanh)(size_t n, const T* x, T* y);

  // ---- post-GEMM with any activation functions and clip ---------------------------------
  // (docs/cells.md, "Activation functions and clipping"; used when a cell's activations are
  // not the defaults or it has a clip.) The contracts of the slots above, plus: ca, the
  // activation roles and clip; pre, the pre-activations of the gate and candidate blocks
  // (after the peephole terms, before the clip) in the layout of the gates row, written by
  // forward and read by backward; null when !CellActivationsNeedPre(ca). The RNN's
  // nonlinearity is ca.cell; its pre may not alias a or h.
  void (*lstm_fwd_act)(const LstmDesc<T>& d, const CellActivations& ca, T* gates, const T* c_prev,
                       T* c, T* m, T* pre);
  void (*lstm_bwd_act)(const LstmDesc<T>& d, const CellActivations& ca, const T* acts, const T* pre,
                       const T* c_prev, const T* c, const T* dm, T* dc, T* dgates);
  void (*gru_fwd_act)(int H, const CellActivations& ca, T* gx, const T* gh, const T* h_prev, T* h,
                      T* pre);
  void (*gru_bwd_act)(int H, const CellActivations& ca, const T* acts, const T* pre, const T* gh,
                      const T* h_prev, const T* dh, T* dgx, T* dgh, T* dh_prev);
  void (*gru_fwd_rz_act)(int H, const CellActivations& ca, T* gx, const T* gh, const T* h_prev,
                         T* rh, T* pre);
  void (*gru_fwd_n_act)(int H, const CellActivations& ca, T* gx, const T* gh_n, const T* h_prev,
                        T* h, T* pre);
  void (*gru_bwd_n_act)(int H, const CellActivations& ca, const T* acts, const T* pre,
                        const T* h_prev, const T* dh, T* dgx, T* dgh, T* dh_prev);
  void (*gru_bwd_r_act)(int H, const CellActivations& ca, const T* acts, const T* pre,
                        const T* h_prev, const T* d_rh, T* dgx, T* dgh, T* dh_prev);
  void (*rnn_fwd_act)(int H, const CellActivations& ca, const T* a, T* h, T* pre);
  void (*rnn_bwd_act)(int H, const CellActivations& ca, const T* h, const T* pre, const T* dh,
                      T* da);
};

// Tables. ref: naive loops and <cmath>, float and double. The ISA tables are float only and
// exist in a build only where the compiler can target them (nullptr otherwise).
template <typename T>
const Kernels<T>* RefKernels();
const Kernels<float>* ScalarKernels();
const Kernels<float>* Avx2Kernels();    // nullptr when not built for x86-64
const Kernels<float>* Avx512Kernels();  // nullptr when not built for x86-64
const Kernels<float>* NeonKernels();    // nullptr when not built for aarch64

}  // namespace cellstate
