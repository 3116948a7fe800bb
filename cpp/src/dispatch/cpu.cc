// CPU feature detection. Compiled without ISA flags: it must run on any x86-64.
#include "dispatch/cpu.h"

#include "dispatch/platform.h"

namespace cellstate {

void CpuDecodeSignature(unsigned eax, unsigned* family, unsigned* model) {
  const unsigned base_family = (eax >> 8) & 0xF, base_model = (eax >> 4) & 0xF;
  *family = base_family == 0xF ? base_family + ((eax >> 20) & 0xFF) : base_family;
  *model = base_family == 0x6 || base_family == 0xF ? base_model + (((eax >> 16) & 0xF) << 4)
                                                    : base_model;
}

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

void DetectFamilyModel(unsigned* family, unsigned* model) {
  *family = 0;
  *model = 0;
  unsigned r[4];
  if (Cpuid(1, 0, r)) CpuDecodeSignature(r[0], family, model);
}

struct Identity {
  unsigned family = 0, model = 0;
  CpuCore core = CpuCore::kOther;
};

Identity Detect() {
  Identity id;
  DetectFamilyModel(&id.family, &id.model);
  unsigned r[4];
  if (!Cpuid(0, 0, r)) return id;
  // Vendor string in EBX, EDX, ECX.
  const bool amd =
      r[1] == 0x68747541u && r[3] == 0x69746e65u && r[2] == 0x444d4163u;  // AuthenticAMD
  const bool intel =
      r[1] == 0x756e6547u && r[3] == 0x49656e69u && r[2] == 0x6c65746eu;  // GenuineIntel
  if (intel) {
    id.core = CpuCore::kIntel;
  } else if (amd && id.family == 0x1A) {
    id.core = CpuCore::kAmdZen5;
  } else if (amd && id.family == 0x19 && DetectAvx512()) {
    id.core = CpuCore::kAmdZen4;  // family 25 without AVX-512 is Zen 3
  }
  return id;
}

const Identity& Ident() {
  static const Identity id = Detect();
  return id;
}

}  // namespace

CpuCore CpuCoreKind() { return Ident().core; }

const char* CpuCoreName(CpuCore core) {
  switch (core) {
    case CpuCore::kAmdZen4:
      return "zen4";
    case CpuCore::kAmdZen5:
      return "zen5";
    case CpuCore::kIntel:
      return "intel";
    default:
      return "other";
  }
}

unsigned CpuFamily() { return Ident().family; }
unsigned CpuModel() { return Ident().model; }

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
