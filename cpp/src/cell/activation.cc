// Names, defaults and parameter rules of the activation functions (activation.h).
#include "cell/activation.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cellstate/cellstate.h"

namespace cellstate {

namespace {

struct KindInfo {
  const char* name;       // our option name
  const char* onnx_name;  // ONNX's
  bool uses_alpha, uses_beta;
  float alpha, beta;            // docs/cells.md defaults
  float onnx_alpha, onnx_beta;  // onnxruntime's defaults when activation_alpha/beta run out
};

// Indexed by ActKind.
constexpr KindInfo kKinds[kNumActKinds] = {
    {"sigmoid", "Sigmoid", false, false, 0.f, 0.f, 0.f, 0.f},
    {"tanh", "Tanh", false, false, 0.f, 0.f, 0.f, 0.f},
    {"relu", "Relu", false, false, 0.f, 0.f, 0.f, 0.f},
    {"hardSigmoid", "HardSigmoid", true, true, 0.2f, 0.5f, 0.2f, 0.5f},
    {"leakyRelu", "LeakyRelu", true, false, 0.01f, 0.f, 0.01f, 0.f},
    {"thresholdedRelu", "ThresholdedRelu", true, false, 1.f, 0.f, 0.f, 0.f},
    {"scaledTanh", "ScaledTanh", true, true, 1.f, 1.f, 0.f, 0.f},
    {"affine", "Affine", true, true, 1.f, 0.f, 0.f, 0.f},
    {"elu", "Elu", true, false, 1.f, 0.f, 1.f, 0.f},
    {"softsign", "Softsign", false, false, 0.f, 0.f, 0.f, 0.f},
    {"softplus", "Softplus", false, false, 0.f, 0.f, 0.f, 0.f},
};

bool InRange(ActKind k) {
  const int i = static_cast<int>(k);
  return i >= 0 && i < kNumActKinds;
}

const KindInfo& Info(ActKind k) { return kKinds[static_cast<int>(k)]; }

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool SameIgnoringCase(const char* a, const char* b) {
  for (; *a && *b; ++a, ++b)
    if (Lower(*a) != Lower(*b)) return false;
  return *a == *b;
}

std::string Num(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
  return buf;
}

}  // namespace

const char* ActivationName(ActKind kind) { return InRange(kind) ? Info(kind).name : "?"; }

const char* ActivationOnnxName(ActKind kind) { return InRange(kind) ? Info(kind).onnx_name : "?"; }

bool ActivationFromName(const char* name, ActKind* kind) {
  if (!name) return false;
  for (int i = 0; i < kNumActKinds; ++i) {
    if (SameIgnoringCase(name, kKinds[i].name)) {
      *kind = static_cast<ActKind>(i);
      return true;
    }
  }
  return false;
}

bool ActivationUsesAlpha(ActKind kind) { return InRange(kind) && Info(kind).uses_alpha; }
bool ActivationUsesBeta(ActKind kind) { return InRange(kind) && Info(kind).uses_beta; }

Activation DefaultActivation(ActKind kind) {
  if (!InRange(kind)) return {};
  return {kind, Info(kind).alpha, Info(kind).beta};
}

Status MakeActivation(ActKind kind, float alpha, float beta, const char* what, Activation* out) {
  const std::string w = what ? what : "activation";
  if (!InRange(kind))
    return Status::Error(Code::kInvalidArgument, w + ": unknown activation function");
  Activation a{kind, 0.f, 0.f};
  if (Info(kind).uses_alpha) {
    if (!std::isfinite(alpha))
      return Status::Error(Code::kOutOfRange, w + ": alpha of " + Info(kind).name +
                                                  " must be a finite number, got " + Num(alpha));
    a.alpha = alpha;
  }
  if (Info(kind).uses_beta) {
    if (!std::isfinite(beta))
      return Status::Error(Code::kOutOfRange, w + ": beta of " + Info(kind).name +
                                                  " must be a finite number, got " + Num(beta));
    a.beta = beta;
  }
  *out = a;
  return Status::Ok();
}

bool ActivationNeedsInput(const Activation& a) {
  switch (a.kind) {
    case ActKind::kLeakyRelu:
    case ActKind::kElu:
      return !(a.alpha > 0.f);
    case ActKind::kThresholdedRelu:
      return !(a.alpha >= 0.f);
    default:
      return false;
  }
}

bool ActivationIsSigmoid(const Activation& a) { return a.kind == ActKind::kSigmoid; }
bool ActivationIsTanh(const Activation& a) { return a.kind == ActKind::kTanh; }

bool CellActivationsAreDefault(const CellActivations& ca) {
  return ca.gate.kind == ActKind::kSigmoid && ca.cell.kind == ActKind::kTanh &&
         ca.hidden.kind == ActKind::kTanh && !(ca.clip > 0.f);
}

bool CellActivationsNeedPre(const CellActivations& ca) {
  return ca.clip > 0.f || ActivationNeedsInput(ca.gate) || ActivationNeedsInput(ca.cell);
}

Status ParseOnnxActivations(const char* const* names, size_t n, const float* alphas, size_t n_alpha,
                            const float* betas, size_t n_beta, Activation* out) {
  // Into a copy first: a refused list leaves out untouched.
  std::vector<Activation> parsed(n);
  size_t ia = 0, ib = 0;
  for (size_t k = 0; k < n; ++k) {
    ActKind kind;
    if (!ActivationFromName(names[k], &kind)) {
      return Status::Error(Code::kInvalidArgument,
                           "activations[" + std::to_string(k) + "]: unknown activation function '" +
                               std::string(names[k] ? names[k] : "") +
                               "' (expected one of Sigmoid, Tanh, Relu, HardSigmoid, LeakyRelu, "
                               "ThresholdedRelu, ScaledTanh, Affine, Elu, Softsign, Softplus)");
    }
    const KindInfo& info = Info(kind);
    float alpha = 0.f, beta = 0.f;
    if (info.uses_alpha) alpha = ia < n_alpha ? alphas[ia++] : info.onnx_alpha;
    if (info.uses_beta) beta = ib < n_beta ? betas[ib++] : info.onnx_beta;
    Status s = MakeActivation(kind, alpha, beta, ("activations[" + std::to_string(k) + "]").c_str(),
                              &parsed[k]);
    if (!s.ok()) return s;
  }
  for (size_t k = 0; k < n; ++k) out[k] = parsed[k];
  return Status::Ok();
}

}  // namespace cellstate
