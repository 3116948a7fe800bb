// Native memory that the JavaScript engine sees, and that is freed as soon as it is garbage.
//
// ExternalMemory: each object holding kernel memory reports its size with
// napi_adjust_external_memory, so V8 counts it towards its heap limits and collects dropped
// layers, streams and snapshots without anybody calling gc(); the amount is given back when the
// memory is freed (dispose, or when the object is found dead).
//
// Owners: Node-API runs finalizers later, from the event loop (Node >= 18 defers them to
// setImmediate), so a synchronous loop that creates and drops layers would hold every one of
// them until it yields, however often V8 collects. Each object holding native memory therefore
// also registers a weak reference to its JavaScript object; V8 clears weak references during
// the collection itself, and every new registration sweeps the dead ones (amortised: when
// enough memory or objects were added since the last sweep), freeing their native memory at
// once. The finalizer that comes later finds it freed.
#pragma once

#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

namespace cellstate_node {

class ExternalMemory {
 public:
  ExternalMemory() = default;
  ExternalMemory(const ExternalMemory&) = delete;
  ExternalMemory& operator=(const ExternalMemory&) = delete;
  ~ExternalMemory() { Set(0); }

  // Binds to the environment whose engine is told (once, before the first Set).
  void Bind(napi_env env) { env_ = env; }
  // The object now holds `bytes`: reports the difference from the last report. Never throws
  // (the C call, not node-addon-api's, so it is safe in finalizers and during teardown).
  void Set(size_t bytes) {
    if (env_ == nullptr) return;
    const int64_t now = static_cast<int64_t>(bytes);
    if (now == reported_) return;
    int64_t total = 0;
    if (napi_adjust_external_memory(env_, now - reported_, &total) == napi_ok) reported_ = now;
  }
  size_t reported() const { return static_cast<size_t>(reported_); }

 private:
  napi_env env_ = nullptr;
  int64_t reported_ = 0;
};

// A wrapper object holding native memory.
class Owner {
 public:
  virtual ~Owner() = default;
  // Frees the native memory: the JavaScript object is unreachable (or disposed).
  virtual void ReleaseNative() = 0;
};

// The owners of one environment (held by the Addon and by every owner, so either may go first
// at teardown).
class OwnerRegistry {
 public:
  OwnerRegistry() = default;
  OwnerRegistry(const OwnerRegistry&) = delete;
  OwnerRegistry& operator=(const OwnerRegistry&) = delete;
  ~OwnerRegistry();

  // Registers `owner`, whose JavaScript object is `object` and which holds `bytes`; first
  // sweeps the dead owners when enough was added since the last sweep.
  void Add(napi_env env, napi_value object, Owner* owner, size_t bytes);
  // Forgets `owner` (its destructor).
  void Remove(Owner* owner);
  // Frees the native memory of every owner whose object was collected.
  void Sweep();

 private:
  napi_env env_ = nullptr;
  std::unordered_map<Owner*, napi_ref> refs_;
  size_t added_ = 0, bytes_ = 0, live_ = 0;  // since the last sweep, live after it
};

// What an owner keeps: the registry (shared) and its registration.
class Registration {
 public:
  Registration() = default;
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() {
    if (registry_) registry_->Remove(owner_);
  }
  void Register(std::shared_ptr<OwnerRegistry> registry, napi_env env, napi_value object,
                Owner* owner, size_t bytes) {
    registry_ = std::move(registry);
    owner_ = owner;
    registry_->Add(env, object, owner, bytes);
  }

 private:
  std::shared_ptr<OwnerRegistry> registry_;
  Owner* owner_ = nullptr;
};

}  // namespace cellstate_node
