#include "native_layer.h"

#include <climits>
#include <cstdint>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "addon.h"
#include "args.h"
#include "status.h"

namespace cellstate_node {

namespace {

using cellstate::BackwardArgs;
using cellstate::ForwardArgs;
using cellstate::Status;

Napi::Object ExpectObject(const Napi::Value& v, const char* name, const char* where) {
  if (!v.IsObject() || v.IsTypedArray() || v.IsArray())
    throw CodedError(v.Env(), ErrorKind::kTypeError, kCodeInvalidArg,
                     std::string(where) + ": " + name + " must be an object");
  return v.As<Napi::Object>();
}

// The JS config object's own enumerable string-keyed properties as kernel options (undefined
// and null mean "unset" and are left out; a plain object becomes an option with fields). The
// binding knows no option name: cellstate::ParseConfig owns the keys, the rules and the messages.
cellstate::Options ReadOptions(Napi::Env env, const Napi::Object& obj, const std::string& prefix,
                               const char* where, int depth) {
  napi_value names_raw;
  napi_status st = napi_get_all_property_names(
      env, obj, napi_key_own_only,
      static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols),
      napi_key_numbers_to_strings, &names_raw);
  if (st != napi_ok) throw Napi::Error::New(env);
  Napi::Array names(env, names_raw);
  cellstate::Options out;
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string key = names.Get(i).As<Napi::String>().Utf8Value();
    const std::string name = prefix + key;
    const Napi::Value v = obj.Get(key);
    if (Absent(v)) continue;
    if (v.IsNumber()) {
      out.push_back(cellstate::Option::Number(key, v.As<Napi::Number>().DoubleValue()));
    } else if (v.IsBoolean()) {
      out.push_back(cellstate::Option::Bool(key, v.As<Napi::Boolean>().Value()));
    } else if (v.IsString()) {
      out.push_back(cellstate::Option::String(key, v.As<Napi::String>().Utf8Value()));
    } else if (v.IsObject() && !v.IsArray() && !v.IsTypedArray() && !v.IsFunction() &&
               !v.IsArrayBuffer() && depth < 4) {
      cellstate::Option o;
      o.key = key;
      o.kind = cellstate::Option::Kind::kObject;
      o.fields = ReadOptions(env, v.As<Napi::Object>(), name + ".", where, depth + 1);
      out.push_back(std::move(o));
    } else {
      throw CodedError(env, ErrorKind::kTypeError, kCodeInvalidArg,
                       std::string(where) + ": " + name +
                           " must be a number, a boolean, a string or a plain object");
    }
  }
  return out;
}

cellstate::Config ReadConfig(const Napi::Value& value) {
  const char* where = "NativeLayer";
  Napi::Object obj = ExpectObject(value, "config", where);
  const cellstate::Options options = ReadOptions(value.Env(), obj, "", where, 0);
  cellstate::Config c;
  const Status status = cellstate::ParseConfig(options, &c);
  if (!status.ok()) throw StatusError(value.Env(), status, where);
  return c;
}

// One typed array a call reads (input) or writes (output), and how to point the kernel's
// argument struct at other memory (the staging copies of async work).
template <typename Args>
struct Slot {
  const char* name;  // the argument's name in messages
  Napi::Value array;
  void* data;
  size_t count;  // elements (4 bytes each)
  bool is_int;   // Int32Array (lengths) rather than Float32Array
  bool output;
  void (*point)(Args& args, void* data);
};

template <typename Args>
struct Call {
  Args args;
  std::vector<Slot<Args>> slots;
  // Forward only: the shape a training forward leaves for backward.
  int seq_len = 0, batch = 0;
  bool batch_first = false;
};

// Element counts of every buffer for a given T and B.
struct Sizes {
  size_t x, output, h, c;
};

Sizes SizesOf(const cellstate::Config& cfg, int seq_len, int batch) {
  const size_t rows = static_cast<size_t>(cfg.num_layers) * cfg.directions();
  const size_t out_width = static_cast<size_t>(cfg.directions()) * cfg.out_size();
  const size_t t = static_cast<size_t>(seq_len), b = static_cast<size_t>(batch);
  return {Product(t, b, cfg.input_size), Product(t, b, out_width), Product(rows, b, cfg.out_size()),
          Product(rows, b, cfg.hidden_size)};
}

[[noreturn]] void ThrowNotLstm(Napi::Env env, const char* name, const char* where) {
  throw CodedError(
      env, ErrorKind::kTypeError, kCodeInvalidArg,
      std::string(where) + ": " + name + " is a cell state, which only an LSTM has; leave it out");
}

// The kernel reads its inputs while it writes its outputs, so no output may share memory with
// an input or another output, except an input that is exactly the output paired with it (a
// state row is read before the same unit writes it: h0 and hN may be one array). Compared by
// address, whatever the JavaScript objects: two SharedArrayBuffer objects over one memory
// (structuredClone), or views of one ArrayBuffer, are caught alike.
template <typename Args>
void CheckOverlaps(Napi::Env env, const std::vector<Slot<Args>>& slots,
                   std::initializer_list<std::pair<const char*, const char*>> same_ok,
                   const char* where) {
  auto begin = [](const Slot<Args>& s) { return reinterpret_cast<uintptr_t>(s.data); };
  auto end = [&](const Slot<Args>& s) { return begin(s) + s.count * 4; };
  for (size_t i = 0; i < slots.size(); ++i) {
    for (size_t j = 0; j < slots.size(); ++j) {
      const Slot<Args>& out = slots[i];
      const Slot<Args>& other = slots[j];
      if (i == j || !out.output || (other.output && j < i)) continue;
      if (!(begin(out) < end(other) && begin(other) < end(out))) continue;
      bool allowed = false;
      for (const auto& [in, o] : same_ok)
        allowed |= std::strcmp(in, other.name) == 0 && std::strcmp(o, out.name) == 0 &&
                   begin(out) == begin(other) && out.count == other.count;
      if (!allowed)
        throw CodedError(env, ErrorKind::kRangeError, kCodeInvalidArg,
                         std::string(where) + ": " + out.name + " must not share memory with " +
                             other.name + " (they overlap in memory)");
    }
  }
}

Call<ForwardArgs> ParseForward(const Napi::Value& value, const LayerState& state,
                               const char* where) {
  Napi::Object obj = ExpectObject(value, "args", where);
  // Fetch every property first (getters may run JavaScript), convert afterwards.
  const Napi::Value seq_len = obj.Get("T"), batch = obj.Get("B"),
                    batch_first = obj.Get("batchFirst"), train = obj.Get("train"),
                    seed = obj.Get("dropoutSeed"), x = obj.Get("x"), h0 = obj.Get("h0"),
                    c0 = obj.Get("c0"), lengths = obj.Get("lengths"), output = obj.Get("output"),
                    h_n = obj.Get("hN"), c_n = obj.Get("cN");
  const cellstate::Config& cfg = state.Live(obj.Env(), where).config();
  Call<ForwardArgs> call;
  ForwardArgs& a = call.args;
  a.seq_len = call.seq_len = ToInt(seq_len, 1, INT_MAX, "T", where);
  a.batch = call.batch = ToInt(batch, 1, INT_MAX, "B", where);
  a.batch_first = call.batch_first =
      !Absent(batch_first) && ToBool(batch_first, "batchFirst", where);
  a.train = !Absent(train) && ToBool(train, "train", where);
  a.dropout_seed = Absent(seed) ? 0 : ToSeed(seed, "dropoutSeed", where);
  if (!cfg.has_cell_state()) {
    if (!Absent(c0)) ThrowNotLstm(obj.Env(), "c0", where);
    if (!Absent(c_n)) ThrowNotLstm(obj.Env(), "cN", where);
  }
  const Sizes n = SizesOf(cfg, a.seq_len, a.batch);
  auto add = [&](const Napi::Value& v, const char* name, size_t count, bool required, bool output,
                 void (*point)(ForwardArgs&, void*)) {
    if (Absent(v)) {
      if (required)
        throw CodedError(obj.Env(), ErrorKind::kTypeError, kCodeInvalidArg,
                         std::string(where) + ": " + name + " is required");
      return;
    }
    void* data = ArrayData<float>(v, count, name, where);
    call.slots.push_back({name, v, data, count, false, output, point});
    point(a, data);
  };
  add(x, "x", n.x, true, false, [](ForwardArgs& f, void* p) { f.x = p; });
  add(h0, "h0", n.h, false, false, [](ForwardArgs& f, void* p) { f.h0 = p; });
  add(c0, "c0", n.c, false, false, [](ForwardArgs& f, void* p) { f.c0 = p; });
  add(output, "output", n.output, true, true, [](ForwardArgs& f, void* p) { f.output = p; });
  add(h_n, "hN", n.h, false, true, [](ForwardArgs& f, void* p) { f.h_n = p; });
  add(c_n, "cN", n.c, false, true, [](ForwardArgs& f, void* p) { f.c_n = p; });
  if (!Absent(lengths)) {
    int32_t* len = ArrayData<int32_t>(lengths, static_cast<size_t>(a.batch), "lengths", where);
    for (int b = 0; b < a.batch; ++b)
      if (len[b] < 0 || len[b] > a.seq_len)
        throw CodedError(obj.Env(), ErrorKind::kRangeError, kCodeOutOfRange,
                         std::string(where) + ": lengths[" + std::to_string(b) +
                             "] must be an integer in [0, T=" + std::to_string(a.seq_len) +
                             "], got " + std::to_string(len[b]));
    call.slots.push_back({"lengths", lengths, len, static_cast<size_t>(a.batch), true, false,
                          [](ForwardArgs& f, void* p) { f.lengths = static_cast<int32_t*>(p); }});
    a.lengths = len;
  }
  CheckOverlaps(obj.Env(), call.slots, {{"h0", "hN"}, {"c0", "cN"}}, where);
  return call;
}

Call<BackwardArgs> ParseBackward(const Napi::Value& value, const LayerState& state,
                                 const char* where) {
  Napi::Object obj = ExpectObject(value, "args", where);
  const Napi::Value d_output = obj.Get("dOutput"), d_h_n = obj.Get("dhN"), d_c_n = obj.Get("dcN"),
                    d_x = obj.Get("dx"), d_h0 = obj.Get("dh0"), d_c0 = obj.Get("dc0");
  const cellstate::Layer<float>& layer = state.Live(obj.Env(), where);
  if (!layer.has_pending_backward() || state.seq_len < 1)
    throw StatusError(obj.Env(),
                      Status::Error(cellstate::Code::kNoForward,
                                    "no pending training forward: call forward(x, { train: true "
                                    "}) before backward (once per forward)"),
                      where);
  const cellstate::Config& cfg = layer.config();
  if (!cfg.has_cell_state()) {
    if (!Absent(d_c_n)) ThrowNotLstm(obj.Env(), "dcN", where);
    if (!Absent(d_c0)) ThrowNotLstm(obj.Env(), "dc0", where);
  }
  const Sizes n = SizesOf(cfg, state.seq_len, state.batch);
  Call<BackwardArgs> call;
  BackwardArgs& a = call.args;
  auto add = [&](const Napi::Value& v, const char* name, size_t count, bool output,
                 void (*point)(BackwardArgs&, void*)) {
    if (Absent(v)) return;
    void* data = ArrayData<float>(v, count, name, where);
    call.slots.push_back({name, v, data, count, false, output, point});
    point(a, data);
  };
  add(d_output, "dOutput", n.output, false, [](BackwardArgs& b, void* p) { b.d_output = p; });
  add(d_h_n, "dhN", n.h, false, [](BackwardArgs& b, void* p) { b.d_h_n = p; });
  add(d_c_n, "dcN", n.c, false, [](BackwardArgs& b, void* p) { b.d_c_n = p; });
  add(d_x, "dx", n.x, true, [](BackwardArgs& b, void* p) { b.d_x = p; });
  add(d_h0, "dh0", n.h, true, [](BackwardArgs& b, void* p) { b.d_h0 = p; });
  add(d_c0, "dc0", n.c, true, [](BackwardArgs& b, void* p) { b.d_c0 = p; });
  CheckOverlaps(obj.Env(), call.slots, {{"dhN", "dh0"}, {"dcN", "dc0"}}, where);
  return call;
}

Status Run(cellstate::Layer<float>& layer, const ForwardArgs& a) { return layer.Forward(a); }
Status Run(cellstate::Layer<float>& layer, const BackwardArgs& a) { return layer.Backward(a); }

// Async work. Inputs are copied into memory owned by the worker when the call is made and
// results are written to worker memory, then copied into the caller's typed arrays (held by
// references until then) on the main thread. So Execute touches neither napi_env nor JavaScript
// memory, and the caller may even detach or reuse its buffers while the work is in flight.
template <typename Args>
class LayerWorker : public Napi::AsyncWorker {
 public:
  LayerWorker(Napi::Env env, std::shared_ptr<LayerState> state, Call<Args> call, const char* where)
      : Napi::AsyncWorker(env, where),
        deferred_(Napi::Promise::Deferred::New(env)),
        state_(std::move(state)),
        args_(call.args),
        where_(where),
        seq_len_(call.seq_len),
        batch_(call.batch),
        batch_first_(call.batch_first) {
    // The staging buffers are allocated uninitialized (new T[n], not a zero-filled vector):
    // an input is overwritten by its copy at once, and an output is zeroed by Execute on the
    // worker thread. Zero-filling them here cost the event loop a pass over every byte (first
    // touches of fresh pages: 30-70 ms for the first predictAsync of 5000 x 100 at 64 units).
    for (const Slot<Args>& slot : call.slots) {
      Staged staged;
      staged.count = slot.count;
      staged.output = slot.output;
      void* data = nullptr;
      if (slot.is_int) {
        staged.ints.reset(new int32_t[slot.count]);
        data = staged.ints.get();
      } else {
        staged.floats.reset(new float[slot.count]);
        data = staged.floats.get();
      }
      if (slot.output) {
        staged.target = Napi::Persistent(slot.array.template As<Napi::Object>());
      } else {
        std::memcpy(data, slot.data, slot.count * 4);
      }
      slot.point(args_, data);
      staged_.push_back(std::move(staged));
    }
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      for (Staged& staged : staged_) {
        if (!staged.output) continue;
        if (staged.floats) std::memset(staged.floats.get(), 0, staged.count * sizeof(float));
        if (staged.ints) std::memset(staged.ints.get(), 0, staged.count * sizeof(int32_t));
      }
      status_ = Run(*state_->layer, args_);
    } catch (...) {  // the kernel does not throw; never let anything cross the thread boundary
      status_ = Status::Error(cellstate::Code::kOutOfMemory, "unexpected exception in the kernel");
    }
  }

  // OnOK and OnError also run while a worker_thread's environment is being torn down, when
  // every call into JavaScript fails; node-addon-api would then throw from its own error
  // handling and terminate the process. So failures to settle the promise are dropped here:
  // nobody is left to observe it.
  void OnOK() override {
    state_->busy = LayerState::Busy::kIdle;
    state_->Account();
    try {
      Settle();
    } catch (const Napi::Error&) {
    }
  }

  void OnError(const Napi::Error& error) override {
    state_->busy = LayerState::Busy::kIdle;
    state_->Account();
    try {
      deferred_.Reject(error.Value());
    } catch (const Napi::Error&) {
    }
  }

 private:
  struct Staged {
    std::unique_ptr<float[]> floats;
    std::unique_ptr<int32_t[]> ints;
    size_t count = 0;
    bool output = false;           // zeroed by Execute, then copied into target
    Napi::ObjectReference target;  // the caller's output array (outputs only)
  };

  // All or nothing: every output array is checked before any is written, so a call that fails
  // writes none of them.
  void Settle() {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(StatusError(env, status_, where_).Value());
      return;
    }
    std::vector<float*> targets;
    for (Staged& staged : staged_) {
      if (staged.target.IsEmpty()) continue;
      const Napi::Value target = staged.target.Value();
      if (!target.IsTypedArray() ||
          target.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
          target.As<Napi::TypedArray>().ElementLength() != staged.count) {
        // The kernel ran: its pending backward (if any) belongs to results nobody received.
        if constexpr (std::is_same_v<Args, ForwardArgs>) {
          if (state_->layer) state_->layer->DiscardPendingBackward();
        }
        deferred_.Reject(CodedError(env, ErrorKind::kError, kCodeInvalidArg,
                                    std::string(where_) +
                                        ": an output array was detached or resized while the "
                                        "work ran; no result was written")
                             .Value());
        return;
      }
      targets.push_back(target.As<Napi::Float32Array>().Data());
    }
    size_t k = 0;
    for (Staged& staged : staged_) {
      if (staged.target.IsEmpty()) continue;
      std::memcpy(targets[k++], staged.floats.get(), staged.count * 4);
    }
    if constexpr (std::is_same_v<Args, ForwardArgs>) {
      if (args_.train) {
        state_->seq_len = seq_len_;
        state_->batch = batch_;
        state_->batch_first = batch_first_;
      }
    }
    deferred_.Resolve(env.Undefined());
  }

  Napi::Promise::Deferred deferred_;
  std::shared_ptr<LayerState> state_;
  Args args_;
  const char* where_;
  int seq_len_, batch_;
  bool batch_first_;
  std::vector<Staged> staged_;
  Status status_;
};

// Marks NativeLayer objects, so SharedState never unwraps another class's object as one.
constexpr napi_type_tag kNativeLayerTag = {0x6365'6c6c'7374'6174ULL, 0x4e61'7469'7665'4c61ULL};

}  // namespace

cellstate::Layer<float>& LayerState::Live(Napi::Env env, const char* where) const {
  if (!layer) ThrowDisposed(env, where);
  return *layer;
}

std::shared_ptr<LayerState> NativeLayer::SharedState(const Napi::Value& v, const char* name,
                                                     const char* where) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kNativeLayerTag))
    throw CodedError(v.Env(), ErrorKind::kTypeError, kCodeInvalidArg,
                     std::string(where) + ": " + name + " must be a NativeLayer");
  return Unwrap(v.As<Napi::Object>())->state_;
}

Napi::Function NativeLayer::DefineClass(Napi::Env env) {
  return ObjectWrap<NativeLayer>::DefineClass(
      env, "NativeLayer",
      {
          InstanceMethod("paramTable", &NativeLayer::ParamTable),
          InstanceAccessor("paramCount", &NativeLayer::ParamCount, nullptr),
          InstanceAccessor("busy", &NativeLayer::Busy, nullptr),
          InstanceAccessor("pendingBackward", &NativeLayer::PendingBackward, nullptr),
          InstanceAccessor("disposed", &NativeLayer::Disposed, nullptr),
          InstanceAccessor("quantized", &NativeLayer::Quantized, nullptr),
          InstanceAccessor("externalBytes", &NativeLayer::ExternalBytes, nullptr),
          InstanceMethod("quantize", &NativeLayer::Quantize),
          InstanceMethod("readParams", &NativeLayer::ReadParams),
          InstanceMethod("writeParams", &NativeLayer::WriteParams),
          InstanceMethod("readGrads", &NativeLayer::ReadGrads),
          InstanceMethod("zeroGrad", &NativeLayer::ZeroGrad),
          InstanceMethod("forward", &NativeLayer::Forward),
          InstanceMethod("backward", &NativeLayer::Backward),
          InstanceMethod("forwardAsync", &NativeLayer::ForwardAsync),
          InstanceMethod("backwardAsync", &NativeLayer::BackwardAsync),
          InstanceMethod("dispose", &NativeLayer::Dispose),
      });
}

NativeLayer::NativeLayer(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeLayer>(info), state_(std::make_shared<LayerState>()) {
  Napi::Env env = info.Env();
  const char* where = "NativeLayer";
  Guarded(env, where, [&]() -> Napi::Value {
    const cellstate::Config cfg = ReadConfig(info[0]);
    Status status = cellstate::Validate(cfg);
    if (!status.ok()) throw StatusError(env, status, where);
    const Addon* addon = env.GetInstanceData<Addon>();
    status = cellstate::Layer<float>::Create(cfg, addon->engine(env, where), &state_->layer);
    if (!status.ok()) throw StatusError(env, status, where);
    state_->engine_generation = addon->generation();
    state_->memory.Bind(env);
    state_->Account();
    info.This().As<Napi::Object>().TypeTag(&kNativeLayerTag);
    registration_.Register(addon->owners(), env, info.This(), this, state_->memory.reported());
    return env.Undefined();
  });
}

void NativeLayer::CheckIdle(Napi::Env env, const char* where) const {
  if (state_->busy == LayerState::Busy::kIdle) return;
  const char* what = state_->busy == LayerState::Busy::kForward ? "forwardAsync" : "backwardAsync";
  throw CodedError(env, ErrorKind::kError, kCodeBusy,
                   std::string(where) + ": the layer is busy with " + what +
                       "; await it before changing or running the layer");
}

void NativeLayer::SyncEngine(Napi::Env env, const char* where) {
  const Addon* addon = env.GetInstanceData<Addon>();
  if (addon->generation() == state_->engine_generation) return;
  state_->Live(env, where).SetEngine(addon->engine(env, where));
  state_->engine_generation = addon->generation();
}

Napi::Value NativeLayer::ParamTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeLayer.paramTable";
  return Guarded(env, where, [&]() -> Napi::Value {
    const auto& table = state_->Live(env, where).params();
    Napi::Array out = Napi::Array::New(env, table.size());
    for (size_t i = 0; i < table.size(); ++i) {
      const cellstate::ParamInfo& p = table[i];
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("name", p.name);
      Napi::Array shape = Napi::Array::New(env, p.shape.size());
      for (size_t d = 0; d < p.shape.size(); ++d) shape.Set(static_cast<uint32_t>(d), p.shape[d]);
      entry.Set("shape", shape);
      entry.Set("offset", static_cast<double>(p.offset));
      entry.Set("size", static_cast<double>(p.size));
      out.Set(static_cast<uint32_t>(i), entry);
    }
    return out;
  });
}

Napi::Value NativeLayer::ParamCount(const Napi::CallbackInfo& info) {
  const cellstate::Layer<float>& layer = state_->Live(info.Env(), "NativeLayer.paramCount");
  return Napi::Number::New(info.Env(), static_cast<double>(cellstate::ParamCount(layer.config())));
}

Napi::Value NativeLayer::Busy(const Napi::CallbackInfo& info) {
  switch (state_->busy) {
    case LayerState::Busy::kForward:
      return Napi::String::New(info.Env(), "forward");
    case LayerState::Busy::kBackward:
      return Napi::String::New(info.Env(), "backward");
    case LayerState::Busy::kIdle:
      break;
  }
  return info.Env().Null();
}

Napi::Value NativeLayer::PendingBackward(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_->layer && state_->layer->has_pending_backward());
}

Napi::Value NativeLayer::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !state_->layer);
}

// A quantized layer's weights read back dequantized (it holds no float copy).
Napi::Value NativeLayer::ReadParams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeLayer.readParams";
  return Guarded(env, where, [&]() -> Napi::Value {
    cellstate::Layer<float>& layer = state_->Live(env, where);
    const size_t count = cellstate::ParamCount(layer.config());
    layer.ReadParams(ArrayData<float>(info[0], count, "out", where));
    return env.Undefined();
  });
}

// A quantized layer quantizes the new weights (or returns to float on them: a NaN).
Napi::Value NativeLayer::WriteParams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeLayer.writeParams";
  return Guarded(env, where, [&]() -> Napi::Value {
    CheckIdle(env, where);
    cellstate::Layer<float>& layer = state_->Live(env, where);
    const size_t count = cellstate::ParamCount(layer.config());
    const float* src = ArrayData<float>(info[0], count, "src", where);
    const Status status = layer.WriteParams(src);
    state_->Account();
    if (!status.ok()) throw StatusError(env, status, where);
    return env.Undefined();
  });
}

Napi::Value NativeLayer::ExternalBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(state_->memory.reported()));
}

Napi::Value NativeLayer::Quantized(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_->layer && state_->layer->quantized());
}

// quantize(on: boolean): int8 inference on (the current weights quantized) or off.
Napi::Value NativeLayer::Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeLayer.quantize";
  return Guarded(env, where, [&]() -> Napi::Value {
    CheckIdle(env, where);
    if (!info[0].IsBoolean())
      throw CodedError(env, ErrorKind::kTypeError, kCodeInvalidArg,
                       std::string(where) + ": on must be a boolean");
    cellstate::Layer<float>& layer = state_->Live(env, where);
    const cellstate::Status status = layer.Quantize(info[0].As<Napi::Boolean>().Value());
    state_->Account();
    if (!status.ok()) throw StatusError(env, status, where);
    return env.Undefined();
  });
}

Napi::Value NativeLayer::ReadGrads(const Napi::CallbackInfo& info) {
  const char* where = "NativeLayer.readGrads";
  if (state_->busy == LayerState::Busy::kBackward) CheckIdle(info.Env(), where);
  cellstate::Layer<float>& layer = state_->Live(info.Env(), where);
  const size_t count = cellstate::ParamCount(layer.config());
  layer.ReadGrads(ArrayData<float>(info[0], count, "out", where));
  return info.Env().Undefined();
}

Napi::Value NativeLayer::ZeroGrad(const Napi::CallbackInfo& info) {
  const char* where = "NativeLayer.zeroGrad";
  CheckIdle(info.Env(), where);
  state_->Live(info.Env(), where).ZeroGrad();
  return info.Env().Undefined();
}

Napi::Value NativeLayer::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeLayer.forward";
  return Guarded(env, where, [&]() -> Napi::Value {
    CheckIdle(env, where);
    const Call<ForwardArgs> call = ParseForward(info[0], *state_, where);
    CheckIdle(env, where);  // a getter on args may have started async work
    SyncEngine(env, where);
    const Status status = state_->Live(env, where).Forward(call.args);
    state_->Account();
    if (!status.ok()) throw StatusError(env, status, where);
    if (call.args.train) {
      state_->seq_len = call.seq_len;
      state_->batch = call.batch;
      state_->batch_first = call.batch_first;
    }
    return env.Undefined();
  });
}

Napi::Value NativeLayer::Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeLayer.backward";
  return Guarded(env, where, [&]() -> Napi::Value {
    CheckIdle(env, where);
    const Call<BackwardArgs> call = ParseBackward(info[0], *state_, where);
    CheckIdle(env, where);
    SyncEngine(env, where);
    const Status status = state_->Live(env, where).Backward(call.args);
    state_->Account();
    if (!status.ok()) throw StatusError(env, status, where);
    return env.Undefined();
  });
}

Napi::Value NativeLayer::ForwardAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeLayer.forwardAsync";
  return Guarded(env, where, [&]() -> Napi::Value {
    CheckIdle(env, where);
    Call<ForwardArgs> call = ParseForward(info[0], *state_, where);
    CheckIdle(env, where);
    SyncEngine(env, where);
    state_->Live(env, where);  // a getter on args may have disposed the layer
    auto* worker = new LayerWorker<ForwardArgs>(env, state_, std::move(call), where);
    state_->busy = LayerState::Busy::kForward;
    worker->Queue();
    return worker->Promise();
  });
}

Napi::Value NativeLayer::BackwardAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* where = "NativeLayer.backwardAsync";
  return Guarded(env, where, [&]() -> Napi::Value {
    CheckIdle(env, where);
    Call<BackwardArgs> call = ParseBackward(info[0], *state_, where);
    CheckIdle(env, where);
    SyncEngine(env, where);
    state_->Live(env, where);
    auto* worker = new LayerWorker<BackwardArgs>(env, state_, std::move(call), where);
    state_->busy = LayerState::Busy::kBackward;
    worker->Queue();
    return worker->Promise();
  });
}

// Refused while async work runs (it would free what the worker thread computes on); the
// TypeScript layer documents the same. Streams on the layer keep the (now empty) state and
// refuse their calls from then on.
Napi::Value NativeLayer::Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!state_->layer) return env.Undefined();
  CheckIdle(env, "NativeLayer.dispose");
  state_->layer.reset();
  state_->Account();
  return env.Undefined();
}

}  // namespace cellstate_node
