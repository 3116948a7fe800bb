// Streaming: one time step of B independent sequences whose state the caller holds
// (Layer::Step). Reads the packed weights, writes only state, scratch and out; allocates nothing.
#include <type_traits>

#include "cell/driver.h"

namespace cellstate {

template <typename T>
size_t Layer<T>::Impl::StreamScratchSize(int B) const {
  size_t n = size_t(B) * G * H;  // gates
  for (const BufSpec& s : infer_bufs) n += size_t(B) * s.width;
  return n;
}

template <typename T>
Status Layer<T>::Impl::Step(int B, const T* x, T* state, T* scratch, T* out) const {
  if (D > 1) return Status::Error(Code::kUnsupported, "a bidirectional layer cannot stream");
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
  const double flops = 2.0 * B * StackRowFlops();
  // A single step has two to four barriers and microseconds of work: it takes threads only
  // when it is much larger than a step of a sequence needs (a pool of many streams).
  Parallel(engine.pool.get(), Threads(flops / 8), std::is_same<T, float>::value, [&](Part p) {
    const T* xin = x;
    for (int l = 0; l < L; ++l) {
      const Unit& u = units[l];
      StepIo<T> lio = io;
      lio.h = state + l * per_layer;
      lio.c = C > 0 ? lio.h + size_t(B) * R : nullptr;
      lio.out = l == L - 1 ? out : nullptr;
      lio.ldo = R;
      kern->gemm(B, GH, u.in, xin, u.in, packed.data() + u.fw_ih,
                 u.fw_bias == kNone ? nullptr : packed.data() + u.fw_bias, lio.g, GH, false, p);
      Barrier(p);
      StepForward(u, B, 0, nullptr, lio, p);
      Barrier(p);  // the next layer reads every row of this layer's new state
      xin = lio.h;
    }
  });
  return Status::Ok();
}

#define CELLSTATE_INSTANTIATE(T)                                \
  template size_t Layer<T>::Impl::StreamScratchSize(int) const; \
  template Status Layer<T>::Impl::Step(int, const T*, T*, T*, T*) const;
CELLSTATE_INSTANTIATE(float)
CELLSTATE_INSTANTIATE(double)
#undef CELLSTATE_INSTANTIATE

}  // namespace cellstate
