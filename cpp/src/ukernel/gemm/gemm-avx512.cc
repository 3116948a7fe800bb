// f32 GEMM for AVX-512 (F, VL, DQ, BW) + FMA: f32_gemm_12x32__avx512 register tiles over NR = 32
// column panels (two __m512), accumulators in the 32 zmm registers, partial panels with
// __mmask16 masked loads and stores; the loops are gemm-driver.h's, with the K block chosen per
// core (below). The results equal those of gemm-avx2.cc bit for bit (same init, same fused
// chain).
#include <immintrin.h>

#include "dispatch/cpu.h"
#include "ukernel/gemm/gemm.h"

namespace cellstate {
namespace {

// 12 x 32 tile: 24 accumulators + 2 B vectors + 1 A broadcast = 27 of 32 zmm registers; per k
// 2 B loads and 12 broadcasts feed 24 FMAs. Measured on Zen 5 (EPYC, 512-bit FMA units) against
// 8 x 32, 10 x 32, 14 x 32, 8 x 48, 6 x 64 and 4 x 64 tiles: all within a few percent on the
// recurrent-net shapes; 12 x 32 was as fast as any.
//
// K block KC: 256 (a 12 x 32 tile reads 32 KB of B from L1) everywhere but on Zen 5, where
// 512 ran the GEMMs with K = 512 and 1024 (F2, T2) 8-12% faster than 256 in alternating rounds
// (384 and 1024 no better than 512; K = 256 shapes unchanged). The row block keeps 144 rows of A
// (144 or 288 KB in L2).
//
// On Zen 5 (K block 512) products of 256 rows or more (the sequence-wide GEMMs: input, dx and
// weight gradients over T·B rows) run column blocks of 8 panels instead (gemm-driver.h's
// ColumnBlocks: 512 KB of B in L2, a tile's 24 KB of A in L1 across them): a 64 KB slice of B
// does not fit Zen 5's 48 KB L1, so the row-block order streamed both A and B from L2. Per
// CPU-second in alternating rounds on a loaded machine: 1.03-1.08x at M = 3200..12800 and 2048^3.
// The per-step recurrent GEMMs (M = 32, 64) keep the row-block order: at M = 32 column blocks
// lost up to 7% (B re-read from L2 by every tile), at M = 64 they were 0.97-1.02x.
template <size_t KC, size_t NC>
struct Avx512Tile {
  using V = __m512;
  struct Mask {
    __mmask16 m[2];
  };
  static constexpr size_t kW = 16;
  static constexpr size_t kNv = 2;
  static constexpr size_t kMr = 12;
  static constexpr size_t kKc = KC;
  static constexpr size_t kMc = 144;
  static constexpr size_t kShortAcc = 16;  // e.g. 8 panels (256 columns) for the batch-1 step
  static constexpr bool kPrefetch = true;
  static constexpr size_t kNcPanels = NC;
  static constexpr size_t kNcMinRows = 256;
  // GemmPair: 4 panels for one row. On Zen 5 with alternating orders S2's step took 0.93x the
  // time with 2 panels and 0.96x the time with 8 (A/B rounds).
  static constexpr size_t kStreamAcc = 8;
  static constexpr size_t kLaneK = 1;

  static Mask MakeMask(size_t n) {
    Mask r;
    for (size_t v = 0; v < kNv; ++v) {
      const size_t l = n > kW * v ? n - kW * v : 0;
      r.m[v] = l >= kW ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << l) - 1u);
    }
    return r;
  }
  static V Zero() { return _mm512_setzero_ps(); }
  static V Load(const float* p) { return _mm512_loadu_ps(p); }
  static V LoadMasked(const float* p, const Mask& m, size_t v) {
    return _mm512_maskz_loadu_ps(m.m[v], p);
  }
  static V Broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static V Add(V x, V y) { return _mm512_add_ps(x, y); }
  static V Fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static void Store(float* p, V x) { _mm512_storeu_ps(p, x); }
  static void StoreMasked(float* p, V x, const Mask& m, size_t v) {
    _mm512_mask_storeu_ps(p, m.m[v], x);
  }
  static void Prefetch(const char* p) { _mm_prefetch(p, _MM_HINT_T0); }
};

#include "ukernel/gemm/gemm-driver.h"

using Kc256 = GemmDriver<Avx512Tile<256, 0>>;
using Kc512 = GemmDriver<Avx512Tile<512, 8>>;
using Kc512Rows = GemmDriver<Avx512Tile<512, 0>>;

}  // namespace

size_t avx512_packed_size(size_t K, size_t N) { return Kc256::PackedSize(K, N); }

void avx512_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst) {
  Kc256::Pack(K, N, src, rs, cs, dst);
}

// No function-local static here: its guarded initialization would give this AVX-512 object
// exception-handling data shared with the baseline objects (scripts/check-binary.mjs refuses
// that). CpuCoreKind() caches the CPUID reading in baseline code.
size_t avx512_gemm_kc() { return CpuCoreKind() == CpuCore::kAmdZen5 ? 512 : 256; }

void avx512_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                 const float* bias, float* C, size_t ldc, bool accumulate, Part part) {
  if (avx512_gemm_kc() == 512) {
    Kc512::Gemm(M, N, K, A, lda, Bp, bias, C, ldc, accumulate, part);
  } else {
    Kc256::Gemm(M, N, K, A, lda, Bp, bias, C, ldc, accumulate, part);
  }
}

void avx512_gemm_kc256(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                       const float* bias, float* C, size_t ldc, bool accumulate, Part part) {
  Kc256::Gemm(M, N, K, A, lda, Bp, bias, C, ldc, accumulate, part);
}

void avx512_gemm_kc512(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                       const float* bias, float* C, size_t ldc, bool accumulate, Part part) {
  Kc512::Gemm(M, N, K, A, lda, Bp, bias, C, ldc, accumulate, part);
}

void avx512_gemm_kc512_rows(size_t M, size_t N, size_t K, const float* A, size_t lda,
                            const float* Bp, const float* bias, float* C, size_t ldc,
                            bool accumulate, Part part) {
  Kc512Rows::Gemm(M, N, K, A, lda, Bp, bias, C, ldc, accumulate, part);
}

void avx512_gemm_pair(size_t M, size_t N, const GemmOp<float>& first, const GemmOp<float>& second,
                      bool reverse, Part part) {
  if (avx512_gemm_kc() == 512) {
    Kc512::GemmPair(M, N, first, second, reverse, part);
  } else {
    Kc256::GemmPair(M, N, first, second, reverse, part);
  }
}

}  // namespace cellstate
