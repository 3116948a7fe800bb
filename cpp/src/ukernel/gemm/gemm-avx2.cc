// f32 GEMM for AVX2 + FMA: f32_gemm_6x16__avx2 register tiles over NR = 16 column panels.
//
// Loops (BLIS order, A read in place): K blocks of kKc rows of B, then row blocks of kMc rows
// of A (an A block stays in L2), then this thread's column panels (a KC x 16 slice of a panel
// stays in L1), then 6-row tiles. Rows left over (M mod 6, and all of M < 6, e.g. the batch-1
// step) run an MR x (NP*16) tile over NP panels at once so that every FMA chain has enough
// independent neighbours to hide the FMA latency; panels are visited in groups of NP, the
// left-over rows right after the full tiles of their group, so that B streams through the cache
// once per row block. Each C element is one FMA chain from its init value over k in order; K
// blocks store and reload it exactly, so nothing depends on the tiling, M or part.nth.
#include <immintrin.h>

#include "ukernel/gemm/gemm.h"

namespace cellstate {
namespace {

constexpr size_t kNr = 16;   // columns per packed panel (two __m256)
constexpr size_t kMr = 6;    // rows of the main tile: 12 accumulators + 2 B + 1 A = 15 ymm
constexpr size_t kKc = 256;  // K block: a 6 x 16 tile reads 16 KB of B from L1
constexpr size_t kMc = 144;  // row block: 144 x 256 x 4 B = 144 KB of A in L2

static inline size_t MinSize(size_t a, size_t b) { return a < b ? a : b; }

// Lanes [0, n) of the two halves of a 16-column panel, n in 1..16.
struct ColMask {
  __m256i lo, hi;
};

static inline ColMask MakeColMask(size_t n) {
  const __m256i nn = _mm256_set1_epi32(static_cast<int>(n));
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return {_mm256_cmpgt_epi32(nn, iota),
          _mm256_cmpgt_epi32(nn, _mm256_add_epi32(iota, _mm256_set1_epi32(8)))};
}

// One tile: MR rows of C by NP panels (NP*16 columns), k in [0, kc).
//   a: &A[m0, k0]; b: panel p0 at row k0 (panel p at b + p*bs); c: &C[m0, n0];
//   bias: &bias[n0] or null (first K block only); load_c: start from C (accumulate, or a
//   later K block). kEdge: the last of the NP panels is partial, its valid lanes in mask.
//   pf: main tile only, one line prefetched per k (the next panel's slice of this K block).
template <size_t MR, size_t NP, bool kEdge>
void Tile(size_t kc, const float* a, size_t lda, const float* b, size_t bs, float* c, size_t ldc,
          const float* bias, bool load_c, ColMask mask, const float* pf) {
  __m256 acc[MR][2 * NP];
  CELLSTATE_UNROLL(8)
  for (size_t p = 0; p < NP; ++p) {
    CELLSTATE_UNROLL(2)
    for (size_t h = 0; h < 2; ++h) {
      const size_t j = 2 * p + h;
      const bool masked = kEdge && p == NP - 1;
      const __m256i mh = h == 0 ? mask.lo : mask.hi;
      const size_t off = p * kNr + h * 8;
      __m256 bv = _mm256_setzero_ps();
      if (bias != nullptr) {
        bv = masked ? _mm256_maskload_ps(bias + off, mh) : _mm256_loadu_ps(bias + off);
      }
      CELLSTATE_UNROLL(8)
      for (size_t m = 0; m < MR; ++m) {
        if (load_c) {
          const float* cm = c + m * ldc + off;
          const __m256 cv = masked ? _mm256_maskload_ps(cm, mh) : _mm256_loadu_ps(cm);
          acc[m][j] = bias != nullptr ? _mm256_add_ps(cv, bv) : cv;
        } else {
          acc[m][j] = bv;
        }
      }
    }
  }

  for (size_t k = 0; k < kc; ++k) {
    if constexpr (MR == kMr) _mm_prefetch(reinterpret_cast<const char*>(pf + k * kNr), _MM_HINT_T0);
    __m256 bk[2 * NP];
    CELLSTATE_UNROLL(16)
    for (size_t j = 0; j < 2 * NP; ++j) {
      bk[j] = _mm256_loadu_ps(b + (j / 2) * bs + k * kNr + (j % 2) * 8);
    }
    CELLSTATE_UNROLL(8)
    for (size_t m = 0; m < MR; ++m) {
      const __m256 ak = _mm256_broadcast_ss(a + m * lda + k);
      CELLSTATE_UNROLL(16)
      for (size_t j = 0; j < 2 * NP; ++j) acc[m][j] = _mm256_fmadd_ps(ak, bk[j], acc[m][j]);
    }
  }

  CELLSTATE_UNROLL(8)
  for (size_t m = 0; m < MR; ++m) {
    CELLSTATE_UNROLL(16)
    for (size_t j = 0; j < 2 * NP; ++j) {
      float* cm = c + m * ldc + j * 8;
      if (kEdge && j / 2 == NP - 1) {
        _mm256_maskstore_ps(cm, j % 2 == 0 ? mask.lo : mask.hi, acc[m][j]);
      } else {
        _mm256_storeu_ps(cm, acc[m][j]);
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
  bool last_partial;  // N is not a multiple of 16
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

// Panels per tile for mr < kMr rows: the widest tile that keeps 8 to 12 accumulators.
constexpr size_t kShortPanels[kMr] = {1, 6, 3, 2, 1, 1};

// Rows [0, mr) with mr < kMr over the panels [p, p_end), kShortPanels[mr] panels per tile.
void ShortRows(size_t mr, const Job& job, const float* a, size_t lda, float* c, size_t ldc,
               size_t p, size_t p_end) {
  switch (mr) {
    case 1:
      RowPanels<1, kShortPanels[1]>(job, a, lda, c, ldc, p, p_end);
      break;
    case 2:
      RowPanels<2, kShortPanels[2]>(job, a, lda, c, ldc, p, p_end);
      break;
    case 3:
      RowPanels<3, kShortPanels[3]>(job, a, lda, c, ldc, p, p_end);
      break;
    case 4:
      RowPanels<4, kShortPanels[4]>(job, a, lda, c, ldc, p, p_end);
      break;
    case 5:
      RowPanels<5, kShortPanels[5]>(job, a, lda, c, ldc, p, p_end);
      break;
    default:
      break;
  }
}

}  // namespace

size_t avx2_packed_size(size_t K, size_t N) { return (N + kNr - 1) / kNr * kNr * K; }

void avx2_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst) {
  const size_t np = (N + kNr - 1) / kNr;
  for (size_t p = 0; p < np; ++p) {
    const size_t n0 = p * kNr;
    const size_t nr = MinSize(kNr, N - n0);
    float* d = dst + p * K * kNr;
    const float* s0 = src + static_cast<ptrdiff_t>(n0) * cs;
    if (cs == 1 && nr == kNr) {
      for (size_t k = 0; k < K; ++k) {
        const float* s = s0 + static_cast<ptrdiff_t>(k) * rs;
        _mm256_storeu_ps(d + k * kNr, _mm256_loadu_ps(s));
        _mm256_storeu_ps(d + k * kNr + 8, _mm256_loadu_ps(s + 8));
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

void avx2_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
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
      // group, then the rest rows over the group while its slices are still in cache. Without
      // full tiles (M < 6, the batch-1 step) one group: B streams once anyway.
      const size_t group = rest != 0 && mfull != 0 ? kShortPanels[rest] : p_end - p_begin;
      for (size_t q = p_begin; q < p_end; q += group) {
        const size_t q_end = MinSize(q + group, p_end);
        if (mfull != 0) {
          for (size_t p = q; p < q_end; ++p) {
            const float* b = job.Bp + p * bs;
            const float* pb = job.bias != nullptr ? job.bias + p * kNr : nullptr;
            const bool edge = job.last_partial && p == np - 1;
            // While this panel's slice is in L1, pull the next one in (the first tile of a
            // panel would otherwise wait on memory: consecutive panels are K * 64 B apart).
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
