// What qgemm-neon.cc and qgemm-neondot.cc share, included inside an anonymous namespace of each
// (each file gets its own copy, compiled with its own flags): the epilogue, and the tile that
// qgemm-driver.h's loops run. Each file defines Dot<MR, NP>(groups, a, lda, b, ps,
// int32x4_t acc[MR][4*NP]) and kMainRows before including this: one group of 4 k of a panel is
// four q registers (4 columns x 4 k each). s8 x s8 products: no offset, no row-sum correction.
//
// Needs: <arm_neon.h>, <cmath>, <cstring>, <type_traits>, qgemm.h.

#include "ukernel/qgemm/qgemm-driver.h"

template <size_t MR, size_t J>
void Store(int32x4_t (&acc)[MR][J], const float* as, const QOut& o) {
  CELLSTATE_UNROLL(32)
  for (size_t j = 0; j < J; ++j) {
    const size_t n0 = j * 4;
    if (o.ncols <= n0) break;
    CELLSTATE_UNROLL(32)
    for (size_t i = 0; i < MR; ++i) {
      float* c = o.c + i * o.ldc + n0;
      if (o.ncols - n0 >= 4) {
        const float32x4_t s = vmulq_f32(vdupq_n_f32(as[i]), vld1q_f32(o.ws + n0));
        // Explicitly fused, so that no tile contracts differently from another.
        const float32x4_t b = o.bias ? vld1q_f32(o.bias + n0) : vdupq_n_f32(0.0f);
        float32x4_t v = vfmaq_f32(b, vcvtq_f32_s32(acc[i][j]), s);
        if (o.accumulate) v = vaddq_f32(vld1q_f32(c), v);
        vst1q_f32(c, v);
      } else {
        int32_t t[4];
        vst1q_s32(t, acc[i][j]);
        for (size_t l = 0; l < o.ncols - n0; ++l) {
          float v = std::fma(static_cast<float>(t[l]), as[i] * o.ws[n0 + l],
                             o.bias ? o.bias[n0 + l] : 0.0f);
          if (o.accumulate) v = c[l] + v;
          c[l] = v;
        }
      }
    }
  }
}

// kMainRows x 16 tiles for M >= 4 (NP 1), 2 x 32 for the streaming step (NP 2).
struct Neon {
  template <size_t NP>
  static constexpr size_t MainRows() {
    return NP == 1 ? kMainRows : 2;
  }
  template <size_t MR, size_t NP>
  static void Tile(size_t groups, const int8_t* a, size_t lda, const int8_t* b, size_t ps,
                   const float* as, const QOut& o) {
    int32x4_t acc[MR][4 * NP];
    Dot<MR, NP>(groups, a, lda, b, ps, acc);
    Store(acc, as, o);
  }
};
