// NativeLayer: a JavaScript handle on one cellstate::Layer<float> (the TypeScript layer in
// lib/layers/recurrent.ts validates first and is the only intended caller).
//
//   new NativeLayer(config)          config: { cell: 'lstm'|'gru'|'rnn', inputSize, hiddenSize,
//                                    numLayers, bidirectional, dropout, projSize, peephole,
//                                    coupled, inputGate, forgetGate, outputGate, inputActivation,
//                                    outputActivation, resetAfter, nonlinearity }
//   paramTable(): { name, shape, offset, size }[]      paramCount (getter)
//   readParams(out: Float32Array) · writeParams(src: Float32Array) · readGrads(out) · zeroGrad()
//   forward(args) · backward(args) · forwardAsync(args): Promise · backwardAsync(args): Promise
//   busy (getter): 'forward' | 'backward' | null      pendingBackward (getter): boolean
//   dispose(): frees the kernel layer now (ERR_CELLSTATE_BUSY while async work is in flight; a
//   second call does nothing); every later call, and every call of a stream on it, is an Error
//   with code ERR_CELLSTATE_DISPOSED.      disposed (getter): boolean
//   externalBytes (getter): the native bytes the layer reports to V8 now (LayerState::Account)
//
// forward args:  { T, B, batchFirst, train, dropoutSeed (number | bigint), x, h0?, c0?, lengths?,
//                  output, hN?, cN? }
// backward args: { dOutput?, dhN?, dcN?, dx?, dh0?, dc0? }   (sizes of the pending forward)
// Every buffer is a JS-allocated Float32Array (lengths: Int32Array) whose element count is checked
// against what the kernel will read or write. Results are written into the given arrays.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>

#include "cellstate/cellstate.h"
#include "memory.h"

namespace cellstate_node {

// What a NativeLayer and its in-flight async work share, so the kernel layer outlives a wrapper
// that is finalized (worker termination) while work is still running.
struct LayerState {
  enum class Busy { kIdle, kForward, kBackward };

  std::unique_ptr<cellstate::Layer<float>> layer;  // null once disposed
  // The layer's memory as reported to V8 (Account() after anything that may resize it).
  ExternalMemory memory;
  uint64_t engine_generation = 0;  // of the Addon engine the layer runs on
  Busy busy = Busy::kIdle;
  // Shape of the last successful training forward (backward's sizes), valid while the kernel
  // reports a pending backward.
  int seq_len = 0;
  int batch = 0;
  bool batch_first = false;

  // The kernel layer, or ERR_CELLSTATE_DISPOSED.
  cellstate::Layer<float>& Live(Napi::Env env, const char* where) const;
  void Account() { memory.Set(layer ? layer->MemoryBytes() : 0); }
};

class NativeLayer : public Napi::ObjectWrap<NativeLayer>, public Owner {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit NativeLayer(const Napi::CallbackInfo& info);

  // The state behind a NativeLayer object (checked by a type tag), shared with the streams that
  // step on it (stream.cc). Throws a TypeError naming `name` when v is not a NativeLayer.
  static std::shared_ptr<LayerState> SharedState(const Napi::Value& v, const char* name,
                                                 const char* where);

 private:
  Napi::Value ParamTable(const Napi::CallbackInfo& info);
  Napi::Value ParamCount(const Napi::CallbackInfo& info);
  Napi::Value Busy(const Napi::CallbackInfo& info);
  Napi::Value PendingBackward(const Napi::CallbackInfo& info);
  Napi::Value ReadParams(const Napi::CallbackInfo& info);
  Napi::Value WriteParams(const Napi::CallbackInfo& info);
  Napi::Value ReadGrads(const Napi::CallbackInfo& info);
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value ForwardAsync(const Napi::CallbackInfo& info);
  Napi::Value BackwardAsync(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Quantized(const Napi::CallbackInfo& info);
  Napi::Value ExternalBytes(const Napi::CallbackInfo& info);
  Napi::Value Quantize(const Napi::CallbackInfo& info);

  // Throws ERR_CELLSTATE_BUSY while async work is in flight.
  void CheckIdle(Napi::Env env, const char* where) const;
  // Moves the layer to the environment's engine when setNumThreads made a new one.
  void SyncEngine(Napi::Env env, const char* where);
  // The object was collected: lets go of the layer (streams on it keep it alive).
  void ReleaseNative() override { state_.reset(); }

  std::shared_ptr<LayerState> state_;  // null once collected (ReleaseNative)
  Registration registration_;
};

}  // namespace cellstate_node
