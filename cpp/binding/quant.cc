#include "quant.h"

#include <climits>
#include <cstdlib>
#include <new>
#include <string>

#include "addon.h"
#include "args.h"
#include "native_layer.h"
#include "status.h"
#include "ukernel/qgemm/qgemm.h"

namespace cellstate_node {

namespace {

constexpr int kMaxDim = INT_MAX;

// The int8 GEMM's depth limit (int32 sums).
constexpr int kMaxK = static_cast<int>(cellstate::kQMaxK);

}  // namespace

Napi::Value QuantizeWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "quantizeWeights";
  return Guarded(env, where, [&]() -> Napi::Value {
    const Napi::Value n_v = info[0], k_v = info[1], w_v = info[2], q_v = info[3], s_v = info[4];
    const int N = ToInt(n_v, 1, kMaxDim, "N", where);
    const int K = ToInt(k_v, 1, kMaxDim, "K", where);
    const float* w = ArrayData<float>(w_v, Product(N, K), "W", where);
    int8_t* q = ArrayData<int8_t>(q_v, Product(N, K), "Wq", where);
    float* s = ArrayData<float>(s_v, static_cast<size_t>(N), "scale", where);
    return Napi::Boolean::New(env,
                              cellstate::QuantizeWeights(size_t(N), size_t(K), w, size_t(K), q, s));
  });
}

Napi::Value QuantizedWeight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "quantizedWeight";
  return Guarded(env, where, [&]() -> Napi::Value {
    const Napi::Value l_v = info[0], name_v = info[1], r_v = info[2], c_v = info[3], q_v = info[4],
                      s_v = info[5];
    std::shared_ptr<LayerState> state = NativeLayer::SharedState(l_v, "layer", where);
    const std::string name = ToString(name_v, "name", where);
    const int rows = ToInt(r_v, 1, kMaxDim, "rows", where);
    const int cols = ToInt(c_v, 1, kMaxDim, "cols", where);
    int8_t* q = ArrayData<int8_t>(q_v, Product(rows, cols), "q", where);
    float* s = ArrayData<float>(s_v, static_cast<size_t>(rows), "scale", where);
    const cellstate::Status status =
        state->Live(env, where).QuantizedWeight(name, size_t(rows), size_t(cols), q, s);
    if (!status.ok()) throw StatusError(env, status, where);
    return env.Undefined();
  });
}

Napi::Function QuantizedMatrix::DefineClass(Napi::Env env) {
  return ObjectWrap<QuantizedMatrix>::DefineClass(
      env, "QuantizedMatrix",
      {
          InstanceMethod("apply", &QuantizedMatrix::Apply),
          InstanceAccessor("rows", &QuantizedMatrix::Rows, nullptr),
          InstanceAccessor("cols", &QuantizedMatrix::Cols, nullptr),
          InstanceAccessor("isa", &QuantizedMatrix::Isa, nullptr),
          InstanceMethod("dispose", &QuantizedMatrix::Dispose),
      });
}

QuantizedMatrix::QuantizedMatrix(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<QuantizedMatrix>(info) {
  Napi::Env env = info.Env();
  const char* where = "QuantizedMatrix";
  Guarded(env, where, [&]() -> Napi::Value {
    const Napi::Value k_v = info[0], n_v = info[1], q_v = info[2], s_v = info[3], bias_v = info[4];
    const int K = ToInt(k_v, 1, kMaxK, "K", where);
    const int N = ToInt(n_v, 1, kMaxDim, "N", where);
    const int8_t* q = ArrayData<int8_t>(q_v, Product(N, K), "Wq", where);
    const float* s = ArrayData<float>(s_v, static_cast<size_t>(N), "scale", where);
    const float* bias =
        Absent(bias_v) ? nullptr : ArrayData<float>(bias_v, static_cast<size_t>(N), "bias", where);
    for (size_t i = 0, n = size_t(N) * size_t(K); i < n; ++i)
      if (q[i] < -cellstate::kQMax)
        throw CodedError(env, ErrorKind::kRangeError, kCodeOutOfRange,
                         std::string(where) + ": Wq values must be in [-127, 127], got -128");
    const cellstate::Engine& engine = env.GetInstanceData<Addon>()->engine(env, where);
    qk_ = cellstate::QKernelsForIsa(cellstate::IsaName(engine));
    if (!qk_)
      throw CodedError(env, ErrorKind::kError, kCodeUnsupported,
                       std::string(where) + ": no int8 kernels for this CPU");
    packed_.assign(cellstate::QgemmPackedSize(size_t(K), size_t(N)), 0);
    cellstate::QgemmPack(size_t(K), size_t(N), q, size_t(K), packed_.data());
    scale_.assign(s, s + N);
    if (bias) bias_.assign(bias, bias + N);
    rows_ = K;
    cols_ = N;
    live_ = true;
    memory_.Bind(env);
    memory_.Set(sizeof(QuantizedMatrix) + Bytes());
    registration_.Register(env.GetInstanceData<Addon>()->owners(), env, info.This(), this,
                           memory_.reported());
    return env.Undefined();
  });
}

Napi::Value QuantizedMatrix::Apply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "QuantizedMatrix.apply";
  return Guarded(env, where, [&]() -> Napi::Value {
    if (!live_) ThrowDisposed(env, where);
    const Napi::Value m_v = info[0], x_v = info[1], c_v = info[2];
    const int M = ToInt(m_v, 1, kMaxDim, "M", where);
    const float* x = ArrayData<float>(x_v, Product(M, rows_), "X", where);
    float* c = ArrayData<float>(c_v, Product(M, cols_), "C", where);
    const size_t K = size_t(rows_), N = size_t(cols_), lda = cellstate::QgemmLda(K);
    if (aq_.size() < size_t(M) * lda || ascale_.size() < size_t(M)) {
      aq_.resize(size_t(M) * lda);
      ascale_.resize(size_t(M));
      memory_.Set(sizeof(QuantizedMatrix) + Bytes());
    }
    const cellstate::Engine& engine = env.GetInstanceData<Addon>()->engine(env, where);
    cellstate::QgemmRun(engine, *qk_, size_t(M), N, K, x, aq_.data(), lda, ascale_.data(),
                        packed_.data(), scale_.data(), bias_.empty() ? nullptr : bias_.data(), c);
    return env.Undefined();
  });
}

Napi::Value QuantizedMatrix::Rows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), rows_);
}

Napi::Value QuantizedMatrix::Cols(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), cols_);
}

Napi::Value QuantizedMatrix::Isa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), qk_ ? qk_->name : "");
}

Napi::Value QuantizedMatrix::Dispose(const Napi::CallbackInfo& info) {
  ReleaseNative();
  return info.Env().Undefined();
}

}  // namespace cellstate_node
