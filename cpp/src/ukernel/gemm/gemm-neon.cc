// f32 GEMM for AArch64 Advanced SIMD: f32_gemm_8x8__neon register tiles over NR = 8 column
// panels (two float32x4_t), using vfmaq_laneq_f32 on four k values of each A row at a time; the
// loops are gemm-driver.h's.
#include <arm_neon.h>

#include "ukernel/gemm/gemm.h"

namespace cellstate {
namespace {

// 8 x 8 tile: 16 accumulators + 8 A quads + 2 B = 26 of 32 q registers.
struct NeonTile {
  using V = float32x4_t;
  using Mask = size_t;  // valid columns of the panel
  static constexpr size_t kW = 4;
  static constexpr size_t kNv = 2;
  static constexpr size_t kMr = 8;
  static constexpr size_t kKc = 256;       // an 8 x 8 tile reads 8 KB of B from L1
  static constexpr size_t kMc = 128;       // 128 KB of A
  static constexpr size_t kShortAcc = 16;  // 8 to 16 accumulators: 8 panels for one row
  static constexpr bool kPrefetch = false;
  static constexpr size_t kNcPanels = 0;
  static constexpr size_t kNcMinRows = 0;
  static constexpr size_t kStreamAcc = 16;  // GemmPair: as the rows left over
  static constexpr size_t kLaneK = 4;

  static Mask MakeMask(size_t n) { return n; }
  static V Zero() { return vdupq_n_f32(0.0f); }
  static V Load(const float* p) { return vld1q_f32(p); }
  // Lanes [0, n - 4v) of p, the others zero; nothing past them is read.
  static V LoadMasked(const float* p, Mask n, size_t v) {
    const size_t l = n > kW * v ? n - kW * v : 0;
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t i = 0; i < l && i < kW; ++i) t[i] = p[i];
    return vld1q_f32(t);
  }
  static V Broadcast(const float* p) { return vld1q_dup_f32(p); }
  static V Add(V x, V y) { return vaddq_f32(x, y); }
  static V Fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
  static void Store(float* p, V x) { vst1q_f32(p, x); }
  static void StoreMasked(float* p, V x, Mask n, size_t v) {
    const size_t l = n > kW * v ? n - kW * v : 0;
    float t[4];
    vst1q_f32(t, x);
    for (size_t i = 0; i < l && i < kW; ++i) p[i] = t[i];
  }
  static void Prefetch(const char*) {}
  static V LoadA(const float* p) { return vld1q_f32(p); }
  template <int L>
  static V FmaLane(V acc, V b, V aq) {
    return vfmaq_laneq_f32(acc, b, aq, L);
  }
};

#include "ukernel/gemm/gemm-driver.h"

using Driver = GemmDriver<NeonTile>;

}  // namespace

size_t neon_packed_size(size_t K, size_t N) { return Driver::PackedSize(K, N); }

void neon_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst) {
  Driver::Pack(K, N, src, rs, cs, dst);
}

void neon_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
               const float* bias, float* C, size_t ldc, bool accumulate, Part part) {
  Driver::Gemm(M, N, K, A, lda, Bp, bias, C, ldc, accumulate, part);
}

void neon_gemm_pair(size_t M, size_t N, const GemmOp<float>& first, const GemmOp<float>& second,
                    bool reverse, Part part) {
  Driver::GemmPair(M, N, first, second, reverse, part);
}

}  // namespace cellstate
