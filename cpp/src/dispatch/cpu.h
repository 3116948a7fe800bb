// Run-time CPU features, for choosing a micro-kernel table. Cheap to call: each answer is
// computed once (thread-safe function-local static) and never changes.
#pragma once

namespace cellstate {

// AVX2 and FMA present and their ymm state enabled by the OS (CPUID and XGETBV).
bool CpuHasAvx2Fma();
// AVX-512 F, DQ, BW and VL present (with AVX2 and FMA), and the opmask, upper-zmm and
// zmm16-31 state enabled by the OS besides the xmm and ymm state (XCR0 bits 1, 2, 5, 6, 7).
bool CpuHasAvx512();
// Advanced SIMD: always true on aarch64, false elsewhere.
bool CpuHasNeon();

// The x86 core design, from the CPUID vendor and display family / model, for choosing register
// tiles and blocking where cores with the same ISA differ (gemm-*.cc). kOther: not x86, or a
// vendor or family not listed.
enum class CpuCore {
  kOther,
  kAmdZen4,  // AMD family 25 (0x19) with AVX-512: 512-bit operations on 256-bit units
  kAmdZen5,  // AMD family 26 (0x1A): full-width 512-bit FMA units (EPYC, Ryzen 9000)
  kIntel,    // GenuineIntel, any family
};
CpuCore CpuCoreKind();
// "zen4", "zen5", "intel" or "other", for reports.
const char* CpuCoreName(CpuCore core);
// Display family and model (CPUID leaf 1, extended fields added as the SDM and the AMD APM say);
// 0 off x86.
unsigned CpuFamily();
unsigned CpuModel();
// The display family and model of a CPUID leaf 1 EAX signature: family = base + extended when
// the base is 0xF; model = base + (extended << 4) when the base family is 0x6 or 0xF.
void CpuDecodeSignature(unsigned eax, unsigned* family, unsigned* model);

}  // namespace cellstate
