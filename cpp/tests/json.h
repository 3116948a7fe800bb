// A small, strict JSON reader (RFC 8259) for the test fixtures: objects, arrays, numbers,
// strings, true, false, null. No third-party dependency. Strict means: no comments, no trailing
// commas, no leading zeros, no NaN/Infinity, no duplicate object keys, no control characters in
// strings, nothing but whitespace after the top-level value. Errors name line and column.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cstest {
namespace json {

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

inline const char* TypeName(Type t) {
  switch (t) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "bool";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "?";
}

// Accessors throw std::runtime_error on a type mismatch or a missing key; tests catch it and
// record a failure naming the fixture.
class Value {
 public:
  Value() = default;

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  bool as_bool() const {
    Expect(Type::kBool);
    return bool_;
  }
  double as_number() const {
    Expect(Type::kNumber);
    return num_;
  }
  // An integral number that fits an int.
  int as_int() const {
    double d = as_number();
    if (!(d >= -2147483648.0 && d <= 2147483647.0) || static_cast<double>(static_cast<int>(d)) != d)
      throw std::runtime_error("JSON: expected an integer, got " + std::to_string(d));
    return static_cast<int>(d);
  }
  const std::string& as_string() const {
    Expect(Type::kString);
    return str_;
  }
  const std::vector<Value>& as_array() const {
    Expect(Type::kArray);
    return arr_;
  }
  // Members in file order.
  const std::vector<std::pair<std::string, Value>>& members() const {
    Expect(Type::kObject);
    return obj_;
  }
  size_t size() const {
    if (type_ == Type::kArray) return arr_.size();
    if (type_ == Type::kObject) return obj_.size();
    throw std::runtime_error(std::string("JSON: size() of a ") + TypeName(type_));
  }
  const Value& operator[](size_t i) const {
    Expect(Type::kArray);
    if (i >= arr_.size())
      throw std::runtime_error("JSON: index " + std::to_string(i) + " out of range");
    return arr_[i];
  }
  // nullptr when absent.
  const Value* Find(const std::string& key) const {
    Expect(Type::kObject);
    for (const auto& kv : obj_)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  bool Has(const std::string& key) const { return Find(key) != nullptr; }
  const Value& operator[](const std::string& key) const {
    const Value* v = Find(key);
    if (!v) throw std::runtime_error("JSON: missing key \"" + key + "\"");
    return *v;
  }

 private:
  friend class Parser;
  void Expect(Type t) const {
    if (type_ != t)
      throw std::runtime_error(std::string("JSON: expected ") + TypeName(t) + ", got " +
                               TypeName(type_));
  }

  Type type_ = Type::kNull;
  bool bool_ = false;
  double num_ = 0;
  std::string str_;
  std::vector<Value> arr_;
  std::vector<std::pair<std::string, Value>> obj_;
};

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  bool Parse(Value* out, std::string* err) {
    try {
      SkipWs();
      ParseValue(out, 0);
      SkipWs();
      if (pos_ != s_.size()) Fail("trailing characters after the top-level value");
      return true;
    } catch (const std::runtime_error& e) {
      if (err) *err = e.what();
      return false;
    }
  }

 private:
  static constexpr int kMaxDepth = 256;

  [[noreturn]] void Fail(const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw std::runtime_error("JSON parse error at " + std::to_string(line) + ":" +
                             std::to_string(col) + ": " + what);
  }

  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }

  void SkipWs() {
    while (!AtEnd()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        ++pos_;
      else
        break;
    }
  }

  void ExpectLiteral(const char* lit) {
    for (const char* p = lit; *p; ++p, ++pos_)
      if (AtEnd() || s_[pos_] != *p) Fail(std::string("invalid literal, expected '") + lit + "'");
  }

  void ParseValue(Value* v, int depth) {
    if (depth > kMaxDepth) Fail("nesting too deep");
    if (AtEnd()) Fail("unexpected end of input");
    char c = Peek();
    switch (c) {
      case '{':
        ParseObject(v, depth);
        return;
      case '[':
        ParseArray(v, depth);
        return;
      case '"':
        v->type_ = Type::kString;
        ParseString(&v->str_);
        return;
      case 't':
        ExpectLiteral("true");
        v->type_ = Type::kBool;
        v->bool_ = true;
        return;
      case 'f':
        ExpectLiteral("false");
        v->type_ = Type::kBool;
        v->bool_ = false;
        return;
      case 'n':
        ExpectLiteral("null");
        v->type_ = Type::kNull;
        return;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          v->type_ = Type::kNumber;
          v->num_ = ParseNumber();
          return;
        }
        Fail(std::string("unexpected character '") + c + "'");
    }
  }

  void ParseObject(Value* v, int depth) {
    v->type_ = Type::kObject;
    ++pos_;  // '{'
    SkipWs();
    if (Peek() == '}') {
      ++pos_;
      return;
    }
    for (;;) {
      SkipWs();
      if (Peek() != '"') Fail("expected a string key");
      std::string key;
      ParseString(&key);
      for (const auto& kv : v->obj_)
        if (kv.first == key) Fail("duplicate key \"" + key + "\"");
      SkipWs();
      if (Peek() != ':') Fail("expected ':'");
      ++pos_;
      SkipWs();
      v->obj_.emplace_back(std::move(key), Value());
      ParseValue(&v->obj_.back().second, depth + 1);
      SkipWs();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        return;
      }
      Fail("expected ',' or '}'");
    }
  }

  void ParseArray(Value* v, int depth) {
    v->type_ = Type::kArray;
    ++pos_;  // '['
    SkipWs();
    if (Peek() == ']') {
      ++pos_;
      return;
    }
    for (;;) {
      SkipWs();
      v->arr_.emplace_back();
      ParseValue(&v->arr_.back(), depth + 1);
      SkipWs();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        return;
      }
      Fail("expected ',' or ']'");
    }
  }

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, converted by strtod (correctly rounded).
  double ParseNumber() {
    size_t start = pos_;
    if (Peek() == '-') ++pos_;
    if (Peek() == '0') {
      ++pos_;
      if (IsDigit(Peek())) Fail("leading zero in a number");
    } else if (IsDigit(Peek())) {
      while (IsDigit(Peek())) ++pos_;
    } else {
      Fail("expected a digit");
    }
    if (Peek() == '.') {
      ++pos_;
      if (!IsDigit(Peek())) Fail("expected a digit after '.'");
      while (IsDigit(Peek())) ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!IsDigit(Peek())) Fail("expected a digit in the exponent");
      while (IsDigit(Peek())) ++pos_;
    }
    std::string tok = s_.substr(start, pos_ - start);
    errno = 0;
    char* end = nullptr;
    double d = std::strtod(tok.c_str(), &end);
    if (end != tok.c_str() + tok.size()) Fail("malformed number '" + tok + "'");
    // Underflow to a denormal or zero is fine; overflow to infinity is not a JSON number.
    if (errno == ERANGE && (d > 1.0 || d < -1.0)) Fail("number out of range '" + tok + "'");
    return d;
  }

  unsigned Hex4() {
    unsigned u = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      if (AtEnd()) Fail("unexpected end in \\u escape");
      char c = s_[pos_];
      u <<= 4;
      if (c >= '0' && c <= '9')
        u |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        u |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        u |= static_cast<unsigned>(c - 'A' + 10);
      else
        Fail("bad hex digit in \\u escape");
    }
    return u;
  }

  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  void ParseString(std::string* out) {
    ++pos_;  // opening quote
    for (;;) {
      if (AtEnd()) Fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return;
      if (static_cast<unsigned char>(c) < 0x20) Fail("control character in a string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (AtEnd()) Fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = Hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (pos_ + 1 >= s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
              Fail("unpaired high surrogate");
            pos_ += 2;
            uint32_t lo = Hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) Fail("invalid low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            Fail("unpaired low surrogate");
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          Fail(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  const std::string& s_;
  size_t pos_ = 0;
};

inline bool Parse(const std::string& text, Value* out, std::string* err) {
  Parser p(text);
  return p.Parse(out, err);
}

}  // namespace json
}  // namespace cstest
