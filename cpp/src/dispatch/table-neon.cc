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
#include "ukernel/postgemm/common.h"
#include "ukernel/postgemm/gru-impl.h"
#include "ukernel/postgemm/lstm-impl.h"
#include "ukernel/postgemm/rnn-impl.h"

constexpr Kernels<float> MakeTable() {
  Kernels<float> t;
  t.name = "neon";
  t.packed_size = neon_packed_size;
  t.pack = neon_pack;
  t.gemm = neon_gemm;
  t.gemm_pair = neon_gemm_pair;
  FillLstm<VecNeon>(&t.lstm);
  FillGru<VecNeon>(&t.gru);
  FillRnn<VecNeon>(&t.rnn);
  FillCommon<VecNeon>(&t);
  return t;
}
constexpr Kernels<float> kTable = MakeTable();
}  // namespace

const Kernels<float>* NeonKernels() { return &kTable; }

}  // namespace cellstate
