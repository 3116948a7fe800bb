#include "matmul.h"

#include <climits>
#include <new>
#include <string>

#include "addon.h"
#include "args.h"
#include "status.h"

namespace cellstate_node {

namespace {

// The kernel's GEMM takes int sizes; so does everything here.
constexpr int kMaxDim = INT_MAX;

[[noreturn]] void ThrowOom(Napi::Env env, const char* where) {
  throw CodedError(env, ErrorKind::kError, kCodeOutOfMemory,
                   std::string(where) + ": out of memory");
}

}  // namespace

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "matmul";
  // Fetch every argument first, convert afterwards (no JavaScript between taking a typed
  // array's data pointer and using it).
  const Napi::Value m_v = info[0], n_v = info[1], k_v = info[2], a_v = info[3], at_v = info[4],
                    b_v = info[5], bt_v = info[6], bias_v = info[7], c_v = info[8], acc_v = info[9];
  const int M = ToInt(m_v, 1, kMaxDim, "M", where);
  const int N = ToInt(n_v, 1, kMaxDim, "N", where);
  const int K = ToInt(k_v, 1, kMaxDim, "K", where);
  const bool a_trans = ToBool(at_v, "aTrans", where);
  const bool b_trans = ToBool(bt_v, "bTrans", where);
  const bool accumulate = ToBool(acc_v, "accumulate", where);
  const float* a = ArrayData<float>(a_v, Product(M, K), "A", where);
  const float* b = ArrayData<float>(b_v, Product(K, N), "B", where);
  const float* bias =
      Absent(bias_v) ? nullptr : ArrayData<float>(bias_v, static_cast<size_t>(N), "bias", where);
  float* c = ArrayData<float>(c_v, Product(M, N), "C", where);
  const cellstate::Engine& engine = env.GetInstanceData<Addon>()->engine(env, where);
  cellstate::Status status;
  try {
    status = cellstate::Matmul(engine, M, N, K, a, a_trans, b, b_trans, bias, c, accumulate);
  } catch (const std::bad_alloc&) {
    ThrowOom(env, where);
  }
  if (!status.ok()) throw StatusError(env, status, where);
  return env.Undefined();
}

Napi::Function PackedMatrix::DefineClass(Napi::Env env) {
  return ObjectWrap<PackedMatrix>::DefineClass(
      env, "PackedMatrix",
      {
          InstanceMethod("apply", &PackedMatrix::Apply),
          InstanceAccessor("rows", &PackedMatrix::Rows, nullptr),
          InstanceAccessor("cols", &PackedMatrix::Cols, nullptr),
          InstanceMethod("dispose", &PackedMatrix::Dispose),
      });
}

PackedMatrix::PackedMatrix(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PackedMatrix>(info) {
  Napi::Env env = info.Env();
  const char* where = "PackedMatrix";
  const Napi::Value k_v = info[0], n_v = info[1], w_v = info[2], t_v = info[3], bias_v = info[4];
  const int K = ToInt(k_v, 1, kMaxDim, "K", where);
  const int N = ToInt(n_v, 1, kMaxDim, "N", where);
  const bool trans = ToBool(t_v, "trans", where);
  const float* w = ArrayData<float>(w_v, Product(K, N), "W", where);
  const float* bias =
      Absent(bias_v) ? nullptr : ArrayData<float>(bias_v, static_cast<size_t>(N), "bias", where);
  const cellstate::Engine& engine = env.GetInstanceData<Addon>()->engine(env, where);
  cellstate::Status status;
  try {
    status = cellstate::PackedMatrix::Create(engine, K, N, w, trans, bias, &matrix_);
  } catch (const std::bad_alloc&) {
    ThrowOom(env, where);
  }
  if (!status.ok()) throw StatusError(env, status, where);
  rows_ = matrix_->rows();
  cols_ = matrix_->cols();
  memory_.Bind(env);
  memory_.Set(sizeof(cellstate::PackedMatrix) + matrix_->MemoryBytes());
  registration_.Register(env.GetInstanceData<Addon>()->owners(), env, info.This(), this,
                         memory_.reported());
}

Napi::Value PackedMatrix::Apply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "PackedMatrix.apply";
  if (!matrix_) ThrowDisposed(env, where);
  const Napi::Value m_v = info[0], x_v = info[1], c_v = info[2];
  const int M = ToInt(m_v, 1, kMaxDim, "M", where);
  const float* x = ArrayData<float>(x_v, Product(M, matrix_->rows()), "X", where);
  float* c = ArrayData<float>(c_v, Product(M, matrix_->cols()), "C", where);
  matrix_->Apply(M, x, c);
  return env.Undefined();
}

Napi::Value PackedMatrix::Rows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), rows_);
}

Napi::Value PackedMatrix::Cols(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), cols_);
}

Napi::Value PackedMatrix::Dispose(const Napi::CallbackInfo& info) {
  ReleaseNative();
  return info.Env().Undefined();
}

}  // namespace cellstate_node
