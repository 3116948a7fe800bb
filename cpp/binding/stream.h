// NativeStream: the state of `rows` independent sequences stepped one time step at a time on a
// NativeLayer's packed weights (cellstate::Layer<float>::Step), and NativeSnapshot, a copy of
// some rows' state. lib/stream/ validates first and is the only intended caller.
//
//   new NativeStream(layer: NativeLayer, capacity: number, pooled: boolean)
//       state for `capacity` rows, all zero, `rows` = capacity. pooled: the stream is a pool
//       whose active row count changes (setRows) and which can step a subset of its rows
//       (stepRows); it then also holds gather buffers of the same capacity.
//   capacity, rows, inputSize, outputSize, hiddenSize, numLayers, cellState (getters)
//   step(x: Float32Array, out: Float32Array)
//       one time step of rows 0..rows-1: x [rows, I] in, out [rows, R] out (the arrays may be
//       longer; their first rows·I / rows·R elements are used). Allocates nothing.
//   stepRows(x, out, index: Int32Array, k)   pooled only
//       one time step of rows index[0..k) only (distinct, < rows): x and out hold one row per
//       stream row ([capacity, I] / [capacity, R]); other rows' state and out are untouched.
//   setRows(n)         pooled only; n ≤ capacity: rows ≥ n are dropped, new rows start at zero
//   reserve(capacity)  pooled only; grows the buffers (state kept); never shrinks
//   moveRow(from, to)  copies row `from`'s state over row `to` (pool compaction)
//   reset(row0?, count?)                     zero state (default: every row)
//   readState(h, c, row0, count) / writeState(h, c, row0, count)
//       h [L, count, R], c [L, count, H] (c null for a GRU / RNN), the layout of forward's
//       h_n / c_n
//   snapshot(row0, count, into: NativeSnapshot)   copies those rows' state into `into` (its
//       buffer is reused when the size matches, so branching allocates nothing)
//   restore(snapshot, row0)                  the snapshot's rows back into row0..
//   new NativeSnapshot(): empty; rows, rowSize (getters)
//   dispose() on either frees its native memory now; every later call on it (and restore of a
//   disposed snapshot, or any call of a stream whose layer was disposed) is an Error with code
//   ERR_CELLSTATE_DISPOSED; a second dispose does nothing. Both report their memory to V8.
// A snapshot's layout (per row: per layer h [R] then c [H]) is the same for every stream of one
// configuration, so a row of a pool and a stream of batch 1 can exchange snapshots.
//
// A stream holds its layer's state through a shared pointer, so the kernel layer outlives a
// finalized NativeLayer wrapper. setParameters on the layer repacks its weights in place: the
// next step uses them. Stepping while the layer runs forwardAsync / backwardAsync is allowed:
// Step reads only the packed weights and the configuration, which cannot change then (writes
// to the layer are refused while it is busy), and writes only the stream's own buffers; the
// engine is then left as it is (a thread-count change applies from the next idle step).
#pragma once

#include <napi.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "cellstate/cellstate.h"
#include "memory.h"
#include "native_layer.h"

namespace cellstate_node {

class NativeSnapshot : public Napi::ObjectWrap<NativeSnapshot>, public Owner {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit NativeSnapshot(const Napi::CallbackInfo& info);
  // The snapshot behind v, or a TypeError naming `name`.
  static NativeSnapshot* From(const Napi::Value& v, const char* name, const char* where);
  // As From, and ERR_CELLSTATE_DISPOSED when it was disposed.
  static NativeSnapshot* Live(const Napi::Value& v, const char* name, const char* where);
  // Reports the memory held now to V8.
  void Account();

  size_t rows = 0;
  size_t row_size = 0;      // floats per row: per layer h [R] then c [H]
  std::vector<float> data;  // [rows, row_size]
  bool disposed = false;
  ExternalMemory memory;

 private:
  void ReleaseNative() override {
    std::vector<float>().swap(data);
    Account();
  }
  Registration registration_;
  Napi::Value Rows(const Napi::CallbackInfo& info);
  Napi::Value RowSize(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
};

class NativeStream : public Napi::ObjectWrap<NativeStream>, public Owner {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit NativeStream(const Napi::CallbackInfo& info);

 private:
  Napi::Value Capacity(const Napi::CallbackInfo& info);
  Napi::Value Rows(const Napi::CallbackInfo& info);
  Napi::Value InputSize(const Napi::CallbackInfo& info);
  Napi::Value OutputSize(const Napi::CallbackInfo& info);
  Napi::Value HiddenSize(const Napi::CallbackInfo& info);
  Napi::Value NumLayers(const Napi::CallbackInfo& info);
  Napi::Value CellState(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value StepRows(const Napi::CallbackInfo& info);
  Napi::Value SetRows(const Napi::CallbackInfo& info);
  Napi::Value Reserve(const Napi::CallbackInfo& info);
  Napi::Value MoveRow(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  Napi::Value ReadState(const Napi::CallbackInfo& info);
  Napi::Value WriteState(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value Restore(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  void ReleaseNative() override;

  // ERR_CELLSTATE_DISPOSED when this stream or its layer was disposed.
  void Live(Napi::Env env, const char* where) const;
  // Reports the memory held now to V8.
  void Account();
  // Offsets (floats) of row b's h and c of layer l in a state laid out for n rows.
  size_t HOffset(size_t n, size_t l, size_t b) const { return l * n * (R_ + C_) + b * R_; }
  size_t COffset(size_t n, size_t l, size_t b) const { return l * n * (R_ + C_) + n * R_ + b * C_; }
  size_t RowSize() const { return L_ * (R_ + C_); }
  // Row b of `src` (laid out for n rows) to row d of `dst` (laid out for m rows).
  void CopyRow(const float* src, size_t n, size_t b, float* dst, size_t m, size_t d) const;
  // Moves the layer to the environment's engine when setNumThreads made a new one (idle only).
  void SyncEngine(Napi::Env env, const char* where);
  void RequirePooled(Napi::Env env, const char* where) const;
  // Reads [row0, row0 + count) within rows (throws a RangeError otherwise).
  void RowRange(const Napi::CallbackInfo& info, size_t arg, size_t* row0, size_t* count,
                const char* where) const;

  std::shared_ptr<LayerState> layer_;
  bool pooled_ = false;
  size_t I_ = 0, R_ = 0, H_ = 0, C_ = 0, L_ = 0;  // C_: H for an LSTM, else 0
  size_t capacity_ = 0, rows_ = 0;
  std::vector<float> state_, scratch_;
  std::vector<float> spare_, xg_, outg_;  // pooled: relayout / gather buffers
  bool disposed_ = false;
  ExternalMemory memory_;
  Registration registration_;
};

}  // namespace cellstate_node
