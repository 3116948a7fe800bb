#include "stream.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>

#include "addon.h"
#include "args.h"
#include "status.h"

namespace cellstate_node {

namespace {

using cellstate::Status;

// Largest row count of one stream or pool.
constexpr int kMaxRows = 1 << 24;

// Marks NativeSnapshot objects, so restore never unwraps another class's object as one.
constexpr napi_type_tag kSnapshotTag = {0x6365'6c6c'736e'6170ULL, 0x7368'6f74'0000'0001ULL};

// The data of a Float32Array with at least `count` elements (count >= 1, so a detached buffer
// is refused too).
float* Floats(const Napi::Value& v, size_t count, const char* name, const char* where) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw CodedError(v.Env(), ErrorKind::kTypeError, kCodeInvalidArg,
                     std::string(where) + ": " + name + " must be a Float32Array");
  Napi::Float32Array array = v.As<Napi::Float32Array>();
  if (array.ElementLength() < count)
    throw CodedError(v.Env(), ErrorKind::kRangeError, kCodeOutOfRange,
                     std::string(where) + ": " + name + " must have at least " +
                         std::to_string(count) + " elements, got " +
                         std::to_string(array.ElementLength()));
  return array.Data();
}

[[noreturn]] void ThrowRange(Napi::Env env, const char* where, const std::string& message) {
  throw CodedError(env, ErrorKind::kRangeError, kCodeOutOfRange,
                   std::string(where) + ": " + message);
}

}  // namespace

// ---- NativeSnapshot -----------------------------------------------------------------------

Napi::Function NativeSnapshot::DefineClass(Napi::Env env) {
  return ObjectWrap<NativeSnapshot>::DefineClass(
      env, "NativeSnapshot",
      {
          InstanceAccessor("rows", &NativeSnapshot::Rows, nullptr),
          InstanceAccessor("rowSize", &NativeSnapshot::RowSize, nullptr),
          InstanceAccessor("disposed", &NativeSnapshot::Disposed, nullptr),
          InstanceMethod("dispose", &NativeSnapshot::Dispose),
      });
}

NativeSnapshot::NativeSnapshot(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeSnapshot>(info) {
  memory.Bind(info.Env());
  Account();
  info.This().As<Napi::Object>().TypeTag(&kSnapshotTag);
  registration_.Register(info.Env().GetInstanceData<Addon>()->owners(), info.Env(), info.This(),
                         this, memory.reported());
}

void NativeSnapshot::Account() {
  memory.Set(sizeof(NativeSnapshot) + data.capacity() * sizeof(float));
}

NativeSnapshot* NativeSnapshot::Live(const Napi::Value& v, const char* name, const char* where) {
  NativeSnapshot* snap = From(v, name, where);
  if (snap->disposed) ThrowDisposed(v.Env(), (std::string(where) + ": " + name).c_str());
  return snap;
}

Napi::Value NativeSnapshot::Dispose(const Napi::CallbackInfo& info) {
  disposed = true;
  std::vector<float>().swap(data);
  rows = 0;
  Account();
  return info.Env().Undefined();
}

Napi::Value NativeSnapshot::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed);
}

NativeSnapshot* NativeSnapshot::From(const Napi::Value& v, const char* name, const char* where) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kSnapshotTag))
    throw CodedError(v.Env(), ErrorKind::kTypeError, kCodeInvalidArg,
                     std::string(where) + ": " + name + " must be a NativeSnapshot");
  return Unwrap(v.As<Napi::Object>());
}

Napi::Value NativeSnapshot::Rows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(rows));
}

Napi::Value NativeSnapshot::RowSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(row_size));
}

// ---- NativeStream -------------------------------------------------------------------------

Napi::Function NativeStream::DefineClass(Napi::Env env) {
  return ObjectWrap<NativeStream>::DefineClass(
      env, "NativeStream",
      {
          InstanceAccessor("capacity", &NativeStream::Capacity, nullptr),
          InstanceAccessor("rows", &NativeStream::Rows, nullptr),
          InstanceAccessor("inputSize", &NativeStream::InputSize, nullptr),
          InstanceAccessor("outputSize", &NativeStream::OutputSize, nullptr),
          InstanceAccessor("hiddenSize", &NativeStream::HiddenSize, nullptr),
          InstanceAccessor("numLayers", &NativeStream::NumLayers, nullptr),
          InstanceAccessor("cellState", &NativeStream::CellState, nullptr),
          InstanceMethod("step", &NativeStream::Step),
          InstanceMethod("stepRows", &NativeStream::StepRows),
          InstanceMethod("setRows", &NativeStream::SetRows),
          InstanceMethod("reserve", &NativeStream::Reserve),
          InstanceMethod("moveRow", &NativeStream::MoveRow),
          InstanceMethod("reset", &NativeStream::Reset),
          InstanceMethod("readState", &NativeStream::ReadState),
          InstanceMethod("writeState", &NativeStream::WriteState),
          InstanceMethod("snapshot", &NativeStream::Snapshot),
          InstanceMethod("restore", &NativeStream::Restore),
          InstanceMethod("dispose", &NativeStream::Dispose),
          InstanceAccessor("disposed", &NativeStream::Disposed, nullptr),
      });
}

NativeStream::NativeStream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeStream>(info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream";
  Guarded(env, where, [&]() -> Napi::Value {
    layer_ = NativeLayer::SharedState(info[0], "layer", where);
    const int capacity = ToInt(info[1], 1, kMaxRows, "capacity", where);
    pooled_ = !Absent(info[2]) && ToBool(info[2], "pooled", where);
    const cellstate::Layer<float>& layer = layer_->Live(env, where);
    const cellstate::Config& cfg = layer.config();
    const Status streamable = cellstate::CheckStreamable(cfg);
    if (!streamable.ok()) throw StatusError(env, streamable, where);
    I_ = static_cast<size_t>(cfg.input_size);
    R_ = static_cast<size_t>(cfg.out_size());
    H_ = static_cast<size_t>(cfg.hidden_size);
    C_ = cfg.has_cell_state() ? H_ : 0;
    L_ = static_cast<size_t>(cfg.num_layers);
    capacity_ = rows_ = static_cast<size_t>(capacity);
    const size_t state = Product(capacity_, RowSize());
    if (state != layer.StreamStateSize(capacity))
      throw CodedError(env, ErrorKind::kError, kCodeUnsupported,
                       std::string(where) +
                           ": the kernel's stream state layout is not the "
                           "one this binding expects");
    state_.assign(state, 0.f);
    scratch_.assign(layer.StreamScratchSize(capacity), 0.f);
    if (pooled_) {
      spare_.assign(state, 0.f);
      xg_.assign(Product(capacity_, I_), 0.f);
      outg_.assign(Product(capacity_, R_), 0.f);
    }
    memory_.Bind(env);
    Account();
    registration_.Register(env.GetInstanceData<Addon>()->owners(), env, info.This(), this,
                           memory_.reported());
    return env.Undefined();
  });
}

void NativeStream::CopyRow(const float* src, size_t n, size_t b, float* dst, size_t m,
                           size_t d) const {
  for (size_t l = 0; l < L_; ++l) {
    std::memcpy(dst + HOffset(m, l, d), src + HOffset(n, l, b), R_ * sizeof(float));
    if (C_) std::memcpy(dst + COffset(m, l, d), src + COffset(n, l, b), C_ * sizeof(float));
  }
}

void NativeStream::Live(Napi::Env env, const char* where) const {
  if (disposed_) ThrowDisposed(env, where);
  layer_->Live(env, where);  // the layer it steps on was disposed
}

void NativeStream::Account() {
  memory_.Set(sizeof(NativeStream) +
              sizeof(float) * (state_.capacity() + scratch_.capacity() + spare_.capacity() +
                               xg_.capacity() + outg_.capacity()));
}

void NativeStream::ReleaseNative() {
  disposed_ = true;
  for (std::vector<float>* v : {&state_, &scratch_, &spare_, &xg_, &outg_})
    std::vector<float>().swap(*v);
  rows_ = capacity_ = 0;
  Account();
}

Napi::Value NativeStream::Dispose(const Napi::CallbackInfo& info) {
  ReleaseNative();
  return info.Env().Undefined();
}

Napi::Value NativeStream::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed_ || !layer_->layer);
}

void NativeStream::SyncEngine(Napi::Env env, const char* where) {
  // While async work runs on the layer its engine is in use: leave it.
  if (layer_->busy != LayerState::Busy::kIdle) return;
  const Addon* addon = env.GetInstanceData<Addon>();
  if (addon->generation() == layer_->engine_generation) return;
  layer_->layer->SetEngine(addon->engine(env, where));
  layer_->engine_generation = addon->generation();
}

void NativeStream::RequirePooled(Napi::Env env, const char* where) const {
  if (!pooled_)
    throw CodedError(env, ErrorKind::kError, kCodeUnsupported,
                     std::string(where) + ": only a pooled stream can do this");
}

void NativeStream::RowRange(const Napi::CallbackInfo& info, size_t arg, size_t* row0, size_t* count,
                            const char* where) const {
  const int rows = static_cast<int>(rows_);
  *row0 = static_cast<size_t>(ToInt(info[arg], 0, rows, "row0", where));
  *count =
      static_cast<size_t>(ToInt(info[arg + 1], 0, rows - static_cast<int>(*row0), "count", where));
}

Napi::Value NativeStream::Capacity(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(capacity_));
}
Napi::Value NativeStream::Rows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(rows_));
}
Napi::Value NativeStream::InputSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(I_));
}
Napi::Value NativeStream::OutputSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(R_));
}
Napi::Value NativeStream::HiddenSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(H_));
}
Napi::Value NativeStream::NumLayers(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(L_));
}
Napi::Value NativeStream::CellState(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), C_ > 0);
}

Napi::Value NativeStream::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream.step";
  Live(env, where);
  if (rows_ == 0) return env.Undefined();
  const Napi::Value xv = info[0], outv = info[1];
  const float* x = Floats(xv, rows_ * I_, "x", where);
  float* out = Floats(outv, rows_ * R_, "out", where);
  SyncEngine(env, where);
  const Status status =
      layer_->layer->Step(static_cast<int>(rows_), x, state_.data(), scratch_.data(), out);
  if (!status.ok()) throw StatusError(env, status, where);
  return env.Undefined();
}

Napi::Value NativeStream::StepRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream.stepRows";
  Live(env, where);
  RequirePooled(env, where);
  const Napi::Value xv = info[0], outv = info[1], indexv = info[2], kv = info[3];
  const int k = ToInt(kv, 0, static_cast<int>(rows_), "k", where);
  if (k == 0) return env.Undefined();
  const float* x = Floats(xv, rows_ * I_, "x", where);
  float* out = Floats(outv, rows_ * R_, "out", where);
  if (!indexv.IsTypedArray() || indexv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw CodedError(env, ErrorKind::kTypeError, kCodeInvalidArg,
                     std::string(where) + ": index must be an Int32Array");
  Napi::Int32Array index_array = indexv.As<Napi::Int32Array>();
  if (index_array.ElementLength() < static_cast<size_t>(k))
    ThrowRange(env, where, "index must have at least k=" + std::to_string(k) + " elements");
  const int32_t* index = index_array.Data();
  const size_t kk = static_cast<size_t>(k);
  for (size_t j = 0; j < kk; ++j)
    if (index[j] < 0 || static_cast<size_t>(index[j]) >= rows_)
      ThrowRange(env, where,
                 "index[" + std::to_string(j) + "] must be a row in [0, " + std::to_string(rows_) +
                     "), got " + std::to_string(index[j]));
  // Gather the rows into a stream laid out for k rows, step it, scatter back.
  for (size_t j = 0; j < kk; ++j) {
    const size_t row = static_cast<size_t>(index[j]);
    std::memcpy(xg_.data() + j * I_, x + row * I_, I_ * sizeof(float));
    CopyRow(state_.data(), rows_, row, spare_.data(), kk, j);
  }
  SyncEngine(env, where);
  const Status status =
      layer_->layer->Step(k, xg_.data(), spare_.data(), scratch_.data(), outg_.data());
  if (!status.ok()) throw StatusError(env, status, where);
  for (size_t j = 0; j < kk; ++j) {
    const size_t row = static_cast<size_t>(index[j]);
    CopyRow(spare_.data(), kk, j, state_.data(), rows_, row);
    std::memcpy(out + row * R_, outg_.data() + j * R_, R_ * sizeof(float));
  }
  return env.Undefined();
}

Napi::Value NativeStream::SetRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream.setRows";
  Live(env, where);
  RequirePooled(env, where);
  const size_t n =
      static_cast<size_t>(ToInt(info[0], 0, static_cast<int>(capacity_), "rows", where));
  if (n == rows_) return env.Undefined();
  // The layout depends on the row count: rewrite the state laid out for n rows.
  const size_t keep = std::min(n, rows_);
  for (size_t b = 0; b < keep; ++b) CopyRow(state_.data(), rows_, b, spare_.data(), n, b);
  for (size_t l = 0; l < L_; ++l) {
    for (size_t b = keep; b < n; ++b) {
      std::fill_n(spare_.data() + HOffset(n, l, b), R_, 0.f);
      if (C_) std::fill_n(spare_.data() + COffset(n, l, b), C_, 0.f);
    }
  }
  std::swap(state_, spare_);
  rows_ = n;
  return env.Undefined();
}

Napi::Value NativeStream::Reserve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream.reserve";
  Live(env, where);
  return Guarded(env, where, [&]() -> Napi::Value {
    RequirePooled(env, where);
    const int capacity = ToInt(info[0], 1, kMaxRows, "capacity", where);
    if (static_cast<size_t>(capacity) <= capacity_) return env.Undefined();
    const size_t cap = static_cast<size_t>(capacity);
    const size_t state = Product(cap, RowSize());
    // The layout for `rows_` rows fills a prefix of the buffer whatever the capacity, so the
    // state survives the resize as it is.
    std::vector<float> next_state(state, 0.f), next_spare(state, 0.f);
    std::copy_n(state_.data(), rows_ * RowSize(), next_state.data());
    std::vector<float> next_scratch(layer_->layer->StreamScratchSize(capacity), 0.f);
    std::vector<float> next_xg(Product(cap, I_), 0.f), next_outg(Product(cap, R_), 0.f);
    state_.swap(next_state);
    spare_.swap(next_spare);
    scratch_.swap(next_scratch);
    xg_.swap(next_xg);
    outg_.swap(next_outg);
    capacity_ = cap;
    Account();
    return env.Undefined();
  });
}

Napi::Value NativeStream::MoveRow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream.moveRow";
  Live(env, where);
  const int rows = static_cast<int>(rows_);
  if (rows == 0) ThrowRange(env, where, "the stream has no rows");
  const size_t from = static_cast<size_t>(ToInt(info[0], 0, rows - 1, "from", where));
  const size_t to = static_cast<size_t>(ToInt(info[1], 0, rows - 1, "to", where));
  if (from != to) CopyRow(state_.data(), rows_, from, state_.data(), rows_, to);
  return env.Undefined();
}

Napi::Value NativeStream::Reset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream.reset";
  Live(env, where);
  if (Absent(info[0])) {
    std::fill(state_.begin(), state_.end(), 0.f);
    return env.Undefined();
  }
  size_t row0, count;
  RowRange(info, 0, &row0, &count, where);
  for (size_t l = 0; l < L_; ++l) {
    for (size_t b = row0; b < row0 + count; ++b) {
      std::fill_n(state_.data() + HOffset(rows_, l, b), R_, 0.f);
      if (C_) std::fill_n(state_.data() + COffset(rows_, l, b), C_, 0.f);
    }
  }
  return env.Undefined();
}

Napi::Value NativeStream::ReadState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream.readState";
  Live(env, where);
  const Napi::Value hv = info[0], cv = info[1];
  size_t row0, count;
  RowRange(info, 2, &row0, &count, where);
  if (count == 0) return env.Undefined();
  float* h = ArrayData<float>(hv, Product(L_, count, R_), "h", where);
  float* c = nullptr;
  if (C_) {
    c = ArrayData<float>(cv, Product(L_, count, C_), "c", where);
  } else if (!Absent(cv)) {
    throw CodedError(env, ErrorKind::kTypeError, kCodeInvalidArg,
                     std::string(where) + ": c is a cell state, which only an LSTM has");
  }
  for (size_t l = 0; l < L_; ++l) {
    for (size_t b = 0; b < count; ++b) {
      std::memcpy(h + (l * count + b) * R_, state_.data() + HOffset(rows_, l, row0 + b),
                  R_ * sizeof(float));
      if (c)
        std::memcpy(c + (l * count + b) * C_, state_.data() + COffset(rows_, l, row0 + b),
                    C_ * sizeof(float));
    }
  }
  return env.Undefined();
}

Napi::Value NativeStream::WriteState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream.writeState";
  Live(env, where);
  const Napi::Value hv = info[0], cv = info[1];
  size_t row0, count;
  RowRange(info, 2, &row0, &count, where);
  if (count == 0) return env.Undefined();
  const float* h = ArrayData<float>(hv, Product(L_, count, R_), "h", where);
  const float* c = nullptr;
  if (C_) {
    if (!Absent(cv)) c = ArrayData<float>(cv, Product(L_, count, C_), "c", where);
  } else if (!Absent(cv)) {
    throw CodedError(env, ErrorKind::kTypeError, kCodeInvalidArg,
                     std::string(where) + ": c is a cell state, which only an LSTM has");
  }
  // An LSTM given h only gets c = 0.
  for (size_t l = 0; l < L_; ++l) {
    for (size_t b = 0; b < count; ++b) {
      std::memcpy(state_.data() + HOffset(rows_, l, row0 + b), h + (l * count + b) * R_,
                  R_ * sizeof(float));
      if (!C_) continue;
      float* dst = state_.data() + COffset(rows_, l, row0 + b);
      if (c)
        std::memcpy(dst, c + (l * count + b) * C_, C_ * sizeof(float));
      else
        std::fill_n(dst, C_, 0.f);
    }
  }
  return env.Undefined();
}

Napi::Value NativeStream::Snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream.snapshot";
  Live(env, where);
  return Guarded(env, where, [&]() -> Napi::Value {
    size_t row0, count;
    RowRange(info, 0, &row0, &count, where);
    NativeSnapshot* snap = NativeSnapshot::Live(info[2], "into", where);
    const size_t row_size = RowSize();
    snap->data.resize(count * row_size);  // keeps its capacity: reuse allocates nothing
    snap->rows = count;
    snap->row_size = row_size;
    for (size_t j = 0; j < count; ++j)
      CopyRow(state_.data(), rows_, row0 + j, snap->data.data() + j * row_size, 1, 0);
    snap->Account();
    return env.Undefined();
  });
}

Napi::Value NativeStream::Restore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeStream.restore";
  Live(env, where);
  const NativeSnapshot* snap = NativeSnapshot::Live(info[0], "snapshot", where);
  const size_t row0 =
      static_cast<size_t>(ToInt(info[1], 0, static_cast<int>(rows_), "row0", where));
  if (snap->row_size != RowSize())
    ThrowRange(env, where,
               "the snapshot holds rows of " + std::to_string(snap->row_size) +
                   " state values, this stream's rows have " + std::to_string(RowSize()) +
                   " (a snapshot of another configuration)");
  if (snap->rows > rows_ - row0)
    ThrowRange(env, where,
               "the snapshot holds " + std::to_string(snap->rows) + " rows, more than the " +
                   std::to_string(rows_ - row0) + " rows from row " + std::to_string(row0));
  for (size_t j = 0; j < snap->rows; ++j)
    CopyRow(snap->data.data() + j * snap->row_size, 1, 0, state_.data(), rows_, row0 + j);
  return env.Undefined();
}

}  // namespace cellstate_node
