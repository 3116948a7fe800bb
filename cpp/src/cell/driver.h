// Layer<T>::Impl: the time-loop driver of one recurrent stack. It knows no cell by name: what a
// cell is comes from its RecurrentCell (cell/cell.h). Split by concern:
//   plan.cc       the units, packing of the weights, the forward and backward workspace plans
//   forward.cc    the forward time loop: layers × directions × time, lengths, batch-first,
//                 inter-layer dropout
//   wavefront.cc  the wavefront schedule of stacked one-direction inference
//   backward.cc   BPTT and dx; the helpers of the cells' gradient reductions
//   stream.cc     Step: one time step of caller-held streams
//   state.cc      h0/c0 in, hN/cN out
//   layer.cc      the public shell (Layer<T>)
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "cell/cell.h"
#include "cell/huge_alloc.h"
#include "cellstate/cellstate.h"
#include "dispatch/parallel.h"
#include "kernels.h"
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {

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

// Copies a [T, B, F] tensor from or to [B, T, F] (batch_first) or [T, B, F].
template <typename T>
void CopyTimeMajor(int Tn, int B, size_t F, bool batch_first, const T* src, T* dst,
                   bool to_time_major) {
  if (!batch_first) {
    std::memcpy(dst, src, sizeof(T) * size_t(Tn) * B * F);
    return;
  }
  for (int t = 0; t < Tn; ++t)
    for (int b = 0; b < B; ++b) {
      const size_t tm = (size_t(t) * B + b) * F, bm = (size_t(b) * Tn + t) * F;
      if (to_time_major)
        std::memcpy(dst + tm, src + bm, sizeof(T) * F);
      else
        std::memcpy(dst + bm, src + tm, sizeof(T) * F);
    }
}

template <typename T>
struct Layer<T>::Impl {
  using Unit = UnitT<T>;

  Config cfg;
  Engine engine;
  const Kernels<T>* kern = nullptr;
  std::unique_ptr<RecurrentCell<T>> cell;
  int G = 0, H = 0, R = 0, C = 0, D = 1;  // gate blocks, hidden, state, cell state, directions
  std::vector<ParamInfo> table;
  std::vector<T> params, grads;
  std::vector<Unit> units;
  std::vector<BufSpec> infer_bufs;  // the cell's Workspace(false), for streaming
  // int8 inference (Layer::Quantize; float layers): the int8 table (null: float inference).
  // A quantized layer holds its GEMM weights (every W_ih and the cell's QuantSlots entries) only
  // as int8, packed (qpacked; UnitT::qw_ih, qw index it) with one scale per row (qscale;
  // UnitT::qs_ih, qs): no float copy, no row-major int8 copy, no gradients. `params` then holds
  // only the other entries of the table (biases, peepholes, layer norm) one after the other;
  // `small` maps each table index to its offset there (kNone: an int8 weight), the units' param
  // offsets index that compact vector, and `packed` holds no GEMM weights. FullParams reads the
  // weights back from the packed form (dequantized).
  const QKernels* qk = nullptr;
  // Rows of a chunk of the int8 input GEMM in ForwardUnit (256 rows of 4·256 gates: 1 MB, ~L2).
  static constexpr size_t kQuantChunkRows = 256;
  // A float forward chunks its input GEMM (Engine::input_chunk_rows) only when the input
  // weights take at most this many bytes: larger ones (F2's 8 MB) cost more to read once per
  // chunk than the gates' round trip through memory saves.
  static constexpr size_t kInputChunkMaxWeightBytes = size_t(2) << 20;
  // Steps per chunk of the int8 input GEMM for a batch of B (all Tn when they fit in a chunk).
  static int QuantChunk(int Tn, int B) {
    return std::max(1, std::min(Tn, int(kQuantChunkRows) / B));
  }
  struct QPiece {
    size_t at = 0;              // bytes into qpacked
    size_t row0 = 0, rows = 0;  // the entry's rows it holds
  };
  struct QEntry {
    size_t index = 0;  // in table
    size_t rows = 0, cols = 0;
    size_t scale = 0;            // its first row's scale in qscale (one per row, in order)
    std::vector<QPiece> pieces;  // packed matrices whose rows cover [0, rows)
  };
  std::vector<QEntry> qentries;
  std::vector<uint8_t, HugeAlloc<uint8_t>> qpacked;
  std::vector<float> qscale;
  std::vector<size_t> small;  // quantized: table index -> offset in params, or kNone
  bool Quantizable(Status* why) const;
  // Quantizes the float parameters, packs them with the int8 table of the engine's ISA and
  // lets go of the float weights and the gradients (nothing to do on a quantized layer); on
  // failure (a NaN or an infinity, out of memory) returns the error and changes nothing.
  Status QuantizeParams();
  // Back to a float layer on src (every parameter, user layout); kOutOfMemory changes nothing.
  Status ToFloat(const T* src);
  // Every parameter in the user layout into out (a quantized layer's weights dequantized).
  void FullParams(T* out) const;
  // Bytes of a quantized activation row for the unit's GEMMs (input and recurrent).
  size_t QuantLd(const Unit& u) const;
  // The input GEMM of unit u over M rows of x (row stride u.in) into C [M, G·H] with the bias
  // the cell folds in: float, or int8 on a quantized layer (aq, sa: room for the M quantized
  // rows, QuantLd(u) bytes each, and their scales). Split among the threads of p by columns.
  int8_t* QxRows() {
    return ws.qx == kNone ? nullptr : reinterpret_cast<int8_t*>(work.data() + ws.qx);
  }
  float* QxScales() {
    return ws.qxs == kNone ? nullptr : reinterpret_cast<float*>(work.data() + ws.qxs);
  }
  void InputGemm(const Unit& u, size_t M, const T* x, T* C, int8_t* aq, float* sa, size_t ldq,
                 Part p) const;
  std::vector<T, HugeAlloc<T>> packed, packed_bwd;  // weights in the kernels' layout
  bool packed_bwd_valid = false;

  // Forward workspace, sized once per shape; valid for one backward while `pending`.
  struct Ws {
    size_t x0 = 0;
    size_t qx = kNone, qxs = kNone, qxld = 0;  // int8: the input GEMMs' quantized rows
    std::vector<size_t> out, xin, mask;
    size_t imask = kNone;       // [B, I] the input dropout mask (training with input_dropout > 0)
    std::vector<BufSpec> cell;  // the cell's per-unit buffers of this plan
  } ws;
  std::vector<T, HugeAlloc<T>> work;
  size_t ws_size = 0;
  int ws_T = 0, ws_B = 0;
  bool ws_train = false, ws_batch_first = false, has_lengths = false, pending = false;
  std::vector<int32_t> lengths;

  struct Bw {
    size_t dg = kNone, dgT = kNone, xpack = kNone;
    size_t dy[2] = {kNone, kNone};
    size_t dh = kNone, dc = kNone, tmp = kNone;
    size_t tmp2 = kNone;       // [B, max(R, H)] second scratch of the steps (recurrent dropout)
    std::vector<size_t> cell;  // the cell's backward buffers
  } bw;
  std::vector<T, HugeAlloc<T>> bwork;
  size_t bw_size = 0;
  // The wavefront's progress: steps done per layer (see ForwardWavefront).
  std::unique_ptr<Progress[]> progress;
  // Streaming steps taken on this layer: even and odd steps visit the weights' column panels in
  // opposite orders (DeferredInput::reverse). Only the speed depends on it.
  mutable std::atomic<uint32_t> stream_steps{0};

  bool Active(int b, int t) const { return t < lengths[b]; }
  // Multiply-adds per batch row of one step of the whole stack (both directions).
  double StackRowFlops() const;
  // Threads for a call doing `flops` per time step: small problems stay on one thread.
  int Threads(double flops_per_step) const;
  // Whether the steps of a call split batch rows among threads (see StepSplit in cell.h).
  bool RowSplit(int B, Part p) const;

  Status Init(const Config& c, const Engine& e);
  void SetEngine(const Engine& e);
  void BuildUnits();
  void UnitParams();  // the units' param offsets from the table (the user layout)
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
  // input: the streaming step's input GEMM, left to the cell's first Mul (cell.h).
  void StepForward(const Unit& u, int B, int t, const int32_t* lens, const StepIo<T>& io, Part p,
                   const DeferredInput<T>* input = nullptr) const;
  void BackwardUnit(Unit& u, const BackwardArgs& a, const T* xin, const T* dy, T* dx,
                    bool dx_accumulate, Part p);
  void ZeroPadded(T* x, size_t F) const;
  // The dropout masks of a training forward fixed over time (input, recurrent), into the
  // workspace.
  void DrawTimeFixedMasks(const ForwardArgs& a);
  size_t StreamScratchSize(int B) const;
  size_t StreamQuantRoom(int B) const;  // elements of a stream's int8 rows and scales
  Status Step(int B, const T* x, T* state, T* scratch, T* out) const;
};

}  // namespace cellstate
