// Inference through a stack of one-direction layers can run as a wavefront: layer l on thread
// l mod nth, one chunk of steps behind layer l - 1 (cuDNN's schedule for stacked RNNs).
// A layer waits only for the steps of the layer below that its next chunk reads, never at a
// barrier, so it pays where the steps are too small to split (small batches, streams fed as
// sequences).
#include <algorithm>
#include <type_traits>

#include "cell/driver.h"

namespace cellstate {

template <typename T>
bool Layer<T>::Impl::Wavefront(bool train, int Tn, int B, double flops_per_step) const {
  // Layer l starts a chunk behind layer l - 1: with fewer than two chunks nothing overlaps.
  return std::is_same<T, float>::value && !train && cfg.num_layers > 1 && D == 1 &&
         engine.threads > 1 && flops_per_step < engine.parallel_min_flops &&
         flops_per_step * Tn >= engine.wavefront_min_flops && Tn >= 2 * WaveChunk(Tn, B);
}

// The wavefront's layers above the first take their input projections in chunks of this many
// steps: one GEMM per chunk instead of a matrix-vector product per step re-reading W_ih.
template <typename T>
int Layer<T>::Impl::WaveChunk(int Tn, int B) const {
  const int rows = std::max(1, engine.wavefront_chunk_rows);
  return std::max(1, std::min(Tn, (rows + B - 1) / B));
}

template <typename T>
void Layer<T>::Impl::ForwardWavefront(const ForwardArgs& a, const T* x0, T* last_out, Part p) {
  const int Tn = ws_T, B = ws_B, L = cfg.num_layers;
  const size_t GH = size_t(G) * H, TB = size_t(Tn) * B;
  T* W = work.data();
  const int32_t* lens = has_lengths ? lengths.data() : nullptr;
  if (p.ith == 0)
    for (int l = 0; l < L; ++l) progress[l].Reset();  // the barrier below publishes it
  // The first layer's input GEMM over all T·B rows, split among the threads.
  const Unit& u0 = units[0];
  InputGemm(u0, TB, x0, W + u0.ws.gates, QxRows(), QxScales(), ws.qxld, p);
  Barrier(p);
  for (int l = p.ith; l < L; l += p.nth) {
    const Unit& u = units[l];
    const UnitWs& w = u.ws;
    const StepIo<T> state = StepBuffers(u, 0, false);
    LoadState(a, l, 0, B, state.h, state.c);
    T* out = l == L - 1 ? last_out : W + ws.out[l];
    const T* xin = l > 0 ? W + ws.out[l - 1] : nullptr;
    const int chunk = WaveChunk(Tn, B);
    int t_lo = 0;  // the first time of the current chunk
    for (int s = 0; s < Tn; ++s) {
      const int t = u.reverse ? Tn - 1 - s : s;
      const size_t tb = size_t(t) * B;
      if (l > 0 && s % chunk == 0) {
        // The next chunk's input projections, once the layer below has written its steps
        // (the same FMA chains as one GEMM over all rows: results equal the layer-by-layer
        // order). A reverse stack's chunk holds the times t0 - n + 1 … t0, first step last.
        const int n = std::min(chunk, Tn - s);
        t_lo = u.reverse ? t - n + 1 : t;
        progress[l - 1].WaitAtLeast(s + n);
        const StepIo<T> q = StepBuffers(u, 0, false);  // the unit's int8 rows (unused now)
        InputGemm(u, size_t(n) * B, xin + size_t(t_lo) * B * u.in, W + w.gstep, q.qa, q.qsa, q.qld,
                  Part{});
      }
      StepIo<T> io = StepBuffers(u, tb, false);
      io.out = out + tb * R;
      io.ldo = R;
      io.g = l == 0 ? W + w.gates + tb * GH : W + w.gstep + size_t(t - t_lo) * B * GH;
      StepForward(u, B, t, lens, io, Part{});
      progress[l].Set(s + 1);
    }
    StoreState(a, l, 0, B, state.h, state.c);
  }
}

#define CELLSTATE_INSTANTIATE(T)                                         \
  template bool Layer<T>::Impl::Wavefront(bool, int, int, double) const; \
  template int Layer<T>::Impl::WaveChunk(int, int) const;                \
  template void Layer<T>::Impl::ForwardWavefront(const ForwardArgs&, const T*, T*, Part);
CELLSTATE_INSTANTIATE(float)
CELLSTATE_INSTANTIATE(double)
#undef CELLSTATE_INSTANTIATE

}  // namespace cellstate
