// The avx512 kernel table: the avx512 GEMM and the post-GEMM templates instantiated over
// VecAvx512. Compiled only for x86-64 targets, with the AVX-512 flags on this file alone; used
// only where CpuHasAvx512().
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels.h"
#include "ukernel/gemm/gemm.h"

namespace cellstate {
namespace {
#include "ukernel/vec-avx512.h"
//
#include "ukernel/postgemm/postgemm-impl.h"

constexpr Kernels<float> kTable =
    CELLSTATE_KERNEL_TABLE("avx512", VecAvx512, avx512_packed_size, avx512_pack, avx512_gemm);
}  // namespace

const Kernels<float>* Avx512Kernels() { return &kTable; }

}  // namespace cellstate
