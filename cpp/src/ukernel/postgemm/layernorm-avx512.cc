// The avx512 layer normalization: layernorm-impl.h instantiated over VecAvx512.
#include <immintrin.h>

#include "ukernel/postgemm/layernorm.h"

namespace cellstate {
namespace {
#include "ukernel/vec-avx512.h"
//
#include "ukernel/postgemm/layernorm-impl.h"

constexpr LayerNormKernels<float> kTable = CELLSTATE_LAYERNORM_TABLE("avx512", VecAvx512);
}  // namespace

const LayerNormKernels<float>* Avx512LayerNorm() { return &kTable; }

}  // namespace cellstate
