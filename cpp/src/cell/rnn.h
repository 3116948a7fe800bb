// The simple RNN's micro-kernel contract: its sub-table of Kernels<T> (kernels.h). Filled per
// ISA by FillRnn<V> (ukernel/postgemm/rnn-impl.h) and for the reference by ref/rnn-ref.h.
// Included by ISA translation units: no STL here.
#pragma once

#include "cell/activation.h"

namespace cellstate {

template <typename T>
struct RnnKernels {
  // a [H]: pre-activation in; h [H] = act(a) out (may alias a).
  void (*fwd)(int H, bool relu, const T* a, T* h) = nullptr;
  // da [H] = dh ⊙ act'(.) computed from h = act(a).
  void (*bwd)(int H, bool relu, const T* h, const T* dh, T* da) = nullptr;
  // With any nonlinearity (ca.cell) and clip (docs/cells.md, "Activation functions and
  // clipping"): pre [H], the pre-activation before the clip (may not alias a or h), written by
  // fwd_act and read by bwd_act; null when !CellActivationsNeedPre(ca).
  void (*fwd_act)(int H, const CellActivations& ca, const T* a, T* h, T* pre) = nullptr;
  void (*bwd_act)(int H, const CellActivations& ca, const T* h, const T* pre, const T* dh,
                  T* da) = nullptr;
};

}  // namespace cellstate
