// f32 GEMM for AVX2 + FMA: f32_gemm_6x16__avx2 register tiles over NR = 16 column panels (two
// __m256), partial panels with vmaskmovps; the loops are gemm-driver.h's.
#include <immintrin.h>

#include "ukernel/gemm/gemm.h"

namespace cellstate {
namespace {

// 6 x 16 tile: 12 accumulators + 2 B vectors + 1 A broadcast = 15 of 16 ymm registers.
struct Avx2Tile {
  using V = __m256;
  struct Mask {
    __m256i m[2];
  };
  static constexpr size_t kW = 8;
  static constexpr size_t kNv = 2;
  static constexpr size_t kMr = 6;
  static constexpr size_t kKc = 256;       // a 6 x 16 tile reads 16 KB of B from L1
  static constexpr size_t kMc = 144;       // 144 x 256 x 4 B = 144 KB of A in L2
  static constexpr size_t kShortAcc = 12;  // 8 to 12 accumulators: 6 panels for one row
  static constexpr bool kPrefetch = true;
  static constexpr size_t kNcPanels = 0;
  static constexpr size_t kNcMinRows = 0;
  static constexpr size_t kStreamAcc = 12;  // GemmPair: as the rows left over
  static constexpr size_t kLaneK = 1;

  static Mask MakeMask(size_t n) {
    const __m256i nn = _mm256_set1_epi32(static_cast<int>(n));
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return {{_mm256_cmpgt_epi32(nn, iota),
             _mm256_cmpgt_epi32(nn, _mm256_add_epi32(iota, _mm256_set1_epi32(8)))}};
  }
  static V Zero() { return _mm256_setzero_ps(); }
  static V Load(const float* p) { return _mm256_loadu_ps(p); }
  static V LoadMasked(const float* p, const Mask& m, size_t v) {
    return _mm256_maskload_ps(p, m.m[v]);
  }
  static V Broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V Add(V x, V y) { return _mm256_add_ps(x, y); }
  static V Fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static void Store(float* p, V x) { _mm256_storeu_ps(p, x); }
  static void StoreMasked(float* p, V x, const Mask& m, size_t v) {
    _mm256_maskstore_ps(p, m.m[v], x);
  }
  static void Prefetch(const char* p) { _mm_prefetch(p, _MM_HINT_T0); }
};

#include "ukernel/gemm/gemm-driver.h"

using Driver = GemmDriver<Avx2Tile>;

}  // namespace

size_t avx2_packed_size(size_t K, size_t N) { return Driver::PackedSize(K, N); }

void avx2_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst) {
  Driver::Pack(K, N, src, rs, cs, dst);
}

void avx2_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
               const float* bias, float* C, size_t ldc, bool accumulate, Part part) {
  Driver::Gemm(M, N, K, A, lda, Bp, bias, C, ldc, accumulate, part);
}

void avx2_gemm_pair(size_t M, size_t N, const GemmOp<float>& first, const GemmOp<float>& second,
                    bool reverse, Part part) {
  Driver::GemmPair(M, N, first, second, reverse, part);
}

}  // namespace cellstate
