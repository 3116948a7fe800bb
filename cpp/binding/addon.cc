// Module entry: info(), setNumThreads(n) and the NativeLayer class.
#include "addon.h"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "args.h"
#include "matmul.h"
#include "native_layer.h"
#include "quant.h"
#include "status.h"
#include "stream.h"

namespace cellstate_node {

int MaxThreads() {
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(std::min<unsigned>(kMaxThreadsCap, kThreadsPerHardwareThread * hardware));
}

Addon::Addon(Napi::Env env, Napi::Object exports) : max_threads_(MaxThreads()) {
  MakeEngine(std::clamp(cellstate::DefaultThreads(), 1, max_threads_));
  DefineAddon(
      exports,
      {
          InstanceMethod("info", &Addon::Info, napi_enumerable),
          InstanceMethod("setNumThreads", &Addon::SetNumThreads, napi_enumerable),
          InstanceValue("NativeLayer", NativeLayer::DefineClass(env), napi_enumerable),
          InstanceValue("NativeStream", NativeStream::DefineClass(env), napi_enumerable),
          InstanceValue("NativeSnapshot", NativeSnapshot::DefineClass(env), napi_enumerable),
          InstanceValue("matmul", Napi::Function::New(env, Matmul, "matmul"), napi_enumerable),
          InstanceValue("PackedMatrix", PackedMatrix::DefineClass(env), napi_enumerable),
          InstanceValue("QuantizedMatrix", QuantizedMatrix::DefineClass(env), napi_enumerable),
          InstanceValue("quantizeWeights",
                        Napi::Function::New(env, QuantizeWeights, "quantizeWeights"),
                        napi_enumerable),
          InstanceValue("quantizedWeight",
                        Napi::Function::New(env, QuantizedWeight, "quantizedWeight"),
                        napi_enumerable),
      });
}

void Addon::MakeEngine(int threads) {
  cellstate::Engine engine;
  engine_status_ = cellstate::MakeEngine("", threads, &engine);
  engine_ = engine;
  ++generation_;
}

const cellstate::Engine& Addon::engine(Napi::Env env, const char* where) const {
  if (!engine_status_.ok()) throw StatusError(env, engine_status_, where);
  return engine_;
}

Napi::Value Addon::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cellstate::Engine& e = engine(env, "info");
  Napi::Object out = Napi::Object::New(env);
  out.Set("isa", cellstate::IsaName(e));
  out.Set("threads", e.threads);
  out.Set("maxThreads", max_threads_);
  out.Set("openmp", cellstate::HasOpenMP());
  out.Set("version", cellstate::Version());
  const std::vector<std::string> isas = cellstate::AvailableIsas();
  Napi::Array list = Napi::Array::New(env, isas.size());
  for (size_t i = 0; i < isas.size(); ++i) list.Set(static_cast<uint32_t>(i), isas[i]);
  out.Set("isas", list);
  return out;
}

Napi::Value Addon::SetNumThreads(const Napi::CallbackInfo& info) {
  const int threads = ToInt(info[0], 1, max_threads_, "n", "setNumThreads");
  if (threads != engine_.threads || !engine_status_.ok()) MakeEngine(threads);
  return info.Env().Undefined();
}

}  // namespace cellstate_node

using CellstateAddon = cellstate_node::Addon;
NODE_API_ADDON(CellstateAddon)
