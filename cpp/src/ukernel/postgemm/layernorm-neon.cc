// The neon layer normalization: layernorm-impl.h instantiated over VecNeon.
#include <arm_neon.h>

#include "ukernel/postgemm/layernorm.h"

namespace cellstate {
namespace {
#include "ukernel/vec-neon.h"
//
#include "ukernel/postgemm/layernorm-impl.h"

constexpr LayerNormKernels<float> kTable = CELLSTATE_LAYERNORM_TABLE("neon", VecNeon);
}  // namespace

const LayerNormKernels<float>* NeonLayerNorm() { return &kTable; }

}  // namespace cellstate
