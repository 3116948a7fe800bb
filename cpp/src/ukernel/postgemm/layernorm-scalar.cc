// The scalar layer normalization: layernorm-impl.h instantiated over VecScalar (one lane).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "ukernel/postgemm/layernorm.h"

namespace cellstate {
namespace {
#include "ukernel/vec-scalar.h"
//
#include "ukernel/postgemm/layernorm-impl.h"

constexpr LayerNormKernels<float> kTable = CELLSTATE_LAYERNORM_TABLE("scalar", VecScalar);
}  // namespace

const LayerNormKernels<float>* ScalarLayerNorm() { return &kTable; }

}  // namespace cellstate
