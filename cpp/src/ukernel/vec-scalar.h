// The vector-type contract that post-GEMM templates and activations are written against, and
// its portable one-lane implementation. vec-avx2.h and vec-neon.h provide the same interface
// with 8 and 4 lanes. Everything here is inside the includer's ISA namespace (see
// postgemm-impl.h), so each ISA translation unit gets its own copy with internal linkage.
//
//   struct V { static constexpr int kWidth; using Mask; };
//   V Load(const float*); void Store(float*, V); V Set1(float);
//   V LoadPartial(const float*, int n); void StorePartial(float*, V, int n);  // n < kWidth
//   V Add, Sub, Mul, Div, Min, Max (x86 semantics: Max(a,b) = a > b ? a : b)
//   V Fmadd(a,b,c) = a*b+c;  V Fnmadd(a,b,c) = c - a*b
//   Mask Lt(a,b); Mask IsNan(a); V Select(Mask m, V a, V b) = m ? a : b
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

struct VecScalar {
  static constexpr int kWidth = 1;
  float v;
  using Mask = bool;
};

static inline VecScalar Load(const float* p) { return {*p}; }
static inline void Store(float* p, VecScalar a) { *p = a.v; }
static inline VecScalar LoadPartial(const float* p, int) { return {*p}; }
static inline void StorePartial(float* p, VecScalar a, int) { *p = a.v; }
static inline VecScalar Set1(float x) { return {x}; }
static inline VecScalar Add(VecScalar a, VecScalar b) { return {a.v + b.v}; }
static inline VecScalar Sub(VecScalar a, VecScalar b) { return {a.v - b.v}; }
static inline VecScalar Mul(VecScalar a, VecScalar b) { return {a.v * b.v}; }
static inline VecScalar Div(VecScalar a, VecScalar b) { return {a.v / b.v}; }
static inline VecScalar Min(VecScalar a, VecScalar b) { return {a.v < b.v ? a.v : b.v}; }
static inline VecScalar Max(VecScalar a, VecScalar b) { return {a.v > b.v ? a.v : b.v}; }
static inline VecScalar Fmadd(VecScalar a, VecScalar b, VecScalar c) { return {a.v * b.v + c.v}; }
static inline VecScalar Fnmadd(VecScalar a, VecScalar b, VecScalar c) { return {c.v - a.v * b.v}; }
static inline bool Lt(VecScalar a, VecScalar b) { return a.v < b.v; }
static inline bool IsNan(VecScalar a) { return a.v != a.v; }
static inline VecScalar Select(bool m, VecScalar a, VecScalar b) { return m ? a : b; }
