// int8 GEMM for AVX-512 with VNNI: qs8_qgemm_4x64__avx512vnni register tiles (MR rows by NP
// panels of 16 columns, one zmm accumulator each), vpdpbusd on the unsigned-offset activations
// (Aq + 128, a XOR with 0x80) corrected by the packed 128 * row sums; and the row quantization
// with AVX-512 F/BW/VL. Compiled with the AVX-512 flags and -mavx512vnni on this file alone; used
// only where CpuHasAvx512Vnni().
//
// Loops: qgemm-driver.h. M >= 4: 4 x 4 tiles (16 accumulators, 4 weight loads and 4 broadcasts
// feed 16 vpdpbusd per group of 4 k); M < 4 (the streaming step): M x 8 tiles, so that 8
// independent chains hide the latency of vpdpbusd.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 reports the _mm512_undefined_* placeholders inside its own intrinsics (cvtps_epi32,
// max_ps, ...) as (maybe-)uninitialized once they are inlined here: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <cstring>
#include <limits>
#include <type_traits>

#include "ukernel/gemm/gemm.h"  // CELLSTATE_UNROLL
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {
namespace {

inline __mmask16 Lanes(size_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

inline int32_t Load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

#include "ukernel/qgemm/qgemm-driver.h"

template <size_t MR, size_t NP>
void ZmmTile(size_t groups, const int8_t* a, size_t lda, const int8_t* b, size_t ps,
             const float* as, const QOut& o) {
  __m512i acc[MR][NP];
  CELLSTATE_UNROLL(32)
  for (size_t i = 0; i < MR; ++i) CELLSTATE_UNROLL(32)
  for (size_t p = 0; p < NP; ++p) acc[i][p] = _mm512_setzero_si512();
  const __m512i off = _mm512_set1_epi32(static_cast<int32_t>(0x80808080u));
  for (size_t g = 0; g < groups; ++g) {
    __m512i w[NP];
    CELLSTATE_UNROLL(32)
    for (size_t p = 0; p < NP; ++p) w[p] = _mm512_loadu_si512(b + p * ps + g * 64);
    CELLSTATE_UNROLL(32)
    for (size_t i = 0; i < MR; ++i) {
      const __m512i x = _mm512_xor_si512(_mm512_set1_epi32(Load4(a + i * lda + 4 * g)), off);
      CELLSTATE_UNROLL(32)
      for (size_t p = 0; p < NP; ++p) acc[i][p] = _mm512_dpbusd_epi32(acc[i][p], x, w[p]);
    }
  }
  CELLSTATE_UNROLL(32)
  for (size_t p = 0; p < NP; ++p) {
    const size_t n0 = p * 16;
    const __mmask16 k = Lanes(o.ncols > n0 ? o.ncols - n0 : 0);
    const __m512i corr = _mm512_loadu_si512(o.corr + n0);
    const __m512 ws = _mm512_maskz_loadu_ps(k, o.ws + n0);
    const __m512 bias = o.bias ? _mm512_maskz_loadu_ps(k, o.bias + n0) : _mm512_setzero_ps();
    CELLSTATE_UNROLL(32)
    for (size_t i = 0; i < MR; ++i) {
      const __m512 s = _mm512_mul_ps(_mm512_set1_ps(as[i]), ws);
      // Explicitly fused, so that no tile contracts differently from another.
      __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][p], corr)), s, bias);
      float* c = o.c + i * o.ldc + n0;
      if (o.accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, c), v);
      _mm512_mask_storeu_ps(c, k, v);
    }
  }
}

// M >= 4: 4 x 4 tiles; M < 4 (the streaming step): up to 3 x 8.
struct Avx512Vnni {
  template <size_t NP>
  static constexpr size_t MainRows() {
    return NP <= 4 ? 4 : 3;
  }
  template <size_t MR, size_t NP>
  static void Tile(size_t groups, const int8_t* a, size_t lda, const int8_t* b, size_t ps,
                   const float* as, const QOut& o) {
    ZmmTile<MR, NP>(groups, a, lda, b, ps, as, o);
  }
};

}  // namespace

void avx512vnni_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda,
                      const float* a_scale, const void* Wp, const float* w_scale, const float* bias,
                      float* C, size_t ldc, bool accumulate, Part part) {
  if (M >= 4)
    QDrive<Avx512Vnni, 4>(M, N, K, Aq, lda, a_scale, Wp, w_scale, bias, C, ldc, accumulate, part);
  else
    QDrive<Avx512Vnni, 8>(M, N, K, Aq, lda, a_scale, Wp, w_scale, bias, C, ldc, accumulate, part);
}

void avx512_quantize_rows(size_t M, size_t K, const float* A, size_t lda, int8_t* Aq, size_t ldq,
                          float* scale) {
  const size_t kp = (K + 3) / 4 * 4;
  for (size_t m = 0; m < M; ++m) {
    const float* a = A + m * lda;
    int8_t* q = Aq + m * ldq;
    __m512 vmax = _mm512_setzero_ps(), vz = _mm512_setzero_ps();
    for (size_t k = 0; k < K; k += 16) {
      const __m512 x = _mm512_maskz_loadu_ps(Lanes(K - k), a + k);
      vmax = _mm512_max_ps(vmax, _mm512_abs_ps(x));
      vz = _mm512_add_ps(vz, _mm512_sub_ps(x, x));
    }
    const float amax = _mm512_reduce_max_ps(vmax);
    const float z = _mm512_reduce_add_ps(vz);
    if (!(z == 0.0f)) {
      scale[m] = std::numeric_limits<float>::quiet_NaN();
      for (size_t k = 0; k < kp; ++k) q[k] = 0;
      continue;
    }
    scale[m] = amax / static_cast<float>(kQMax);
    const __m512 inv = _mm512_set1_ps(amax > 0.0f ? static_cast<float>(kQMax) / amax : 0.0f);
    const __m512i hi = _mm512_set1_epi32(kQMax), lo = _mm512_set1_epi32(-kQMax);
    for (size_t k = 0; k < K; k += 16) {
      const __mmask16 lanes = Lanes(K - k);
      const __m512 x = _mm512_maskz_loadu_ps(lanes, a + k);
      __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(x, inv));  // round to nearest even
      v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
      _mm_mask_storeu_epi8(q + k, lanes, _mm512_cvtsepi32_epi8(v));
    }
    for (size_t k = K; k < kp; ++k) q[k] = 0;
  }
}

}  // namespace cellstate
