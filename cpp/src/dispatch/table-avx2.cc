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
#include "ukernel/postgemm/common.h"
#include "ukernel/postgemm/gru-impl.h"
#include "ukernel/postgemm/lstm-impl.h"
#include "ukernel/postgemm/rnn-impl.h"

constexpr Kernels<float> MakeTable() {
  Kernels<float> t;
  t.name = "avx2";
  t.packed_size = avx2_packed_size;
  t.pack = avx2_pack;
  t.gemm = avx2_gemm;
  t.gemm_pair = avx2_gemm_pair;
  FillLstm<VecAvx2>(&t.lstm);
  FillGru<VecAvx2>(&t.gru);
  FillRnn<VecAvx2>(&t.rnn);
  FillCommon<VecAvx2>(&t);
  return t;
}
constexpr Kernels<float> kTable = MakeTable();
}  // namespace

const Kernels<float>* Avx2Kernels() { return &kTable; }

}  // namespace cellstate
