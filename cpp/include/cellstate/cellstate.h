// cellstate kernel API: plain C++17, no Node types. Every entry returns a Status and never
// throws, prints, exits or aborts. The semantics of every cell are those of docs/cells.md;
// parameter names and the flat parameter layout follow it too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cellstate/activation.h"

namespace cellstate {

enum class Code : int {
  kOk = 0,
  kInvalidArgument,  // wrong type or contradictory options   -> TypeError / RangeError
  kOutOfRange,       // a size or length out of range         -> RangeError
  kNoForward,        // backward without a training forward   -> Error ERR_CELLSTATE_NO_FORWARD
  kUnsupported,      // an operation this layer cannot do     -> Error ERR_CELLSTATE_UNSUPPORTED
  kOutOfMemory,      // an allocation failed                  -> Error ERR_CELLSTATE_OOM
};

struct Status {
  Code code = Code::kOk;
  std::string message;
  bool ok() const { return code == Code::kOk; }
  static Status Ok() { return {}; }
  static Status Error(Code c, std::string m) { return {c, std::move(m)}; }
};

enum class Cell : int { kLSTM = 0, kGRU = 1, kRNN = 2 };

// Options of the LSTM family (docs/cells.md; defaults as there). Parsed and validated by
// cpp/src/cell/lstm.cc.
struct LstmOptions {
  int proj_size = 0;  // projSize: R = projSize when > 0
  bool peephole = false;
  bool coupled = false;  // CIFG: i = 1 - f
  bool input_gate = true;
  bool forget_gate = true;
  bool output_gate = true;
  bool input_activation = true;   // g = tanh(a_g) (else a_g)
  bool output_activation = true;  // m = o * tanh(c) (else o * c)
  // layerNorm (Ba et al. 2016, docs/cells.md "Layer-normalized LSTM"): LN of W_ih x and of
  // W_hh h (biases added after), and LN(c_t) before the output activation.
  bool layer_norm = false;
  // gateActivation (i, f, o), cellActivation (g), hiddenActivation (applied to c_t), clip.
  // cellActivation 'affine' with α 1, β 0 is stored as input_activation = false (likewise the
  // hidden one), so that the fast path runs.
  CellActivations acts;
  bool cell_activation_set = false, hidden_activation_set = false;  // given (for Validate)
};

// Options of the GRU family (cpp/src/cell/gru.cc).
struct GruOptions {
  bool reset_after = true;  // resetAfter: r applied after W_hn (PyTorch, cuDNN)
  CellActivations acts;     // gateActivation (r, z), cellActivation (n), clip
};

// Options of the simple RNN (cpp/src/cell/rnn.cc).
struct RnnOptions {
  bool relu = false;     // nonlinearity: 'relu' (else 'tanh', or another function in acts.cell)
  CellActivations acts;  // nonlinearity (acts.cell), clip
};

// Resolved options of one recurrent layer stack (names of API.md; defaults as there): the
// options common to every cell, then one block per cell family (only the block of `cell` is
// read).
struct Config {
  Cell cell = Cell::kLSTM;
  int input_size = 0;
  int hidden_size = 0;
  int num_layers = 1;
  bool bidirectional = false;
  // One direction that runs t = len_b − 1 … 0 (ONNX's direction: "reverse"); its parameters are
  // named without the _reverse suffix. Excludes bidirectional; streaming refuses it.
  bool reverse = false;
  float dropout = 0.f;  // between layers, training only
  // Keras's recurrent_dropout (Gal & Ghahramani 2016), training only: one mask per sequence and
  // unit on h_{t-1} as it enters the recurrent GEMM(s), the same at every step, values 0 or
  // 1/(1-p). The carried state is not masked.
  float recurrent_dropout = 0.f;
  // Keras's dropout, training only: one mask per sequence on the stack's input x_t, the same at
  // every step, values 0 or 1/(1-p).
  float input_dropout = 0.f;
  LstmOptions lstm;
  GruOptions gru;
  RnnOptions rnn;

  int directions() const { return bidirectional ? 2 : 1; }
  // R: size of h (projSize when > 0, else hiddenSize).
  int out_size() const;
  // Number of gate blocks G in weight_ih / weight_hh / biases.
  int gates() const;
  // Number of peephole vectors K in weight_ph (0 without peepholes).
  int peepholes() const;
  // Size of the cell state c per batch row (hiddenSize for the LSTM), 0 for cells without one.
  int cell_state_size() const;
  bool has_cell_state() const { return cell_state_size() > 0; }
};

// Refuses impossible or contradictory configurations (docs/cells.md).
Status Validate(const Config& cfg);

// One option of a configuration as the caller spelled it (the binding passes the JS config
// object's own properties): a key and a number, boolean, string or object (an object's fields
// are themselves options, e.g. an activation {name, alpha, beta}).
struct Option {
  enum class Kind : int { kNumber, kBool, kString, kObject };
  std::string key;
  Kind kind = Kind::kNumber;
  double number = 0;
  bool boolean = false;
  std::string string;
  std::vector<Option> fields;  // kObject

  static Option Number(std::string k, double v) {
    Option o;
    o.key = std::move(k);
    o.kind = Kind::kNumber;
    o.number = v;
    return o;
  }
  static Option Bool(std::string k, bool v) {
    Option o;
    o.key = std::move(k);
    o.kind = Kind::kBool;
    o.boolean = v;
    return o;
  }
  static Option String(std::string k, std::string v) {
    Option o;
    o.key = std::move(k);
    o.kind = Kind::kString;
    o.string = std::move(v);
    return o;
  }
};
using Options = std::vector<Option>;

// Builds and validates a Config from options with the API.md names: `cell` ('lstm', 'gru',
// 'rnn'; required), the common options (inputSize, hiddenSize, numLayers, bidirectional,
// direction: 'forward' | 'reverse' | 'bidirectional', dropout), then the cell family's own options
// (cpp/src/cell/<family>.cc). Unset options keep their defaults. Refuses an unknown key (naming
// it), a key of another cell family, a value of the wrong kind (kInvalidArgument) and a value out
// of range (kOutOfRange), with the messages of Validate. *out is written only on success.
Status ParseConfig(const Options& options, Config* out);

// Whether a layer of this configuration can stream (Layer::Step): kUnsupported with the reason
// for a bidirectional or reverse layer, whose first step needs the last input.
Status CheckStreamable(const Config& cfg);

// One parameter tensor inside the flat parameter buffer, in PyTorch's order.
struct ParamInfo {
  std::string name;  // docs/cells.md name, e.g. "weight_ih_l0_reverse"
  std::vector<int> shape;
  size_t offset;  // in elements, into the flat buffer
  size_t size;    // element count
};

// The parameter table of a configuration: per layer, forward then reverse, weight_ih,
// weight_hh, bias_ih, bias_hh, then weight_hr and weight_ph where present.
std::vector<ParamInfo> ParamTable(const Config& cfg);
size_t ParamCount(const Config& cfg);

// Which implementation runs the float kernels.
struct Runtime {
  std::string isa;  // "scalar" | "avx2" | "avx512" | "neon"
  int threads;
  bool openmp;
};

template <typename T>
struct Kernels;  // micro-kernel table (cpp/src/kernels.h)

class ThreadPool;  // cpp/src/dispatch/pool.h

// Execution context held by each layer: the ISA's kernels, the thread count and the pool
// that runs the threads (shared by the engines made from one another; null on one thread).
struct Engine {
  const void* kernels = nullptr;  // const Kernels<T>*, chosen by MakeEngine
  int threads = 1;
  std::shared_ptr<ThreadPool> pool;
  // A call runs on `threads` threads only when a time step costs at least this many flops
  // (below it a barrier costs more than a second thread saves). Tests set 0 to force threads.
  double parallel_min_flops = 2.0e6;
  // With at least this many batch rows per thread, the time steps split rows among threads
  // (each thread runs whole sequences, no barrier inside a step); below it they split the
  // GEMMs' columns. Tests set 1 to exercise the row split on small batches.
  int row_split_min_rows = 12;
  // Inference through stacked one-direction layers whose steps are too small to split (below
  // parallel_min_flops) runs as a wavefront on the threads (layer l one chunk behind layer l-1,
  // each on its own thread) when the whole call costs at least this many flops. Tests set 0.
  double wavefront_min_flops = 4.0e6;
  // The wavefront's layers above the first compute their input projections in chunks of about
  // this many rows (steps × batch): one GEMM per chunk instead of a matrix-vector product per
  // step. A layer starts one chunk behind the layer below; calls shorter than two chunks run
  // layer by layer. Tests set 2.
  int wavefront_chunk_rows = 16;
  // The forward runs each layer's input GEMM in chunks of about this many rows (steps × batch),
  // each just before its steps, so that the gates it writes are still in cache when the steps
  // read them, when the layer's input weights are small enough to be read once per chunk (at
  // most 2 MB); 0: over all steps at once. Rows are independent: no bit changes. Tests set 3.
  int input_chunk_rows = 256;
  // A streaming step (Layer::Step) of a one-layer float stack whose GEMM weights exceed this
  // many bytes runs its input and recurrent GEMMs paired over the same column panels, in
  // opposite orders on alternate steps (Kernels::gemm_pair), so that a step starts on the
  // weights the previous one left in the cache; smaller weights stay in L2 anyway (1 MiB:
  // Zen 5's L2). The results are the same either way. Tests set 0.
  double stream_pair_min_bytes = 1048576.0;
};

// The best ISA this CPU supports, or the one named by CELLSTATE_ISA when that is set and usable.
// isa == "" means "auto". Fails when a named ISA is unknown or not supported by this CPU.
// threads > 1 gives the engine a thread pool of that size (its workers start on first use).
Status MakeEngine(const std::string& isa, int threads, Engine* out);
// Names of the ISAs this CPU can run, best first ("scalar" always last).
std::vector<std::string> AvailableIsas();
const char* IsaName(const Engine& e);
int DefaultThreads();  // OMP_NUM_THREADS when set, else the number of cores
bool HasOpenMP();      // false: threads come from the kernel's own pool (dispatch/pool.h)

struct ForwardArgs {
  int seq_len = 0;  // T
  int batch = 0;    // B
  bool batch_first = false;
  const void* x = nullptr;   // [T,B,I] or [B,T,I]
  const void* h0 = nullptr;  // [L·D,B,R] or null (zeros)
  const void* c0 = nullptr;  // [L·D,B,H] or null (zeros); LSTM only
  // [B] in [0,T] or null (all T). Steps t >= lengths[b] output zeros and leave row b's state
  // unchanged (a 0 length: outputs all zero, h_n / c_n = h0 / c0); backward passes d_h_n / d_c_n
  // through them to d_h0 / d_c0 and gives them no dx and no parameter gradient.
  const int32_t* lengths = nullptr;
  bool train = false;         // keep what backward needs
  uint64_t dropout_seed = 0;  // seeds the dropout masks of this call (train only)
  // Tests: the recurrent dropout masks [L·D,B,R] of this call (train with recurrent_dropout > 0)
  // instead of those drawn from dropout_seed; any values.
  const void* recurrent_mask = nullptr;
  void* output = nullptr;  // [T,B,D·R] or [B,T,D·R]
  void* h_n = nullptr;     // [L·D,B,R] (may be null)
  void* c_n = nullptr;     // [L·D,B,H] (may be null; LSTM only)
};

struct BackwardArgs {
  const void* d_output = nullptr;  // like output, or null (zeros)
  const void* d_h_n = nullptr;     // like h_n, or null
  const void* d_c_n = nullptr;     // like c_n, or null
  void* d_x = nullptr;             // like x (may be null)
  void* d_h0 = nullptr;            // like h0 (may be null)
  void* d_c0 = nullptr;            // like c0 (may be null)
};

// A stack of recurrent layers in scalar type T (float: the product; double: the oracle).
// Parameters and gradients live in flat buffers laid out by ParamTable.
template <typename T>
class Layer {
 public:
  static Status Create(const Config& cfg, const Engine& engine, std::unique_ptr<Layer>* out);
  ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const Config& config() const;
  const std::vector<ParamInfo>& params() const;
  // The parameters in the user layout (ParamTable offsets); call ParamsChanged() after writing.
  // Null on a quantized layer, which holds no float weights: use ReadParams / WriteParams.
  T* param_data();
  const T* param_data() const;
  T* grad_data();  // accumulated by Backward; null on a quantized layer (it keeps none)
  const T* grad_data() const;
  void ParamsChanged();  // repacks weights, invalidates a pending backward
  // Every parameter, user layout, into out[ParamCount]: a quantized layer's int8 weights
  // dequantized (float(q) · scale, rounded once).
  void ReadParams(T* out) const;
  // Sets every parameter from src[ParamCount] (a pending backward is discarded). A quantized
  // layer quantizes the new weights, or returns to float on them when it cannot (a NaN or an
  // infinity). kOutOfMemory changes nothing.
  Status WriteParams(const T* src);
  // The accumulated gradients, user layout, into out[ParamCount] (zeros on a quantized layer).
  void ReadGrads(T* out) const;
  void ZeroGrad();
  void SetEngine(const Engine& e);
  const Engine& engine() const;

  // Pointers are into caller memory, checked by the caller for size.
  Status Forward(const ForwardArgs& a);
  // Once per training forward. Adds into grad_data().
  Status Backward(const BackwardArgs& a);
  bool has_pending_backward() const;
  // Forgets the pending training forward (Backward then reports kNoForward).
  void DiscardPendingBackward();
  // Bytes of heap memory the layer holds now (parameters, gradients, packed weights and the
  // workspaces sized by the last forward / backward); it changes only when those calls resize
  // a workspace or ParamsChanged repacks. The binding reports it to the JavaScript engine.
  size_t MemoryBytes() const;

  // Streaming: one time step of B independent sequences whose state the caller holds.
  // Unidirectional stacks only (kUnsupported otherwise). Step reads the packed weights and
  // writes only state, scratch and out, so any number of streams may share one layer; it
  // allocates nothing. state: StreamStateSize(B) elements, per layer h [B,R] then (LSTM)
  // c [B,H]; zeros are the zero state. scratch: StreamScratchSize(B) elements, any contents.
  // x [B,I] in, out [B,R] out.
  size_t StreamStateSize(int batch) const;
  size_t StreamScratchSize(int batch) const;
  Status Step(int batch, const T* x, T* state, T* scratch, T* out) const;

  // int8 dynamic quantization (inference only; float layers; every cell and option).
  // Quantize(true) quantizes the current weights of the GEMMs (W_ih, W_hh, W_hr: int8, one scale
  // per row; biases, peepholes and layer-norm parameters stay float); Step and the inference
  // Forward then run the same driver and post-GEMMs on them, quantizing each GEMM's activations
  // per row and step. A quantized layer holds the weights only in that int8 form (packed, with
  // their scales) and no gradients: ReadParams gives them back dequantized, WriteParams quantizes
  // new ones, and Quantize(false) returns to float on the dequantized weights. kInvalidArgument for
  // a NaN or infinite weight, kUnsupported for a double layer or a weight wider than kQMaxK; a
  // quantized layer refuses a training Forward (kUnsupported). Refusals change nothing.
  // StreamScratchSize already covers the quantized Step, so open streams stay valid.
  Status Quantize(bool on);
  bool quantized() const;
  // The int8 values [rows, cols] and per-row scales [rows] the quantized layer runs on for the
  // weight `name` (a ParamTable name such as "weight_ih_l0"), so that files can store them.
  // kUnsupported when the layer is not quantized; kInvalidArgument for a name that is not a
  // quantized weight or a shape that is not its shape. Writes nothing on an error.
  Status QuantizedWeight(const std::string& name, size_t rows, size_t cols, int8_t* q,
                         float* scale) const;

  struct Impl;
  Impl* impl() { return impl_.get(); }

 private:
  explicit Layer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

extern template class Layer<float>;
extern template class Layer<double>;

// A general float GEMM on the engine's kernels (for Dense layers and the like):
//   C[M,N] = (accumulate ? C : 0) + (bias ? bias[n] : 0) + op(A)[M,K] · op(B)[K,N]
// op(A) = A [M,K] or, with a_trans, A^T where A is [K,M]; op(B) = B [K,N] or, with b_trans,
// B^T where B is [N,K]. All row-major and contiguous. Packs B (and transposes A) per call.
Status Matmul(const Engine& e, int M, int N, int K, const float* A, bool a_trans, const float* B,
              bool b_trans, const float* bias, float* C, bool accumulate);

// A weight matrix packed once for repeated C = x · op(W) + bias products with few rows (the
// streaming path of Dense layers): Apply allocates nothing.
class PackedMatrix {
 public:
  // W is [K,N] or, with trans, [N,K]; bias [N] or null (copied).
  static Status Create(const Engine& e, int K, int N, const float* W, bool trans, const float* bias,
                       std::unique_ptr<PackedMatrix>* out);
  int rows() const { return K_; }  // K
  int cols() const { return N_; }  // N
  // C[M,N] = bias + X[M,K] · op(W), single-threaded.
  void Apply(int M, const float* X, float* C) const;
  // Bytes of heap memory held (packed weights and bias).
  size_t MemoryBytes() const { return (packed_.capacity() + bias_.capacity()) * sizeof(float); }

 private:
  PackedMatrix() = default;
  const void* kernels_ = nullptr;
  int K_ = 0, N_ = 0;
  std::vector<float> packed_, bias_;
};

const char* Version();

}  // namespace cellstate
