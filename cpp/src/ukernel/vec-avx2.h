// The vector-type contract of vec-scalar.h with 8 lanes of AVX2 + FMA (__m256). Included inside
// an ISA namespace of a translation unit compiled with -mavx2 -mfma, after <immintrin.h> has
// been included at global scope (the include below is then a no-op). No STL: every function is
// static inline, so nothing compiled for AVX2 can be shared with a baseline translation unit.
#pragma once

#include <immintrin.h>

struct VecAvx2 {
  static constexpr int kWidth = 8;
  __m256 v;
  using Mask = __m256;  // all ones in the lanes where true
};

// Lanes [0, n) set, n in 0..8.
static inline __m256i VecAvx2LaneMask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline VecAvx2 Load(const float* p) { return {_mm256_loadu_ps(p)}; }
static inline void Store(float* p, VecAvx2 a) { _mm256_storeu_ps(p, a.v); }
// Lanes [0, n) from p, the others zero; memory past p[n - 1] is not touched.
static inline VecAvx2 LoadPartial(const float* p, int n) {
  return {_mm256_maskload_ps(p, VecAvx2LaneMask(n))};
}
static inline void StorePartial(float* p, VecAvx2 a, int n) {
  _mm256_maskstore_ps(p, VecAvx2LaneMask(n), a.v);
}
static inline VecAvx2 Set1(float x) { return {_mm256_set1_ps(x)}; }
static inline VecAvx2 Add(VecAvx2 a, VecAvx2 b) { return {_mm256_add_ps(a.v, b.v)}; }
static inline VecAvx2 Sub(VecAvx2 a, VecAvx2 b) { return {_mm256_sub_ps(a.v, b.v)}; }
static inline VecAvx2 Mul(VecAvx2 a, VecAvx2 b) { return {_mm256_mul_ps(a.v, b.v)}; }
static inline VecAvx2 Div(VecAvx2 a, VecAvx2 b) { return {_mm256_div_ps(a.v, b.v)}; }
// minps / maxps: a < b ? a : b and a > b ? a : b (b when either is NaN).
static inline VecAvx2 Min(VecAvx2 a, VecAvx2 b) { return {_mm256_min_ps(a.v, b.v)}; }
static inline VecAvx2 Max(VecAvx2 a, VecAvx2 b) { return {_mm256_max_ps(a.v, b.v)}; }
static inline VecAvx2 Fmadd(VecAvx2 a, VecAvx2 b, VecAvx2 c) {
  return {_mm256_fmadd_ps(a.v, b.v, c.v)};
}
static inline VecAvx2 Fnmadd(VecAvx2 a, VecAvx2 b, VecAvx2 c) {
  return {_mm256_fnmadd_ps(a.v, b.v, c.v)};
}
static inline __m256 Lt(VecAvx2 a, VecAvx2 b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ); }
static inline __m256 IsNan(VecAvx2 a) { return _mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q); }
static inline VecAvx2 Select(__m256 m, VecAvx2 a, VecAvx2 b) {
  return {_mm256_blendv_ps(b.v, a.v, m)};
}
