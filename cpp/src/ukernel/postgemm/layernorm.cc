// The layer-normalization table of an ISA by name, and the stubs of the ISAs this build cannot
// target (their layernorm-<isa>.cc is not compiled there).
#include "ukernel/postgemm/layernorm.h"

#include <cstring>

#include "dispatch/cpu.h"

namespace cellstate {

#if !(defined(__x86_64__) || defined(_M_X64))
const LayerNormKernels<float>* Avx2LayerNorm() { return nullptr; }
const LayerNormKernels<float>* Avx512LayerNorm() { return nullptr; }
#endif
#if !(defined(__aarch64__) || defined(_M_ARM64))
const LayerNormKernels<float>* NeonLayerNorm() { return nullptr; }
#endif

const LayerNormKernels<float>* LayerNormFor(const char* isa) {
  if (std::strcmp(isa, "scalar") == 0) return ScalarLayerNorm();
  if (std::strcmp(isa, "avx512") == 0) return CpuHasAvx512() ? Avx512LayerNorm() : nullptr;
  if (std::strcmp(isa, "avx2") == 0) return CpuHasAvx2Fma() ? Avx2LayerNorm() : nullptr;
  if (std::strcmp(isa, "neon") == 0) return CpuHasNeon() ? NeonLayerNorm() : nullptr;
  return nullptr;
}

}  // namespace cellstate
