// The strict JSON reader of the tests (json.h): what it accepts, what it refuses.
#include "json.h"

#include <cmath>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using cstest::RunCase;
namespace json = cstest::json;

json::Value MustParse(const std::string& text) {
  json::Value v;
  std::string err;
  if (!json::Parse(text, &v, &err)) CSTEST_FAIL("refused " + text + ": " + err);
  return v;
}

}  // namespace

int main() {
  cstest::Suite& suite = cstest::Suite::Get();
  suite.SetName("json_test");

  RunCase("scalars", [] {
    CHECK(MustParse("null").is_null());
    CHECK(MustParse(" true ").as_bool());
    CHECK(!MustParse("false").as_bool());
    CHECK_EQ(MustParse("\"a\\\"b\\\\c\\/\\n\\t\"").as_string(), std::string("a\"b\\c/\n\t"));
    CHECK_EQ(MustParse("\"\\u00e9\\u20ac\\ud83d\\ude00\"").as_string(),
             std::string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  });

  RunCase("numbers", [] {
    CHECK_EQ(MustParse("0").as_number(), 0.0);
    CHECK(std::signbit(MustParse("-0").as_number()));
    CHECK_EQ(MustParse("-12").as_int(), -12);
    CHECK_EQ(MustParse("1.5e3").as_number(), 1500.0);
    CHECK_EQ(MustParse("2E-2").as_number(), 0.02);
    CHECK_EQ(MustParse("1e+2").as_number(), 100.0);
    // 17 significant digits round-trip exactly.
    CHECK_EQ(MustParse("0.10000000000000001").as_number(), 0.1);
    CHECK_EQ(MustParse("-0.69287676290171918").as_number(), -0.69287676290171918);
    CHECK_EQ(MustParse("4.9406564584124654e-324").as_number(), 4.9406564584124654e-324);
    CHECK_EQ(MustParse("1.7976931348623157e308").as_number(), 1.7976931348623157e308);
    CHECK(MustParse("1e-400").as_number() == 0.0);  // underflow is a number
  });

  RunCase("containers", [] {
    json::Value v = MustParse(
        " {\"a\": [1, 2.5, {\"b\": null}], \"s\": \"x\", \"e\": {}, \"f\": [] , \"t\":true}\n");
    CHECK(v.is_object());
    CHECK_EQ(v.size(), size_t(5));
    CHECK_EQ(v["a"].size(), size_t(3));
    CHECK_EQ(v["a"][1].as_number(), 2.5);
    CHECK(v["a"][2]["b"].is_null());
    CHECK_EQ(v["s"].as_string(), std::string("x"));
    CHECK_EQ(v["e"].size(), size_t(0));
    CHECK_EQ(v["f"].size(), size_t(0));
    CHECK(v.Find("zz") == nullptr);
    CHECK_EQ(v.members()[0].first, std::string("a"));  // file order
    bool threw = false;
    try {
      v["missing"];
    } catch (const std::runtime_error&) {
      threw = true;
    }
    CHECK(threw);
    threw = false;
    try {
      v["s"].as_number();
    } catch (const std::runtime_error&) {
      threw = true;
    }
    CHECK(threw);
    threw = false;
    try {
      MustParse("1.5").as_int();
    } catch (const std::runtime_error&) {
      threw = true;
    }
    CHECK(threw);
  });

  RunCase("refusals", [] {
    const char* bad[] = {
        "",          " ",        "[1,]",    "{\"a\":1,}",  "01",          "-",
        "1.",        ".5",       "1e",      "+1",          "NaN",         "Infinity",
        "-Infinity", "1e999",    "[1 2]",   "{\"a\" 1}",   "{a:1}",       "{\"a\":1,\"a\":2}",
        "\"abc",     "\"a\nb\"", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\u12g4\"",
        "tru",       "nul",      "[1] x",   "// c\n1",     "'a'",         "[",
        "{",         "]",        "0x10",    "1 2"};
    for (const char* text : bad) {
      json::Value v;
      std::string err;
      const bool ok = json::Parse(text, &v, &err);
      CHECK_MSG(!ok, "accepted invalid JSON: " << text);
      if (!ok) CHECK_MSG(err.find("JSON parse error at ") == 0, "message: " << err);
    }
    // Deep nesting is refused, not a stack overflow.
    std::string deep(100000, '[');
    json::Value v;
    std::string err;
    CHECK(!json::Parse(deep, &v, &err));
  });

  return suite.Finish();
}
