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
  double alpha, beta;           // docs/cells.md defaults
  float onnx_alpha, onnx_beta;  // onnxruntime's defaults when activation_alpha/beta run out
};

// Indexed by ActKind.
constexpr KindInfo kKinds[kNumActKinds] = {
    {"sigmoid", "Sigmoid", false, false, 0.f, 0.f, 0.f, 0.f},
    {"tanh", "Tanh", false, false, 0.f, 0.f, 0.f, 0.f},
    {"relu", "Relu", false, false, 0.f, 0.f, 0.f, 0.f},
    {"hardSigmoid", "HardSigmoid", true, true, 0.2, 0.5, 0.2f, 0.5f},
    {"leakyRelu", "LeakyRelu", true, false, 0.01, 0, 0.01f, 0.f},
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

std::string Num(double v) {
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

Status MakeActivation(ActKind kind, double alpha, double beta, const char* what, Activation* out) {
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
      return !(static_cast<float>(a.alpha) > 0.f);  // as the float kernels see it
    case ActKind::kThresholdedRelu:
      return !(static_cast<float>(a.alpha) >= 0.f);
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

bool ActivationOption(const Option& o, const char* key, Activation* out, Status* st) {
  if (o.key != key) return false;
  const std::string k = key;
  const char* kNames =
      "'sigmoid', 'tanh', 'relu', 'hardSigmoid', 'leakyRelu', 'thresholdedRelu', 'scaledTanh', "
      "'affine', 'elu', 'softsign' or 'softplus'";
  const Option* name = nullptr;
  const Option* alpha = nullptr;
  const Option* beta = nullptr;
  if (o.kind == Option::Kind::kString) {
    name = &o;
  } else if (o.kind == Option::Kind::kObject) {
    for (const Option& f : o.fields) {
      if (f.key == "name") {
        name = &f;
      } else if (f.key == "alpha") {
        alpha = &f;
      } else if (f.key == "beta") {
        beta = &f;
      } else {
        *st = Status::Error(Code::kInvalidArgument, k + ": unknown field '" + f.key +
                                                        "' (an activation is a name or "
                                                        "{ name, alpha?, beta? })");
        return true;
      }
    }
  } else {
    *st = Status::Error(Code::kInvalidArgument,
                        k + " must be a name or { name, alpha?, beta? }, e.g. 'hardSigmoid'");
    return true;
  }
  ActKind kind;
  if (!name || name->kind != Option::Kind::kString ||
      !ActivationFromName(name->string.c_str(), &kind) || name->string != ActivationName(kind)) {
    *st = Status::Error(
        Code::kInvalidArgument,
        k + ": the function must be one of " + kNames +
            (name && name->kind == Option::Kind::kString ? ", got '" + name->string + "'" : ""));
    return true;
  }
  Activation a = DefaultActivation(kind);
  const struct {
    const Option* v;
    const char* what;
    bool used;
    double* dst;
  } params[] = {{alpha, "alpha", ActivationUsesAlpha(kind), &a.alpha},
                {beta, "beta", ActivationUsesBeta(kind), &a.beta}};
  for (const auto& p : params) {
    if (!p.v) continue;
    if (!p.used) {
      *st = Status::Error(Code::kInvalidArgument,
                          k + ": " + ActivationName(kind) + " takes no " + p.what);
      return true;
    }
    if (p.v->kind != Option::Kind::kNumber || !std::isfinite(p.v->number) ||
        std::fabs(p.v->number) > 3.4e38) {
      *st = Status::Error(Code::kOutOfRange, k + ": " + p.what + " of " + ActivationName(kind) +
                                                 " must be a finite number");
      return true;
    }
    *p.dst = p.v->number;
  }
  *out = a;
  return true;
}

bool ClipOption(const Option& o, double* clip, Status* st) {
  if (o.key != "clip") return false;
  if (o.kind != Option::Kind::kNumber || !std::isfinite(o.number) || !(o.number > 0) ||
      o.number > 3.4e38)
    *st = Status::Error(Code::kOutOfRange, "clip must be a finite number > 0");
  else
    *clip = o.number;
  return true;
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
    double alpha = 0, beta = 0;
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
