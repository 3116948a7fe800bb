// Per-environment state of the addon (the main thread and each worker_thread get their own):
// Napi::Addon instance data, so there are no mutable globals. It is deleted with its
// environment, which is the cleanup a terminated worker needs.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>

#include "cellstate/cellstate.h"
#include "memory.h"

namespace cellstate_node {

// The maximum accepted by setNumThreads: 8 threads per hardware thread, and never more than
// kMaxThreadsCap. More threads than hardware threads never speed a call up (each call splits
// its work over the threads and waits at barriers, so oversubscription only adds waiting:
// 1024 threads on 2 cores made a forward 42x slower); 8x leaves room for hardware counts that
// understate what a container may use, and the fixed cap bounds the thread pool's memory.
inline constexpr int kMaxThreadsCap = 256;
inline constexpr int kThreadsPerHardwareThread = 8;
int MaxThreads();

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);

  // The engine every layer of this environment runs on: the ISA's kernels, the thread count set
  // by setNumThreads (default cellstate::DefaultThreads()) and the one thread pool they share.
  // Throws the kernel's refusal (an unusable CELLSTATE_ISA) as a JavaScript error.
  const cellstate::Engine& engine(Napi::Env env, const char* where) const;
  // Changes whenever setNumThreads makes a new engine; layers compare it before each call.
  uint64_t generation() const { return generation_; }
  // The objects of this environment that hold native memory (memory.h).
  const std::shared_ptr<OwnerRegistry>& owners() const { return owners_; }

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value SetNumThreads(const Napi::CallbackInfo& info);
  void MakeEngine(int threads);

  cellstate::Engine engine_;
  cellstate::Status engine_status_;
  uint64_t generation_ = 0;
  int max_threads_ = 1;
  std::shared_ptr<OwnerRegistry> owners_ = std::make_shared<OwnerRegistry>();
};

}  // namespace cellstate_node
