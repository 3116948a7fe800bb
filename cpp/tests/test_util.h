// Shared helpers of the C++ tests: a tiny harness (named cases, CHECK macros, skipped ISAs, the
// summary line), a seeded RNG, error measures and tensor comparisons, and fixture loading
// (test/fixtures, schema in its README.md).
//
// Output contract (read by CI): failures print "file:line: [case] message"; at the end each
// skipped ISA prints "SKIPPED <isa>: <reason>" and the last line is "<suite>: N passed, M failed"
// where N and M count cases. The exit code is nonzero when any case failed or none ran.
// CSTEST_VERBOSE=1 prints each case's name as it starts; CSTEST_STATS=1 lists the comparisons
// closest to their tolerance.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cell/activation.h"
#include "cellstate/cellstate.h"
#include "json.h"

namespace cstest {

// ---- harness ---------------------------------------------------------------------------

class Suite {
 public:
  static Suite& Get() {
    static Suite s;
    return s;
  }

  void SetName(std::string name) { name_ = std::move(name); }
  const std::string& name() const { return name_; }

  void BeginCase(const std::string& name) {
    in_case_ = true;
    case_name_ = name;
    case_failures_ = 0;
  }
  void EndCase() {
    if (!in_case_) return;
    if (case_failures_ > 0)
      ++failed_;
    else
      ++passed_;
    in_case_ = false;
    case_name_.clear();
  }

  // Records a failure in the current case (or a failed case of its own outside any case).
  void Fail(const char* file, int line, const std::string& msg) {
    bool standalone = !in_case_;
    if (standalone) BeginCase("<global>");
    if (case_failures_ < kMaxPrinted) {
      std::printf("%s:%d: [%s] %s\n", file, line, case_name_.c_str(), msg.c_str());
    } else if (case_failures_ == kMaxPrinted) {
      std::printf("%s:%d: [%s] ... further failures of this case not printed\n", file, line,
                  case_name_.c_str());
    }
    std::fflush(stdout);
    ++case_failures_;
    if (standalone) EndCase();
  }
  int case_failures() const { return case_failures_; }

  // An ISA this build or CPU cannot run: reported, never counted as passed.
  void Skip(const std::string& what, const std::string& reason) {
    for (const auto& s : skipped_)
      if (s.first == what) return;
    skipped_.emplace_back(what, reason);
  }

  void Note(const std::string& msg) {
    std::printf("%s\n", msg.c_str());
    std::fflush(stdout);
  }

  // CSTEST_STATS=1: CheckTensor records the ratio error/bound of every comparison, and Finish
  // prints the closest calls (to calibrate or review a tolerance).
  bool stats_enabled() const {
    static const bool on = std::getenv("CSTEST_STATS") != nullptr;
    return on;
  }
  void Stat(const std::string& what, double ratio) {
    stats_.emplace_back(ratio, "[" + case_name_ + "] " + what);
  }

  int Finish() {
    EndCase();
    if (!stats_.empty()) {
      std::sort(stats_.begin(), stats_.end(),
                [](const auto& a, const auto& b) { return a.first > b.first; });
      std::printf("closest comparisons (error / bound):\n");
      for (size_t i = 0; i < stats_.size() && i < 25; ++i)
        std::printf("  %.3g  %s\n", stats_[i].first, stats_[i].second.c_str());
    }
    for (const auto& s : skipped_)
      std::printf("SKIPPED %s: %s\n", s.first.c_str(), s.second.c_str());
    std::printf("%s: %d passed, %d failed\n", name_.c_str(), passed_, failed_);
    std::fflush(stdout);
    return (failed_ > 0 || passed_ == 0) ? 1 : 0;
  }

  int passed() const { return passed_; }
  int failed() const { return failed_; }

 private:
  static constexpr int kMaxPrinted = 12;
  std::string name_ = "test";
  bool in_case_ = false;
  std::string case_name_;
  int case_failures_ = 0;
  int passed_ = 0, failed_ = 0;
  std::vector<std::pair<std::string, std::string>> skipped_;
  std::vector<std::pair<double, std::string>> stats_;
};

// Runs fn as one named case; an escaping exception is a failure of that case.
inline void RunCase(const std::string& name, const std::function<void()>& fn) {
  Suite& s = Suite::Get();
  static const bool verbose = std::getenv("CSTEST_VERBOSE") != nullptr;
  if (verbose) s.Note("RUN " + name);
  s.BeginCase(name);
  try {
    fn();
  } catch (const std::exception& e) {
    s.Fail(__FILE__, __LINE__, std::string("exception: ") + e.what());
  } catch (...) {
    s.Fail(__FILE__, __LINE__, "unknown exception");
  }
  s.EndCase();
}

inline const char* CodeName(cellstate::Code c) {
  switch (c) {
    case cellstate::Code::kOk:
      return "kOk";
    case cellstate::Code::kInvalidArgument:
      return "kInvalidArgument";
    case cellstate::Code::kOutOfRange:
      return "kOutOfRange";
    case cellstate::Code::kNoForward:
      return "kNoForward";
    case cellstate::Code::kUnsupported:
      return "kUnsupported";
    case cellstate::Code::kOutOfMemory:
      return "kOutOfMemory";
  }
  return "?";
}

inline std::string StatusString(const cellstate::Status& s) {
  std::string r = CodeName(s.code);
  if (!s.message.empty()) r += " (" + s.message + ")";
  return r;
}

}  // namespace cstest

#define CSTEST_FAIL(msg) ::cstest::Suite::Get().Fail(__FILE__, __LINE__, (msg))

// CHECK(cond): records a failure and continues; evaluates to cond (so `if (!CHECK(x)) return;`).
// CHECK_MSG(cond, a << b): the same with a message (a statement).
#define CHECK(cond) ::cstest::CheckTrue(static_cast<bool>(cond), #cond, __FILE__, __LINE__)

#define CHECK_MSG(cond, stream_expr)                            \
  do {                                                          \
    if (!(cond)) {                                              \
      std::ostringstream cstest_os_;                            \
      cstest_os_ << "CHECK(" #cond ") failed: " << stream_expr; \
      CSTEST_FAIL(cstest_os_.str());                            \
    }                                                           \
  } while (0)

#define CHECK_EQ(a, b)                                                                       \
  do {                                                                                       \
    const auto cstest_a_ = (a);                                                              \
    const auto cstest_b_ = (b);                                                              \
    if (!(cstest_a_ == cstest_b_)) {                                                         \
      std::ostringstream cstest_os_;                                                         \
      cstest_os_ << "CHECK_EQ(" #a ", " #b ") failed: " << cstest_a_ << " vs " << cstest_b_; \
      CSTEST_FAIL(cstest_os_.str());                                                         \
    }                                                                                        \
  } while (0)

// CHECK_OK(status): status.ok(); returns true/false so callers can stop early.
#define CHECK_OK(expr) ::cstest::CheckOk((expr), #expr, __FILE__, __LINE__)
#define CHECK_CODE(expr, code) ::cstest::CheckCode((expr), (code), #expr, __FILE__, __LINE__)

namespace cstest {

inline bool CheckTrue(bool ok, const char* expr, const char* file, int line) {
  if (!ok) Suite::Get().Fail(file, line, std::string("CHECK(") + expr + ") failed");
  return ok;
}

inline bool CheckOk(const cellstate::Status& s, const char* expr, const char* file, int line) {
  if (s.ok()) return true;
  Suite::Get().Fail(file, line, std::string(expr) + " returned " + StatusString(s));
  return false;
}

inline bool CheckCode(const cellstate::Status& s, cellstate::Code want, const char* expr,
                      const char* file, int line) {
  if (s.code == want) return true;
  Suite::Get().Fail(
      file, line, std::string(expr) + " returned " + StatusString(s) + ", want " + CodeName(want));
  return false;
}

// ---- RNG -------------------------------------------------------------------------------

class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  double Uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(g_);
  }
  // Inclusive range.
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g_); }
  bool Coin(double p = 0.5) { return Uniform(0.0, 1.0) < p; }
  template <typename C>
  const typename C::value_type& Pick(const C& c) {
    return c[static_cast<size_t>(Int(0, static_cast<int>(c.size()) - 1))];
  }
  std::vector<double> Vec(size_t n, double lo = -1.0, double hi = 1.0) {
    std::vector<double> v(n);
    for (auto& e : v) e = Uniform(lo, hi);
    return v;
  }
  std::mt19937_64& engine() { return g_; }

 private:
  std::mt19937_64 g_;
};

// ---- error measures --------------------------------------------------------------------

template <typename G>
double MaxAbs(const G* a, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i])));
  return m;
}

// ‖got − want‖₂ / ‖want‖₂, or ‖got − want‖₂ when want is all zeros. NaN in got gives NaN.
template <typename G, typename W>
double RelNormError(const G* got, const W* want, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = static_cast<double>(got[i]) - static_cast<double>(want[i]);
    num += d * d;
    den += static_cast<double>(want[i]) * static_cast<double>(want[i]);
  }
  if (std::isnan(num)) return num;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Row-major multi-index "[i,j,k]" of flat index i in shape.
inline std::string IndexString(size_t i, const std::vector<int>& shape) {
  if (shape.empty()) return "[" + std::to_string(i) + "]";
  std::vector<size_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    size_t ext = shape[d] > 0 ? static_cast<size_t>(shape[d]) : 1;
    idx[d] = i % ext;
    i /= ext;
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) s += (d ? "," : "") + std::to_string(idx[d]);
  return s + "]";
}

inline std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Tolerance of a tensor comparison; a negative field is not checked.
struct Tol {
  double rel_norm = -1;  // ‖got − want‖ / ‖want‖
  double abs = -1;       // elementwise |got − want| ≤ abs + rel·|want|
  double rel = 0;
  double scaled = -1;  // elementwise |got − want| ≤ scaled · max(floor, max|want|)
  double scale_floor = 0;
};

// Compares got (n values) against want and records one failure naming the tensor, the measure
// that failed and the worst element. Returns whether it passed. Non-finite values in got fail
// unless want holds the same non-finite value.
template <typename G, typename W>
bool CheckTensor(const char* file, int line, const std::string& what, const G* got, const W* want,
                 size_t n, const Tol& tol, const std::vector<int>& shape = {}) {
  bool ok = true;
  std::ostringstream msg;
  msg << what << ":";
  // Non-finite values.
  for (size_t i = 0; i < n; ++i) {
    double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    bool gf = std::isfinite(g), wf = std::isfinite(w);
    if (gf && wf) continue;
    if (std::isnan(g) && std::isnan(w)) continue;
    if (g == w) continue;
    msg << " non-finite mismatch at " << IndexString(i, shape) << " got " << Num(g) << " want "
        << Num(w) << ";";
    ok = false;
    break;
  }
  if (ok) {
    if (tol.rel_norm >= 0) {
      double e = RelNormError(got, want, n);
      if (!(e <= tol.rel_norm)) {
        msg << " relative norm error " << Num(e) << " > " << Num(tol.rel_norm) << ";";
        ok = false;
      }
    }
    double bound_scale = 0;
    if (tol.scaled >= 0) bound_scale = tol.scaled * std::max(tol.scale_floor, MaxAbs(want, n));
    size_t worst = n;
    double worst_excess = 0, max_ratio = 0;
    for (size_t i = 0; i < n; ++i) {
      double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
      if (!std::isfinite(w)) continue;
      double d = std::fabs(g - w);
      double excess = 0;
      if (tol.abs >= 0) excess = std::max(excess, d / (tol.abs + tol.rel * std::fabs(w)));
      if (tol.scaled >= 0)
        excess = std::max(excess, bound_scale > 0 ? d / bound_scale : (d > 0 ? INFINITY : 0));
      max_ratio = std::max(max_ratio, excess);
      if (excess > 1 && excess > worst_excess) {
        worst_excess = excess;
        worst = i;
      }
    }
    if (Suite::Get().stats_enabled()) {
      double ratio = max_ratio;
      if (tol.rel_norm > 0) ratio = std::max(ratio, RelNormError(got, want, n) / tol.rel_norm);
      Suite::Get().Stat(what, ratio);
    }
    if (worst < n) {
      double g = static_cast<double>(got[worst]), w = static_cast<double>(want[worst]);
      msg << " elementwise bound exceeded " << Num(worst_excess) << "x at "
          << IndexString(worst, shape) << ": got " << Num(g) << " want " << Num(w) << " (|diff| "
          << Num(std::fabs(g - w));
      if (tol.scaled >= 0)
        msg << ", bound " << Num(bound_scale) << ", max|want| " << Num(MaxAbs(want, n));
      msg << ");";
      ok = false;
    }
    if (!ok) {
      // Context for the reader: the overall error level.
      msg << " [rel-norm " << Num(RelNormError(got, want, n)) << ", max|want| "
          << Num(MaxAbs(want, n)) << "]";
    }
  }
  if (!ok) Suite::Get().Fail(file, line, msg.str());
  return ok;
}

#define CHECK_TENSOR(what, got, want, n, tol, ...) \
  ::cstest::CheckTensor(__FILE__, __LINE__, (what), (got), (want), (n), (tol), ##__VA_ARGS__)

// Bit-identical comparison (same type): reports the first differing element.
template <typename G>
bool CheckBitEqual(const char* file, int line, const std::string& what, const std::vector<G>& a,
                   const std::vector<G>& b) {
  if (a.size() != b.size()) {
    Suite::Get().Fail(
        file, line,
        what + ": sizes differ " + std::to_string(a.size()) + " vs " + std::to_string(b.size()));
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    bool same = (a[i] == b[i]) ||
                (std::isnan(static_cast<double>(a[i])) && std::isnan(static_cast<double>(b[i])));
    if (!same ||
        std::signbit(static_cast<double>(a[i])) != std::signbit(static_cast<double>(b[i]))) {
      Suite::Get().Fail(file, line,
                        what + ": not bit-identical at [" + std::to_string(i) +
                            "]: " + Num(static_cast<double>(a[i])) + " vs " +
                            Num(static_cast<double>(b[i])));
      return false;
    }
  }
  return true;
}
#define CHECK_BIT_EQUAL(what, a, b) ::cstest::CheckBitEqual(__FILE__, __LINE__, (what), (a), (b))

// ---- fixtures --------------------------------------------------------------------------

struct Tensor {
  bool present = false;  // false: JSON null
  std::vector<int> shape;
  std::vector<double> data;
  size_t size() const { return data.size(); }
};

struct Fixture {
  std::string name, path, description;
  std::string cell;  // "lstm" | "gru" | "rnn"
  cellstate::Config cfg;
  int T = 0, B = 0;
  bool batch_first = false;
  bool has_lengths = false;
  std::vector<int32_t> lengths;
  Tensor x, h0, c0;
  std::vector<std::pair<std::string, Tensor>> params;  // file order
  Tensor output, hN, cN;
  Tensor dOutput, dhN, dcN;
  Tensor dx, dh0, dc0;
  std::vector<std::pair<std::string, Tensor>> grad_params;  // file order
};

inline std::string ShapeString(const std::vector<int>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

inline Tensor ParseTensor(const json::Value& v, const std::string& what) {
  Tensor t;
  if (v.is_null()) return t;
  t.present = true;
  size_t count = 1;
  for (const auto& d : v["shape"].as_array()) {
    int e = d.as_int();
    if (e < 0) throw std::runtime_error(what + ": negative extent");
    t.shape.push_back(e);
    count *= static_cast<size_t>(e);
  }
  const auto& data = v["data"].as_array();
  if (data.size() != count)
    throw std::runtime_error(what + ": " + std::to_string(data.size()) + " values for shape " +
                             ShapeString(t.shape));
  t.data.reserve(count);
  for (const auto& e : data) t.data.push_back(e.as_number());
  for (const auto& kv : v.members())
    if (kv.first != "shape" && kv.first != "data")
      throw std::runtime_error(what + ": unknown tensor key \"" + kv.first + "\"");
  return t;
}

inline void ExpectShape(const Tensor& t, const std::vector<int>& want, const std::string& what,
                        bool required) {
  if (!t.present) {
    if (required) throw std::runtime_error(what + " is null, want shape " + ShapeString(want));
    return;
  }
  if (t.shape != want)
    throw std::runtime_error(what + " has shape " + ShapeString(t.shape) + ", want " +
                             ShapeString(want));
}

inline bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

// A JSON value of a fixture's config as the kernel's Option (strings, numbers, booleans, objects).
inline cellstate::Option OptionOf(const std::string& key, const json::Value& v) {
  cellstate::Option o;
  if (v.is_string()) return cellstate::Option::String(key, v.as_string());
  if (v.is_bool()) return cellstate::Option::Bool(key, v.as_bool());
  if (v.is_number()) return cellstate::Option::Number(key, v.as_number());
  o.key = key;
  o.kind = cellstate::Option::Kind::kObject;
  for (const auto& kv : v.members()) o.fields.push_back(OptionOf(kv.first, kv.second));
  return o;
}

// Parses and validates one fixture file; every key must be known and every tensor must have
// the shape the schema gives. Throws std::runtime_error with the reason.
inline Fixture LoadFixture(const std::string& path) {
  std::string text;
  if (!ReadFile(path, &text)) throw std::runtime_error("cannot read " + path);
  json::Value root;
  std::string err;
  if (!json::Parse(text, &root, &err)) throw std::runtime_error(path + ": " + err);

  static const char* kTop[] = {"name",    "description", "cell", "config", "seqLen",
                               "batch",   "lengths",     "seed", "inputs", "params",
                               "outputs", "upstream",    "grads"};
  for (const auto& kv : root.members()) {
    bool known = false;
    for (const char* k : kTop) known |= kv.first == k;
    if (!known) throw std::runtime_error("unknown top-level key \"" + kv.first + "\"");
  }

  Fixture f;
  f.path = path;
  f.name = root["name"].as_string();
  if (root.Has("description")) f.description = root["description"].as_string();
  f.cell = root["cell"].as_string();
  const json::Value& jc = root["config"];
  std::vector<std::string> keys = {"inputSize", "hiddenSize", "numLayers", "bidirectional",
                                   "batchFirst"};
  if (f.cell == "lstm") {
    for (const char* k : {"projSize", "peephole", "coupled", "inputGate", "forgetGate",
                          "outputGate", "inputActivation", "outputActivation"})
      keys.push_back(k);
  } else if (f.cell == "gru") {
    keys.push_back("resetAfter");
  } else if (f.cell == "rnn") {
    keys.push_back("nonlinearity");
  } else {
    throw std::runtime_error("unknown cell \"" + f.cell + "\"");
  }
  for (const auto& k : keys)
    if (!jc.Has(k)) throw std::runtime_error("config lacks \"" + k + "\"");
  // The rest through the kernel's own option parser and Validate (what the binding runs), so a
  // fixture is held to the rules a layer's options are: an unknown key, a wrong type or a
  // refused combination (outputActivation: false beside a hiddenActivation) is an error.
  cellstate::Options options = {cellstate::Option::String("cell", f.cell)};
  for (const auto& kv : jc.members())
    if (kv.first != "batchFirst") options.push_back(OptionOf(kv.first, kv.second));
  f.batch_first = jc["batchFirst"].as_bool();
  const cellstate::Status parsed = cellstate::ParseConfig(options, &f.cfg);
  if (!parsed.ok()) throw std::runtime_error("config: " + parsed.message);

  f.T = root["seqLen"].as_int();
  f.B = root["batch"].as_int();
  const json::Value& jl = root["lengths"];
  if (!jl.is_null()) {
    f.has_lengths = true;
    for (const auto& e : jl.as_array()) f.lengths.push_back(e.as_int());
    if (static_cast<int>(f.lengths.size()) != f.B)
      throw std::runtime_error("lengths has " + std::to_string(f.lengths.size()) + " entries");
  }

  const json::Value& in = root["inputs"];
  f.x = ParseTensor(in["x"], "inputs.x");
  f.h0 = ParseTensor(in["h0"], "inputs.h0");
  f.c0 = ParseTensor(in["c0"], "inputs.c0");
  for (const auto& kv : root["params"].members())
    f.params.emplace_back(kv.first, ParseTensor(kv.second, "params." + kv.first));
  const json::Value& out = root["outputs"];
  f.output = ParseTensor(out["output"], "outputs.output");
  f.hN = ParseTensor(out["hN"], "outputs.hN");
  f.cN = ParseTensor(out["cN"], "outputs.cN");
  const json::Value& up = root["upstream"];
  f.dOutput = ParseTensor(up["dOutput"], "upstream.dOutput");
  f.dhN = ParseTensor(up["dhN"], "upstream.dhN");
  f.dcN = ParseTensor(up["dcN"], "upstream.dcN");
  const json::Value& g = root["grads"];
  f.dx = ParseTensor(g["dx"], "grads.dx");
  f.dh0 = ParseTensor(g["dh0"], "grads.dh0");
  f.dc0 = ParseTensor(g["dc0"], "grads.dc0");
  for (const auto& kv : g["params"].members())
    f.grad_params.emplace_back(kv.first, ParseTensor(kv.second, "grads.params." + kv.first));

  // Shapes of the schema table.
  const cellstate::Config& c = f.cfg;
  const int T = f.T, B = f.B, I = c.input_size, H = c.hidden_size;
  const int D = c.bidirectional ? 2 : 1, L = c.num_layers;
  const int R = (c.cell == cellstate::Cell::kLSTM && c.lstm.proj_size > 0) ? c.lstm.proj_size : H;
  const bool lstm = c.cell == cellstate::Cell::kLSTM;
  std::vector<int> xs = f.batch_first ? std::vector<int>{B, T, I} : std::vector<int>{T, B, I};
  std::vector<int> os =
      f.batch_first ? std::vector<int>{B, T, D * R} : std::vector<int>{T, B, D * R};
  std::vector<int> hs = {L * D, B, R}, cs = {L * D, B, H};
  ExpectShape(f.x, xs, "x", true);
  ExpectShape(f.h0, hs, "h0", false);
  ExpectShape(f.output, os, "output", true);
  ExpectShape(f.hN, hs, "hN", true);
  ExpectShape(f.dOutput, os, "dOutput", true);
  ExpectShape(f.dhN, hs, "dhN", true);
  ExpectShape(f.dx, xs, "dx", true);
  ExpectShape(f.dh0, hs, "dh0", true);
  if (lstm) {
    ExpectShape(f.c0, cs, "c0", false);
    ExpectShape(f.cN, cs, "cN", true);
    ExpectShape(f.dcN, cs, "dcN", true);
    ExpectShape(f.dc0, cs, "dc0", true);
  } else {
    for (const Tensor* t : {&f.c0, &f.cN, &f.dcN, &f.dc0})
      if (t->present) throw std::runtime_error("a c tensor is present for " + f.cell);
  }
  if (f.params.size() != f.grad_params.size())
    throw std::runtime_error("params and grads.params differ in count");
  for (size_t i = 0; i < f.params.size(); ++i) {
    if (f.params[i].first != f.grad_params[i].first ||
        f.params[i].second.shape != f.grad_params[i].second.shape)
      throw std::runtime_error("params and grads.params differ at " + f.params[i].first);
    if (!f.params[i].second.present)
      throw std::runtime_error("param " + f.params[i].first + " is null");
  }
  return f;
}

// The fixtures directory: $CELLSTATE_FIXTURES when set and not empty (another set with the same
// schema), else the repository's test/fixtures (CELLSTATE_FIXTURES_DIR, an absolute path set by
// CMake).
inline std::string FixturesDir() {
  const char* d = std::getenv("CELLSTATE_FIXTURES");
  if (d != nullptr && d[0] != '\0') return std::string(d);
#ifdef CELLSTATE_FIXTURES_DIR
  return std::string(CELLSTATE_FIXTURES_DIR);
#else
  return std::string();
#endif
}

// Sorted *.json paths in dir (README.md and others ignored). Empty when dir is unusable.
inline std::vector<std::string> ListFixtures(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (dir.empty() || !std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  }
  // The activation and clip cases (docs/cells.md, "Activation functions and clipping") are in a
  // sub-folder of their own, when the set has it.
  const std::string acts = dir + "/activations";
  if (std::filesystem::is_directory(acts, ec))
    for (const auto& e : std::filesystem::directory_iterator(acts, ec))
      if (e.path().extension() == ".json") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace cstest
