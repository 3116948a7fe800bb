// Run-time CPU features, for choosing a micro-kernel table. Cheap to call: each answer is
// computed once (thread-safe function-local static) and never changes.
#pragma once

namespace cellstate {

// AVX2 and FMA present and their ymm state enabled by the OS (CPUID and XGETBV).
bool CpuHasAvx2Fma();
// Advanced SIMD: always true on aarch64, false elsewhere.
bool CpuHasNeon();

}  // namespace cellstate
