// The avx2 layer normalization: layernorm-impl.h instantiated over VecAvx2.
#include <immintrin.h>

#include "ukernel/postgemm/layernorm.h"

namespace cellstate {
namespace {
#include "ukernel/vec-avx2.h"
//
#include "ukernel/postgemm/layernorm-impl.h"

constexpr LayerNormKernels<float> kTable = CELLSTATE_LAYERNORM_TABLE("avx2", VecAvx2);
}  // namespace

const LayerNormKernels<float>* Avx2LayerNorm() { return &kTable; }

}  // namespace cellstate
