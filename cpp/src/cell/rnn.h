// The simple RNN's micro-kernel contract: its sub-table of Kernels<T> (kernels.h). Filled per
// ISA by FillRnn<V> (ukernel/postgemm/rnn-impl.h) and for the reference by ref/rnn-ref.h.
// Included by ISA translation units: no STL here.
#pragma once

namespace cellstate {

template <typename T>
struct RnnKernels {
  // a [H]: pre-activation in; h [H] = act(a) out (may alias a).
  void (*fwd)(int H, bool relu, const T* a, T* h) = nullptr;
  // da [H] = dh ⊙ act'(.) computed from h = act(a).
  void (*bwd)(int H, bool relu, const T* h, const T* dh, T* da) = nullptr;
};

}  // namespace cellstate
