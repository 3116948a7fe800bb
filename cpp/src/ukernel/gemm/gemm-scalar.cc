// f32 GEMM in portable C++: f32_gemm_4x8__scalar tiles over NR = 8 column panels. Plain loops
// over small arrays that the compiler keeps in registers and vectorizes across the columns
// (baseline SSE2 / NEON). Rows left over (M mod 4, and all of M < 4, e.g. the batch-1 step)
// run over several panels at once for more independent sums. Each C element is one chain
// c = init; c += a·b over k in order, as in every ISA (gemm.h), so the result does not depend
// on the tiling, M or part.nth.
#include "ukernel/gemm/gemm.h"

// GCC -O3 would vectorize the k loop (a transpose per step, 2-3x slower) instead of the
// columns; keep the loop vectorizer off the tile and let the SLP vectorizer take the columns.
#if defined(__GNUC__) && !defined(__clang__)
#define CELLSTATE_NO_LOOP_VECTORIZE __attribute__((optimize("no-tree-loop-vectorize")))
#else
#define CELLSTATE_NO_LOOP_VECTORIZE
#endif

namespace cellstate {
namespace {

constexpr size_t kNr = 8;
constexpr size_t kMr = 4;

inline size_t MinSize(size_t a, size_t b) { return a < b ? a : b; }

// MR rows of C by NP panels (panel p at b + p*K*kNr); columns [0, ncols) are stored.
template <size_t MR, size_t NP>
CELLSTATE_NO_LOOP_VECTORIZE void Tile(size_t K, const float* a, size_t lda, const float* b,
                                      float* c, size_t ldc, const float* bias, bool load_c,
                                      size_t ncols) {
  constexpr size_t kCols = NP * kNr;
  float acc[MR][kCols];
  for (size_t m = 0; m < MR; ++m) {
    for (size_t j = 0; j < kCols; ++j) {
      const float bj = bias != nullptr && j < ncols ? bias[j] : 0.0f;
      if (load_c && j < ncols) {
        acc[m][j] = bias != nullptr ? c[m * ldc + j] + bj : c[m * ldc + j];
      } else {
        acc[m][j] = bj;
      }
    }
  }
  const size_t bs = K * kNr;
  for (size_t k = 0; k < K; ++k) {
    float bk[kCols];
    CELLSTATE_UNROLL(32)
    for (size_t j = 0; j < kCols; ++j) bk[j] = b[(j / kNr) * bs + k * kNr + j % kNr];
    CELLSTATE_UNROLL(4)
    for (size_t m = 0; m < MR; ++m) {
      const float ak = a[m * lda + k];
      CELLSTATE_UNROLL(32)
      for (size_t j = 0; j < kCols; ++j) acc[m][j] += ak * bk[j];
    }
  }
  for (size_t m = 0; m < MR; ++m) {
    for (size_t j = 0; j < ncols; ++j) c[m * ldc + j] = acc[m][j];
  }
}

// Rows [i, i + MR) over panels [p, p_end), NP panels per tile, then one at a time.
template <size_t MR, size_t NP>
void Rows(size_t N, size_t K, const float* A, size_t lda, const float* Bp, const float* bias,
          float* C, size_t ldc, bool accumulate, size_t i, size_t p, size_t p_end) {
  for (; p < p_end; p += NP) {
    const size_t n0 = p * kNr;
    const float* a = A + i * lda;
    const float* b = Bp + p * K * kNr;
    const float* pb = bias != nullptr ? bias + n0 : nullptr;
    float* c = C + i * ldc + n0;
    if (p + NP <= p_end) {
      Tile<MR, NP>(K, a, lda, b, c, ldc, pb, accumulate, MinSize(NP * kNr, N - n0));
    } else {
      for (; p < p_end; ++p) {
        const size_t n = p * kNr;
        Tile<MR, 1>(K, a, lda, Bp + p * K * kNr, C + i * ldc + n, ldc,
                    bias != nullptr ? bias + n : nullptr, accumulate, MinSize(kNr, N - n));
      }
      return;
    }
  }
}

}  // namespace

size_t scalar_packed_size(size_t K, size_t N) { return (N + kNr - 1) / kNr * kNr * K; }

void scalar_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst) {
  const size_t np = (N + kNr - 1) / kNr;
  for (size_t p = 0; p < np; ++p) {
    float* d = dst + p * K * kNr;
    for (size_t j = 0; j < kNr; ++j) {
      const size_t n = p * kNr + j;
      if (n < N) {
        const float* s = src + static_cast<ptrdiff_t>(n) * cs;
        for (size_t k = 0; k < K; ++k) d[k * kNr + j] = s[static_cast<ptrdiff_t>(k) * rs];
      } else {
        for (size_t k = 0; k < K; ++k) d[k * kNr + j] = 0.0f;
      }
    }
  }
}

void scalar_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                 const float* bias, float* C, size_t ldc, bool accumulate, Part part) {
  if (M == 0 || N == 0) return;
  const size_t np = (N + kNr - 1) / kNr;
  const size_t nth = part.nth > 0 ? static_cast<size_t>(part.nth) : 1;
  const size_t ith = part.ith > 0 ? static_cast<size_t>(part.ith) : 0;
  const size_t p_begin = np * ith / nth;
  const size_t p_end = np * (ith + 1) / nth;
  if (p_begin >= p_end) return;
  size_t i = 0;
  for (; i + kMr <= M; i += kMr) {
    Rows<kMr, 1>(N, K, A, lda, Bp, bias, C, ldc, accumulate, i, p_begin, p_end);
  }
  switch (M - i) {
    case 1:
      Rows<1, 4>(N, K, A, lda, Bp, bias, C, ldc, accumulate, i, p_begin, p_end);
      break;
    case 2:
      Rows<2, 2>(N, K, A, lda, Bp, bias, C, ldc, accumulate, i, p_begin, p_end);
      break;
    case 3:
      Rows<3, 1>(N, K, A, lda, Bp, bias, C, ldc, accumulate, i, p_begin, p_end);
      break;
    default:
      break;
  }
}

}  // namespace cellstate
