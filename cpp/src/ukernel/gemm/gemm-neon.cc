// f32 GEMM for AArch64 Advanced SIMD: f32_gemm_8x8__neon register tiles over NR = 8 column
// panels, using vfmaq_laneq_f32 on four k values of each A row at a time.
//
// Loops as in gemm-avx2.cc: K blocks of kKc, row blocks of kMc, this thread's panels, 8-row
// tiles; the rows left over (M mod 8, and all of M < 8) run an MR x (NP*8) tile over NP
// panels at once. Each C element is one FMA chain from its init value over k in order, so
// nothing depends on the tiling, M or part.nth.
#include <arm_neon.h>

#include "ukernel/gemm/gemm.h"

namespace cellstate {
namespace {

constexpr size_t kNr = 8;    // columns per packed panel (two float32x4_t)
constexpr size_t kMr = 8;    // 16 accumulators + 8 A quads + 2 B = 26 of 32 q registers
constexpr size_t kKc = 256;  // K block: an 8 x 8 tile reads 8 KB of B from L1
constexpr size_t kMc = 128;  // row block: 128 KB of A

inline size_t MinSize(size_t a, size_t b) { return a < b ? a : b; }

// acc[m][j] += A(m, k0 + L) * B(k0 + L, j) for all m, j: one k step from the A quads. J is
// 2 * NP quads of columns; panel p of the tile at b + p*bs.
template <int L, size_t MR, size_t J>
inline void StepLane(float32x4_t (&acc)[MR][J], const float32x4_t (&aq)[MR], const float* b,
                     size_t bs) {
  float32x4_t bk[J];
  CELLSTATE_UNROLL(16)
  for (size_t j = 0; j < J; ++j) bk[j] = vld1q_f32(b + (j / 2) * bs + L * kNr + (j % 2) * 4);
  CELLSTATE_UNROLL(16)
  for (size_t m = 0; m < MR; ++m) {
    CELLSTATE_UNROLL(16)
    for (size_t j = 0; j < J; ++j) acc[m][j] = vfmaq_laneq_f32(acc[m][j], bk[j], aq[m], L);
  }
}

// One tile: MR rows of C by NP panels, k in [0, kc). a: &A[m0, k0]; b: panel p0 at row k0
// (panel p at b + p*bs); c: &C[m0, n0]; bias: &bias[n0] or null (first K block only);
// load_c: start from C. nlast: valid columns of the last of the NP panels (1..8).
template <size_t MR, size_t NP, bool kEdge>
void Tile(size_t kc, const float* a, size_t lda, const float* b, size_t bs, float* c, size_t ldc,
          const float* bias, bool load_c, size_t nlast) {
  float32x4_t acc[MR][2 * NP];
  CELLSTATE_UNROLL(16)
  for (size_t p = 0; p < NP; ++p) {
    const bool edge = kEdge && p == NP - 1;
    float tb[kNr] = {0, 0, 0, 0, 0, 0, 0, 0};
    const float* pb = nullptr;
    if (bias != nullptr) {
      if (edge) {
        for (size_t j = 0; j < nlast; ++j) tb[j] = bias[p * kNr + j];
        pb = tb;
      } else {
        pb = bias + p * kNr;
      }
    }
    CELLSTATE_UNROLL(16)
    for (size_t h = 0; h < 2; ++h) {
      const float32x4_t bv = pb != nullptr ? vld1q_f32(pb + h * 4) : vdupq_n_f32(0.0f);
      CELLSTATE_UNROLL(16)
      for (size_t m = 0; m < MR; ++m) {
        if (load_c) {
          const float* cm = c + m * ldc + p * kNr;
          float tc[kNr];
          if (edge) {
            for (size_t j = 0; j < nlast; ++j) tc[j] = cm[j];
            for (size_t j = nlast; j < kNr; ++j) tc[j] = 0.0f;
            cm = tc;
          }
          const float32x4_t cv = vld1q_f32(cm + h * 4);
          acc[m][2 * p + h] = bias != nullptr ? vaddq_f32(cv, bv) : cv;
        } else {
          acc[m][2 * p + h] = bv;
        }
      }
    }
  }

  size_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    float32x4_t aq[MR];
    CELLSTATE_UNROLL(16)
    for (size_t m = 0; m < MR; ++m) aq[m] = vld1q_f32(a + m * lda + k);
    const float* bk = b + k * kNr;
    StepLane<0>(acc, aq, bk, bs);
    StepLane<1>(acc, aq, bk, bs);
    StepLane<2>(acc, aq, bk, bs);
    StepLane<3>(acc, aq, bk, bs);
  }
  for (; k < kc; ++k) {
    float32x4_t bk[2 * NP];
    CELLSTATE_UNROLL(16)
    for (size_t j = 0; j < 2 * NP; ++j) bk[j] = vld1q_f32(b + (j / 2) * bs + k * kNr + (j % 2) * 4);
    CELLSTATE_UNROLL(16)
    for (size_t m = 0; m < MR; ++m) {
      const float32x4_t ak = vld1q_dup_f32(a + m * lda + k);
      CELLSTATE_UNROLL(16)
      for (size_t j = 0; j < 2 * NP; ++j) acc[m][j] = vfmaq_f32(acc[m][j], ak, bk[j]);
    }
  }

  CELLSTATE_UNROLL(16)
  for (size_t m = 0; m < MR; ++m) {
    CELLSTATE_UNROLL(16)
    for (size_t p = 0; p < NP; ++p) {
      float* cm = c + m * ldc + p * kNr;
      if (kEdge && p == NP - 1) {
        float tc[kNr];
        vst1q_f32(tc, acc[m][2 * p]);
        vst1q_f32(tc + 4, acc[m][2 * p + 1]);
        for (size_t j = 0; j < nlast; ++j) cm[j] = tc[j];
      } else {
        vst1q_f32(cm, acc[m][2 * p]);
        vst1q_f32(cm + 4, acc[m][2 * p + 1]);
      }
    }
  }
}

struct Job {
  size_t bs;          // panel stride K * kNr
  size_t kc;          // rows of this K block
  const float* Bp;    // packed B at row k0 of panel 0
  const float* bias;  // null after the first K block
  bool load_c;        // start from C
  size_t np;          // panels in B
  size_t nlast;       // valid columns of panel np - 1 (1..8)
};

// One tile over the R panels [p, p + R) for MR rows starting at a / c.
template <size_t MR, size_t R>
void PanelTile(const Job& job, const float* a, size_t lda, float* c, size_t ldc, size_t p) {
  const size_t bs = job.bs;
  const float* b = job.Bp + p * bs;
  float* cp = c + p * kNr;
  const float* bias = job.bias != nullptr ? job.bias + p * kNr : nullptr;
  if (job.nlast != kNr && p + R == job.np) {
    Tile<MR, R, true>(job.kc, a, lda, b, bs, cp, ldc, bias, job.load_c, job.nlast);
  } else {
    Tile<MR, R, false>(job.kc, a, lda, b, bs, cp, ldc, bias, job.load_c, job.nlast);
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

// Rows [0, mr) with mr < kMr: the widest tile that keeps 8 to 16 accumulators.
void ShortRows(size_t mr, const Job& job, const float* a, size_t lda, float* c, size_t ldc,
               size_t p, size_t p_end) {
  switch (mr) {
    case 1:
      RowPanels<1, 8>(job, a, lda, c, ldc, p, p_end);
      break;
    case 2:
      RowPanels<2, 4>(job, a, lda, c, ldc, p, p_end);
      break;
    case 3:
      RowPanels<3, 2>(job, a, lda, c, ldc, p, p_end);
      break;
    case 4:
      RowPanels<4, 2>(job, a, lda, c, ldc, p, p_end);
      break;
    case 5:
      RowPanels<5, 1>(job, a, lda, c, ldc, p, p_end);
      break;
    case 6:
      RowPanels<6, 1>(job, a, lda, c, ldc, p, p_end);
      break;
    case 7:
      RowPanels<7, 1>(job, a, lda, c, ldc, p, p_end);
      break;
    default:
      break;
  }
}

}  // namespace

size_t neon_packed_size(size_t K, size_t N) { return (N + kNr - 1) / kNr * kNr * K; }

void neon_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst) {
  const size_t np = (N + kNr - 1) / kNr;
  for (size_t p = 0; p < np; ++p) {
    const size_t n0 = p * kNr;
    const size_t nr = MinSize(kNr, N - n0);
    float* d = dst + p * K * kNr;
    const float* s0 = src + static_cast<ptrdiff_t>(n0) * cs;
    if (cs == 1 && nr == kNr) {
      for (size_t k = 0; k < K; ++k) {
        const float* s = s0 + static_cast<ptrdiff_t>(k) * rs;
        vst1q_f32(d + k * kNr, vld1q_f32(s));
        vst1q_f32(d + k * kNr + 4, vld1q_f32(s + 4));
      }
    } else {
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

void neon_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
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
  job.nlast = N - (np - 1) * kNr;
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
      if (mfull != 0) {
        for (size_t p = p_begin; p < p_end; ++p) {
          const float* b = job.Bp + p * bs;
          const float* pb = job.bias != nullptr ? job.bias + p * kNr : nullptr;
          const bool edge = job.nlast != kNr && p == np - 1;
          for (size_t i = i0; i < i0 + mfull; i += kMr) {
            const float* a = Ak + i * lda;
            float* c = C + i * ldc + p * kNr;
            if (edge) {
              Tile<kMr, 1, true>(job.kc, a, lda, b, bs, c, ldc, pb, job.load_c, job.nlast);
            } else {
              Tile<kMr, 1, false>(job.kc, a, lda, b, bs, c, ldc, pb, job.load_c, job.nlast);
            }
          }
        }
      }
      if (mc != mfull) {
        const size_t i = i0 + mfull;
        ShortRows(mc - mfull, job, Ak + i * lda, lda, C + i * ldc, ldc, p_begin, p_end);
      }
    }
    k0 += kKc;
  } while (k0 < K);
}

}  // namespace cellstate
