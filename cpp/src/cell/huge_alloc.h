// An allocator for the large buffers of a layer (workspaces, packed weights): on Linux, blocks
// of 2 MiB or more get their own 2 MiB-aligned mapping, advised MADV_HUGEPAGE before first touch
// and unmapped when freed, so that the time loops' passes over hundreds of megabytes do not
// spend their time in TLB misses where transparent huge pages are in "madvise" mode (the usual
// default). The advice stays on those mappings: no other memory of the process is affected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace cellstate {

constexpr size_t kHugePage = size_t(2) << 20;

#if defined(__linux__) && defined(MADV_HUGEPAGE)
inline size_t MappedLength(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

inline void* MapHuge(size_t bytes) {
  const size_t len = MappedLength(bytes);
  void* raw =
      mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t r = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = (r + kHugePage - 1) & ~uintptr_t(kHugePage - 1);
  if (start > r) munmap(raw, start - r);  // the unaligned head and tail go back
  const uintptr_t end = r + len + kHugePage;
  if (end > start + len) munmap(reinterpret_cast<void*>(start + len), end - (start + len));
  madvise(reinterpret_cast<void*>(start), len, MADV_HUGEPAGE);  // advice only
  return reinterpret_cast<void*>(start);
}
#endif

template <typename T>
struct HugeAlloc {
  using value_type = T;
  HugeAlloc() = default;
  template <typename U>
  HugeAlloc(const HugeAlloc<U>&) noexcept {}

  T* allocate(size_t n) {
    if (n > ~size_t(0) / sizeof(T)) throw std::bad_alloc();
    const size_t bytes = n * sizeof(T);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= kHugePage) return static_cast<T*>(MapHuge(bytes));
#endif
    void* p = std::malloc(bytes ? bytes : 1);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (n * sizeof(T) >= kHugePage) {
      munmap(p, MappedLength(n * sizeof(T)));
      return;
    }
#endif
    std::free(p);
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
