// The scalar kernel table: the scalar GEMM and the post-GEMM templates instantiated over
// VecScalar.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels.h"
#include "ukernel/gemm/gemm.h"

namespace cellstate {
namespace {
#include "ukernel/vec-scalar.h"
//
#include "ukernel/postgemm/postgemm-impl.h"

constexpr Kernels<float> kTable =
    CELLSTATE_KERNEL_TABLE("scalar", VecScalar, scalar_packed_size, scalar_pack, scalar_gemm);
}  // namespace

const Kernels<float>* ScalarKernels() { return &kTable; }

}  // namespace cellstate
