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
#include "ukernel/postgemm/common.h"
#include "ukernel/postgemm/gru-impl.h"
#include "ukernel/postgemm/lstm-impl.h"
#include "ukernel/postgemm/rnn-impl.h"

constexpr Kernels<float> MakeTable() {
  Kernels<float> t;
  t.name = "scalar";
  t.packed_size = scalar_packed_size;
  t.pack = scalar_pack;
  t.gemm = scalar_gemm;
  t.gemm_pair = scalar_gemm_pair;
  FillLstm<VecScalar>(&t.lstm);
  FillGru<VecScalar>(&t.gru);
  FillRnn<VecScalar>(&t.rnn);
  FillCommon<VecScalar>(&t);
  return t;
}
constexpr Kernels<float> kTable = MakeTable();
}  // namespace

const Kernels<float>* ScalarKernels() { return &kTable; }

}  // namespace cellstate
