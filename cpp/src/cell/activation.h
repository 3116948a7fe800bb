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

#include "cellstate/activation.h"

namespace cellstate {

struct Status;
struct Option;

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
Status MakeActivation(ActKind kind, double alpha, double beta, const char* what, Activation* out);

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

// Option readers for the cell families' Parse (cell.h): false when o.key is not `key`; else sets
// *out, or *st to the refusal. An activation is a name or an object {name, alpha?, beta?}
// (parameters the function does not take, other fields, non-finite values: refused); clip a
// finite number > 0.
bool ActivationOption(const Option& o, const char* key, Activation* out, Status* st);
bool ClipOption(const Option& o, double* clip, Status* st);

}  // namespace cellstate
