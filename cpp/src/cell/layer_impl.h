// Layer<T>::Impl: the state of one recurrent stack (parameters, packed weights, workspace plan)
// shared by the forward, backward and streaming time loops of layer.cc.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "cell/huge_alloc.h"
#include "cellstate/cellstate.h"
#include "dispatch/parallel.h"
#include "kernels.h"

namespace cellstate {

constexpr size_t kNone = ~size_t(0);

template <typename T>
const Kernels<T>* KernelsFor(const Engine& e);
template <>
inline const Kernels<float>* KernelsFor<float>(const Engine& e) {
  return e.kernels ? static_cast<const Kernels<float>*>(e.kernels) : RefKernels<float>();
}
// The double instance always runs the reference kernels: it is the oracle.
template <>
inline const Kernels<double>* KernelsFor<double>(const Engine&) {
  return RefKernels<double>();
}

// k.pack split among the threads of a parallel region by column panels (every ISA's layout);
// the reference's plain layout is packed by one thread. Callers put a barrier before reading.
template <typename T>
void PackParallel(const Kernels<T>& k, size_t K, size_t N, const T* src, ptrdiff_t rs, ptrdiff_t cs,
                  T* dst, Part p) {
  const size_t nr = k.packed_size(1, 1);  // panel width
  if (p.nth == 1 || nr <= 1) {
    if (p.ith == 0) k.pack(K, N, src, rs, cs, dst);
    return;
  }
  size_t a, b;
  Split((N + nr - 1) / nr, p, &a, &b);
  if (a < b)
    k.pack(K, std::min(N, b * nr) - a * nr, src + ptrdiff_t(a * nr) * cs, rs, cs, dst + a * nr * K);
}

// Offsets (in elements) of one unit's buffers inside the forward workspace.
struct UnitWs {
  size_t gates = kNone;  // [T,B,G·H] pre-activations, then activations (GRU: gx)
  size_t h = kNone;      // [B,R] running state
  size_t c = kNone;      // [B,H] running cell state (LSTM)
  // Training: the states in [T+1, B, ·] slots, in the order of the direction's steps (h0
  // first), seen as two [T, B, ·] arrays: hprev[t] is the state before step t, cst[t] = c_t.
  size_t hprev = kNone;  // [T,B,R] state before each step (train)
  size_t hst = kNone;    // [T,B,R] h_t (train)
  size_t cprev = kNone;  // [T,B,H] (LSTM train)
  size_t cst = kNone;    // [T,B,H] c_t (LSTM train)
  size_t m = kNone;      // LSTM with projection: [T,B,H] (train) or [B,H]
  size_t ptmp = kNone;   // [B,P] projected state
  size_t gstep = kNone;  // [B,G·H] one step's gates (wavefront: the layers above the first)
  size_t gh = kNone;     // GRU: [T,B,3H] (resetAfter, train) or [B,3H]
  size_t rh = kNone;     // GRU resetAfter false: [T,B,H] (train) or [B,H]
  // layerNorm (LSTM): what backward needs of the three normalizations, per step and row.
  size_t xih = kNone;   // [T,B,G·H] x̂ of LN(W_ih x) (train)
  size_t rih = kNone;   // [T,B] its 1/std (train)
  size_t xhh = kNone;   // [T,B,G·H] W_hh h, then its x̂ (train); [B,G·H] W_hh h (inference)
  size_t rhh = kNone;   // [T,B] (train)
  size_t chat = kNone;  // [T,B,H] ĉ of LN(c_t) (train)
  size_t rc = kNone;    // [T,B] (train)
};

// One (layer, direction) of the stack.
template <typename T>
struct UnitT {
  int layer = 0, dir = 0, in = 0;
  // Parameter offsets in the flat buffer (kNone when absent).
  size_t p_ih = kNone, p_hh = kNone, p_bih = kNone, p_bhh = kNone, p_hr = kNone, p_ph = kNone;
  // layerNorm: ln_ih_weight; ln_ih_bias, ln_hh_weight, ln_hh_bias, ln_c_weight, ln_c_bias follow
  // it contiguously (G·H, G·H, G·H, G·H, H, H).
  size_t p_ln = kNone;
  // Offsets into the packed forward weights (fw_*) and backward weights (bw_*).
  size_t fw_ih_off = 0, fw_hh_off = 0, fw_hn_off = 0, fw_hr_off = 0, bias_off = 0;
  size_t bw_ih_off = 0, bw_hh_off = 0, bw_hn_off = 0, bw_hr_off = 0;
  LstmDesc<T> desc;
  UnitWs ws;
};

// The buffers of one forward step of one unit. The step reads the state h (and c) and writes
// the new state to hout (cout), or over h (c) when those are null: training keeps every state
// in a [T+1, B, ·] buffer, so that the step's input slot is also what backward needs, and
// inference updates one state in place. out may be null (a stream's inner layer).
template <typename T>
struct StepIo {
  T* g = nullptr;  // [B,G·H] this step's input part (bias in); activations out
  T* h = nullptr;  // [B,R] state
  T* c = nullptr;  // [B,H] cell state (LSTM)
  T* hout = nullptr;
  T* cout = nullptr;
  T* out = nullptr;
  size_t ldo = 0;
  T* m = nullptr;     // [B,H] LSTM with projection
  T* ptmp = nullptr;  // [B,P]
  T* gh = nullptr;    // GRU [B,3H]
  T* rh = nullptr;    // GRU resetAfter false [B,H]
  // layerNorm: ghh [B,G·H] W_hh h (x̂_hh when rhh is given); rhh [B], chat [B,H], rc [B]: saved
  // for backward (null: inference).
  T* ghh = nullptr;
  T* rhh = nullptr;
  T* chat = nullptr;
  T* rc = nullptr;
};

template <typename T>
struct Layer<T>::Impl {
  using Unit = UnitT<T>;

  Config cfg;
  Engine engine;
  const Kernels<T>* kern = nullptr;
  std::vector<ParamInfo> table;
  std::vector<T> params, grads;
  std::vector<Unit> units;
  std::vector<T, HugeAlloc<T>> packed, packed_bwd;  // weights in the kernels' layout
  bool packed_bwd_valid = false;

  // Forward workspace, sized once per shape; valid for one backward while `pending`.
  struct Ws {
    size_t x0 = 0;
    std::vector<size_t> out, xin, mask;
  } ws;
  std::vector<T, HugeAlloc<T>> work;
  size_t ws_size = 0;
  int ws_T = 0, ws_B = 0;
  bool ws_train = false, ws_batch_first = false, has_lengths = false, pending = false;
  std::vector<int32_t> lengths;

  struct Bw {
    size_t dg = kNone, dgT = kNone, dgh = kNone, dghT = kNone, xpack = kNone;
    size_t dy[2] = {kNone, kNone};
    size_t dh = kNone, dc = kNone, tmp = kNone, dhs = kNone, dhsT = kNone;
    size_t dyc = kNone, dcn = kNone, lnsum = kNone;  // layerNorm
  } bw;
  std::vector<T, HugeAlloc<T>> bwork;
  size_t bw_size = 0;
  // The wavefront's progress: steps done per layer (see ForwardWavefront).
  std::unique_ptr<Progress[]> progress;

  bool gru_reset_before() const { return cfg.cell == Cell::kGRU && !cfg.reset_after; }
  bool layer_norm() const { return cfg.cell == Cell::kLSTM && cfg.layer_norm; }
  bool Active(int b, int t) const { return t < lengths[b]; }
  // Threads for a call doing `flops` per time step: small problems stay on one thread.
  int Threads(double flops_per_step) const;
  // Whether the steps of a call split batch rows among threads (see StepSplit in layer.cc).
  bool RowSplit(int B, Part p) const;

  void SetEngine(const Engine& e);
  void BuildUnits();
  void Pack();
  void PackBackward();
  void PlanForward(int Tn, int B, bool train, bool wave);
  void PlanBackward();
  Status Forward(const ForwardArgs& a);
  Status Backward(const BackwardArgs& a);
  // A step's state and scratch buffers (StepIo without g, out and ldo) in the workspace.
  StepIo<T> StepBuffers(const Unit& u, size_t tb, bool train);
  // h0/c0 (or zeros) into rows [b0, b1) of the state of stack index sidx, and back to h_n/c_n.
  void LoadState(const ForwardArgs& a, size_t sidx, size_t b0, size_t b1, T* h, T* c) const;
  void StoreState(const ForwardArgs& a, size_t sidx, size_t b0, size_t b1, const T* h,
                  const T* c) const;
  void ForwardUnit(Unit& u, const ForwardArgs& a, const T* xin, T* out, Part p);
  bool Wavefront(bool train, int Tn, int B, double flops_per_step) const;
  int WaveChunk(int Tn, int B) const;  // steps per chunk (Engine::wavefront_chunk_rows)
  void ForwardWavefront(const ForwardArgs& a, const T* x0, T* last_out, Part p);
  void StepForward(const Unit& u, int B, int t, const int32_t* lens, const StepIo<T>& io,
                   Part p) const;
  void BackwardUnit(Unit& u, const BackwardArgs& a, const T* xin, const T* dy, T* dx,
                    bool dx_accumulate, Part p);
  void ZeroPadded(T* x, size_t F) const;
  // layerNorm: rows [0, rows) of the input projections g (W_ih x, no bias) become
  // LN(W_ih x) + b_ih + b_hh in place, split among the threads; x̂ and 1/std saved when not null.
  // The caller puts a barrier after it.
  void InputNorm(const Unit& u, T* g, size_t rows, T* xhat, T* rstd, Part p) const;
  size_t StreamScratchSize(int B) const;
  Status Step(int B, const T* x, T* state, T* scratch, T* out) const;
};

}  // namespace cellstate
