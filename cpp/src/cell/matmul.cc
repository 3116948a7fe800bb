// General GEMM entry points on the engine's micro-kernels (Dense layers, heads).
#include <algorithm>
#include <memory>
#include <new>

#include "cell/driver.h"
#include "cellstate/cellstate.h"
#include "dispatch/parallel.h"
#include "kernels.h"
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {

Status Matmul(const Engine& e, int M, int N, int K, const float* A, bool a_trans, const float* B,
              bool b_trans, const float* bias, float* C, bool accumulate) {
  if (M < 0 || N < 0 || K < 0) return Status::Error(Code::kOutOfRange, "negative GEMM size");
  if (M == 0 || N == 0) return Status::Ok();
  const Kernels<float>& k = *KernelsFor<float>(e);
  try {
    // Uninitialised (the pack writes every element) and from the heap, which reuses the block
    // call after call: a fresh mapping per call would cost page faults on every call.
    std::unique_ptr<float[]> bp(new float[k.packed_size(K, N)]);
    // The GEMM reads A in place, row by row. A row stride that is a multiple of 4 KB puts every
    // row of a register tile into one L1 set and the rows of a row block into few L2 sets
    // (2048^3 ran 1.3x slower than with a padded stride, avx512 on Zen 5); such an A, like a
    // transposed one, is copied first, each row one cache line longer.
    const bool aliased = M > 1 && K % 1024 == 0;
    const size_t lda = aliased ? size_t(K) + 16 : size_t(K);
    std::unique_ptr<float[]> copy;
    if (a_trans || aliased) copy.reset(new float[size_t(M) * lda]);
    const float* a = copy ? copy.get() : A;
    const double flops = 2.0 * M * N * K;
    const int nth = (e.threads > 1 && flops >= 16 * e.parallel_min_flops) ? e.threads : 1;
    Parallel(e.pool.get(), nth, true, [&](Part p) {
      if (copy) {  // this thread's rows of A
        float* dst = copy.get();
        const size_t m1 = size_t(M) * p.ith / p.nth, m2 = size_t(M) * (p.ith + 1) / p.nth;
        for (size_t m = m1; m < m2; ++m) {
          if (a_trans) {
            for (size_t kk = 0; kk < size_t(K); ++kk) dst[m * lda + kk] = A[kk * M + m];
          } else {
            std::copy(A + m * K, A + (m + 1) * K, dst + m * lda);
          }
        }
      }
      // B(k, n) = B[k*N + n], or B[n*K + k] when transposed.
      PackParallel(k, K, N, B, b_trans ? 1 : N, b_trans ? K : 1, bp.get(), p);
      Barrier(p);
      k.gemm(M, N, K, a, lda, bp.get(), bias, C, N, accumulate, p);
    });
  } catch (const std::bad_alloc&) {
    return Status::Error(Code::kOutOfMemory, "out of memory for a GEMM");
  }
  return Status::Ok();
}

void QgemmRun(const Engine& e, const QKernels& qk, size_t M, size_t N, size_t K, const float* X,
              int8_t* Aq, size_t lda, float* a_scale, const void* Wp, const float* w_scale,
              const float* bias, float* C) {
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const int nth = (e.threads > 1 && flops >= 16 * e.parallel_min_flops) ? e.threads : 1;
  Parallel(e.pool.get(), nth, true, [&](Part p) {
    const size_t m1 = M * size_t(p.ith) / size_t(p.nth), m2 = M * size_t(p.ith + 1) / size_t(p.nth);
    if (m2 > m1) qk.quantize_rows(m2 - m1, K, X + m1 * K, K, Aq + m1 * lda, lda, a_scale + m1);
    Barrier(p);
    qk.qgemm(M, N, K, Aq, lda, a_scale, Wp, w_scale, bias, C, N, false, p);
  });
}

Status PackedMatrix::Create(const Engine& e, int K, int N, const float* W, bool trans,
                            const float* bias, std::unique_ptr<PackedMatrix>* out) {
  if (K < 1 || N < 1) return Status::Error(Code::kOutOfRange, "matrix sizes must be >= 1");
  const Kernels<float>& k = *KernelsFor<float>(e);
  try {
    std::unique_ptr<PackedMatrix> pm(new PackedMatrix());
    pm->kernels_ = &k;
    pm->K_ = K;
    pm->N_ = N;
    pm->packed_.resize(k.packed_size(K, N));
    k.pack(K, N, W, trans ? 1 : N, trans ? K : 1, pm->packed_.data());
    if (bias) pm->bias_.assign(bias, bias + N);
    *out = std::move(pm);
  } catch (const std::bad_alloc&) {
    return Status::Error(Code::kOutOfMemory, "out of memory for a packed matrix");
  }
  return Status::Ok();
}

void PackedMatrix::Apply(int M, const float* X, float* C) const {
  const Kernels<float>& k = *static_cast<const Kernels<float>*>(kernels_);
  DenormalGuard guard(true);
  k.gemm(M, N_, K_, X, K_, packed_.data(), bias_.empty() ? nullptr : bias_.data(), C, N_, false,
         Part{});
}

}  // namespace cellstate
