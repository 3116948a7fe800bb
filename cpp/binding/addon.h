// Per-environment state of the addon (the main thread and each worker_thread get their own):
// Napi::Addon instance data, so there are no mutable globals. It is deleted with its
// environment, which is the cleanup a terminated worker needs.
#pragma once

#include <napi.h>

#include <cstdint>

#include "cellstate/cellstate.h"

namespace cellstate_node {

// The maximum accepted by setNumThreads.
inline constexpr int kMaxThreads = 1024;

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);

  // The engine every layer of this environment runs on: the ISA's kernels, the thread count set
  // by setNumThreads (default cellstate::DefaultThreads()) and the one thread pool they share.
  // Throws the kernel's refusal (an unusable CELLSTATE_ISA) as a JavaScript error.
  const cellstate::Engine& engine(Napi::Env env, const char* where) const;
  // Changes whenever setNumThreads makes a new engine; layers compare it before each call.
  uint64_t generation() const { return generation_; }

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value SetNumThreads(const Napi::CallbackInfo& info);
  void MakeEngine(int threads);

  cellstate::Engine engine_;
  cellstate::Status engine_status_;
  uint64_t generation_ = 0;
};

}  // namespace cellstate_node
