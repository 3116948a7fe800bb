// The activation functions of ONNX's LSTM, GRU and RNN operators (docs/cells.md, "Activation
// functions and clipping"): a kind, its parameters alpha and beta, and the rules around them
// (names, defaults, which parameters a kind takes, ONNX's order of consuming
// activation_alpha / activation_beta, and whether the derivative needs the pre-activation).
//
// Types and declarations only: this header is included by the ISA translation units (through
// kernels.h), so it holds no inline function and no STL; the definitions are in activation.cc.
// The vector forward and derivative are in ukernel/postgemm/activation-impl.h, the double
// reference in ref/activation-ref.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cellstate {

struct Status;

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
  float alpha = 0.f;
  float beta = 0.f;
};

// The activation roles and clip of one cell (docs/cells.md, "Activation functions and
// clipping"). The RNN's nonlinearity is the `cell` role.
struct CellActivations {
  Activation gate = {ActKind::kSigmoid, 0.f, 0.f};  // LSTM i, f, o; GRU r, z
  Activation cell = {ActKind::kTanh, 0.f, 0.f};     // LSTM g; GRU n; RNN h
  Activation hidden = {ActKind::kTanh, 0.f, 0.f};   // LSTM: applied to c_t for m
  float clip = 0.f;  // > 0: gate and candidate pre-activations clamped to [−clip, clip]; 0: none
};

// True for sigmoid gates, tanh cell and hidden activations and no clip: the cells' fast path.
bool CellActivationsAreDefault(const CellActivations& ca);
// True when backward needs the pre-activations of the gates and the candidate (before the
// clip): with clip, or when the gate or cell activation's derivative needs its input (the
// hidden activation's input c_t is kept anyway).
bool CellActivationsNeedPre(const CellActivations& ca);

// Our option name ("hardSigmoid") and ONNX's ("HardSigmoid"); "?" for a kind out of range.
const char* ActivationName(ActKind kind);
const char* ActivationOnnxName(ActKind kind);

// The kind named `name` (either spelling, ASCII case ignored: "hardSigmoid", "HardSigmoid",
// "hardsigmoid"). False, with *kind untouched, for any other string (null included).
bool ActivationFromName(const char* name, ActKind* kind);

// Which parameters a kind takes (ONNX's table, as onnxruntime reads it).
bool ActivationUsesAlpha(ActKind kind);
bool ActivationUsesBeta(ActKind kind);

// The kind with docs/cells.md's defaults (hardSigmoid 0.2/0.5, leakyRelu 0.01,
// thresholdedRelu 1, scaledTanh 1/1, affine 1/0, elu 1; others 0/0).
Activation DefaultActivation(ActKind kind);

// The kind with the given parameters; the ones the kind does not take are ignored (set to 0).
// kInvalidArgument for a kind out of range, kOutOfRange for a used parameter that is not
// finite. `what` names the option in the message (e.g. "gateActivation").
Status MakeActivation(ActKind kind, float alpha, float beta, const char* what, Activation* out);

// True when the derivative cannot be computed from the activation's output alone, so backward
// needs the pre-activation: leakyRelu with α ≤ 0, thresholdedRelu with α < 0, elu with α ≤ 0.
// (Everything else is a function of the output: sigmoid y(1−y), tanh 1−y², relu [y>0],
// hardSigmoid α[0<y<1], leakyRelu y≥0 ? 1 : α, thresholdedRelu [y≠0], scaledTanh
// αβ(1−(y/α)²), affine α, elu y≥0 ? 1 : y+α, softsign (1−|y|)², softplus 1−e^−y.)
bool ActivationNeedsInput(const Activation& a);

// True for the sigmoid with no parameters; IsTanh likewise. The fast paths of the cells run
// when every role has its default function.
bool ActivationIsSigmoid(const Activation& a);
bool ActivationIsTanh(const Activation& a);

// ONNX's `activations`, `activation_alpha` and `activation_beta` attributes, as onnxruntime
// reads them: the names in order (case ignored); each function that takes α (then β) consumes
// the next value of activation_alpha (activation_beta) in order, and takes onnxruntime's default
// when the list is exhausted: leakyRelu 0.01, hardSigmoid 0.2 / 0.5, elu 1, and 0 for the
// others (affine, thresholdedRelu, scaledTanh: onnxruntime's default differs from the option
// defaults of DefaultActivation; the ONNX text gives none). [Sigmoid, Softsign, Affine] with
// alpha [0.9] gives Affine α 0.9. Values left over after every function took its own are
// ignored, as onnxruntime does. Unknown names (kInvalidArgument) and non-finite values that a
// function takes (kOutOfRange) are refused.
Status ParseOnnxActivations(const char* const* names, size_t n, const float* alphas, size_t n_alpha,
                            const float* betas, size_t n_beta, Activation* out);

}  // namespace cellstate
