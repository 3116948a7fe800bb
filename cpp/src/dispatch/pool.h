// The kernel's own thread pool: one parallel region per call (Run), barriers between the
// phases of a call (Team::Wait), nothing shared with the host process. It replaces an OpenMP
// runtime so that the addon carries no libgomp/libomp that could clash with another library's
// in the same process, and so that idle workers sleep (passive waiting) instead of spinning.
//
// Workers start on the first Run that needs them and block on a condition variable between
// calls. A Run that finds the pool busy (another layer's call on another thread) runs on its
// caller alone: results never depend on the thread count, so that is only slower.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels.h"

namespace cellstate {

// The barrier of one parallel region (sense by generation). A waiter spins briefly (the
// phases of a call are microseconds apart), then sleeps on a condition variable, so that an
// oversubscribed machine does not lose whole scheduler slices to spinning threads.
struct Team {
  int nth = 1;
  std::atomic<int> count{0};
  std::atomic<uint32_t> gen{0};
  std::atomic<int> sleepers{0};
  std::mutex mu;
  std::condition_variable cv;
  void Wait();
};

// A count that one thread raises and others wait on: the point-to-point hand-offs inside one
// call (the wavefront: a layer waiting for the steps of the layer below). A waiter spins
// briefly, then sleeps like a barrier's waiter.
struct Progress {
  std::atomic<int> value{0};
  std::atomic<int> sleepers{0};
  std::mutex mu;
  std::condition_variable cv;
  void Reset() { value.store(0, std::memory_order_relaxed); }
  void Set(int v);          // publishes v (release) and wakes sleepers
  void WaitAtLeast(int v);  // until value >= v (acquire)
};

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }
  // Runs fn(ctx, part) for part.ith in [0, n) with n = min(nth, size()), the caller being
  // thread 0; returns when all are done.
  void Run(int nth, void (*fn)(void*, Part), void* ctx);

 private:
  void Worker(int index);
  void StartWorkers();

  const int size_;
  std::mutex run_mu_;  // one region at a time
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  bool started_ = false, stop_ = false;
  int live_ = 1;      // threads available (1 + workers started)
  uint64_t job_ = 0;  // generation of the current job
  int job_nth_ = 1;
  void (*fn_)(void*, Part) = nullptr;
  void* ctx_ = nullptr;
  std::atomic<int> pending_{0};  // workers still running the current job
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::atomic<int> done_sleepers_{0};
  Team team_;
};

}  // namespace cellstate
