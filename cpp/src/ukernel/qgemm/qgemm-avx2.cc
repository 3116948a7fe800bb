// int8 GEMM for AVX2: qs8_qgemm_2x32__avx2, the tiles of qgemm-x86-impl.h with vpmaddubsw +
// vpmaddwd on the sign-moved pairs (exact, no saturation); and the row quantization with AVX2.
// Compiled with -mavx2 -mfma on this file alone; used only where CpuHasAvx2Fma().
#include <immintrin.h>

#include <cstring>
#include <limits>
#include <type_traits>

#include "ukernel/gemm/gemm.h"  // CELLSTATE_UNROLL
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {
namespace {

constexpr bool kVnniFile = false;

inline __m256i QDot(__m256i acc, __m256i, __m256i) { return acc; }  // not used without VNNI

#include "ukernel/qgemm/qgemm-x86-impl.h"

inline float HMax(__m256 v) {
  __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_max_ps(x, _mm_movehl_ps(x, x));
  x = _mm_max_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}

inline float HSum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}

}  // namespace

void avx2_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
                const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
                bool accumulate, Part part) {
  QgemmYmm(M, N, K, Aq, lda, a_scale, Wp, w_scale, bias, C, ldc, accumulate, part);
}

void avx2_quantize_rows(size_t M, size_t K, const float* A, size_t lda, int8_t* Aq, size_t ldq,
                        float* scale) {
  const size_t kp = (K + 3) / 4 * 4;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (size_t m = 0; m < M; ++m) {
    const float* a = A + m * lda;
    int8_t* q = Aq + m * ldq;
    __m256 vmax = _mm256_setzero_ps(), vz = _mm256_setzero_ps();
    for (size_t k = 0; k < K; k += 8) {
      const __m256 x = _mm256_maskload_ps(a + k, Lanes8(K - k));
      vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, x));
      vz = _mm256_add_ps(vz, _mm256_sub_ps(x, x));
    }
    const float amax = HMax(vmax);
    const float z = HSum(vz);
    if (!(z == 0.0f)) {
      scale[m] = std::numeric_limits<float>::quiet_NaN();
      for (size_t k = 0; k < kp; ++k) q[k] = 0;
      continue;
    }
    scale[m] = amax / static_cast<float>(kQMax);
    const __m256 inv = _mm256_set1_ps(amax > 0.0f ? static_cast<float>(kQMax) / amax : 0.0f);
    const __m256i hi = _mm256_set1_epi32(kQMax), lo = _mm256_set1_epi32(-kQMax);
    for (size_t k = 0; k < K; k += 8) {
      const __m256 x = _mm256_maskload_ps(a + k, Lanes8(K - k));
      __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(x, inv));  // round to nearest even
      v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
      const __m128i v16 =
          _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
      const __m128i v8 = _mm_packs_epi16(v16, v16);
      if (K - k >= 8) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(q + k), v8);
      } else {
        alignas(16) int8_t tmp[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp), v8);
        std::memcpy(q + k, tmp, K - k);
      }
    }
    for (size_t k = K; k < kp; ++k) q[k] = 0;
  }
}

}  // namespace cellstate
