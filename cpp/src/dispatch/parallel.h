// One parallel region per call: Parallel(pool, nth, flush, body) runs body(Part) on nth
// threads of the engine's pool, with every thread flushing denormals to zero for the duration
// of the call (its own floating-point mode is restored afterwards). Barrier(part) separates
// the phases of a call. Without a pool, or for nth = 1, everything runs on the caller.
#pragma once

#include "dispatch/platform.h"
#include "dispatch/pool.h"
#include "kernels.h"

namespace cellstate {

// Flush-to-zero and denormals-are-zero on this thread while alive; restores the caller's mode.
class DenormalGuard {
 public:
  explicit DenormalGuard(bool on) : on_(on) {
    if (on_) saved_ = platform::FlushDenormals();
  }
  ~DenormalGuard() {
    if (on_) platform::RestoreFloatMode(saved_);
  }
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;

 private:
  bool on_;
  unsigned long saved_ = 0;
};

template <class F>
void Parallel(ThreadPool* pool, int nth, bool flush_denormals, F&& body) {
  struct Ctx {
    F* body;
    bool flush;
  } ctx{&body, flush_denormals};
  auto tramp = [](void* c, Part p) {
    Ctx* x = static_cast<Ctx*>(c);
    DenormalGuard guard(x->flush);
    (*x->body)(p);
  };
  if (pool && nth > 1)
    pool->Run(nth, tramp, &ctx);
  else
    tramp(&ctx, Part{});
}

inline void Barrier(Part p) {
  if (p.team) p.team->Wait();
}

// The half-open range [begin, end) of n items that thread p owns.
inline void Split(size_t n, Part p, size_t* begin, size_t* end) {
  *begin = n * size_t(p.ith) / size_t(p.nth);
  *end = n * size_t(p.ith + 1) / size_t(p.nth);
}

}  // namespace cellstate
