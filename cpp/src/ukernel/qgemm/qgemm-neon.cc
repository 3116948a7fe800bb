// int8 GEMM for Armv8.0 NEON (no dot product): qs8_qgemm_2x16__neon. smull/smlal form the
// s8 x s8 products of two groups of 4 k in int16 (each lane the sum of two products of at most
// 127 * 127: 32258 < 32767, exact), sadalp adds pairs of them into int32, and one addp per
// column quadruple at the end gives the int32 sums. Also the row quantization with NEON.
#include <arm_neon.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "ukernel/gemm/gemm.h"  // CELLSTATE_UNROLL
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {
namespace {

constexpr size_t kMainRows = 2;

inline int8x8_t Dup4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return vreinterpret_s8_s32(vdup_n_s32(v));
}

// acc[i][j] (columns 4j..4j+3 of the NP panels) = sum over k of a_i[k] * W[col, k].
template <size_t MR, size_t NP>
void Dot(size_t groups, const int8_t* a, size_t lda, const int8_t* b, size_t ps,
         int32x4_t (&acc)[MR][4 * NP]) {
  constexpr size_t J = 4 * NP;
  int32x4_t lo[MR][J], hi[MR][J];
  CELLSTATE_UNROLL(32)
  for (size_t i = 0; i < MR; ++i) CELLSTATE_UNROLL(32)
  for (size_t j = 0; j < J; ++j) lo[i][j] = hi[i][j] = vdupq_n_s32(0);
  for (size_t g = 0; g < groups; g += 2) {
    const bool two = g + 1 < groups;
    int8x16_t w0[J], w1[J];
    CELLSTATE_UNROLL(32)
    for (size_t j = 0; j < J; ++j) {
      const int8_t* p = b + (j / 4) * ps + g * 64 + (j % 4) * 16;
      w0[j] = vld1q_s8(p);
      w1[j] = two ? vld1q_s8(p + 64) : vdupq_n_s8(0);
    }
    CELLSTATE_UNROLL(32)
    for (size_t i = 0; i < MR; ++i) {
      const int8x8_t x0 = Dup4(a + i * lda + 4 * g);
      const int8x8_t x1 = two ? Dup4(a + i * lda + 4 * g + 4) : vdup_n_s8(0);
      CELLSTATE_UNROLL(32)
      for (size_t j = 0; j < J; ++j) {
        int16x8_t l = vmull_s8(vget_low_s8(w0[j]), x0);
        l = vmlal_s8(l, vget_low_s8(w1[j]), x1);
        int16x8_t h = vmull_s8(vget_high_s8(w0[j]), x0);
        h = vmlal_s8(h, vget_high_s8(w1[j]), x1);
        lo[i][j] = vpadalq_s16(lo[i][j], l);
        hi[i][j] = vpadalq_s16(hi[i][j], h);
      }
    }
  }
  CELLSTATE_UNROLL(32)
  for (size_t i = 0; i < MR; ++i) CELLSTATE_UNROLL(32)
  for (size_t j = 0; j < J; ++j) acc[i][j] = vpaddq_s32(lo[i][j], hi[i][j]);
}

#include "ukernel/qgemm/qgemm-neon-impl.h"

}  // namespace

void neon_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
                const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
                bool accumulate, Part part) {
  QDrive<Neon, 1>(M, N, K, Aq, lda, a_scale, Wp, w_scale, bias, C, ldc, accumulate, part);
}

void neon_quantize_rows(size_t M, size_t K, const float* A, size_t lda, int8_t* Aq, size_t ldq,
                        float* scale) {
  const size_t kp = (K + 3) / 4 * 4;
  for (size_t m = 0; m < M; ++m) {
    const float* a = A + m * lda;
    int8_t* q = Aq + m * ldq;
    float32x4_t vmax = vdupq_n_f32(0.0f), vz = vdupq_n_f32(0.0f);
    size_t k = 0;
    for (; k + 4 <= K; k += 4) {
      const float32x4_t x = vld1q_f32(a + k);
      vmax = vmaxq_f32(vmax, vabsq_f32(x));
      vz = vaddq_f32(vz, vsubq_f32(x, x));
    }
    float amax = vmaxvq_f32(vmax), z = vaddvq_f32(vz);
    for (; k < K; ++k) {
      amax = std::fmax(amax, std::fabs(a[k]));
      z += a[k] - a[k];
    }
    if (!(z == 0.0f)) {
      scale[m] = std::numeric_limits<float>::quiet_NaN();
      for (size_t t = 0; t < kp; ++t) q[t] = 0;
      continue;
    }
    scale[m] = amax / static_cast<float>(kQMax);
    const float inv = amax > 0.0f ? static_cast<float>(kQMax) / amax : 0.0f;
    const int32x4_t hi = vdupq_n_s32(kQMax), lo = vdupq_n_s32(-kQMax);
    for (k = 0; k < K; k += 8) {
      float t[8] = {};
      const size_t n = K - k >= 8 ? 8 : K - k;
      std::memcpy(t, a + k, n * sizeof(float));
      int32x4_t v0 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(t), inv));  // round to nearest even
      int32x4_t v1 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(t + 4), inv));
      v0 = vminq_s32(vmaxq_s32(v0, lo), hi);
      v1 = vminq_s32(vmaxq_s32(v1, lo), hi);
      const int8x8_t v8 = vqmovn_s16(vcombine_s16(vqmovn_s32(v0), vqmovn_s32(v1)));
      int8_t out[8];
      vst1_s8(out, v8);
      std::memcpy(q + k, out, n);
    }
    for (k = K; k < kp; ++k) q[k] = 0;
  }
}

}  // namespace cellstate
