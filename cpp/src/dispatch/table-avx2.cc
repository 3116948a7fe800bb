// The avx2 kernel table: the avx2 GEMM and the post-GEMM templates instantiated over
// VecAvx2. Compiled only for targets that have avx2, with its flags on this file alone.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels.h"
#include "ukernel/gemm/gemm.h"

namespace cellstate {
namespace {
#include "ukernel/vec-avx2.h"
//
#include "ukernel/postgemm/postgemm-impl.h"

constexpr Kernels<float> kTable =
    CELLSTATE_KERNEL_TABLE("avx2", VecAvx2, avx2_packed_size, avx2_pack, avx2_gemm);
}  // namespace

const Kernels<float>* Avx2Kernels() { return &kTable; }

}  // namespace cellstate
