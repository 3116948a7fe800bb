// An allocator for the large buffers of a layer (workspaces, packed weights): on Linux, blocks
// of 2 MiB or more are 2 MiB-aligned and marked MADV_HUGEPAGE before they are first touched,
// so that the time loops' passes over hundreds of megabytes do not spend their time in TLB
// misses where transparent huge pages are in "madvise" mode (the usual default). Only this
// memory is advised; nothing process-wide changes.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace cellstate {

constexpr size_t kHugePage = size_t(2) << 20;

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
    if (bytes >= kHugePage) {
      void* p = nullptr;
      if (posix_memalign(&p, kHugePage, bytes) != 0) throw std::bad_alloc();
      madvise(p, bytes & ~(kHugePage - 1), MADV_HUGEPAGE);  // whole huge pages of the block
      return static_cast<T*>(p);
    }
#endif
    void* p = std::malloc(bytes ? bytes : 1);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept { std::free(p); }
};

template <typename T, typename U>
bool operator==(const HugeAlloc<T>&, const HugeAlloc<U>&) {
  return true;
}
template <typename T, typename U>
bool operator!=(const HugeAlloc<T>&, const HugeAlloc<U>&) {
  return false;
}

// An uninitialised array from HugeAlloc, for scratch that is written before it is read.
template <typename T>
class HugeArray {
 public:
  explicit HugeArray(size_t n) : n_(n), p_(HugeAlloc<T>().allocate(n)) {}
  ~HugeArray() { HugeAlloc<T>().deallocate(p_, n_); }
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;
  T* data() { return p_; }

 private:
  size_t n_;
  T* p_;
};

}  // namespace cellstate
