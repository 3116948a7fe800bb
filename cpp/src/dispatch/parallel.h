// One parallel region per call: Parallel(nth, body) runs body(Part) on nth threads (OpenMP),
// with the floating-point environment of every thread set to flush denormals to zero for the
// duration of the call and restored afterwards. Barrier() separates the phases of a call.
// Built without OpenMP, everything runs on the calling thread.
#pragma once

#include "kernels.h"

#ifndef CELLSTATE_OPENMP
#define CELLSTATE_OPENMP 0
#endif
#if CELLSTATE_OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

namespace cellstate {

// Flush-to-zero and denormals-are-zero on this thread while alive; restores the caller's mode.
class DenormalGuard {
 public:
  explicit DenormalGuard(bool on) : on_(on) {
    if (!on_) return;
#if defined(__x86_64__) || defined(_M_X64)
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
#elif defined(__aarch64__)
    unsigned long fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    saved_ = fpcr;
    fpcr |= (1ul << 24);  // FZ
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr));
#endif
  }
  ~DenormalGuard() {
    if (!on_) return;
#if defined(__x86_64__) || defined(_M_X64)
    _mm_setcsr(static_cast<unsigned>(saved_));
#elif defined(__aarch64__)
    unsigned long fpcr = saved_;
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr));
#endif
  }
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;

 private:
  bool on_;
  unsigned long saved_ = 0;
};

template <class F>
void Parallel(int nth, bool flush_denormals, F&& body) {
#if CELLSTATE_OPENMP
  if (nth > 1) {
#pragma omp parallel num_threads(nth)
    {
      DenormalGuard guard(flush_denormals);
      body(Part{omp_get_thread_num(), omp_get_num_threads()});
    }
    return;
  }
#endif
  DenormalGuard guard(flush_denormals);
  body(Part{0, 1});
}

inline void Barrier() {
#if CELLSTATE_OPENMP
#pragma omp barrier
#endif
}

// The half-open range [begin, end) of n items that thread p owns.
inline void Split(size_t n, Part p, size_t* begin, size_t* end) {
  *begin = n * size_t(p.ith) / size_t(p.nth);
  *end = n * size_t(p.ith + 1) / size_t(p.nth);
}

}  // namespace cellstate
