// An allocator for the large buffers of a layer (workspaces, packed weights). Blocks of 2 MiB
// or more come from platform::LargeAlloc: on Linux their own 2 MiB-aligned mapping advised
// MADV_HUGEPAGE before first touch and unmapped when freed, so that the time loops' passes over
// hundreds of megabytes do not spend their time in TLB misses where transparent huge pages are
// in "madvise" mode (the usual default); the advice stays on those mappings. Smaller blocks
// are 64-byte aligned (a cache line: the sub-buffers of a workspace start on one).
#pragma once

#include <cstddef>
#include <new>

#include "dispatch/platform.h"

namespace cellstate {

constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kCacheLine = 64;

template <typename T>
struct HugeAlloc {
  using value_type = T;
  HugeAlloc() = default;
  template <typename U>
  HugeAlloc(const HugeAlloc<U>&) noexcept {}

  T* allocate(size_t n) {
    if (n > ~size_t(0) / sizeof(T)) throw std::bad_alloc();
    const size_t bytes = n * sizeof(T);
    void* p = bytes >= kHugePage ? platform::LargeAlloc(bytes)
                                 : platform::AlignedAlloc(bytes, kCacheLine);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept {
    const size_t bytes = n * sizeof(T);
    if (bytes >= kHugePage)
      platform::LargeFree(p, bytes);
    else
      platform::AlignedFree(p);
  }
};

template <typename T, typename U>
bool operator==(const HugeAlloc<T>&, const HugeAlloc<U>&) {
  return true;
}
template <typename T, typename U>
bool operator!=(const HugeAlloc<T>&, const HugeAlloc<U>&) {
  return false;
}

}  // namespace cellstate
