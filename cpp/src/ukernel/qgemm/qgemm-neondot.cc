// int8 GEMM for Armv8.2 NEON with the dot-product extension: qs8_qgemm_4x16__neondot, sdot
// (s8 x s8, no offset needed) on 4 x 16 tiles (16 accumulators) for M >= 4 and 1-2 x 32 tiles
// for the streaming step. Compiled with -march=armv8.2-a+dotprod on this file alone; used only
// where CpuHasNeonDot().
#include <arm_neon.h>

#include <cmath>
#include <cstring>
#include <type_traits>

#include "ukernel/gemm/gemm.h"  // CELLSTATE_UNROLL
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {
namespace {

constexpr size_t kMainRows = 4;

inline int8x16_t Dup4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

template <size_t MR, size_t NP>
void Dot(size_t groups, const int8_t* a, size_t lda, const int8_t* b, size_t ps,
         int32x4_t (&acc)[MR][4 * NP]) {
  constexpr size_t J = 4 * NP;
  CELLSTATE_UNROLL(32)
  for (size_t i = 0; i < MR; ++i) CELLSTATE_UNROLL(32)
  for (size_t j = 0; j < J; ++j) acc[i][j] = vdupq_n_s32(0);
  for (size_t g = 0; g < groups; ++g) {
    int8x16_t w[J];
    CELLSTATE_UNROLL(32)
    for (size_t j = 0; j < J; ++j) w[j] = vld1q_s8(b + (j / 4) * ps + g * 64 + (j % 4) * 16);
    CELLSTATE_UNROLL(32)
    for (size_t i = 0; i < MR; ++i) {
      const int8x16_t x = Dup4(a + i * lda + 4 * g);
      CELLSTATE_UNROLL(32)
      for (size_t j = 0; j < J; ++j) acc[i][j] = vdotq_s32(acc[i][j], w[j], x);
    }
  }
}

#include "ukernel/qgemm/qgemm-neon-impl.h"

}  // namespace

void neondot_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
                   const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
                   bool accumulate, Part part) {
  if (M >= 4)
    QDrive<Neon, 1>(M, N, K, Aq, lda, a_scale, Wp, w_scale, bias, C, ldc, accumulate, part);
  else
    QDrive<Neon, 2>(M, N, K, Aq, lda, a_scale, Wp, w_scale, bias, C, ldc, accumulate, part);
}

}  // namespace cellstate
