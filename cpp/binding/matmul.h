// Dense-layer products for lib/layers/dense.ts (which validates first):
//
//   matmul(M, N, K, A, aTrans, B, bTrans, bias | null, C, accumulate)
//       C[M,N] = (accumulate ? C : 0) + bias[n] + op(A)[M,K] · op(B)[K,N] on the environment's
//       engine (its ISA and threads); A is [M,K] or, with aTrans, [K,M]; B is [K,N] or, with
//       bTrans, [N,K]; every array a Float32Array of exactly that many elements.
//   new PackedMatrix(K, N, W, trans, bias | null)
//       W [K,N] (or [N,K] with trans) packed once; bias [N] copied.
//   packedMatrix.apply(M, X, C)     C[M,N] = bias + X[M,K] · op(W), one thread, no allocation
//   packedMatrix.rows (K) · packedMatrix.cols (N)
//   packedMatrix.dispose(): frees the packed weights now; apply is then ERR_CELLSTATE_DISPOSED
// A PackedMatrix reports the memory it holds to V8.
#pragma once

#include <napi.h>

#include <memory>

#include "cellstate/cellstate.h"
#include "memory.h"

namespace cellstate_node {

Napi::Value Matmul(const Napi::CallbackInfo& info);

class PackedMatrix : public Napi::ObjectWrap<PackedMatrix>, public Owner {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit PackedMatrix(const Napi::CallbackInfo& info);

 private:
  Napi::Value Apply(const Napi::CallbackInfo& info);
  Napi::Value Rows(const Napi::CallbackInfo& info);
  Napi::Value Cols(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void ReleaseNative() override {
    matrix_.reset();
    memory_.Set(0);
  }

  std::unique_ptr<cellstate::PackedMatrix> matrix_;  // null once disposed
  int rows_ = 0, cols_ = 0;
  ExternalMemory memory_;
  Registration registration_;
};

}  // namespace cellstate_node
