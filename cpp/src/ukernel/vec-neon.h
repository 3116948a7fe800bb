// The vector-type contract of vec-scalar.h with 4 lanes of AArch64 Advanced SIMD (float32x4_t).
// Included inside an ISA namespace of a translation unit, after <arm_neon.h> has been included
// at global scope (the include below is then a no-op). No STL: every function is static
// inline. Min and Max follow x86 (a < b ? a : b, b when either is NaN), not fmin / vminq.
#pragma once

#include <arm_neon.h>

struct VecNeon {
  static constexpr int kWidth = 4;
  float32x4_t v;
  using Mask = uint32x4_t;  // all ones in the lanes where true
};

static inline VecNeon Load(const float* p) { return {vld1q_f32(p)}; }
static inline void Store(float* p, VecNeon a) { vst1q_f32(p, a.v); }
// Lanes [0, n) from p, the others zero; memory past p[n - 1] is not touched.
static inline VecNeon LoadPartial(const float* p, int n) {
  float32x4_t v = vdupq_n_f32(0.0f);
  if (n > 0) v = vsetq_lane_f32(p[0], v, 0);
  if (n > 1) v = vsetq_lane_f32(p[1], v, 1);
  if (n > 2) v = vsetq_lane_f32(p[2], v, 2);
  return {v};
}
static inline void StorePartial(float* p, VecNeon a, int n) {
  if (n > 0) p[0] = vgetq_lane_f32(a.v, 0);
  if (n > 1) p[1] = vgetq_lane_f32(a.v, 1);
  if (n > 2) p[2] = vgetq_lane_f32(a.v, 2);
}
static inline VecNeon Set1(float x) { return {vdupq_n_f32(x)}; }
static inline VecNeon Add(VecNeon a, VecNeon b) { return {vaddq_f32(a.v, b.v)}; }
static inline VecNeon Sub(VecNeon a, VecNeon b) { return {vsubq_f32(a.v, b.v)}; }
static inline VecNeon Mul(VecNeon a, VecNeon b) { return {vmulq_f32(a.v, b.v)}; }
static inline VecNeon Div(VecNeon a, VecNeon b) { return {vdivq_f32(a.v, b.v)}; }
static inline VecNeon Min(VecNeon a, VecNeon b) {
  return {vbslq_f32(vcltq_f32(a.v, b.v), a.v, b.v)};
}
static inline VecNeon Max(VecNeon a, VecNeon b) {
  return {vbslq_f32(vcgtq_f32(a.v, b.v), a.v, b.v)};
}
static inline VecNeon Fmadd(VecNeon a, VecNeon b, VecNeon c) { return {vfmaq_f32(c.v, a.v, b.v)}; }
static inline VecNeon Fnmadd(VecNeon a, VecNeon b, VecNeon c) { return {vfmsq_f32(c.v, a.v, b.v)}; }
static inline uint32x4_t Lt(VecNeon a, VecNeon b) { return vcltq_f32(a.v, b.v); }
static inline uint32x4_t IsNan(VecNeon a) { return vmvnq_u32(vceqq_f32(a.v, a.v)); }
static inline VecNeon Select(uint32x4_t m, VecNeon a, VecNeon b) {
  return {vbslq_f32(m, a.v, b.v)};
}
