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

}  // namespace cellstate
