// The activation functions of ONNX's LSTM, GRU and RNN operators as configuration data
// (docs/cells.md, "Activation functions and clipping"): plain types, no STL, so that the kernel's
// ISA translation units can include them too. The rules (names, defaults, parsing) are in
// cpp/src/cell/activation.h.
#pragma once

#include <cstdint>

namespace cellstate {

// ONNX's list, in the order of its operator text.
enum class ActKind : int32_t {
  kSigmoid = 0,      // 1 / (1 + e^-x)
  kTanh,             // tanh(x)
  kRelu,             // max(0, x)
  kHardSigmoid,      // max(0, min(1, αx + β)); α 0.2, β 0.5
  kLeakyRelu,        // x ≥ 0 ? x : αx; α 0.01
  kThresholdedRelu,  // x > α ? x : 0; α 1
  kScaledTanh,       // α tanh(βx); α 1, β 1
  kAffine,           // αx + β; α 1, β 0
  kElu,              // x ≥ 0 ? x : α(e^x − 1); α 1
  kSoftsign,         // x / (1 + |x|)
  kSoftplus,         // log(1 + e^x)
};
constexpr int kNumActKinds = 11;

// One activation with its parameters (unused parameters are 0).
struct Activation {
  ActKind kind = ActKind::kSigmoid;
  double alpha = 0;  // kept in double for the float64 reference; float kernels round them
  double beta = 0;
};

// The activation roles and clip of one cell (docs/cells.md, "Activation functions and
// clipping"). The RNN's nonlinearity is the `cell` role.
struct CellActivations {
  Activation gate = {ActKind::kSigmoid, 0.f, 0.f};  // LSTM i, f, o; GRU r, z
  Activation cell = {ActKind::kTanh, 0.f, 0.f};     // LSTM g; GRU n; RNN h
  Activation hidden = {ActKind::kTanh, 0.f, 0.f};   // LSTM: applied to c_t for m
  double clip = 0;  // > 0: gate and candidate pre-activations clamped to [−clip, clip]; 0: none
};

}  // namespace cellstate
