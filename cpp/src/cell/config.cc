// Configuration rules and the parameter table of docs/cells.md.
#include <string>
#include <vector>

#include "cellstate/cellstate.h"

namespace cellstate {

namespace {
constexpr int kMaxSize = 1 << 20;  // any single dimension; keeps every product in size_t
constexpr int kMaxLayers = 1024;
}  // namespace

int Config::gates() const {
  switch (cell) {
    case Cell::kLSTM: {
      const bool has_i = input_gate && !coupled;
      return (has_i ? 1 : 0) + (forget_gate ? 1 : 0) + 1 + (output_gate ? 1 : 0);
    }
    case Cell::kGRU:
      return 3;
    case Cell::kRNN:
      return 1;
  }
  return 1;
}

int Config::peepholes() const {
  if (cell != Cell::kLSTM || !peephole) return 0;
  const bool has_i = input_gate && !coupled;
  return (has_i ? 1 : 0) + (forget_gate ? 1 : 0) + (output_gate ? 1 : 0);
}

Status Validate(const Config& c) {
  auto range = [](const std::string& m) { return Status::Error(Code::kOutOfRange, m); };
  auto invalid = [](const std::string& m) { return Status::Error(Code::kInvalidArgument, m); };
  if (c.cell != Cell::kLSTM && c.cell != Cell::kGRU && c.cell != Cell::kRNN)
    return invalid("cell must be lstm, gru or rnn");
  if (c.input_size < 1 || c.input_size > kMaxSize)
    return range("inputSize must be an integer in [1, " + std::to_string(kMaxSize) + "], got " +
                 std::to_string(c.input_size));
  if (c.hidden_size < 1 || c.hidden_size > kMaxSize)
    return range("hiddenSize must be an integer in [1, " + std::to_string(kMaxSize) + "], got " +
                 std::to_string(c.hidden_size));
  if (c.num_layers < 1 || c.num_layers > kMaxLayers)
    return range("numLayers must be an integer in [1, " + std::to_string(kMaxLayers) + "], got " +
                 std::to_string(c.num_layers));
  if (!(c.dropout >= 0.f && c.dropout < 1.f))
    return range("dropout must be in [0, 1), got " + std::to_string(c.dropout));
  if (c.cell != Cell::kLSTM) {
    if (c.proj_size != 0) return invalid("projSize is an LSTM option");
    if (c.layer_norm) return invalid("layerNorm is an LSTM option");
    return Status::Ok();
  }
  if (c.proj_size < 0 || (c.proj_size > 0 && c.proj_size >= c.hidden_size))
    return range("projSize must satisfy 0 < projSize < hiddenSize (" +
                 std::to_string(c.hidden_size) + ") or be 0, got " + std::to_string(c.proj_size));
  if (c.coupled && !c.input_gate)
    return range("coupled: true contradicts inputGate: false (CIFG derives the input gate)");
  if (c.coupled && !c.forget_gate)
    return range("coupled: true contradicts forgetGate: false (CIFG needs the forget gate)");
  if (c.peephole && !c.input_gate && !c.forget_gate && !c.output_gate)
    return range(
        "peephole: true contradicts inputGate, forgetGate and outputGate all false (no gate to "
        "peep into)");
  return Status::Ok();
}

std::vector<ParamInfo> ParamTable(const Config& c) {
  std::vector<ParamInfo> t;
  const int H = c.hidden_size, R = c.out_size(), G = c.gates(), D = c.directions();
  const int K = c.peepholes();
  size_t off = 0;
  auto add = [&](const std::string& name, std::vector<int> shape) {
    size_t n = 1;
    for (int s : shape) n *= static_cast<size_t>(s);
    t.push_back({name, std::move(shape), off, n});
    off += n;
  };
  for (int l = 0; l < c.num_layers; ++l) {
    const int in = l == 0 ? c.input_size : D * R;
    for (int d = 0; d < D; ++d) {
      const std::string sfx = "_l" + std::to_string(l) + (d ? "_reverse" : "");
      add("weight_ih" + sfx, {G * H, in});
      add("weight_hh" + sfx, {G * H, R});
      add("bias_ih" + sfx, {G * H});
      add("bias_hh" + sfx, {G * H});
      if (c.proj_size > 0) add("weight_hr" + sfx, {c.proj_size, H});
      if (K > 0) add("weight_ph" + sfx, {K * H});
      if (c.cell == Cell::kLSTM && c.layer_norm) {
        for (const char* n : {"ln_ih", "ln_hh"}) {
          add(std::string(n) + "_weight" + sfx, {G * H});
          add(std::string(n) + "_bias" + sfx, {G * H});
        }
        add("ln_c_weight" + sfx, {H});
        add("ln_c_bias" + sfx, {H});
      }
    }
  }
  return t;
}

size_t ParamCount(const Config& c) {
  size_t n = 0;
  for (const auto& p : ParamTable(c)) n += p.size;
  return n;
}

#ifndef CELLSTATE_VERSION
#define CELLSTATE_VERSION "0.0.0-dev"
#endif
const char* Version() { return CELLSTATE_VERSION; }

}  // namespace cellstate
