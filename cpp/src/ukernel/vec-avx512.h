// The vector-type contract of vec-scalar.h with 16 lanes of AVX-512 (__m512; F, DQ) + FMA, masks
// in opmask registers (__mmask16). Included inside an ISA namespace of a translation unit
// compiled with the AVX-512 flags (-mavx512f -mavx512vl -mavx512dq -mavx512bw -mfma), after
// <immintrin.h> has been included at global scope (the include below is then a no-op). No STL:
// every function is static inline, so nothing compiled for AVX-512 can be shared with a
// baseline translation unit.
#pragma once

#include <immintrin.h>

struct VecAvx512 {
  static constexpr int kWidth = 16;
  __m512 v;
  using Mask = __mmask16;  // bit i set in the lanes i where true
};

// The zero-masking forms with an all-ones mask below compile to the plain instructions
// (vmaxps, vrndscaleps, vcvttps2dq, vpslld); the plain intrinsics pass _mm512_undefined_*() as
// their merge source, which GCC 12 reports as "may be used uninitialized" (GCC bug 105593).
static constexpr __mmask16 kVecAvx512All = 0xFFFF;

// Lanes [0, n) set, n in 0..16.
static inline __mmask16 VecAvx512LaneMask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }

static inline VecAvx512 Load(const float* p) { return {_mm512_loadu_ps(p)}; }
static inline void Store(float* p, VecAvx512 a) { _mm512_storeu_ps(p, a.v); }
// Lanes [0, n) from p, the others zero; memory past p[n - 1] is not touched (masked-off lanes
// of a masked load do not fault).
static inline VecAvx512 LoadPartial(const float* p, int n) {
  return {_mm512_maskz_loadu_ps(VecAvx512LaneMask(n), p)};
}
static inline void StorePartial(float* p, VecAvx512 a, int n) {
  _mm512_mask_storeu_ps(p, VecAvx512LaneMask(n), a.v);
}
static inline VecAvx512 Set1(float x) { return {_mm512_set1_ps(x)}; }
static inline VecAvx512 Add(VecAvx512 a, VecAvx512 b) { return {_mm512_add_ps(a.v, b.v)}; }
static inline VecAvx512 Sub(VecAvx512 a, VecAvx512 b) { return {_mm512_sub_ps(a.v, b.v)}; }
static inline VecAvx512 Mul(VecAvx512 a, VecAvx512 b) { return {_mm512_mul_ps(a.v, b.v)}; }
static inline VecAvx512 Div(VecAvx512 a, VecAvx512 b) { return {_mm512_div_ps(a.v, b.v)}; }
// vminps / vmaxps: a < b ? a : b and a > b ? a : b (b when either is NaN).
static inline VecAvx512 Min(VecAvx512 a, VecAvx512 b) {
  return {_mm512_maskz_min_ps(kVecAvx512All, a.v, b.v)};
}
static inline VecAvx512 Max(VecAvx512 a, VecAvx512 b) {
  return {_mm512_maskz_max_ps(kVecAvx512All, a.v, b.v)};
}
static inline VecAvx512 Fmadd(VecAvx512 a, VecAvx512 b, VecAvx512 c) {
  return {_mm512_fmadd_ps(a.v, b.v, c.v)};
}
static inline VecAvx512 Fnmadd(VecAvx512 a, VecAvx512 b, VecAvx512 c) {
  return {_mm512_fnmadd_ps(a.v, b.v, c.v)};
}
// vrndscaleps with scale 0: round to nearest even, no precision exception.
static inline __mmask16 Lt(VecAvx512 a, VecAvx512 b) {
  return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ);
}
static inline __mmask16 IsNan(VecAvx512 a) { return _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q); }
static inline VecAvx512 Select(__mmask16 m, VecAvx512 a, VecAvx512 b) {
  return {_mm512_mask_blend_ps(m, b.v, a.v)};
}
