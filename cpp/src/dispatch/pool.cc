#include "dispatch/pool.h"

#include "dispatch/platform.h"

namespace cellstate {

namespace {
// Spins this often before sleeping while waiting at a barrier or for the workers to finish.
constexpr int kSpins = 2000;

// Waits until done(): spins, then sleeps on cv (the waker notifies when sleepers > 0).
template <class Done>
void HybridWait(Done done, std::mutex& mu, std::condition_variable& cv,
                std::atomic<int>& sleepers) {
  for (int i = 0; i < kSpins; ++i) {
    if (done()) return;
    platform::CpuRelax();
  }
  std::unique_lock<std::mutex> lock(mu);
  sleepers.fetch_add(1);  // seq_cst: pairs with the waker's store-then-load
  cv.wait(lock, done);
  sleepers.fetch_sub(1);
}

void Wake(std::mutex& mu, std::condition_variable& cv, std::atomic<int>& sleepers) {
  // The caller's store of the condition must be ordered before this load (Dekker with the
  // waiter's increment-then-check). seq_cst atomics guarantee it in C++; the explicit fence
  // also keeps qemu-aarch64's emulation of STLR/LDAR from reordering them.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleepers.load() == 0) return;
  std::lock_guard<std::mutex> lock(mu);
  cv.notify_all();
}
}  // namespace

void Progress::Set(int v) {
  value.store(v);  // seq_cst: pairs with a sleeper's increment-then-check (see Wake)
  Wake(mu, cv, sleepers);
}

void Progress::WaitAtLeast(int v) {
  HybridWait([&] { return value.load(std::memory_order_acquire) >= v; }, mu, cv, sleepers);
}

void Team::Wait() {
  if (nth <= 1) return;
  const uint32_t g = gen.load(std::memory_order_acquire);
  if (count.fetch_add(1, std::memory_order_acq_rel) == nth - 1) {
    count.store(0, std::memory_order_relaxed);
    gen.store(g + 1);  // seq_cst
    Wake(mu, cv, sleepers);
  } else {
    HybridWait([&] { return gen.load() != g; }, mu, cv, sleepers);
  }
}

ThreadPool::ThreadPool(int threads) : size_(threads < 1 ? 1 : threads) {}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::StartWorkers() {
  started_ = true;
  try {
    workers_.reserve(size_ - 1);
    for (int i = 1; i < size_; ++i) {
      workers_.emplace_back([this, i] { Worker(i); });
      live_ = i + 1;
    }
  } catch (...) {  // fewer threads than asked for: use those that started
  }
}

void ThreadPool::Worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    void (*fn)(void*, Part);
    void* ctx;
    int nth;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || job_ != seen; });  // passive between calls
      if (stop_) return;
      seen = job_;
      fn = fn_;
      ctx = ctx_;
      nth = job_nth_;
    }
    if (index < nth) {
      fn(ctx, Part{index, nth, &team_});
      if (pending_.fetch_sub(1) == 1) Wake(done_mu_, done_cv_, done_sleepers_);
    }
  }
}

void ThreadPool::Run(int nth, void (*fn)(void*, Part), void* ctx) {
  std::unique_lock<std::mutex> run(run_mu_, std::try_to_lock);
  if (nth > 1 && run.owns_lock() && !started_) StartWorkers();
  if (nth > live_) nth = live_;
  if (nth <= 1 || !run.owns_lock()) {
    fn(ctx, Part{0, 1, nullptr});
    return;
  }
  team_.nth = nth;
  team_.count.store(0, std::memory_order_relaxed);
  pending_.store(nth - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = fn;
    ctx_ = ctx;
    job_nth_ = nth;
    ++job_;
  }
  cv_.notify_all();
  fn(ctx, Part{0, nth, &team_});
  HybridWait([&] { return pending_.load() == 0; }, done_mu_, done_cv_, done_sleepers_);
}

}  // namespace cellstate
