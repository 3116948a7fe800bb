// The ymm int8 GEMM shared by qgemm-avx2.cc and qgemm-avxvnni.cc, included inside an anonymous
// namespace of each (so each file gets its own copy, compiled with its own ISA flags).
//
// One group of 4 k of a panel is two ymm (columns 0-7 and 8-15, 4 bytes each). Per ymm:
//   kVnni:  acc += dpbusd(Aq + 128, W)  (VEX vpdpbusd), then acc -= 128 * row sum in the epilogue;
//   !kVnni: acc += madd16(maddubs(|Aq|, sign(W, Aq)), 1): the sign of the activation moves onto
//           the weight, so the u8 x s8 pairs are |a| * (+-w) with |a|, |w| <= 127 and a pair sum
//           of at most 2 * 127 * 127 = 32258 < 32767: vpmaddubsw cannot saturate and the result
//           is exact, for full 8-bit activations (no row sums needed).
// Tiles: one row by 4 panels (8 accumulators, 8 independent chains); per row block the panels
// outer, rows inner, so the 4 panels' weights (K * 64 bytes) stay in L1 across the rows. (A
// 2 x 2 tile needs 8 accumulators, 4 weight registers and the sign temporaries: more than the
// 16 ymm registers.)
//
// Loops: qgemm-driver.h. Needs: <immintrin.h>, <cstring>, <type_traits>, qgemm.h, and kVnniFile
// (bool) defined before.

inline int32_t Load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Lanes [0, n) of 8 as an all-ones int32 mask (n may exceed 8).
inline __m256i Lanes8(size_t n) {
  const int32_t c = n >= 8 ? 8 : static_cast<int32_t>(n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#include "ukernel/qgemm/qgemm-driver.h"

template <size_t MR, size_t NP>
void YmmTile(size_t groups, const int8_t* a, size_t lda, const int8_t* b, size_t ps,
             const float* as, const QOut& o) {
  constexpr size_t J = 2 * NP;
  __m256i acc[MR][J];
  CELLSTATE_UNROLL(32)
  for (size_t i = 0; i < MR; ++i) CELLSTATE_UNROLL(32)
  for (size_t j = 0; j < J; ++j) acc[i][j] = _mm256_setzero_si256();
  for (size_t g = 0; g < groups; ++g) {
    __m256i w[J];
    CELLSTATE_UNROLL(32)
    for (size_t j = 0; j < J; ++j)
      w[j] = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(b + (j / 2) * ps + g * 64 + (j % 2) * 32));
    CELLSTATE_UNROLL(32)
    for (size_t i = 0; i < MR; ++i) {
      const __m256i x = _mm256_set1_epi32(Load4(a + i * lda + 4 * g));
      if constexpr (kVnniFile) {
        const __m256i xu =
            _mm256_xor_si256(x, _mm256_set1_epi32(static_cast<int32_t>(0x80808080u)));
        CELLSTATE_UNROLL(32)
        for (size_t j = 0; j < J; ++j) acc[i][j] = QDot(acc[i][j], xu, w[j]);
      } else {
        const __m256i ax = _mm256_abs_epi8(x);
        const __m256i one = _mm256_set1_epi16(1);
        CELLSTATE_UNROLL(32)
        for (size_t j = 0; j < J; ++j) {
          const __m256i p16 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w[j], x));
          acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(p16, one));
        }
      }
    }
  }
  CELLSTATE_UNROLL(32)
  for (size_t j = 0; j < J; ++j) {
    const size_t n0 = j * 8;
    const __m256i k = Lanes8(o.ncols > n0 ? o.ncols - n0 : 0);
    const __m256 ws = _mm256_maskload_ps(o.ws + n0, k);
    const __m256 bias = o.bias ? _mm256_maskload_ps(o.bias + n0, k) : _mm256_setzero_ps();
    __m256i corr = _mm256_setzero_si256();
    if constexpr (kVnniFile)
      corr = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(o.corr + n0));
    CELLSTATE_UNROLL(32)
    for (size_t i = 0; i < MR; ++i) {
      const __m256 s = _mm256_mul_ps(_mm256_set1_ps(as[i]), ws);
      // Explicitly fused, so that no tile contracts differently from another.
      __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[i][j], corr)), s, bias);
      float* c = o.c + i * o.ldc + n0;
      if (o.accumulate) v = _mm256_add_ps(_mm256_maskload_ps(c, k), v);
      _mm256_maskstore_ps(c, k, v);
    }
  }
}

// One row by 4 panels (see above).
struct Ymm {
  template <size_t NP>
  static constexpr size_t MainRows() {
    return 1;
  }
  template <size_t MR, size_t NP>
  static void Tile(size_t groups, const int8_t* a, size_t lda, const int8_t* b, size_t ps,
                   const float* as, const QOut& o) {
    YmmTile<MR, NP>(groups, a, lda, b, ps, as, o);
  }
};

void QgemmYmm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
              const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
              bool accumulate, Part part) {
  QDrive<Ymm, 4>(M, N, K, Aq, lda, a_scale, Wp, w_scale, bias, C, ldc, accumulate, part);
}
