// int8 GEMM for AVX-VNNI (the VEX vpdpbusd on ymm: Alder Lake and later, Zen 5):
// qs8_qgemm_2x32__avxvnni, the tiles of qgemm-x86-impl.h with the unsigned-offset trick.
// Compiled with -mavx2 -mfma -mavxvnni on this file alone; used only where CpuHasAvxVnni().
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "ukernel/gemm/gemm.h"  // CELLSTATE_UNROLL
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {
namespace {

constexpr bool kVnniFile = true;

inline __m256i QDot(__m256i acc, __m256i u8, __m256i s8) {
  return _mm256_dpbusd_avx_epi32(acc, u8, s8);
}

#include "ukernel/qgemm/qgemm-x86-impl.h"

}  // namespace

void avxvnni_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
                   const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
                   bool accumulate, Part part) {
  QgemmYmm(M, N, K, Aq, lda, a_scale, Wp, w_scale, bias, C, ldc, accumulate, part);
}

}  // namespace cellstate
