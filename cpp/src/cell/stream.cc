// Streaming: one time step of B independent sequences whose state the caller holds
// (Layer::Step). Reads the packed weights, writes only state, scratch and out; allocates nothing.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "cell/driver.h"

namespace cellstate {

template <typename T>
size_t Layer<T>::Impl::StreamScratchSize(int B) const {
  size_t n = size_t(B) * G * H;  // gates
  for (const BufSpec& s : infer_bufs) n += size_t(B) * s.width;
  // Room for the int8 step too (Layer::Quantize may come after a stream sized its scratch): B
  // scales and B quantized rows, from a 64-byte boundary.
  if (std::is_same<T, float>::value) n += StreamQuantRoom(B) + 64 / sizeof(T);
  return n;
}

template <typename T>
size_t Layer<T>::Impl::StreamQuantRoom(int B) const {
  size_t ld = 0;
  for (const Unit& u : units) ld = std::max(ld, QuantLd(u));
  return (size_t(B) + 15) / 16 * 16 + size_t(B) * ld / sizeof(T);
}

template <typename T>
Status Layer<T>::Impl::Step(int B, const T* x, T* state, T* scratch, T* out) const {
  const Status streamable = CheckStreamable(cfg);
  if (!streamable.ok()) return streamable;
  if (B < 1) return Status::Error(Code::kOutOfRange, "batch must be >= 1");
  const int L = cfg.num_layers;
  const size_t GH = size_t(G) * H;
  const size_t per_layer = size_t(B) * (R + C);
  StepIo<T> io;
  T* sp = scratch;
  io.g = sp;
  sp += B * GH;
  // The cell's buffers, one [B, width] each.
  for (size_t i = 0; i < infer_bufs.size(); ++i) {
    io.buf[i] = sp;
    sp += size_t(B) * infer_bufs[i].width;
  }
  size_t qld = 0;
  if (qk) {  // the int8 rows: the input GEMMs' and the steps' (one after the other)
    sp = reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(sp) + 63) & ~uintptr_t(63));
    for (const Unit& u : units) qld = std::max(qld, QuantLd(u));
    io.qsa = reinterpret_cast<float*>(sp);
    io.qa = reinterpret_cast<int8_t*>(sp + (size_t(B) + 15) / 16 * 16);
    io.qld = qld;
  }
  const double flops = 2.0 * B * StackRowFlops();
  // A float one-layer stack whose weights exceed Engine::stream_pair_min_bytes (1 MiB, Zen 5's
  // L2) leaves its input GEMM to the cell's first product (DeferredInput): at batch 1 both weight
  // matrices then stream through the cache once, panel group by panel group, in opposite orders on
  // alternate steps, so a step starts on the part the previous step read last, still in L2 (S2, 2
  // MB: the step 0.75x the time). Otherwise the GEMMs run as in a forward: weights that fit in L2
  // stay there anyway (S1, 384 KB: 1.02x), and with several layers a step starts on the first
  // layer's weights and ends on the last's, leaving nothing to reuse (S3: 1.04-1.06x). A/B rounds.
  const bool defer =
      qk == nullptr && L == 1 && StackRowFlops() * sizeof(T) > engine.stream_pair_min_bytes;
  const bool reverse = (stream_steps.fetch_add(1, std::memory_order_relaxed) & 1u) != 0;
  // A single step has one to three barriers per layer and microseconds of work: it takes
  // threads only when it is much larger than a step of a sequence needs (a pool of many
  // streams).
  Parallel(engine.pool.get(), Threads(flops / 8), std::is_same<T, float>::value, [&](Part p) {
    const T* xin = x;
    for (int l = 0; l < L; ++l) {
      const Unit& u = units[l];
      StepIo<T> lio = io;
      lio.h = state + l * per_layer;
      lio.c = C > 0 ? lio.h + size_t(B) * R : nullptr;
      lio.out = l == L - 1 ? out : nullptr;
      lio.ldo = R;
      if (defer) {
        DeferredInput<T> input;
        input.op.K = size_t(u.in);
        input.op.A = xin;
        input.op.lda = size_t(u.in);
        input.op.Bp = packed.data() + u.fw_ih;
        input.op.bias = u.fw_bias == kNone ? nullptr : packed.data() + u.fw_bias;
        input.op.C = lio.g;
        input.op.ldc = GH;
        input.N = GH;
        input.reverse = reverse;
        StepForward(u, B, 0, nullptr, lio, p, &input);
      } else {
        InputGemm(u, B, xin, lio.g, io.qa, io.qsa, qld, p);
        Barrier(p);
        StepForward(u, B, 0, nullptr, lio, p);
      }
      Barrier(p);  // the next layer reads every row of this layer's new state
      xin = lio.h;
    }
  });
  return Status::Ok();
}

#define CELLSTATE_INSTANTIATE(T)                                \
  template size_t Layer<T>::Impl::StreamScratchSize(int) const; \
  template size_t Layer<T>::Impl::StreamQuantRoom(int) const;   \
  template Status Layer<T>::Impl::Step(int, const T*, T*, T*, T*) const;
CELLSTATE_INSTANTIATE(float)
CELLSTATE_INSTANTIATE(double)
#undef CELLSTATE_INSTANTIATE

}  // namespace cellstate
