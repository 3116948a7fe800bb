// f32 GEMM in portable C++: f32_gemm_4x8__scalar tiles over NR = 8 column panels, the loops of
// gemm-driver.h (the same K and row blocking as the SIMD paths). The "vector" is one float: the
// tile is plain loops over small arrays that the compiler keeps in registers and vectorizes
// across the columns (baseline SSE2 / NEON).
#include "ukernel/gemm/gemm.h"

// GCC -O3 would vectorize the k loop (a transpose per step, 2-3x slower) instead of the
// columns; keep the loop vectorizer off the tile and let the SLP vectorizer take the columns.
#if defined(__GNUC__) && !defined(__clang__)
#define CELLSTATE_GEMM_TILE_ATTR __attribute__((optimize("no-tree-loop-vectorize")))
#endif

namespace cellstate {
namespace {

// 4 x 8 tile; rows left over span 32 accumulators (4 panels for one row).
struct ScalarTile {
  using V = float;
  using Mask = size_t;  // valid columns of the panel
  static constexpr size_t kW = 1;
  static constexpr size_t kNv = 8;
  static constexpr size_t kMr = 4;
  static constexpr size_t kKc = 256;
  static constexpr size_t kMc = 144;
  static constexpr size_t kShortAcc = 32;
  static constexpr bool kPrefetch = false;
  static constexpr size_t kNcPanels = 0;
  static constexpr size_t kNcMinRows = 0;
  static constexpr size_t kStreamAcc = 32;  // GemmPair: as the rows left over
  static constexpr size_t kLaneK = 1;

  static Mask MakeMask(size_t n) { return n; }
  static V Zero() { return 0.0f; }
  static V Load(const float* p) { return *p; }
  static V LoadMasked(const float* p, Mask n, size_t v) { return v < n ? *p : 0.0f; }
  static V Broadcast(const float* p) { return *p; }
  static V Add(V x, V y) { return x + y; }
  static V Fma(V a, V b, V c) { return c + a * b; }
  static void Store(float* p, V x) { *p = x; }
  static void StoreMasked(float* p, V x, Mask n, size_t v) {
    if (v < n) *p = x;
  }
  static void Prefetch(const char*) {}
};

#include "ukernel/gemm/gemm-driver.h"

using Driver = GemmDriver<ScalarTile>;

}  // namespace

size_t scalar_packed_size(size_t K, size_t N) { return Driver::PackedSize(K, N); }

void scalar_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst) {
  Driver::Pack(K, N, src, rs, cs, dst);
}

void scalar_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                 const float* bias, float* C, size_t ldc, bool accumulate, Part part) {
  Driver::Gemm(M, N, K, A, lda, Bp, bias, C, ldc, accumulate, part);
}

void scalar_gemm_pair(size_t M, size_t N, const GemmOp<float>& first, const GemmOp<float>& second,
                      bool reverse, Part part) {
  Driver::GemmPair(M, N, first, second, reverse, part);
}

}  // namespace cellstate
