// The cell interface: what a cell family provides to the time-loop driver (cell/driver.h). A
// family (cell/lstm.cc, cell/gru.cc, cell/rnn.cc) is two objects:
//   CellFamily          its options (parsing, validation, messages), gate blocks, state sizes and
//                       parameter entries; one static instance, found by FamilyOf(Cell).
//   RecurrentCell<T>    its computation for one configuration: packing of its weights, its
//                       workspace needs, one forward step (its recurrent GEMMs and fused
//                       post-GEMM), one backward step, the gradient reductions after the loop.
// The driver owns everything that is the same for every cell: layers × directions × time, the
// input GEMM over all T·B rows, lengths, batch-first, inter-layer dropout, the wavefront,
// streaming, h0/c0 and hN/cN, the saved states of training, dx.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "cellstate/cellstate.h"
#include "dispatch/parallel.h"
#include "kernels.h"
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {

constexpr size_t kNone = ~size_t(0);
// Slots a cell may use per unit: parameter entries, packed matrices, workspace buffers (the
// layer-normalized LSTM has 12 parameter entries).
constexpr int kCellSlots = 12;

// One parameter tensor of a unit, named without its "_l<k>[_reverse]" suffix. Entry 0 is always
// weight_ih [G·H, in] (the driver's input GEMM and dx read it).
struct ParamSpec {
  std::string name;
  std::vector<int> shape;
};

// A per-unit buffer of the forward workspace that a cell asks for: `width` values per batch row,
// one [B, width] for the whole call or, when per_step, one per time step ([T, B, width]; the
// pointer a step gets moves by t·B·width).
struct BufSpec {
  size_t width = 0;
  bool per_step = false;
};

// int8 inference (Layer::Quantize): one matrix of a cell's recurrent GEMMs, rows [row0, row0 +
// rows) of parameter entry `entry` (a [N, K] weight, B(k, n) = W[n, k] as every forward pack),
// which the driver quantizes (one scale per row) and packs for the forward slot `slot`. The
// input GEMM's W_ih (entry 0) is the driver's own.
struct QuantSlot {
  int slot;
  int entry;
  int row0, rows;
};

// Offsets (in elements) of one unit's buffers inside the forward workspace.
struct UnitWs {
  size_t gates = kNone;  // [T,B,G·H] input projections, then the cell's saved activations
  size_t h = kNone;      // [B,R] running state (inference)
  size_t c = kNone;      // [B,C] running cell state (inference, cells with one)
  // Training: the states in [T+1, B, ·] slots, in the order of the direction's steps (h0
  // first), seen as two [T, B, ·] arrays: hprev[t] is the state before step t, hst[t] = h_t.
  size_t hprev = kNone, hst = kNone;
  size_t cprev = kNone, cst = kNone;  // likewise for the cell state
  size_t gstep = kNone;               // [chunk·B, G·H] wavefront: the layers above the first
  // Training with recurrent dropout: the unit's mask [B,R] and the masked states h_{t-1} ⊙ mask
  // of every step [T,B,R] (the recurrent GEMMs' operand, read again by backward).
  size_t rmask = kNone, hm = kNone;
  size_t buf[kCellSlots];  // the cell's BufSpecs, in order
  // int8 inference: room for the step's quantized activations (rows of qld bytes, then their
  // scales): B rows, or a wavefront chunk's for the layers above the first.
  size_t qa = kNone, qsa = kNone, qld = 0;
};

// One (layer, direction) of the stack.
template <typename T>
struct UnitT {
  int layer = 0, dir = 0, in = 0;
  bool reverse = false;      // runs t = T-1 … 0
  size_t index = 0;          // layer·D + dir: its row block in h0 / hN
  size_t param[kCellSlots];  // offsets of the cell's ParamSpecs in the flat parameters
  // Packed weights. The driver reads fw_ih (+ fw_bias, kNone for none) for the input GEMM and
  // bw_ih for dx; the rest are the cell's own slots.
  size_t fw_ih = 0, fw_bias = kNone, bw_ih = 0;
  size_t fw[kCellSlots], bw[kCellSlots];
  // int8 inference: byte offsets of the packed int8 matrices (qw_ih: W_ih; qw[slot]: the cell's
  // QuantSlots) in the layer's int8 weights, and of their row scales.
  size_t qw_ih = kNone, qs_ih = kNone;
  size_t qw[kCellSlots], qs[kCellSlots];
  UnitWs ws;
};

// The buffers of one forward step of one unit. The step reads the state h (and c) and writes
// the new state to hout (cout), or over h (c) when those are null: training keeps every state
// in a [T+1, B, ·] buffer, so that the step's input slot is also what backward needs, and
// inference updates one state in place. out may be null (a stream's inner layer).
template <typename T>
struct StepIo {
  T* g = nullptr;  // [B,G·H] this step's input part; activations out
  T* h = nullptr;  // [B,R] state
  T* c = nullptr;  // [B,C] cell state
  T* hout = nullptr;
  T* cout = nullptr;
  T* out = nullptr;
  size_t ldo = 0;
  T* buf[kCellSlots] = {};  // the cell's BufSpecs at this step
  // Training with recurrent dropout: the unit's mask [B,R] and this step's slot [B,R] for
  // h ⊙ mask (FwdStep::RecurrentInput writes it); null otherwise.
  const T* mask = nullptr;
  T* hm = nullptr;
  // int8 inference: room for the quantized activations of the step's GEMMs (qld bytes a row)
  // and their scales (null on a float layer).
  int8_t* qa = nullptr;
  float* qsa = nullptr;
  size_t qld = 0;
};

// The int8 weights of a quantized layer (null in FwdStep::q on a float layer).
struct QuantStep {
  const QKernels* k;
  const uint8_t* packed;  // UnitT::qw index it
  const float* scale;     // UnitT::qs index it
};

// The per-step work of one unit split among threads. With enough batch rows per thread, each
// thread runs whole rows: the recurrent GEMMs of its rows and then their post-GEMM. Rows are
// independent sequences, so the phases of a step, and the steps, need no barrier. Otherwise the
// GEMMs split over columns and barriers separate the phases. Each C element is the same FMA
// chain either way (kernels.h), so the results do not change.
template <typename T>
struct StepSplit {
  const Kernels<T>& k;
  Part p;
  size_t b0, b1;
  bool rows;
  void Gemm(size_t M, size_t N, size_t K, const T* A, size_t lda, const T* Bp, const T* bias, T* C,
            size_t ldc, bool acc) const {
    if (!rows) {
      k.gemm(M, N, K, A, lda, Bp, bias, C, ldc, acc, p);
    } else if (b1 > b0) {
      k.gemm(b1 - b0, N, K, A + b0 * lda, lda, Bp, bias, C + b0 * ldc, ldc, acc, Part{});
    }
  }
  // The same product on int8 (float layers): A's rows quantized into aq (rows of ldq bytes)
  // and sa, then the int8 GEMM with the packed Wq and its row scales ws. By rows: each thread
  // its own rows; by columns: the rows' quantization split among the threads, a barrier, then
  // each thread its panels. Rows are quantized independently and the int8 GEMM does not depend
  // on M or the split, so the results do not either.
  void QGemm(const QKernels& qk, size_t M, size_t N, size_t K, const float* A, size_t lda,
             const uint8_t* Wq, const float* ws, const float* bias, float* C, size_t ldc, bool acc,
             int8_t* aq, float* sa, size_t ldq) const {
    if (rows) {
      if (b1 <= b0) return;
      qk.quantize_rows(b1 - b0, K, A + b0 * lda, lda, aq + b0 * ldq, ldq, sa + b0);
      qk.qgemm(b1 - b0, N, K, aq + b0 * ldq, ldq, sa + b0, Wq, ws, bias, C + b0 * ldc, ldc, acc,
               Part{});
      return;
    }
    size_t r0, r1;
    Split(M, p, &r0, &r1);
    if (r1 > r0) qk.quantize_rows(r1 - r0, K, A + r0 * lda, lda, aq + r0 * ldq, ldq, sa + r0);
    Barrier(p);
    qk.qgemm(M, N, K, aq, ldq, sa, Wq, ws, bias, C, ldc, acc, p);
  }
  // gemm(f) then gemm(s) over the same N columns, panel group by panel group for few rows
  // (Kernels::gemm_pair), split as Gemm.
  void GemmPair(size_t M, size_t N, const GemmOp<T>& f, const GemmOp<T>& s, bool reverse) const {
    if (!rows) {
      k.gemm_pair(M, N, f, s, reverse, p);
    } else if (b1 > b0) {
      GemmOp<T> fr = f, sr = s;
      fr.A += b0 * f.lda;
      fr.C += b0 * f.ldc;
      sr.A += b0 * s.lda;
      sr.C += b0 * s.ldc;
      k.gemm_pair(b1 - b0, N, fr, sr, reverse, Part{});
    }
  }
  void Sync() const {
    if (!rows) Barrier(p);
  }
};

// The streaming step's input GEMM (io.g = bias + x_t · W_ih^T over N = G·H columns), left by
// the driver to the cell's first Mul (FwdStep::input), which runs it paired with its own
// product when that has N columns too (Kernels::gemm_pair: at batch 1 the two weight matrices
// stream through the cache together, and `reverse` alternates from step to step), else just
// before it. Either way a cell reads io.g only after the Sync that follows its first Mul, as
// it would anyway. One per thread (done is this thread's).
template <typename T>
struct DeferredInput {
  GemmOp<T> op;
  size_t N = 0;
  bool reverse = false;
  mutable bool done = false;
};

// What a cell's forward step sees: this thread's rows [b0, b1) of the batch.
template <typename T>
struct FwdStep : StepSplit<T> {
  const UnitT<T>& u;
  const T* packed;  // the forward packed weights (u.fw[·] index it)
  const T* params;  // the flat parameters (u.param[·] index them)
  int B, t;
  const int32_t* lens;  // null: every row active
  const StepIo<T>& io;
  T* hout;             // io.hout or io.h
  T* cout;             // io.cout or io.c
  int R, C;            // state and cell-state sizes
  const QuantStep* q;  // int8 weights, or null (float)
  // The streaming step's input GEMM, not yet run (float layers); null otherwise.
  const DeferredInput<T>* input = nullptr;
  // C = [C +] bias + A · W^T for the cell's forward matrix `slot` (the packed u.fw[slot]), on
  // this thread's part: float, or int8 on a quantized layer (A quantized per row: the dynamic
  // quantization of x_t, h_{t-1}, r ⊙ h, m_t).
  void Mul(int slot, size_t M, size_t N, size_t K, const T* A, size_t lda, const T* bias, T* Cm,
           size_t ldc, bool acc) const {
    if (input != nullptr && !input->done) {
      input->done = true;
      if (q == nullptr && N == input->N) {
        GemmOp<T> op;
        op.K = K;
        op.A = A;
        op.lda = lda;
        op.Bp = packed + u.fw[slot];
        op.bias = bias;
        op.C = Cm;
        op.ldc = ldc;
        op.accumulate = acc;
        this->GemmPair(M, N, input->op, op, input->reverse);
        return;
      }
      const GemmOp<T>& in = input->op;
      this->Gemm(M, input->N, in.K, in.A, in.lda, in.Bp, in.bias, in.C, in.ldc, in.accumulate);
    }
    if constexpr (std::is_same<T, float>::value) {
      if (q) {
        this->QGemm(*q->k, M, N, K, A, lda, q->packed + u.qw[slot], q->scale + u.qs[slot], bias, Cm,
                    ldc, acc, io.qa, io.qsa, io.qld);
        return;
      }
    }
    this->Gemm(M, N, K, A, lda, packed + u.fw[slot], bias, Cm, ldc, acc);
  }
  bool active(size_t b) const { return !lens || t < lens[b]; }
  // h_{t-1} as it enters the recurrent GEMM: io.h, or with recurrent dropout h ⊙ mask (this
  // thread's rows written, then a barrier: the GEMM may read every row).
  const T* RecurrentInput() const {
    if (!io.mask) return io.h;
    const size_t n0 = this->b0 * R, n1 = this->b1 * R;
    for (size_t i = n0; i < n1; ++i) io.hm[i] = io.h[i] * io.mask[i];
    this->Sync();
    return io.hm;
  }
  // A row past its length keeps its state.
  void keep(size_t b) const {
    if (io.hout) std::memcpy(hout + b * R, io.h + b * R, sizeof(T) * R);
    if (io.cout) std::memcpy(cout + b * C, io.c + b * C, sizeof(T) * C);
  }
  // The row's output: h_t, or zeros past its length.
  void emit(size_t b) const {
    if (!io.out) return;
    T* o = io.out + b * io.ldo;
    if (active(b))
      std::memcpy(o, hout + b * R, sizeof(T) * R);
    else
      std::fill(o, o + R, T(0));
  }
};

// What a cell's backward step sees. dh [B,R] holds dL/dh_t on entry (carried + upstream) and
// must hold dL/dh_{t-1} on exit; dc [B,C] likewise for the cell state. dgt [B,G·H] receives the
// gradient of the input projections (zeros on inactive rows): the driver turns it into dx and
// the cell into its weight gradients after the loop.
template <typename T>
struct BwdStep : StepSplit<T> {
  const UnitT<T>& u;
  const T* packed;  // the backward packed weights (u.bw[·])
  const T* params;
  const T* W;           // forward workspace (u.ws)
  T* V;                 // backward workspace
  const size_t* bwbuf;  // the cell's backward buffers (offsets into V)
  int B, t;
  size_t tb;  // t·B
  const int32_t* lens;
  const T* acts;  // this step's saved activations (u.ws.gates + tb·G·H)
  T* dgt;
  T* dh;
  T* dc;
  T* tmp;  // [B, max(R, H)] scratch
  // Recurrent dropout: the unit's mask [B,R], this step's masked state h_{t-1} ⊙ mask [B,R]
  // (forward's), and a second [B, max(R, H)] scratch; null without it.
  const T* mask = nullptr;
  const T* hm = nullptr;
  T* tmp2 = nullptr;
  bool first = false;  // the unit's first backward step (the last time step it ran forward)
  bool active(size_t b) const { return t < lens[b]; }
  // On this thread's active rows of [B,R] buffers: d = base + d ⊙ mask (base null: d ⊙= mask). d
  // holds the gradient that reached the masked state through the recurrent GEMM(s); this takes it
  // back to h_{t-1}. No barrier: the same thread reads these rows next.
  // Rows past their length are left alone (their state is carried unchanged).
  void MaskRows(T* d, const T* base, int R) const {
    for (size_t b = this->b0; b < this->b1; ++b) {
      if (!active(b)) continue;
      const size_t n0 = b * size_t(R), n1 = n0 + size_t(R);
      if (base)
        for (size_t i = n0; i < n1; ++i) d[i] = base[i] + d[i] * mask[i];
      else
        for (size_t i = n0; i < n1; ++i) d[i] *= mask[i];
    }
  }
};

// What a cell's reductions after the backward loop see (the whole [T·B] history).
template <typename T>
struct BwdReduce {
  const Kernels<T>& k;
  const UnitT<T>& u;
  const T* params;
  T* grads;  // flat gradients (u.param[·] index them)
  const T* W;
  T* V;
  const size_t* bwbuf;
  size_t TB;
  const T* xin;    // [TB, in] the unit's input
  const T* hprev;  // [TB, R] the recurrent GEMMs' operand: h_{t-1}, or h_{t-1} ⊙ mask
  const T* dg;     // [TB, G·H]
  T* dgT;          // [G·H, TB] scratch for the transpose
  T* xpack;        // scratch for a packed [TB, ·] operand
  Part p;
  int B = 0;  // batch rows (TB = T·B)
};

template <typename T>
class RecurrentCell {
 public:
  virtual ~RecurrentCell() = default;

  // Multiply-adds per batch row of one step (input GEMM included) for an input of width `in`:
  // the driver's threading thresholds.
  virtual double RowFlops(int in) const = 0;

  // Weights: PlanPack sets the unit's packed offsets (fw_ih, fw_bias, fw[·]) from *total and
  // advances it; Pack writes them. Likewise for the backward (transposed) weights: bw_ih, bw[·].
  // With gemm_weights false (a quantized layer, whose GEMMs run on the driver's int8 weights)
  // only the rest is planned and packed (folded biases and the like); the GEMM weights' offsets
  // are then left as they were and their params are not read.
  virtual void PlanPack(const Kernels<T>& k, UnitT<T>* u, size_t* total,
                        bool gemm_weights) const = 0;
  virtual void Pack(const Kernels<T>& k, const UnitT<T>& u, const T* params, T* dst,
                    bool gemm_weights) const = 0;
  virtual void PlanPackBackward(const Kernels<T>& k, UnitT<T>* u, size_t* total) const = 0;
  virtual void PackBackward(const Kernels<T>& k, const UnitT<T>& u, const T* params,
                            T* dst) const = 0;

  // int8 inference: the matrices of the forward step's GEMMs (Mul's slots), for the driver to
  // quantize and pack.
  virtual void QuantSlots(std::vector<QuantSlot>* out) const = 0;

  // The per-unit buffers a forward step needs (train: what backward reads again).
  virtual void Workspace(bool train, std::vector<BufSpec>* out) const = 0;
  // The backward buffers (element counts) shared by the units, for T·B rows and B.
  virtual void BackwardWorkspace(size_t TB, int B, std::vector<size_t>* out) const = 0;

  // One step of one unit: the recurrent GEMM(s) and the fused post-GEMM, on s's rows; writes
  // the new state (keep() on inactive rows) and emit()s the output rows.
  virtual void StepForward(const FwdStep<T>& s) const = 0;
  // Prefetch of what StepBackward reads at the step whose rows start at tb_next (a hint).
  virtual void PrefetchBackward(const BwdStep<T>& s, size_t tb_next) const = 0;
  virtual void StepBackward(const BwdStep<T>& s) const = 0;
  // After the loop: every gradient of the unit's parameters (weights, biases, peepholes...),
  // added into r.grads. No barrier needed at the end (the driver puts one).
  virtual void Gradients(const BwdReduce<T>& r) const = 0;
};

// A cell family: its options, shape and parameter table, and the factory of its computation.
class CellFamily {
 public:
  virtual ~CellFamily() = default;
  virtual Cell id() const = 0;
  virtual const char* name() const = 0;   // the `cell` option's value: "lstm"
  virtual const char* title() const = 0;  // in messages: "LSTM"
  // Sets option o in *cfg when its key is one of the family's (true); *st then holds the
  // refusal of an unusable value (kInvalidArgument: wrong kind; kOutOfRange).
  virtual bool Parse(const Option& o, Config* cfg, Status* st) const = 0;
  // The family's rules (the common options are checked before).
  virtual Status Validate(const Config& cfg) const = 0;
  virtual int Gates(const Config& cfg) const = 0;          // G
  virtual int StateSize(const Config& cfg) const = 0;      // R
  virtual int CellStateSize(const Config& cfg) const = 0;  // C (0: none)
  // The parameter entries of one unit whose input has width `in`, in the table's order.
  virtual void Params(const Config& cfg, int in, std::vector<ParamSpec>* out) const = 0;
  virtual std::unique_ptr<RecurrentCell<float>> MakeFloat(const Config& cfg) const = 0;
  virtual std::unique_ptr<RecurrentCell<double>> MakeDouble(const Config& cfg) const = 0;
};

// The registry (cell/registry.cc): the family of a Cell, or by its name (null when unknown).
const CellFamily* FamilyOf(Cell c);
const CellFamily* FamilyNamed(const std::string& name);
const std::vector<const CellFamily*>& Families();

const CellFamily& LstmFamily();
const CellFamily& GruFamily();
const CellFamily& RnnFamily();

template <typename T>
std::unique_ptr<RecurrentCell<T>> MakeCell(const Config& cfg);

// Option readers for CellFamily::Parse (config.cc): false when o.key is not `key`; else sets
// *out, or *st to the refusal (wrong kind: kInvalidArgument; not an integer: kOutOfRange).
bool IntOption(const Option& o, const char* key, int* out, Status* st);
bool BoolOption(const Option& o, const char* key, bool* out, Status* st);
// "an LSTM", "a GRU": a family's title in messages.
std::string WithArticle(const char* title);

// ---- helpers for the cells' gradient reductions -------------------------------------------

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

// dst = src^T for src [rows, cols], each thread a range of whole 16-column blocks; sums[c] +=
// Σ_r src[r, c] in row order (and sums2 likewise; each skipped when null): the bias gradients. The
// results depend neither on the path (SSE or not) nor on the thread count.
template <typename T>
void TransposeSum(size_t rows, size_t cols, const T* src, T* dst, T* sums, T* sums2, Part p);

// dW_ih += dG^T · x after TransposeSum wrote dgT: packs the unit's input and runs the GEMM
// (barriers included; xpack is free again on return).
template <typename T>
void InputWeightGrad(const BwdReduce<T>& r, size_t GH);

// A prefetch hint for rows [b0, b1) of a row-major block with n columns (row stride ld).
template <typename T>
void PrefetchRows(const T* p, size_t b0, size_t b1, size_t n, size_t ld) {
#if defined(__GNUC__)
  for (size_t b = b0; b < b1; ++b)
    for (size_t j = 0; j < n; j += 64 / sizeof(T)) __builtin_prefetch(p + b * ld + j, 0, 2);
#else
  (void)p, (void)b0, (void)b1, (void)n, (void)ld;
#endif
}

}  // namespace cellstate
