// What qgemm-neon.cc and qgemm-neondot.cc share, included inside an anonymous namespace of each
// (each file gets its own copy, compiled with its own flags): the epilogue and the loops over
// panels and rows. Each file defines Tile<MR, NP>(groups, a, lda, b, ps, int32x4_t acc[MR][4*NP])
// before including this: one group of 4 k of a panel is four q registers (4 columns x 4 k each).
//
// Needs: <arm_neon.h>, <cmath>, <cstring>, <type_traits>, qgemm.h.

struct Out {
  const float* ws;    // &w_scale[n0]
  const float* bias;  // &bias[n0] or null
  float* c;           // &C[m0, n0]
  size_t ldc;
  size_t ncols;  // valid columns from n0
  bool accumulate;
};

template <size_t MR, size_t J>
void Store(int32x4_t (&acc)[MR][J], const float* as, const Out& o) {
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

template <size_t NP>
void Drive(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
           const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
           bool accumulate, Part part) {
  const size_t panels = (N + kQNr - 1) / kQNr;
  const size_t groups = (K + 3) / 4;
  const size_t ps = groups * 4 * kQNr;
  const int8_t* w = static_cast<const int8_t*>(Wp);
  const size_t p0 = panels * static_cast<size_t>(part.ith) / static_cast<size_t>(part.nth);
  const size_t p1 = panels * static_cast<size_t>(part.ith + 1) / static_cast<size_t>(part.nth);
  for (size_t mb = 0; mb < M; mb += kQMc) {
    const size_t me = M - mb > kQMc ? mb + kQMc : M;
    for (size_t p = p0; p < p1;) {
      const size_t np = p1 - p >= NP ? NP : 1;
      const size_t n0 = p * kQNr;
      const Out o{w_scale + n0, bias ? bias + n0 : nullptr, C + n0, ldc, N - n0, accumulate};
      const int8_t* b = w + p * ps;
      size_t m = mb;
      auto rows = [&](auto mr) {
        constexpr size_t kMr = decltype(mr)::value;
        Out om = o;
        om.c = C + m * ldc + n0;
        if (np == NP) {
          int32x4_t acc[kMr][4 * NP];
          Tile<kMr, NP>(groups, Aq + m * lda, lda, b, ps, acc);
          Store(acc, a_scale + m, om);
        } else {
          int32x4_t acc[kMr][4];
          Tile<kMr, 1>(groups, Aq + m * lda, lda, b, ps, acc);
          Store(acc, a_scale + m, om);
        }
        m += kMr;
      };
      if constexpr (NP == 1) {
        while (me - m >= kMainRows) rows(std::integral_constant<size_t, kMainRows>{});
      }
      while (me - m >= 2) rows(std::integral_constant<size_t, 2>{});
      if (me - m == 1) rows(std::integral_constant<size_t, 1>{});
      p += np;
    }
  }
}
