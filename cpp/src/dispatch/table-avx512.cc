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
#include "ukernel/postgemm/common.h"
#include "ukernel/postgemm/gru-impl.h"
#include "ukernel/postgemm/lstm-impl.h"
#include "ukernel/postgemm/rnn-impl.h"

constexpr Kernels<float> MakeTable() {
  Kernels<float> t;
  t.name = "avx512";
  t.packed_size = avx512_packed_size;
  t.pack = avx512_pack;
  t.gemm = avx512_gemm;
  t.gemm_pair = avx512_gemm_pair;
  FillLstm<VecAvx512>(&t.lstm);
  FillGru<VecAvx512>(&t.gru);
  FillRnn<VecAvx512>(&t.rnn);
  FillCommon<VecAvx512>(&t);
  return t;
}
constexpr Kernels<float> kTable = MakeTable();
}  // namespace

const Kernels<float>* Avx512Kernels() { return &kTable; }

}  // namespace cellstate
