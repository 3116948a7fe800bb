// f32 GEMM for AVX-512 (F, VL, DQ, BW) + FMA: f32_gemm_12x32__avx512 register tiles over NR = 32
// column panels (two __m512), accumulators in the 32 zmm registers, partial panels with
// __mmask16 masked loads and stores.
//
// Loops as in gemm-avx2.cc (BLIS order, A read in place): K blocks of kKc rows of B, then row
// blocks of kMc rows of A, then this thread's column panels, then 12-row tiles. Rows left over
// (M mod 12, and all of M < 12, e.g. the batch-1 step) run an MR x (NP*32) tile over NP panels
// at once so that every FMA chain has enough independent neighbours to hide the FMA latency;
// panels are visited in groups of NP, the left-over rows right after the full tiles of their
// group, so that B streams through the cache once per row block. Each C element is one FMA chain
// from its init value over k in order; K blocks store and reload it exactly, so nothing depends on
// the tiling, M or part.nth (and the results equal those of gemm-avx2.cc bit for bit: same init,
// same fused chain).
#include <immintrin.h>

#include "ukernel/gemm/gemm.h"

namespace cellstate {
namespace {

// 12 x 32 tile: 24 accumulators + 2 B vectors + 1 A broadcast = 27 of 32 zmm registers; per k
// 2 B loads and 12 broadcasts feed 24 FMAs. Measured on Zen 5 (EPYC, 512-bit FMA units) against
// 8 x 32, 10 x 32, 14 x 32, 8 x 48, 6 x 64 and 4 x 64 tiles and K blocks of 128 to 384: all
// within a few percent on the recurrent-net shapes; 12 x 32 with 256 was as fast as any.
constexpr size_t kNv = 2;                // zmm vectors per panel row
constexpr size_t kNr = 16 * kNv;         // columns per packed panel
constexpr size_t kMr = 12;               // rows of the main tile
constexpr size_t kKc = 256;              // K block: a 12 x 32 tile reads 32 KB of B from L1
constexpr size_t kMc = 144 / kMr * kMr;  // row block: 144 x 256 x 4 B = 144 KB of A in L2
constexpr size_t kShortAcc = 16;         // accumulators of the tiles of the rows left over

static inline size_t MinSize(size_t a, size_t b) { return a < b ? a : b; }

// Lanes [0, n) of the kNv vectors of a panel, n in 1..kNr.
struct ColMask {
  __mmask16 m[kNv];
};

static inline __mmask16 LaneMask(size_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

static inline ColMask MakeColMask(size_t n) {
  ColMask r;
  for (size_t v = 0; v < kNv; ++v) r.m[v] = LaneMask(n > 16 * v ? n - 16 * v : 0);
  return r;
}

// One tile: MR rows of C by NP panels (NP*kNr columns), k in [0, kc).
//   a: &A[m0, k0]; b: panel p0 at row k0 (panel p at b + p*bs); c: &C[m0, n0];
//   bias: &bias[n0] or null (first K block only); load_c: start from C (accumulate, or a
//   later K block). kEdge: the last of the NP panels is partial, its valid lanes in mask.
//   pf: main tile only, kNv lines prefetched per k (the next panel's slice of this K block).
template <size_t MR, size_t NP, bool kEdge>
void Tile(size_t kc, const float* a, size_t lda, const float* b, size_t bs, float* c, size_t ldc,
          const float* bias, bool load_c, ColMask mask, const float* pf) {
  constexpr size_t J = kNv * NP;
  __m512 acc[MR][J];
  CELLSTATE_UNROLL(32)
  for (size_t j = 0; j < J; ++j) {
    const bool masked = kEdge && j / kNv == NP - 1;
    const __mmask16 mj = mask.m[j % kNv];
    const size_t off = j * 16;
    __m512 bv = _mm512_setzero_ps();
    if (bias != nullptr) {
      bv = masked ? _mm512_maskz_loadu_ps(mj, bias + off) : _mm512_loadu_ps(bias + off);
    }
    CELLSTATE_UNROLL(16)
    for (size_t m = 0; m < MR; ++m) {
      if (load_c) {
        const float* cm = c + m * ldc + off;
        const __m512 cv = masked ? _mm512_maskz_loadu_ps(mj, cm) : _mm512_loadu_ps(cm);
        acc[m][j] = bias != nullptr ? _mm512_add_ps(cv, bv) : cv;
      } else {
        acc[m][j] = bv;
      }
    }
  }

  for (size_t k = 0; k < kc; ++k) {
    if constexpr (MR == kMr) {
      CELLSTATE_UNROLL(4)
      for (size_t v = 0; v < kNv; ++v) {
        _mm_prefetch(reinterpret_cast<const char*>(pf + k * kNr + v * 16), _MM_HINT_T0);
      }
    }
    __m512 bk[J];
    CELLSTATE_UNROLL(32)
    for (size_t j = 0; j < J; ++j) {
      bk[j] = _mm512_loadu_ps(b + (j / kNv) * bs + k * kNr + (j % kNv) * 16);
    }
    CELLSTATE_UNROLL(16)
    for (size_t m = 0; m < MR; ++m) {
      const __m512 ak = _mm512_set1_ps(a[m * lda + k]);
      CELLSTATE_UNROLL(32)
      for (size_t j = 0; j < J; ++j) acc[m][j] = _mm512_fmadd_ps(ak, bk[j], acc[m][j]);
    }
  }

  CELLSTATE_UNROLL(16)
  for (size_t m = 0; m < MR; ++m) {
    CELLSTATE_UNROLL(32)
    for (size_t j = 0; j < J; ++j) {
      float* cm = c + m * ldc + j * 16;
      if (kEdge && j / kNv == NP - 1) {
        _mm512_mask_storeu_ps(cm, mask.m[j % kNv], acc[m][j]);
      } else {
        _mm512_storeu_ps(cm, acc[m][j]);
      }
    }
  }
}

// What one call of the driver shares between tiles.
struct Job {
  size_t bs;          // panel stride K * kNr
  size_t kc;          // rows of this K block
  const float* Bp;    // packed B at row k0 of panel 0
  const float* bias;  // null after the first K block
  bool load_c;        // start from C (accumulate, or a later K block)
  size_t np;          // panels in B
  ColMask last_mask;  // valid lanes of panel np - 1
  bool last_partial;  // N is not a multiple of kNr
};

// One tile over the R panels [p, p + R) for MR rows starting at a / c.
template <size_t MR, size_t R>
void PanelTile(const Job& job, const float* a, size_t lda, float* c, size_t ldc, size_t p) {
  const size_t bs = job.bs;
  const float* b = job.Bp + p * bs;
  float* cp = c + p * kNr;
  const float* bias = job.bias != nullptr ? job.bias + p * kNr : nullptr;
  if (job.last_partial && p + R == job.np) {
    Tile<MR, R, true>(job.kc, a, lda, b, bs, cp, ldc, bias, job.load_c, job.last_mask, nullptr);
  } else {
    Tile<MR, R, false>(job.kc, a, lda, b, bs, cp, ldc, bias, job.load_c, job.last_mask, nullptr);
  }
}

// The last r < NP panels [p, p + r) in one tile of r panels.
template <size_t MR, size_t R>
void PanelRest(size_t r, const Job& job, const float* a, size_t lda, float* c, size_t ldc,
               size_t p) {
  if constexpr (R > 0) {
    if (r == R) {
      PanelTile<MR, R>(job, a, lda, c, ldc, p);
    } else {
      PanelRest<MR, R - 1>(r, job, a, lda, c, ldc, p);
    }
  }
}

// Panels [p, p_end) for MR rows starting at a / c: tiles of NP panels, then one of the rest.
template <size_t MR, size_t NP>
void RowPanels(const Job& job, const float* a, size_t lda, float* c, size_t ldc, size_t p,
               size_t p_end) {
  for (; p + NP <= p_end; p += NP) PanelTile<MR, NP>(job, a, lda, c, ldc, p);
  PanelRest<MR, NP - 1>(p_end - p, job, a, lda, c, ldc, p);
}

// Panels per tile for mr < kMr rows: about kShortAcc accumulators (at least 8 independent FMA
// chains hide the 4-cycle latency of two FMA pipes), e.g. 8 panels (256 columns) for the
// batch-1 step.
constexpr size_t ShortPanels(size_t mr) {
  return mr * kNv >= kShortAcc ? 1 : kShortAcc / (mr * kNv);
}

// Rows [0, mr) with 0 < mr <= MR < kMr, over the panels [p, p_end).
template <size_t MR>
void ShortRowsT(size_t mr, const Job& job, const float* a, size_t lda, float* c, size_t ldc,
                size_t p, size_t p_end) {
  if constexpr (MR > 0) {
    if (mr == MR) {
      RowPanels<MR, ShortPanels(MR)>(job, a, lda, c, ldc, p, p_end);
    } else {
      ShortRowsT<MR - 1>(mr, job, a, lda, c, ldc, p, p_end);
    }
  }
}

void ShortRows(size_t mr, const Job& job, const float* a, size_t lda, float* c, size_t ldc,
               size_t p, size_t p_end) {
  ShortRowsT<kMr - 1>(mr, job, a, lda, c, ldc, p, p_end);
}

// ShortPanels(mr) for a run-time mr in 1..kMr-1.
template <size_t MR>
size_t ShortPanelsOf(size_t mr) {
  if constexpr (MR > 0) {
    return mr == MR ? ShortPanels(MR) : ShortPanelsOf<MR - 1>(mr);
  } else {
    return 1;
  }
}

}  // namespace

size_t avx512_packed_size(size_t K, size_t N) { return (N + kNr - 1) / kNr * kNr * K; }

void avx512_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst) {
  const size_t np = (N + kNr - 1) / kNr;
  for (size_t p = 0; p < np; ++p) {
    const size_t n0 = p * kNr;
    const size_t nr = MinSize(kNr, N - n0);
    float* d = dst + p * K * kNr;
    const float* s0 = src + static_cast<ptrdiff_t>(n0) * cs;
    if (cs == 1) {
      // Rows of B: masked loads read only the nr valid columns and zero the rest.
      const ColMask mask = MakeColMask(nr);
      for (size_t k = 0; k < K; ++k) {
        const float* s = s0 + static_cast<ptrdiff_t>(k) * rs;
        CELLSTATE_UNROLL(4)
        for (size_t v = 0; v < kNv; ++v) {
          _mm512_storeu_ps(d + k * kNr + v * 16, _mm512_maskz_loadu_ps(mask.m[v], s + v * 16));
        }
      }
    } else {
      // Column by column: with rs == 1 (B = W^T of a row-major [N, K] W) each column is a
      // contiguous row of W.
      for (size_t j = 0; j < kNr; ++j) {
        if (j < nr) {
          const float* s = s0 + static_cast<ptrdiff_t>(j) * cs;
          for (size_t k = 0; k < K; ++k) d[k * kNr + j] = s[static_cast<ptrdiff_t>(k) * rs];
        } else {
          for (size_t k = 0; k < K; ++k) d[k * kNr + j] = 0.0f;
        }
      }
    }
  }
}

void avx512_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                 const float* bias, float* C, size_t ldc, bool accumulate, Part part) {
  if (M == 0 || N == 0) return;
  const size_t np = (N + kNr - 1) / kNr;
  const size_t nth = part.nth > 0 ? static_cast<size_t>(part.nth) : 1;
  const size_t ith = part.ith > 0 ? static_cast<size_t>(part.ith) : 0;
  const size_t p_begin = np * ith / nth;
  const size_t p_end = np * (ith + 1) / nth;
  if (p_begin >= p_end) return;

  Job job;
  job.np = np;
  job.bs = K * kNr;
  const size_t bs = job.bs;
  job.last_partial = N % kNr != 0;
  job.last_mask = MakeColMask(N - (np - 1) * kNr);
  size_t k0 = 0;
  do {  // at least once: K == 0 still writes init
    job.kc = MinSize(kKc, K - k0);
    job.Bp = Bp + k0 * kNr;
    job.bias = k0 == 0 ? bias : nullptr;
    job.load_c = accumulate || k0 != 0;
    const float* Ak = A + k0;
    for (size_t i0 = 0; i0 < M; i0 += kMc) {
      const size_t mc = MinSize(kMc, M - i0);
      const size_t mfull = mc / kMr * kMr;
      const size_t rest = mc - mfull;
      // Panels in groups of as many as one tile of the rest rows spans: the full tiles of the
      // group, then the rest rows over the group while its slices are still in cache.
      const size_t group = rest != 0 ? ShortPanelsOf<kMr - 1>(rest) : p_end - p_begin;
      for (size_t q = p_begin; q < p_end; q += group) {
        const size_t q_end = MinSize(q + group, p_end);
        if (mfull != 0) {
          for (size_t p = q; p < q_end; ++p) {
            const float* b = job.Bp + p * bs;
            const float* pb = job.bias != nullptr ? job.bias + p * kNr : nullptr;
            const bool edge = job.last_partial && p == np - 1;
            // While this panel's slice is in L1, pull the next one in.
            const float* pf = p + 1 < p_end ? b + bs : b;
            for (size_t i = i0; i < i0 + mfull; i += kMr) {
              const float* a = Ak + i * lda;
              float* c = C + i * ldc + p * kNr;
              if (edge) {
                Tile<kMr, 1, true>(job.kc, a, lda, b, bs, c, ldc, pb, job.load_c, job.last_mask,
                                   pf);
              } else {
                Tile<kMr, 1, false>(job.kc, a, lda, b, bs, c, ldc, pb, job.load_c, job.last_mask,
                                    pf);
              }
            }
          }
        }
        if (rest != 0) {
          const size_t i = i0 + mfull;
          ShortRows(rest, job, Ak + i * lda, lda, C + i * ldc, ldc, q, q_end);
        }
      }
    }
    k0 += kKc;
  } while (k0 < K);
}

}  // namespace cellstate
