// The neon kernel table: the neon GEMM and the post-GEMM templates instantiated over
// VecNeon. Compiled only for targets that have neon, with its flags on this file alone.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels.h"
#include "ukernel/gemm/gemm.h"

namespace cellstate {
namespace {
#include "ukernel/vec-neon.h"
//
#include "ukernel/postgemm/postgemm-impl.h"

constexpr Kernels<float> kTable =
    CELLSTATE_KERNEL_TABLE("neon", VecNeon, neon_packed_size, neon_pack, neon_gemm);
}  // namespace

const Kernels<float>* NeonKernels() { return &kTable; }

}  // namespace cellstate
