// CPU feature detection. Compiled without ISA flags: it must run on any x86-64.
#include "dispatch/cpu.h"

#include "dispatch/platform.h"

namespace cellstate {
namespace {

// Off x86, Cpuid finds no leaf: both answers are false.
using platform::Cpuid;
using platform::Xcr0;

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

bool DetectAvx512Vnni() {
  if (!DetectAvx512()) return false;
  unsigned r[4];
  if (!Cpuid(7, 0, r)) return false;
  return (r[2] >> 11) & 1;  // ECX bit 11: AVX512_VNNI
}

bool DetectAvxVnni() {
  if (!DetectAvx2Fma()) return false;
  unsigned r[4];
  if (!Cpuid(7, 0, r) || r[0] < 1) return false;  // EAX: the largest subleaf of leaf 7
  if (!Cpuid(7, 1, r)) return false;
  return (r[0] >> 4) & 1;  // EAX bit 4: AVX-VNNI
}

}  // namespace

bool CpuHasAvx512Vnni() {
  static const bool has = DetectAvx512Vnni();
  return has;
}

bool CpuHasAvxVnni() {
  static const bool has = DetectAvxVnni();
  return has;
}

bool CpuHasNeonDot() {
  static const bool has = CpuHasNeon() && platform::CpuHasArmDotProd();
  return has;
}

bool CpuHasAvx2Fma() {
  static const bool has = DetectAvx2Fma();
  return has;
}

bool CpuHasAvx512() {
  static const bool has = DetectAvx512();
  return has;
}

bool CpuHasNeon() {
#if defined(__aarch64__) || defined(_M_ARM64)
  return true;
#else
  return false;
#endif
}

}  // namespace cellstate
