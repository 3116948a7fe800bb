// ParseConfig: options by name (what the binding passes) to a validated Config. The cell
// decides which keys are valid; unknown keys and another family's keys are refused by name,
// wrong kinds are kInvalidArgument (TypeError), bad values kOutOfRange (RangeError), and a
// refusal leaves the output untouched.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using namespace cstest;
using cellstate::Code;
using cellstate::Config;
using cellstate::Option;
using cellstate::Options;
using cellstate::Status;

bool Contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

Options Base(const std::string& cell) {
  return {Option::String("cell", cell), Option::Number("inputSize", 3),
          Option::Number("hiddenSize", 4)};
}

Options With(Options o, Option extra) {
  o.push_back(std::move(extra));
  return o;
}

void CheckAccepted() {
  RunCase("lstm with every option", [] {
    Options o = Base("lstm");
    o.push_back(Option::Number("numLayers", 2));
    o.push_back(Option::Bool("bidirectional", true));
    o.push_back(Option::Number("dropout", 0.25));
    o.push_back(Option::Number("projSize", 2));
    o.push_back(Option::Bool("peephole", true));
    o.push_back(Option::Bool("coupled", true));
    o.push_back(Option::Bool("inputGate", true));
    o.push_back(Option::Bool("forgetGate", true));
    o.push_back(Option::Bool("outputGate", false));
    o.push_back(Option::Bool("inputActivation", false));
    o.push_back(Option::Bool("outputActivation", false));
    Config c;
    if (!CHECK_OK(cellstate::ParseConfig(o, &c))) return;
    CHECK(c.cell == cellstate::Cell::kLSTM);
    CHECK_EQ(c.input_size, 3);
    CHECK_EQ(c.hidden_size, 4);
    CHECK_EQ(c.num_layers, 2);
    CHECK(c.bidirectional);
    CHECK_EQ(c.dropout, 0.25f);
    CHECK_EQ(c.lstm.proj_size, 2);
    CHECK(c.lstm.peephole && c.lstm.coupled && c.lstm.input_gate && c.lstm.forget_gate);
    CHECK(!c.lstm.output_gate && !c.lstm.input_activation && !c.lstm.output_activation);
    CHECK_EQ(c.out_size(), 2);
    CHECK_EQ(c.gates(), 2);  // f, g (CIFG derives i; no o)
  });
  RunCase("defaults of the unset options", [] {
    Config c;
    if (!CHECK_OK(cellstate::ParseConfig(Base("gru"), &c))) return;
    const Config d;
    CHECK(c.cell == cellstate::Cell::kGRU);
    CHECK_EQ(c.num_layers, d.num_layers);
    CHECK_EQ(c.bidirectional, d.bidirectional);
    CHECK_EQ(c.dropout, d.dropout);
    CHECK(c.gru.reset_after);
  });
  RunCase("lstm layerNorm: default false, true when given", [] {
    Config c;
    if (CHECK_OK(cellstate::ParseConfig(Base("lstm"), &c))) CHECK(!c.lstm.layer_norm);
    if (CHECK_OK(cellstate::ParseConfig(With(Base("lstm"), Option::Bool("layerNorm", true)), &c)))
      CHECK(c.lstm.layer_norm);
  });
  RunCase("gru resetAfter false", [] {
    Config c;
    if (CHECK_OK(cellstate::ParseConfig(With(Base("gru"), Option::Bool("resetAfter", false)), &c)))
      CHECK(!c.gru.reset_after);
  });
  RunCase("direction", [] {
    Config c;
    if (CHECK_OK(
            cellstate::ParseConfig(With(Base("lstm"), Option::String("direction", "reverse")), &c)))
      CHECK(c.reverse && !c.bidirectional && c.directions() == 1);
    if (CHECK_OK(cellstate::ParseConfig(
            With(Base("gru"), Option::String("direction", "bidirectional")), &c)))
      CHECK(!c.reverse && c.bidirectional && c.directions() == 2);
    if (CHECK_OK(
            cellstate::ParseConfig(With(Base("rnn"), Option::String("direction", "forward")), &c)))
      CHECK(!c.reverse && !c.bidirectional);
    // bidirectional beside a direction that agrees with it
    Options o = With(Base("lstm"), Option::String("direction", "reverse"));
    o.push_back(Option::Bool("bidirectional", false));
    if (CHECK_OK(cellstate::ParseConfig(o, &c))) CHECK(c.reverse);
    o = With(Base("lstm"), Option::Bool("bidirectional", true));
    o.push_back(Option::String("direction", "bidirectional"));
    if (CHECK_OK(cellstate::ParseConfig(o, &c))) CHECK(c.bidirectional);
  });
  RunCase("rnn nonlinearity relu and tanh", [] {
    Config c;
    if (CHECK_OK(
            cellstate::ParseConfig(With(Base("rnn"), Option::String("nonlinearity", "relu")), &c)))
      CHECK(c.rnn.relu);
    if (CHECK_OK(
            cellstate::ParseConfig(With(Base("rnn"), Option::String("nonlinearity", "tanh")), &c)))
      CHECK(!c.rnn.relu);
  });
}

struct Refusal {
  std::string what;
  Options options;
  Code code;
  std::vector<std::string> names;  // the message names these
};

void CheckRefusals() {
  std::vector<Refusal> r;
  r.push_back({"no cell", {Option::Number("inputSize", 3)}, Code::kInvalidArgument, {"cell"}});
  r.push_back({"cell 'conv'", Base("conv"), Code::kInvalidArgument, {"cell", "conv"}});
  r.push_back({"cell given as a number",
               {Option::Number("cell", 0), Option::Number("inputSize", 3)},
               Code::kInvalidArgument,
               {"cell"}});
  r.push_back({"gru projSize",
               With(Base("gru"), Option::Number("projSize", 2)),
               Code::kInvalidArgument,
               {"projSize", "LSTM"}});
  r.push_back({"rnn projSize",
               With(Base("rnn"), Option::Number("projSize", 2)),
               Code::kInvalidArgument,
               {"projSize", "LSTM"}});
  r.push_back({"gru layerNorm",
               With(Base("gru"), Option::Bool("layerNorm", true)),
               Code::kInvalidArgument,
               {"layerNorm", "LSTM"}});
  r.push_back({"rnn layerNorm",
               With(Base("rnn"), Option::Bool("layerNorm", true)),
               Code::kInvalidArgument,
               {"layerNorm", "LSTM"}});
  r.push_back({"lstm layerNorm given as a number",
               With(Base("lstm"), Option::Number("layerNorm", 1)),
               Code::kInvalidArgument,
               {"layerNorm"}});
  r.push_back({"lstm resetAfter",
               With(Base("lstm"), Option::Bool("resetAfter", true)),
               Code::kInvalidArgument,
               {"resetAfter", "a GRU"}});
  r.push_back({"gru nonlinearity",
               With(Base("gru"), Option::String("nonlinearity", "tanh")),
               Code::kInvalidArgument,
               {"nonlinearity", "an RNN"}});
  r.push_back({"unknown key",
               With(Base("lstm"), Option::Number("hiddenSise", 4)),
               Code::kInvalidArgument,
               {"hiddenSise"}});
  r.push_back({"inputSize a string",
               With(Base("lstm"), Option::String("inputSize", "3")),
               Code::kInvalidArgument,
               {"inputSize", "number"}});
  r.push_back({"inputSize 2.5",
               With(Base("lstm"), Option::Number("inputSize", 2.5)),
               Code::kOutOfRange,
               {"inputSize"}});
  r.push_back({"hiddenSize 2^40",
               With(Base("lstm"), Option::Number("hiddenSize", 1099511627776.0)),
               Code::kOutOfRange,
               {"hiddenSize"}});
  r.push_back({"numLayers 0",
               With(Base("gru"), Option::Number("numLayers", 0)),
               Code::kOutOfRange,
               {"numLayers"}});
  r.push_back({"peephole a number",
               With(Base("lstm"), Option::Number("peephole", 1)),
               Code::kInvalidArgument,
               {"peephole", "boolean"}});
  r.push_back({"bidirectional a string",
               With(Base("rnn"), Option::String("bidirectional", "yes")),
               Code::kInvalidArgument,
               {"bidirectional"}});
  r.push_back(
      {"dropout NaN",
       With(Base("lstm"), Option::Number("dropout", std::numeric_limits<double>::quiet_NaN())),
       Code::kOutOfRange,
       {"dropout"}});
  r.push_back(
      {"dropout Infinity",
       With(Base("lstm"), Option::Number("dropout", std::numeric_limits<double>::infinity())),
       Code::kOutOfRange,
       {"dropout"}});
  r.push_back({"dropout 1",
               With(Base("lstm"), Option::Number("dropout", 1)),
               Code::kOutOfRange,
               {"dropout"}});
  r.push_back({"projSize == hiddenSize",
               With(Base("lstm"), Option::Number("projSize", 4)),
               Code::kOutOfRange,
               {"projSize"}});
  Options coupled = Base("lstm");
  coupled.push_back(Option::Bool("coupled", true));
  coupled.push_back(Option::Bool("inputGate", false));
  r.push_back({"coupled + inputGate false", coupled, Code::kOutOfRange, {"coupled", "inputGate"}});
  r.push_back({"nonlinearity swish",
               With(Base("rnn"), Option::String("nonlinearity", "swish")),
               Code::kInvalidArgument,
               {"nonlinearity", "swish"}});
  r.push_back({"direction 'backward'",
               With(Base("lstm"), Option::String("direction", "backward")),
               Code::kInvalidArgument,
               {"direction", "backward"}});
  r.push_back({"direction a boolean",
               With(Base("lstm"), Option::Bool("direction", true)),
               Code::kInvalidArgument,
               {"direction"}});
  Options rev_bi = With(Base("gru"), Option::String("direction", "reverse"));
  rev_bi.push_back(Option::Bool("bidirectional", true));
  r.push_back({"direction 'reverse' + bidirectional true",
               rev_bi,
               Code::kInvalidArgument,
               {"direction", "reverse", "bidirectional"}});
  Options bi_false = With(Base("rnn"), Option::Bool("bidirectional", false));
  bi_false.push_back(Option::String("direction", "bidirectional"));
  r.push_back({"bidirectional false + direction 'bidirectional'",
               bi_false,
               Code::kInvalidArgument,
               {"direction", "bidirectional"}});
  Option object;
  object.key = "peephole";
  object.kind = Option::Kind::kObject;
  object.fields.push_back(Option::String("name", "x"));
  r.push_back({"an object where a boolean is due",
               With(Base("lstm"), object),
               Code::kInvalidArgument,
               {"peephole", "object"}});

  // lib/cells/lstm.ts's rule: the flag that makes a role the identity and a function for that
  // role are not both given, 'tanh' included.
  for (const char* fn : {"tanh", "relu"}) {
    Options noaf = With(Base("lstm"), Option::Bool("outputActivation", false));
    r.push_back({std::string("outputActivation false + hiddenActivation '") + fn + "'",
                 With(noaf, Option::String("hiddenActivation", fn)),
                 Code::kOutOfRange,
                 {"outputActivation", "hiddenActivation", "give one"}});
    Options niaf = With(Base("lstm"), Option::Bool("inputActivation", false));
    r.push_back({std::string("inputActivation false + cellActivation '") + fn + "'",
                 With(niaf, Option::String("cellActivation", fn)),
                 Code::kOutOfRange,
                 {"inputActivation", "cellActivation", "give one"}});
  }

  for (const Refusal& x : r) {
    RunCase("ParseConfig refuses " + x.what, [&] {
      Config c;
      c.hidden_size = 99;  // a refusal leaves *out as it was
      const Status s = cellstate::ParseConfig(x.options, &c);
      CHECK_CODE(s, x.code);
      for (const auto& n : x.names)
        CHECK_MSG(Contains(s.message, n), "message \"" << s.message << "\" does not name " << n);
      CHECK_EQ(c.hidden_size, 99);
    });
  }
}

// The same rule for a Config built field by field (no option parsed): a function other than
// the default tanh beside the flag is refused, not silently overridden by it.
void CheckFieldRule() {
  for (const bool hidden : {true, false}) {
    const std::string role = hidden ? "hiddenActivation" : "cellActivation";
    RunCase("Validate refuses the identity flag false with a " + role, [&] {
      Config c;
      c.input_size = 3;
      c.hidden_size = 4;
      (hidden ? c.lstm.output_activation : c.lstm.input_activation) = false;
      CHECK_OK(cellstate::Validate(c));
      (hidden ? c.lstm.acts.hidden : c.lstm.acts.cell) =
          cellstate::DefaultActivation(cellstate::ActKind::kRelu);
      const Status s = cellstate::Validate(c);
      CHECK_CODE(s, Code::kOutOfRange);
      CHECK(Contains(s.message, role));
      (hidden ? c.lstm.output_activation : c.lstm.input_activation) = true;
      CHECK_OK(cellstate::Validate(c));
    });
  }
  // A fixture is read through ParseConfig: the combination is refused there too.
  RunCase("LoadFixture refuses outputActivation false + hiddenActivation 'tanh'", [] {
    std::string text;
    if (!CHECK(ReadFile(FixturesDir() + "/lstm_noaf.json", &text))) return;
    const std::string key = "\"outputActivation\":";
    const size_t at = text.find(key);
    if (!CHECK(at != std::string::npos)) return;
    text.insert(at, "\"hiddenActivation\": \"tanh\", ");
    const std::string path =
        (std::filesystem::temp_directory_path() / "cellstate_config_test_noaf_tanh.json").string();
    {
      std::ofstream out(path);
      out << text;
    }
    std::string error;
    try {
      LoadFixture(path);
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
    std::filesystem::remove(path);
    CHECK_MSG(Contains(error, "give one"), "LoadFixture: \"" << error << "\"");
  });
}

}  // namespace

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("config_test");
  CheckAccepted();
  CheckRefusals();
  CheckFieldRule();
  return suite.Finish();
}
