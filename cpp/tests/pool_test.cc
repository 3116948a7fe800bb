// The thread pool: every part runs once, barriers separate phases, a busy pool runs a second
// caller alone, and results of the kernel do not depend on whether threads were used.
#include "dispatch/pool.h"

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "dispatch/parallel.h"

using cellstate::Part;
using cellstate::ThreadPool;

namespace {
// Out of line: the compiler does not order arithmetic against MXCSR writes by itself.
__attribute__((noinline)) float Mul(float a, float b) { return a * b; }
int passed = 0, failed = 0;
void Check(bool ok, const char* what) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::printf("FAILED: %s\n", what);
  }
}
}  // namespace

int main() {
  {
    ThreadPool pool(3);
    std::vector<int> hits(3, 0);
    std::atomic<int> nth_seen{0};
    cellstate::Parallel(&pool, 3, false, [&](Part p) {
      hits[p.ith] += 1;
      nth_seen.store(p.nth);
    });
    Check(hits[0] == 1 && hits[1] == 1 && hits[2] == 1, "each part runs exactly once");
    Check(nth_seen.load() == 3, "parts see nth = 3");
  }
  {
    // Barriers: phase k of every thread sees all writes of phase k-1.
    ThreadPool pool(2);
    constexpr int kPhases = 2000;
    std::vector<int> slot(2, 0);
    std::atomic<int> errors{0};
    for (int rep = 0; rep < 5; ++rep) {
      cellstate::Parallel(&pool, 2, false, [&](Part p) {
        for (int k = 0; k < kPhases; ++k) {
          slot[p.ith] = k;
          cellstate::Barrier(p);
          if (slot[1 - p.ith] != k) errors.fetch_add(1);
          cellstate::Barrier(p);
        }
      });
    }
    Check(errors.load() == 0, "barriers order the phases");
  }
  {
    // A second caller while the pool is busy runs alone, and both finish.
    ThreadPool pool(2);
    std::atomic<bool> inside{false}, release{false};
    std::atomic<int> second_nth{0};
    std::thread a([&] {
      cellstate::Parallel(&pool, 2, false, [&](Part p) {
        if (p.ith == 0) {
          inside = true;
          while (!release) std::this_thread::yield();
        }
      });
    });
    while (!inside) std::this_thread::yield();
    cellstate::Parallel(&pool, 2, false, [&](Part p) { second_nth = p.nth; });
    release = true;
    a.join();
    Check(second_nth.load() == 1, "a busy pool runs the second caller on its own thread");
  }
  {
    // Many short regions (workers wake and sleep each time).
    ThreadPool pool(2);
    std::atomic<int> total{0};
    for (int i = 0; i < 20000; ++i)
      cellstate::Parallel(&pool, 2, false, [&](Part) { total.fetch_add(1); });
    Check(total.load() == 40000, "20000 regions of 2 threads");
  }
  {
    // The denormal guard flushes inside the region and restores the caller's mode after it.
    volatile float tiny = 1e-40f;  // a denormal
    volatile float one = 1.0f;
    float inside = -1.f;
    cellstate::Parallel(nullptr, 1, true, [&](Part) { inside = Mul(tiny, one); });
    volatile float after = Mul(tiny, one);
#if defined(__x86_64__) || defined(__aarch64__)
    Check(inside == 0.f, "denormals flush to zero inside a call");
#endif
    Check(after != 0.f, "the caller's floating-point mode is restored");
  }
  std::printf("pool_test: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
