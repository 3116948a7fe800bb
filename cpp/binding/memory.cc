#include "memory.h"

#include <vector>

namespace cellstate_node {

namespace {

// Sweep when this much native memory was registered since the last sweep, or as many owners
// as were alive after it (so sweeping costs O(1) per registration, amortised).
constexpr size_t kSweepBytes = size_t(64) << 20;
constexpr size_t kSweepMinCount = 64;

}  // namespace

OwnerRegistry::~OwnerRegistry() {
  for (auto& [owner, ref] : refs_) napi_delete_reference(env_, ref);
}

void OwnerRegistry::Add(napi_env env, napi_value object, Owner* owner, size_t bytes) {
  env_ = env;
  bytes_ += bytes;
  if (bytes_ >= kSweepBytes || added_ >= (live_ > kSweepMinCount ? live_ : kSweepMinCount)) Sweep();
  napi_ref ref = nullptr;
  if (napi_create_reference(env, object, 0, &ref) != napi_ok) return;  // finalizer only
  refs_[owner] = ref;
  ++added_;
}

void OwnerRegistry::Remove(Owner* owner) {
  auto it = refs_.find(owner);
  if (it == refs_.end()) return;
  napi_delete_reference(env_, it->second);
  refs_.erase(it);
}

void OwnerRegistry::Sweep() {
  std::vector<Owner*> dead;
  for (auto& [owner, ref] : refs_) {
    napi_value value = nullptr;
    if (napi_get_reference_value(env_, ref, &value) == napi_ok && value == nullptr)
      dead.push_back(owner);
  }
  for (Owner* owner : dead) {
    Remove(owner);
    owner->ReleaseNative();
  }
  added_ = bytes_ = 0;
  live_ = refs_.size();
}

}  // namespace cellstate_node
