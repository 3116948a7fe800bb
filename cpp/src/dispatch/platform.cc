// The platform layer (platform.h). Each function has one implementation per family, chosen by
// the preprocessor in that function only: x86 or aarch64 for the CPU, Linux, Windows or other
// for memory. Compiled without ISA flags: it must run on any x86-64.
#include "dispatch/platform.h"

#include <cstdint>
#include <cstdlib>

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <malloc.h>  // _aligned_malloc
#include <windows.h>
#elif defined(__linux__)
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#define CELLSTATE_X86 1
#elif defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define CELLSTATE_X86 1
#endif

namespace cellstate {
namespace platform {

// ---- CPU ----------------------------------------------------------------------------------

bool Cpuid(unsigned leaf, unsigned subleaf, unsigned r[4]) {
#if defined(CELLSTATE_X86) && defined(_MSC_VER)
  int max[4], v[4];
  __cpuid(max, static_cast<int>(leaf & 0x80000000u));
  if (static_cast<unsigned>(max[0]) < leaf) return false;
  __cpuidex(v, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) r[i] = static_cast<unsigned>(v[i]);
  return true;
#elif defined(CELLSTATE_X86)
  return __get_cpuid_count(leaf, subleaf, &r[0], &r[1], &r[2], &r[3]) != 0;
#else
  (void)leaf, (void)subleaf, (void)r;
  return false;
#endif
}

unsigned long long Xcr0() {
#if defined(CELLSTATE_X86) && defined(_MSC_VER)
  return _xgetbv(0);
#elif defined(CELLSTATE_X86)
  // Inline asm rather than _xgetbv, which GCC only offers with -mxsave.
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
#else
  return 0;
#endif
}

bool CpuHasArmDotProd() {
#if !(defined(__aarch64__) || defined(_M_ARM64))
  return false;
#elif defined(__linux__)
  return (getauxval(AT_HWCAP) >> 20) & 1;  // HWCAP_ASIMDDP
#elif defined(__APPLE__)
  int v = 0;
  size_t n = sizeof v;
  return sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &n, nullptr, 0) == 0 && v != 0;
#elif defined(_WIN32)
  return IsProcessorFeaturePresent(43) != 0;  // PF_ARM_V82_DP_INSTRUCTIONS_AVAILABLE
#else
  return false;
#endif
}

unsigned long FlushDenormals() {
#if defined(CELLSTATE_X86)
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
  return saved;
#elif defined(__aarch64__)
  unsigned long fpcr;
  __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
  __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr | (1ul << 24)));  // FZ
  return fpcr;
#else
  return 0;
#endif
}

void RestoreFloatMode(unsigned long saved) {
#if defined(CELLSTATE_X86)
  _mm_setcsr(static_cast<unsigned>(saved));
#elif defined(__aarch64__)
  __asm__ __volatile__("msr fpcr, %0" : : "r"(saved));
#else
  (void)saved;
#endif
}

void CpuRelax() {
#if defined(CELLSTATE_X86)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// ---- memory -------------------------------------------------------------------------------

void* AlignedAlloc(size_t bytes, size_t align) {
  if (bytes == 0) bytes = 1;
#if defined(_WIN32)
  return _aligned_malloc(bytes, align);  // the CRTs have no aligned_alloc
#else
  void* p = nullptr;
  return posix_memalign(&p, align, bytes) == 0 ? p : nullptr;
#endif
}

void AlignedFree(void* p) noexcept {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

#if defined(__linux__) && defined(MADV_HUGEPAGE)
namespace {
constexpr size_t kHugePage = size_t(2) << 20;
size_t MappedLength(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}
}  // namespace
#endif

void* LargeAlloc(size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Over-map by one huge page, then give back the unaligned head and tail.
  const size_t len = MappedLength(bytes);
  void* raw =
      mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t r = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = (r + kHugePage - 1) & ~uintptr_t(kHugePage - 1);
  if (start > r) munmap(raw, start - r);
  const uintptr_t end = r + len + kHugePage;
  if (end > start + len) munmap(reinterpret_cast<void*>(start + len), end - (start + len));
  madvise(reinterpret_cast<void*>(start), len, MADV_HUGEPAGE);  // advice only
  return reinterpret_cast<void*>(start);
#elif defined(_WIN32)
  return VirtualAlloc(nullptr, bytes ? bytes : 1, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
#else
  return AlignedAlloc(bytes, 4096);
#endif
}

void LargeFree(void* p, size_t bytes) noexcept {
  if (!p) return;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  munmap(p, MappedLength(bytes));
#elif defined(_WIN32)
  (void)bytes;
  VirtualFree(p, 0, MEM_RELEASE);
#else
  (void)bytes;
  AlignedFree(p);
#endif
}

}  // namespace platform
}  // namespace cellstate
