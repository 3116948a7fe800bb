// int8 GEMM, portable C++: qs8_qgemm_1x16__scalar over the packed panels, and the row
// quantization every SIMD path must match byte for byte. Also the reference of the tests'
// packed-layout reading.
#include <cmath>

#include "ukernel/qgemm/qgemm.h"

namespace cellstate {

void scalar_quantize_rows(size_t M, size_t K, const float* A, size_t lda, int8_t* Aq, size_t ldq,
                          float* scale) {
  const size_t kp = (K + 3) / 4 * 4;
  for (size_t m = 0; m < M; ++m) {
    const float* a = A + m * lda;
    int8_t* q = Aq + m * ldq;
    float amax = 0.0f, z = 0.0f;
    for (size_t k = 0; k < K; ++k) {
      amax = std::fmax(amax, std::fabs(a[k]));
      z += a[k] - a[k];  // NaN once any value is a NaN or an infinity
    }
    if (!(z == 0.0f)) {
      scale[m] = std::nanf("");
      for (size_t k = 0; k < kp; ++k) q[k] = 0;
      continue;
    }
    scale[m] = amax / static_cast<float>(kQMax);
    const float inv = amax > 0.0f ? static_cast<float>(kQMax) / amax : 0.0f;
    for (size_t k = 0; k < K; ++k) {
      float v = std::nearbyint(a[k] * inv);
      v = std::fmin(std::fmax(v, -static_cast<float>(kQMax)), static_cast<float>(kQMax));
      q[k] = static_cast<int8_t>(v);
    }
    for (size_t k = K; k < kp; ++k) q[k] = 0;
  }
}

void scalar_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
                  const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
                  bool accumulate, Part part) {
  const size_t panels = (N + kQNr - 1) / kQNr;
  const size_t groups = (K + 3) / 4;
  const size_t ps = groups * 4 * kQNr;  // bytes per panel
  const int8_t* w = static_cast<const int8_t*>(Wp);
  const size_t p0 = panels * static_cast<size_t>(part.ith) / static_cast<size_t>(part.nth);
  const size_t p1 = panels * static_cast<size_t>(part.ith + 1) / static_cast<size_t>(part.nth);
  for (size_t p = p0; p < p1; ++p) {
    const int8_t* panel = w + p * ps;
    for (size_t m = 0; m < M; ++m) {
      const int8_t* a = Aq + m * lda;
      int32_t acc[kQNr] = {};
      for (size_t g = 0; g < groups; ++g) {
        const int8_t* b = panel + g * 4 * kQNr;
        for (size_t j = 0; j < kQNr; ++j) {
          int32_t s = 0;
          for (size_t t = 0; t < 4; ++t) s += int32_t{a[4 * g + t]} * int32_t{b[j * 4 + t]};
          acc[j] += s;
        }
      }
      float* c = C + m * ldc;
      for (size_t j = 0; j < kQNr; ++j) {
        const size_t n = p * kQNr + j;
        if (n >= N) break;
        float v = static_cast<float>(acc[j]) * (a_scale[m] * w_scale[n]);
        if (bias) v = v + bias[n];
        if (accumulate) v = c[n] + v;
        c[n] = v;
      }
    }
  }
}

}  // namespace cellstate
