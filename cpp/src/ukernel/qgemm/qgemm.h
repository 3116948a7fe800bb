// int8 GEMM with dynamic per-row activation quantization (issue 17): the micro-kernels of the
// quantized LSTM/GRU/RNN inference path, one translation unit per ISA.
//
//   C[m, n] = [C[m, n] +] fma(float(acc[m, n]), a_scale[m] * w_scale[n], [bias[n]] or 0)
//   acc[m, n] = sum_k Aq[m, k] * Wq[n, k]            (exact, int32)
//
// Quantization (symmetric, zero point 0, as PyTorch's and onnxruntime's weights):
//   - weights: one scale per output row n, w_scale[n] = max_k |W[n, k]| / 127, values in
//     [-127, 127] (never -128: the AVX2 sign trick below and the NEON int16 pair sums rely on it);
//   - activations: one scale per row m, computed on the fly by quantize_rows from that row alone
//     (x_t and h_{t-1} of each batch row, every step), values in [-127, 127]. A row with a NaN or
//     an infinity gets a NaN scale (its outputs are NaN, as in float); an all-zero row scale 0.
// Every ISA computes the same int32 acc bit for bit (integer arithmetic is exact); the float
// epilogue is one fused multiply-add on the SIMD paths (explicit, so no tile rounds differently
// from another) and may differ from the scalar path's in the last bit.
//
// Packed weights (one layout for every ISA, so any table runs any packed matrix): N is cut into
// ceil(N / 16) panels of kQNr = 16 columns, K into Kp = round_up(K, 4) / 4 groups of 4:
//   panel p, group g, column j, byte t  ->  dst[p*Kp*16 + g*64 + j*4 + t] = Wq[p*16 + j, 4g + t]
// (zero past N and K), then one int32 per padded column, 128 * sum_k Wq[n, k], the correction of
// the unsigned-offset trick of vpdpbusd (u8 x s8: the kernel feeds Aq + 128 and subtracts it).
// One 64-byte group is one zmm (16 columns x 4 k, vpdpbusd), two ymm (AVX2, AVX-VNNI) or four q
// registers (NEON sdot, or smull + sadalp).
//
// Activations Aq: row m at Aq + m*lda, lda >= QgemmLda(K); bytes [K, round_up(K, 4)) must be
// readable (quantize_rows writes zeros there; their weights are zero, so any value gives the same
// result).
//
// Limits: K <= kQMaxK, so that |acc| (and the offset sums of vpdpbusd, up to K*255*127) fit int32.
//
// Loops (SIMD kernels): one template for every ISA, qgemm-driver.h: row blocks of kQMc, this
// thread's panels in small groups, the rows of the block in register tiles (the ISA's only part).
// Threads: part.ith of part.nth computes a contiguous range of column panels; results do not
// depend on part.nth, nor on M (a row alone equals the same row inside a larger product).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace cellstate {

constexpr size_t kQNr = 16;  // columns per packed panel
// Rows of A per block: the SIMD kernels sweep this thread's panels once per block of rows, so
// that C is written in row blocks (a [3200, 1024] C swept panel by panel over all rows thrashes
// the TLB: one page per row) while the weights stay in L2.
constexpr size_t kQMc = 128;
constexpr size_t kQMaxK = 65536;  // largest K: 65536 * 255 * 127 < 2^31
constexpr int kQMax = 127;        // largest |value| of a quantized weight or activation

// Row stride (bytes) of a quantized activation buffer for depth K: round_up(K, 64).
static constexpr size_t QgemmLda(size_t K) { return (K + 63) / 64 * 64; }
// Bytes of a packed weight matrix [N, K].
size_t QgemmPackedSize(size_t K, size_t N);
// Quantizes a float weight matrix W[n*ldw + k] (N rows of K) into Wq[n*K + k] and scale[n].
// False (nothing meaningful written) when W holds a NaN or an infinity.
bool QuantizeWeights(size_t N, size_t K, const float* W, size_t ldw, int8_t* Wq, float* scale);
// Packs Wq[n*ldw + k] (int8, |value| <= 127) into dst (QgemmPackedSize(K, N) bytes).
void QgemmPack(size_t K, size_t N, const int8_t* Wq, size_t ldw, void* dst);
// The inverse of QgemmPack: the N rows of K int8 values of a packed matrix into Wq[n*ldw + k].
void QgemmUnpack(size_t K, size_t N, const void* src, int8_t* Wq, size_t ldw);

// Quantizes M rows of K floats, A[m*lda + k], into Aq[m*ldq + k] (ldq >= round_up(K, 4); the
// bytes [K, round_up(K, 4)) of each row are zeroed) with scale[m]. Same bytes on every ISA.
using QuantizeRowsFn = void (*)(size_t M, size_t K, const float* A, size_t lda, int8_t* Aq,
                                size_t ldq, float* scale);
// The GEMM of the header comment. bias and C rows as in the float GEMM (C[m*ldc + n]).
using QgemmFn = void (*)(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda,
                         const float* a_scale, const void* Wp, const float* w_scale,
                         const float* bias, float* C, size_t ldc, bool accumulate, Part part);

struct QKernels {
  const char* name;  // "scalar", "avx2", "avxvnni", "avx512vnni", "neon", "neondot"
  QuantizeRowsFn quantize_rows;
  QgemmFn qgemm;
};

struct Engine;
// The whole product of the header comment for a call (a Dense layer's int8 GEMM) on the
// engine's threads, as Matmul runs the float one (one thread for small products): X [M, K]
// (row-major) quantized per row into Aq (rows of lda >= QgemmLda(K) bytes) and a_scale [M],
// split by rows, a barrier, then the GEMM split by column panels. Every thread count gives the
// same bits.
void QgemmRun(const Engine& e, const QKernels& qk, size_t M, size_t N, size_t K, const float* X,
              int8_t* Aq, size_t lda, float* a_scale, const void* Wp, const float* w_scale,
              const float* bias, float* C);

// The table of an ISA by name, or nullptr when unknown, not built or not supported by this CPU.
const QKernels* QKernelsByName(const char* name);
// The fastest table this CPU runs (scalar at worst).
const QKernels* BestQKernels();
// The int8 table that goes with a float engine's ISA name ("avx512" -> avx512vnni where the CPU
// has VNNI, else avxvnni or avx2; "avx2" -> avxvnni or avx2; "neon" -> neondot or neon;
// "scalar" and "ref" -> scalar), so that CELLSTATE_ISA forces both.
const QKernels* QKernelsForIsa(const char* float_isa);

// ---- per-ISA entry points (the tables point at these) -------------------------------------
void scalar_quantize_rows(size_t M, size_t K, const float* A, size_t lda, int8_t* Aq, size_t ldq,
                          float* scale);
void scalar_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
                  const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
                  bool accumulate, Part part);
#if defined(__x86_64__) || defined(_M_X64)
void avx2_quantize_rows(size_t M, size_t K, const float* A, size_t lda, int8_t* Aq, size_t ldq,
                        float* scale);
void avx2_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
                const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
                bool accumulate, Part part);
void avxvnni_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
                   const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
                   bool accumulate, Part part);
void avx512_quantize_rows(size_t M, size_t K, const float* A, size_t lda, int8_t* Aq, size_t ldq,
                          float* scale);
void avx512vnni_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda,
                      const float* a_scale, const void* Wp, const float* w_scale, const float* bias,
                      float* C, size_t ldc, bool accumulate, Part part);
#endif
#if defined(__aarch64__)
void neon_quantize_rows(size_t M, size_t K, const float* A, size_t lda, int8_t* Aq, size_t ldq,
                        float* scale);
void neon_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
                const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
                bool accumulate, Part part);
void neondot_qgemm(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
                   const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
                   bool accumulate, Part part);
#endif

}  // namespace cellstate
