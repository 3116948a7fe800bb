// GEMM micro-kernels, one translation unit per ISA; the dispatch tables point at these.
// Semantics: Kernels<float>::packed_size / pack / gemm in kernels.h.
//
// Packed layout (all ISAs, BLIS style): B is cut into ceil(N / NR) column panels; panel p
// holds B(k, p*NR + j) at dst[p*K*NR + k*NR + j] for k < K, j < NR, zero past column N - 1.
// NR is 8 (scalar, neon), 16 (avx2) or 32 (avx512) and equals packed_size(1, 1), so a packed B
// belongs to the ISA that packed it. Panels are independent: packing the columns [q*NR, N) alone
// writes exactly panels q.. of the whole (threads may pack by panels).
//
// Every C element is one chain c = init; c = c + A(m,k)·B(k,n) for k = 0, 1, ..., K - 1 in
// order (init = [C +] [bias]; fused multiply-add on avx2, avx512 and neon), whatever the tile, the
// thread count or the K block, so the result depends neither on part.nth nor on M: a row
// computed alone (the batch-1 step) equals the same row inside a larger product.
#pragma once

#include <cstddef>

#include "kernels.h"

// Full unrolling of the small constant loops of the register tiles (GCC, Clang; MSVC does its
// own).
#define CELLSTATE_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define CELLSTATE_UNROLL(n) CELLSTATE_PRAGMA(unroll n)
#elif defined(__GNUC__)
#define CELLSTATE_UNROLL(n) CELLSTATE_PRAGMA(GCC unroll n)
#else
#define CELLSTATE_UNROLL(n)
#endif

namespace cellstate {

size_t scalar_packed_size(size_t K, size_t N);
void scalar_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst);
void scalar_gemm_pair(size_t M, size_t N, const GemmOp<float>& first, const GemmOp<float>& second,
                      bool reverse, Part part);
void scalar_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                 const float* bias, float* C, size_t ldc, bool accumulate, Part part);

#if defined(__x86_64__) || defined(_M_X64)
size_t avx2_packed_size(size_t K, size_t N);
void avx2_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst);
void avx2_gemm_pair(size_t M, size_t N, const GemmOp<float>& first, const GemmOp<float>& second,
                    bool reverse, Part part);
void avx2_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
               const float* bias, float* C, size_t ldc, bool accumulate, Part part);

size_t avx512_packed_size(size_t K, size_t N);
void avx512_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst);
void avx512_gemm_pair(size_t M, size_t N, const GemmOp<float>& first, const GemmOp<float>& second,
                      bool reverse, Part part);
void avx512_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                 const float* bias, float* C, size_t ldc, bool accumulate, Part part);
// avx512_gemm runs one of these, chosen once per process from the core (CpuCoreKind): the same
// tile and packed layout, only the K block differs, so the results are the same bit for bit.
// avx512_gemm_kc() is the K block chosen on this CPU (512 on Zen 5, 256 elsewhere); with 512,
// products of 256 rows or more run in gemm-driver.h's column-block order (ColumnBlocks).
size_t avx512_gemm_kc();
void avx512_gemm_kc256(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                       const float* bias, float* C, size_t ldc, bool accumulate, Part part);
void avx512_gemm_kc512(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                       const float* bias, float* C, size_t ldc, bool accumulate, Part part);
// The K block 512 in the row-block order only (avx512_gemm_kc512 runs column blocks from 256
// rows on): for tests and benchmarks.
void avx512_gemm_kc512_rows(size_t M, size_t N, size_t K, const float* A, size_t lda,
                            const float* Bp, const float* bias, float* C, size_t ldc,
                            bool accumulate, Part part);
#endif

#if defined(__aarch64__)
size_t neon_packed_size(size_t K, size_t N);
void neon_pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst);
void neon_gemm_pair(size_t M, size_t N, const GemmOp<float>& first, const GemmOp<float>& second,
                    bool reverse, Part part);
void neon_gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
               const float* bias, float* C, size_t ldc, bool accumulate, Part part);
#endif

}  // namespace cellstate
