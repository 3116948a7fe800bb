// int8 entries for lib/layers/quant.ts (issue 17), which validates first:
//
//   quantizeWeights(N, K, W, Wq, scale): boolean
//       W [N,K] (float) -> Wq [N,K] (Int8Array, |value| <= 127) and scale [N], one scale per row
//       (max |w| / 127; the int8 GEMM's QuantizeWeights). false when W holds a NaN or an
//       infinity (nothing meaningful written).
//   new QuantizedMatrix(K, N, Wq, scale, bias | null)
//       Wq [N,K] int8 (|value| <= 127, checked) packed once for the int8 GEMM of the
//       environment's ISA; scale [N] and bias [N] copied.
//   quantizedMatrix.apply(M, X, C)
//       C[M,N] = bias + dequantized(quantize_rows(X) · Wqᵀ): X [M,K] quantized per row (dynamic),
//       products summed exactly in int32; on the engine's threads (QgemmRun: the same bits for any
//       count).
//   quantizedMatrix.rows (K) · quantizedMatrix.cols (N) · quantizedMatrix.isa
//   quantizedMatrix.dispose(): frees the packed weights now; apply is then ERR_CELLSTATE_DISPOSED
//   quantizedWeight(nativeLayer, name, rows, cols, q, scale)
//       the int8 values [rows, cols] (Int8Array) and row scales [rows] a quantized NativeLayer
//       runs on for its weight `name` (ERR_CELLSTATE_UNSUPPORTED when it is not quantized).
#pragma once

#include <napi.h>

#include <cstdint>
#include <vector>

#include "memory.h"

namespace cellstate {
struct QKernels;
}

namespace cellstate_node {

Napi::Value QuantizeWeights(const Napi::CallbackInfo& info);
Napi::Value QuantizedWeight(const Napi::CallbackInfo& info);

class QuantizedMatrix : public Napi::ObjectWrap<QuantizedMatrix>, public Owner {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit QuantizedMatrix(const Napi::CallbackInfo& info);

 private:
  Napi::Value Apply(const Napi::CallbackInfo& info);
  Napi::Value Rows(const Napi::CallbackInfo& info);
  Napi::Value Cols(const Napi::CallbackInfo& info);
  Napi::Value Isa(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void ReleaseNative() override {
    packed_ = {};
    scale_ = {};
    bias_ = {};
    aq_ = {};
    ascale_ = {};
    live_ = false;
    memory_.Set(0);
  }
  size_t Bytes() const {
    return packed_.capacity() + (scale_.capacity() + bias_.capacity() + ascale_.capacity()) * 4 +
           aq_.capacity();
  }

  const cellstate::QKernels* qk_ = nullptr;
  bool live_ = false;
  int rows_ = 0, cols_ = 0;
  std::vector<uint8_t> packed_;
  std::vector<float> scale_, bias_;
  // apply's scratch: the quantized rows and their scales (grown once, reused).
  std::vector<int8_t> aq_;
  std::vector<float> ascale_;
  ExternalMemory memory_;
  Registration registration_;
};

}  // namespace cellstate_node
