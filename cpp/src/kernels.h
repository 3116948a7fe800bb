// The micro-kernel table: what an ISA provides to the time loop. One table per ISA
// (cpp/src/dispatch), plus the reference table templated on float and double (cpp/src/ref).
// The time loop (cpp/src/cell) only ever calls through this table.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cell/gru.h"
#include "cell/lstm.h"
#include "cell/rnn.h"

namespace cellstate {

struct Team;

// Partition of the work of one call among nth threads; this thread is ith. team is the
// barrier of the parallel region (null on one thread).
struct Part {
  int ith = 0;
  int nth = 1;
  Team* team = nullptr;
};

// One operand set of Kernels::gemm_pair: C[M,N] (=|+=) bias + A[M,K] · B[K,N], B packed.
template <typename T>
struct GemmOp {
  size_t K = 0;
  const T* A = nullptr;
  size_t lda = 0;
  const T* Bp = nullptr;
  const T* bias = nullptr;  // [N] or null
  T* C = nullptr;
  size_t ldc = 0;
  bool accumulate = false;
};

template <typename T>
struct Kernels {
  const char* name = nullptr;  // "ref", "scalar", "avx2", "avx512", "neon"

  // ---- GEMM: C[M,N] (=|+=) bias + A[M,K] · B[K,N] -------------------------------------
  // B is packed once (weights) or per call (activations) into an ISA-specific layout.
  size_t (*packed_size)(size_t K, size_t N) = nullptr;  // elements needed for a packed B
  // B(k, n) = src[k*rs + n*cs]. dst holds packed_size(K, N) elements.
  void (*pack)(size_t K, size_t N, const T* src, ptrdiff_t rs, ptrdiff_t cs, T* dst) = nullptr;
  // C[m*ldc + n] = (accumulate ? C[m*ldc + n] : 0) + (bias ? bias[n] : 0)
  //              + sum_k A[m*lda + k] * B(k, n)
  // Thread part.ith of part.nth computes a disjoint slice of the columns n; the union over
  // all threads is the whole product. Results do not depend on nth. K may be 0.
  void (*gemm)(size_t M, size_t N, size_t K, const T* A, size_t lda, const T* Bp, const T* bias,
               T* C, size_t ldc, bool accumulate, Part part) = nullptr;
  // Two GEMMs with the same N, `first` then `second`, with exactly the results of gemm(first)
  // then gemm(second) (second may continue first's chains: second.C == first.C, accumulate).
  // For M below the main tile's rows (the streaming step) it visits this thread's column
  // panels in groups, each group through both products before the next, so that the two
  // weight matrices stream through the cache once together; `reverse` visits the groups from
  // the last (a caller alternating it between calls finds the end it read last still in the
  // cache). Larger M: gemm(first), then gemm(second). Split among threads as gemm.
  void (*gemm_pair)(size_t M, size_t N, const GemmOp<T>& first, const GemmOp<T>& second,
                    bool reverse, Part part) = nullptr;

  // ---- post-GEMM: one sub-table per cell family, declared in the family's header
  // (cell/<family>.h) and filled by name (FillLstm<V> etc. in ukernel/postgemm/<family>-impl.h).
  LstmKernels<T> lstm;
  GruKernels<T> gru;
  RnnKernels<T> rnn;

  // Element-wise helpers used by tests and activations checks.
  void (*sigmoid)(size_t n, const T* x, T* y) = nullptr;
  void (*tanh)(size_t n, const T* x, T* y) = nullptr;
};

// Tables. ref: naive loops and <cmath>, float and double. The ISA tables are float only and
// exist in a build only where the compiler can target them (nullptr otherwise).
template <typename T>
const Kernels<T>* RefKernels();
const Kernels<float>* ScalarKernels();
const Kernels<float>* Avx2Kernels();    // nullptr when not built for x86-64
const Kernels<float>* Avx512Kernels();  // nullptr when not built for x86-64
const Kernels<float>* NeonKernels();    // nullptr when not built for aarch64

}  // namespace cellstate
