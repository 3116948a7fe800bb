// The forward time loop: per layer and direction, one input GEMM over all T·B rows, then per
// step the cell's recurrent GEMM(s) and fused post-GEMM (RecurrentCell::StepForward). Lengths,
// batch-first and the inter-layer dropout are handled here, for every cell alike. Forward for
// training keeps what backward needs in a workspace sized once per shape; nothing is allocated
// inside the time loop.
#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "cell/driver.h"

namespace cellstate {

namespace {

// Splitmix64: the dropout masks' counter-based generator (same masks on every machine).
inline uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The streams of the masks fixed over time: Mix(seed ^ Mix(stream)) keys each (the inter-layer
// masks use the streams l + 1).
constexpr uint64_t kInputMaskStream = uint64_t(1) << 40;
constexpr uint64_t kRecurrentMaskStream = uint64_t(2) << 40;  // + the unit's index l·D + d

}  // namespace

template <typename T>
double Layer<T>::Impl::StackRowFlops() const {
  double f = 0;
  for (int l = 0; l < cfg.num_layers; ++l) f += D * cell->RowFlops(l == 0 ? cfg.input_size : D * R);
  return f;
}

template <typename T>
int Layer<T>::Impl::Threads(double flops_per_step) const {
  if (std::is_same<T, double>::value || engine.threads <= 1) return 1;
  return flops_per_step >= engine.parallel_min_flops ? engine.threads : 1;
}

template <typename T>
bool Layer<T>::Impl::RowSplit(int B, Part p) const {
  return p.nth > 1 && B >= p.nth * engine.row_split_min_rows;
}

template <typename T>
void Layer<T>::Impl::StepForward(const Unit& u, int B, int t, const int32_t* lens,
                                 const StepIo<T>& io, Part p, const DeferredInput<T>* input) const {
  size_t b0, b1;
  Split(B, p, &b0, &b1);
  const FwdStep<T> s{{*kern, p, b0, b1, RowSplit(B, p)},
                     u,
                     packed.data(),
                     params.data(),
                     B,
                     t,
                     lens,
                     io,
                     io.hout ? io.hout : io.h,
                     io.cout ? io.cout : io.c,
                     R,
                     C,
                     nullptr,
                     input};
  if constexpr (std::is_same<T, float>::value) {
    if (qk) {
      const QuantStep q{qk, qpacked.data(), qscale.data()};
      FwdStep<T> sq = s;
      sq.q = &q;
      cell->StepForward(sq);
      return;
    }
  }
  cell->StepForward(s);
}

template <typename T>
StepIo<T> Layer<T>::Impl::StepBuffers(const Unit& u, size_t tb, bool train) {
  T* W = work.data();
  const UnitWs& w = u.ws;
  StepIo<T> io;
  if (train) {  // the state slots of the step (see UnitWs)
    io.h = W + w.hprev + tb * R;
    io.hout = W + w.hst + tb * R;
    if (w.cprev != kNone) {
      io.c = W + w.cprev + tb * C;
      io.cout = W + w.cst + tb * C;
    }
  } else {  // one state, updated in place
    io.h = W + w.h;
    if (w.c != kNone) io.c = W + w.c;
  }
  // The cell's buffers: per step what backward reads again, else one [B, ·] each.
  for (size_t i = 0; i < ws.cell.size(); ++i)
    io.buf[i] = W + w.buf[i] + (ws.cell[i].per_step ? tb * ws.cell[i].width : 0);
  if (train && w.rmask != kNone) {
    io.mask = W + w.rmask;
    io.hm = W + w.hm + tb * R;
  }
  if (w.qa != kNone) {
    io.qa = reinterpret_cast<int8_t*>(W + w.qa);
    io.qsa = reinterpret_cast<float*>(W + w.qsa);
    io.qld = w.qld;
  }
  return io;
}

template <typename T>
void Layer<T>::Impl::ForwardUnit(Unit& u, const ForwardArgs& a, const T* xin, T* out, Part p) {
  const int Tn = ws_T, B = ws_B;
  const size_t GH = size_t(G) * H, TB = size_t(Tn) * B;
  const bool train = ws_train;
  T* W = work.data();
  const UnitWs& w = u.ws;
  // The state before the first step, and after the last (the slots of the saved states when
  // training, else the one state).
  const StepIo<T> first = StepBuffers(u, size_t(u.reverse ? Tn - 1 : 0) * B, train);
  const StepIo<T> last = StepBuffers(u, size_t(u.reverse ? 0 : Tn - 1) * B, train);
  size_t b0, b1;
  Split(B, p, &b0, &b1);
  LoadState(a, u.index, b0, b1, first.h, first.c);
  // The input GEMM over all T·B rows, bias folded in (when the cell folds one).
  T* gates = W + w.gates;
  // It runs chunk by chunk of steps, just before the steps read them: gates written all at
  // once ([T·B, G·H], megabytes) are read back from memory. int8 always (its steps are fast
  // enough that this costs more than the GEMM; PlanForward sized ws.qx for it); float when the
  // input weights are small enough to be read again per chunk (engine.input_chunk_rows;
  // training too: the steps read the gates while they are in cache, backward later). Rows are
  // quantized and multiplied independently, so the chunking changes no bit.
  const bool small_w = GH * u.in * sizeof(T) <= kInputChunkMaxWeightBytes;
  const int chunk = qk ? QuantChunk(Tn, B)
                    : small_w && engine.input_chunk_rows > 0
                        ? std::max(1, std::min(Tn, engine.input_chunk_rows / B))
                        : Tn;
  if (chunk == Tn) {
    InputGemm(u, TB, xin, gates, QxRows(), QxScales(), ws.qxld, p);
    Barrier(p);
  }
  const int32_t* lens = has_lengths ? lengths.data() : nullptr;
  for (int s = 0; s < Tn; ++s) {
    const int t = u.reverse ? Tn - 1 - s : s;
    const size_t tb = size_t(t) * B;
    if (chunk < Tn && s % chunk == 0) {  // this chunk's steps: t … t + n - 1, or t - n + 1 … t
      const int n = std::min(chunk, Tn - s);
      const size_t lo = size_t(u.reverse ? t - n + 1 : t) * B;
      InputGemm(u, size_t(n) * B, xin + lo * u.in, gates + lo * GH, QxRows(), QxScales(), ws.qxld,
                p);
      Barrier(p);
    }
    StepIo<T> io = StepBuffers(u, tb, train);
    io.g = gates + tb * GH;
    io.out = out + tb * D * R + size_t(u.dir) * R;
    io.ldo = size_t(D) * R;
    if (s + 1 < Tn) PrefetchRows(gates + (u.reverse ? tb - B : tb + B) * GH, b0, b1, GH, GH);
    StepForward(u, B, t, lens, io, p);
  }
  StoreState(a, u.index, b0, b1, train ? last.hout : last.h, train ? last.cout : last.c);
  Barrier(p);
}

template <typename T>
Status Layer<T>::Impl::Forward(const ForwardArgs& a) {
  if (a.seq_len < 1 || a.batch < 1)
    return Status::Error(Code::kOutOfRange, "seqLen and batch must be >= 1");
  if (!a.x || !a.output) return Status::Error(Code::kInvalidArgument, "x and output are required");
  if (a.c0 && C == 0)
    return Status::Error(
        Code::kInvalidArgument,
        "c0 is a cell state, which " + WithArticle(FamilyOf(cfg.cell)->title()) + " has not");
  if (a.lengths) {
    for (int b = 0; b < a.batch; ++b) {
      const int32_t len = a.lengths[b];
      if (len < 0 || len > a.seq_len)
        return Status::Error(Code::kOutOfRange,
                             "lengths[" + std::to_string(b) + "] must be in [0, " +
                                 std::to_string(a.seq_len) + "], got " + std::to_string(len));
    }
  }
  pending = false;
  const int Tn = a.seq_len, B = a.batch, I = cfg.input_size, L = cfg.num_layers;
  const size_t TB = size_t(Tn) * B, ldo = size_t(D) * R;
  const double flops = 2.0 * B * StackRowFlops();  // per time step
  const bool wave = Wavefront(a.train, Tn, B, flops);
  try {
    PlanForward(Tn, B, a.train, wave);
    if (work.size() < ws_size) work.resize(ws_size);
    lengths.assign(a.batch, a.seq_len);
    if (a.lengths) std::copy(a.lengths, a.lengths + a.batch, lengths.begin());
  } catch (const std::bad_alloc&) {
    work.clear();
    work.shrink_to_fit();
    return Status::Error(Code::kOutOfMemory, "out of memory for the forward workspace");
  }
  has_lengths = a.lengths != nullptr;
  ws_batch_first = a.batch_first;
  T* W = work.data();
  // Inference on time-major input reads x and writes the output in place; otherwise x is
  // copied (training keeps it for dW_ih, padded steps are zeroed, batch-first is transposed).
  const bool direct_x = !a.train && !a.batch_first && !has_lengths;
  const bool direct_out = !a.train && !a.batch_first;
  const T* x0 = static_cast<const T*>(a.x);
  if (!direct_x) {
    CopyTimeMajor(Tn, B, I, a.batch_first, x0, W + ws.x0, true);
    if (has_lengths) ZeroPadded(W + ws.x0, I);
    x0 = W + ws.x0;
  }
  DrawTimeFixedMasks(a);
  if (ws.imask != kNone) {  // x_t ⊙ mask, the same mask at every step
    const T* m = W + ws.imask;
    T* xm = W + ws.x0;
    for (size_t tb = 0; tb < TB; ++tb) {
      const T* mb = m + (tb % size_t(B)) * I;
      for (int i = 0; i < I; ++i) xm[tb * I + i] *= mb[i];
    }
  }
  const bool drop = a.train && cfg.dropout > 0.f && L > 1;
  const T keep_scale = T(1) / (T(1) - T(cfg.dropout));
  if (wave) {
    T* last = direct_out ? static_cast<T*>(a.output) : W + ws.out[L - 1];
    Parallel(engine.pool.get(), std::min(engine.threads, L), std::is_same<T, float>::value,
             [&](Part p) { ForwardWavefront(a, x0, last, p); });
    if (!direct_out)
      CopyTimeMajor(Tn, B, ldo, a.batch_first, last, static_cast<T*>(a.output), false);
    return Status::Ok();
  }
  Parallel(engine.pool.get(), Threads(flops), std::is_same<T, float>::value, [&](Part p) {
    for (int l = 0; l < L; ++l) {
      T* out = (direct_out && l == L - 1) ? static_cast<T*>(a.output) : W + ws.out[l];
      const T* xin = l == 0 ? x0 : W + ws.xin[l];
      for (int d = 0; d < D; ++d) ForwardUnit(units[size_t(l) * D + d], a, xin, out, p);
      if (drop && l + 1 < L) {
        // Inverted dropout between layers: next input = out ⊙ mask, mask ∈ {0, 1/(1-p)}.
        T* mask = W + ws.mask[l];
        T* nx = W + ws.xin[l + 1];
        const uint64_t key = Mix(a.dropout_seed ^ Mix(uint64_t(l) + 1));
        const double prob = cfg.dropout;
        size_t i0, i1;
        Split(TB * ldo, p, &i0, &i1);
        for (size_t i = i0; i < i1; ++i) {
          const double u = double(Mix(key + i) >> 11) * 0x1.0p-53;
          mask[i] = u < prob ? T(0) : keep_scale;
          nx[i] = out[i] * mask[i];
        }
        Barrier(p);
      }
    }
  });
  if (!direct_out)
    CopyTimeMajor(Tn, B, ldo, a.batch_first, W + ws.out[L - 1], static_cast<T*>(a.output), false);
  pending = a.train;
  return Status::Ok();
}

template <typename T>
void Layer<T>::Impl::DrawTimeFixedMasks(const ForwardArgs& a) {
  // Inverted dropout: each value 0 with probability p, else 1/(1-p), value i of a mask from
  // Mix(key + i) as between layers (the same masks on every machine and thread count).
  auto draw = [&](uint64_t stream, double prob, size_t n, T* dst) {
    const uint64_t key = Mix(a.dropout_seed ^ Mix(stream));
    const T keep_scale = T(1) / (T(1) - T(static_cast<float>(prob)));
    for (size_t i = 0; i < n; ++i) {
      const double u = double(Mix(key + i) >> 11) * 0x1.0p-53;
      dst[i] = u < prob ? T(0) : keep_scale;
    }
  };
  T* W = work.data();
  const size_t B = size_t(ws_B);
  if (ws.imask != kNone)
    draw(kInputMaskStream, cfg.input_dropout, B * cfg.input_size, W + ws.imask);
  for (const Unit& u : units) {
    if (u.ws.rmask == kNone) continue;
    T* m = W + u.ws.rmask;
    if (a.recurrent_mask)
      std::copy_n(static_cast<const T*>(a.recurrent_mask) + u.index * B * R, B * R, m);
    else
      draw(kRecurrentMaskStream + u.index, cfg.recurrent_dropout, B * R, m);
  }
}

template <typename T>
void Layer<T>::Impl::ZeroPadded(T* x, size_t F) const {
  for (int t = 0; t < ws_T; ++t)
    for (int b = 0; b < ws_B; ++b)
      if (!Active(b, t)) {
        T* row = x + (size_t(t) * ws_B + b) * F;
        std::fill(row, row + F, T(0));
      }
}

#define CELLSTATE_INSTANTIATE(T)                                                             \
  template double Layer<T>::Impl::StackRowFlops() const;                                     \
  template int Layer<T>::Impl::Threads(double) const;                                        \
  template bool Layer<T>::Impl::RowSplit(int, Part) const;                                   \
  template void Layer<T>::Impl::StepForward(const Unit&, int, int, const int32_t*,           \
                                            const StepIo<T>&, Part, const DeferredInput<T>*) \
      const;                                                                                 \
  template StepIo<T> Layer<T>::Impl::StepBuffers(const Unit&, size_t, bool);                 \
  template void Layer<T>::Impl::ForwardUnit(Unit&, const ForwardArgs&, const T*, T*, Part);  \
  template Status Layer<T>::Impl::Forward(const ForwardArgs&);                               \
  template void Layer<T>::Impl::ZeroPadded(T*, size_t) const;                                \
  template void Layer<T>::Impl::DrawTimeFixedMasks(const ForwardArgs&);
CELLSTATE_INSTANTIATE(float)
CELLSTATE_INSTANTIATE(double)
#undef CELLSTATE_INSTANTIATE

}  // namespace cellstate
