// The reference micro-kernels: naive loops and <cmath>, written straight from docs/cells.md,
// templated on float and double. The double instance is the oracle of the gradient checks;
// every ISA table is tested against these. Built with -ffp-contract=off.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels.h"
#include "ref/ref-postgemm-act.h"
#include "ukernel/postgemm/layernorm.h"

namespace cellstate {
namespace {

template <typename T>
T Sigm(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <typename T>
size_t PackedSize(size_t K, size_t N) {
  return K * N;
}

// Reference packing: plain row-major [K, N].
template <typename T>
void Pack(size_t K, size_t N, const T* src, ptrdiff_t rs, ptrdiff_t cs, T* dst) {
  for (size_t k = 0; k < K; ++k)
    for (size_t n = 0; n < N; ++n)
      dst[k * N + n] = src[static_cast<ptrdiff_t>(k) * rs + static_cast<ptrdiff_t>(n) * cs];
}

template <typename T>
void Gemm(size_t M, size_t N, size_t K, const T* A, size_t lda, const T* B, const T* bias, T* C,
          size_t ldc, bool accumulate, Part part) {
  const size_t n0 = N * part.ith / part.nth, n1 = N * (part.ith + 1) / part.nth;
  for (size_t m = 0; m < M; ++m) {
    for (size_t n = n0; n < n1; ++n) {
      T s = 0;
      for (size_t k = 0; k < K; ++k) s += A[m * lda + k] * B[k * N + n];
      if (bias) s += bias[n];
      C[m * ldc + n] = accumulate ? C[m * ldc + n] + s : s;
    }
  }
}

// gemm(f) then gemm(s): the reference has no panels to group.
template <typename T>
void GemmPair(size_t M, size_t N, const GemmOp<T>& f, const GemmOp<T>& s, bool, Part part) {
  Gemm<T>(M, N, f.K, f.A, f.lda, f.Bp, f.bias, f.C, f.ldc, f.accumulate, part);
  Gemm<T>(M, N, s.K, s.A, s.lda, s.Bp, s.bias, s.C, s.ldc, s.accumulate, part);
}

// The cell families' reference steps (one header each), then the table filled by name.
#include "ref/gru-ref.h"
#include "ref/lstm-ref.h"
#include "ref/rnn-ref.h"

template <typename T>
void SigmoidN(size_t n, const T* x, T* y) {
  for (size_t j = 0; j < n; ++j) y[j] = Sigm(x[j]);
}

template <typename T>
void TanhN(size_t n, const T* x, T* y) {
  for (size_t j = 0; j < n; ++j) y[j] = std::tanh(x[j]);
}

template <typename T>
constexpr Kernels<T> MakeRef() {
  Kernels<T> t;
  t.name = "ref";
  t.packed_size = PackedSize<T>;
  t.pack = Pack<T>;
  t.gemm = Gemm<T>;
  t.gemm_pair = GemmPair<T>;
  FillRefLstm<T>(&t.lstm);
  FillRefGru<T>(&t.gru);
  FillRefRnn<T>(&t.rnn);
  t.sigmoid = SigmoidN<T>;
  t.tanh = TanhN<T>;
  return t;
}

template <typename T>
constexpr Kernels<T> kRef = MakeRef<T>();

}  // namespace

template <typename T>
const Kernels<T>* RefKernels() {
  return &kRef<T>;
}

template const Kernels<float>* RefKernels<float>();
template const Kernels<double>* RefKernels<double>();

}  // namespace cellstate
