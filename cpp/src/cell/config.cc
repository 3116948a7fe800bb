// Configuration: the common options, ParseConfig (options by name -> Config) and Validate, and
// the parameter table. Everything that depends on the cell is asked of its family (cell.h).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cell/cell.h"
#include "cellstate/cellstate.h"

namespace cellstate {

namespace {
constexpr int kMaxSize = 1 << 20;  // any single dimension; keeps every product in size_t
constexpr int kMaxLayers = 1024;

Status Invalid(const std::string& m) { return Status::Error(Code::kInvalidArgument, m); }
Status Range(const std::string& m) { return Status::Error(Code::kOutOfRange, m); }

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const char* KindName(Option::Kind k) {
  switch (k) {
    case Option::Kind::kNumber:
      return "a number";
    case Option::Kind::kBool:
      return "a boolean";
    case Option::Kind::kString:
      return "a string";
    case Option::Kind::kObject:
      return "an object";
  }
  return "a value";
}

}  // namespace

// An integer option (range checked by Validate, which names the range).
bool IntOption(const Option& o, const char* key, int* out, Status* st) {
  if (o.key != key) return false;
  if (o.kind != Option::Kind::kNumber) {
    *st = Invalid(std::string(key) + " must be a number, got " + KindName(o.kind));
  } else if (!(o.number >= -2147483648.0 && o.number <= 2147483647.0) ||
             o.number != std::floor(o.number)) {
    *st = Range(std::string(key) + " must be an integer, got " + Num(o.number));
  } else {
    *out = static_cast<int>(o.number);
  }
  return true;
}

bool BoolOption(const Option& o, const char* key, bool* out, Status* st) {
  if (o.key != key) return false;
  if (o.kind != Option::Kind::kBool)
    *st = Invalid(std::string(key) + " must be a boolean, got " + KindName(o.kind));
  else
    *out = o.boolean;
  return true;
}

int Config::out_size() const {
  const CellFamily* f = FamilyOf(cell);
  return f ? f->StateSize(*this) : hidden_size;
}
int Config::gates() const {
  const CellFamily* f = FamilyOf(cell);
  return f ? f->Gates(*this) : 1;
}
int Config::cell_state_size() const {
  const CellFamily* f = FamilyOf(cell);
  return f ? f->CellStateSize(*this) : 0;
}

std::string WithArticle(const char* title) {
  // Spelled-out acronyms: "an LSTM", "an RNN", "a GRU".
  const std::string vowel_sound = "AEFHILMNORSX";
  return (vowel_sound.find(title[0]) != std::string::npos ? "an " : "a ") + std::string(title);
}

Status Validate(const Config& c) {
  const CellFamily* fam = FamilyOf(c.cell);
  if (!fam) return Invalid("cell must be lstm, gru or rnn");
  if (c.input_size < 1 || c.input_size > kMaxSize)
    return Range("inputSize must be an integer in [1, " + std::to_string(kMaxSize) + "], got " +
                 std::to_string(c.input_size));
  if (c.hidden_size < 1 || c.hidden_size > kMaxSize)
    return Range("hiddenSize must be an integer in [1, " + std::to_string(kMaxSize) + "], got " +
                 std::to_string(c.hidden_size));
  if (c.num_layers < 1 || c.num_layers > kMaxLayers)
    return Range("numLayers must be an integer in [1, " + std::to_string(kMaxLayers) + "], got " +
                 std::to_string(c.num_layers));
  if (c.reverse && c.bidirectional)
    return Invalid("direction: 'reverse' contradicts bidirectional: true");
  if (!(c.dropout >= 0.f && c.dropout < 1.f))
    return Range("dropout must be in [0, 1), got " + std::to_string(c.dropout));
  if (!(c.recurrent_dropout >= 0.f && c.recurrent_dropout < 1.f))
    return Range("recurrentDropout must be in [0, 1), got " + std::to_string(c.recurrent_dropout));
  if (!(c.input_dropout >= 0.f && c.input_dropout < 1.f))
    return Range("inputDropout must be in [0, 1), got " + std::to_string(c.input_dropout));
  return fam->Validate(c);
}

Status ParseConfig(const Options& options, Config* out) {
  // The cell first: it decides which family's keys are valid.
  const Option* cell = nullptr;
  for (const Option& o : options)
    if (o.key == "cell") cell = &o;
  std::string names;
  for (const CellFamily* f : Families())
    names += std::string(names.empty() ? "" : ", ") + "'" + f->name() + "'";
  if (!cell || cell->kind != Option::Kind::kString) return Invalid("cell must be one of " + names);
  const CellFamily* fam = FamilyNamed(cell->string);
  if (!fam) return Invalid("cell must be one of " + names + ", got '" + cell->string + "'");
  Config c;
  c.cell = fam->id();
  const Option* bidirectional = nullptr;
  for (const Option& o : options) {
    if (o.key == "cell") continue;
    Status st;
    if (o.key == "bidirectional") bidirectional = &o;
    if (o.key == "direction") {
      if (o.kind != Option::Kind::kString ||
          (o.string != "forward" && o.string != "reverse" && o.string != "bidirectional")) {
        return Invalid("direction must be 'forward', 'reverse' or 'bidirectional'" +
                       (o.kind == Option::Kind::kString
                            ? ", got '" + o.string + "'"
                            : std::string(", got ") + KindName(o.kind)));
      }
      c.reverse = o.string == "reverse";
      if (o.string == "bidirectional") c.bidirectional = true;
      continue;
    }
    if (IntOption(o, "inputSize", &c.input_size, &st) ||
        IntOption(o, "hiddenSize", &c.hidden_size, &st) ||
        IntOption(o, "numLayers", &c.num_layers, &st) ||
        BoolOption(o, "bidirectional", &c.bidirectional, &st)) {
    } else if (o.key == "dropout" || o.key == "recurrentDropout" || o.key == "inputDropout") {
      float* dst = o.key == "dropout"            ? &c.dropout
                   : o.key == "recurrentDropout" ? &c.recurrent_dropout
                                                 : &c.input_dropout;
      if (o.kind != Option::Kind::kNumber)
        st = Invalid(o.key + " must be a number, got " + KindName(o.kind));
      else if (!std::isfinite(o.number))
        st = Range(o.key + " must be finite");
      else
        *dst = static_cast<float>(o.number);
    } else if (!fam->Parse(o, &c, &st)) {
      // Another family's option is named as such; anything else is unknown.
      const CellFamily* owner = nullptr;
      for (const CellFamily* f : Families()) {
        Config scratch;
        Status ignored;
        if (f != fam && f->Parse(o, &scratch, &ignored)) owner = f;
      }
      if (owner)
        st = Invalid(o.key + " is " + WithArticle(owner->title()) + " option");
      else
        st = Invalid("unknown option '" + o.key + "' for cell '" + fam->name() + "'");
    }
    if (!st.ok()) return st;
  }
  // bidirectional: true|false beside a direction must agree with it.
  for (const Option& o : options)
    if (o.key == "direction" && bidirectional && bidirectional->kind == Option::Kind::kBool &&
        bidirectional->boolean != (o.string == "bidirectional"))
      return Invalid("direction: '" + o.string +
                     "' contradicts bidirectional: " + (bidirectional->boolean ? "true" : "false"));
  Status st = Validate(c);
  if (!st.ok()) return st;
  *out = c;
  return Status::Ok();
}

Status CheckStreamable(const Config& c) {
  if (c.bidirectional)
    return Status::Error(Code::kUnsupported,
                         "a bidirectional layer cannot stream (its reverse direction needs the "
                         "whole sequence)");
  if (c.reverse)
    return Status::Error(Code::kUnsupported,
                         "a reverse layer cannot stream (its first step needs the last input)");
  return Status::Ok();
}

std::vector<ParamInfo> ParamTable(const Config& c) {
  std::vector<ParamInfo> t;
  const CellFamily* fam = FamilyOf(c.cell);
  if (!fam) return t;
  const int R = c.out_size(), D = c.directions();
  size_t off = 0;
  std::vector<ParamSpec> specs;
  for (int l = 0; l < c.num_layers; ++l) {
    const int in = l == 0 ? c.input_size : D * R;
    for (int d = 0; d < D; ++d) {
      const std::string sfx = "_l" + std::to_string(l) + (d ? "_reverse" : "");
      specs.clear();
      fam->Params(c, in, &specs);
      for (ParamSpec& s : specs) {
        size_t n = 1;
        for (int v : s.shape) n *= static_cast<size_t>(v);
        t.push_back({s.name + sfx, std::move(s.shape), off, n});
        off += n;
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
