// CPU feature detection. Compiled without ISA flags: it must run on any x86-64.
#include "dispatch/cpu.h"

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#define CELLSTATE_CPU_X86 1
#elif defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define CELLSTATE_CPU_X86 1
#endif

namespace cellstate {
namespace {

#if defined(CELLSTATE_CPU_X86)
// CPUID leaf / subleaf into r = {eax, ebx, ecx, edx}; false when the leaf does not exist.
bool Cpuid(unsigned leaf, unsigned subleaf, unsigned r[4]) {
#if defined(_MSC_VER)
  int max[4], v[4];
  __cpuid(max, static_cast<int>(leaf & 0x80000000u));
  if (static_cast<unsigned>(max[0]) < leaf) return false;
  __cpuidex(v, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) r[i] = static_cast<unsigned>(v[i]);
  return true;
#else
  return __get_cpuid_count(leaf, subleaf, &r[0], &r[1], &r[2], &r[3]) != 0;
#endif
}

// XCR0, the state components the OS saves. Only valid when CPUID.1:ECX.OSXSAVE is set.
// Inline asm rather than _xgetbv, which GCC only offers with -mxsave.
unsigned long long Xcr0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
#endif
}

bool DetectAvx2Fma() {
  unsigned r[4];
  if (!Cpuid(1, 0, r)) return false;
  const bool fma = (r[2] >> 12) & 1;
  const bool osxsave = (r[2] >> 27) & 1;
  const bool avx = (r[2] >> 28) & 1;
  if (!fma || !osxsave || !avx) return false;
  if ((Xcr0() & 0x6) != 0x6) return false;  // SSE (bit 1) and AVX (bit 2) state enabled
  if (!Cpuid(7, 0, r)) return false;
  return (r[1] >> 5) & 1;  // EBX bit 5: AVX2
}

bool DetectAvx512() {
  if (!DetectAvx2Fma()) return false;  // also checks OSXSAVE before XGETBV is used
  // XCR0: SSE (1), AVX (2), opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7).
  if ((Xcr0() & 0xE6) != 0xE6) return false;
  unsigned r[4];
  if (!Cpuid(7, 0, r)) return false;
  const unsigned ebx = r[1];
  const bool f = (ebx >> 16) & 1, dq = (ebx >> 17) & 1, bw = (ebx >> 30) & 1, vl = (ebx >> 31) & 1;
  return f && dq && bw && vl;
}
#endif

}  // namespace

bool CpuHasAvx2Fma() {
#if defined(CELLSTATE_CPU_X86)
  static const bool has = DetectAvx2Fma();
  return has;
#else
  return false;
#endif
}

bool CpuHasAvx512() {
#if defined(CELLSTATE_CPU_X86)
  static const bool has = DetectAvx512();
  return has;
#else
  return false;
#endif
}

bool CpuHasNeon() {
#if defined(__aarch64__) || defined(_M_ARM64)
  return true;
#else
  return false;
#endif
}

}  // namespace cellstate
