// Build smoke test: the kernel library links into a test executable, reports the version of
// package.json (passed by CMake as CELLSTATE_VERSION), and the fixtures folder (test/fixtures, or
// CELLSTATE_FIXTURES when set) is readable.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "cellstate/cellstate.h"

namespace {

int failures = 0;

void Check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

}  // namespace

int main() {
  const char* version = cellstate::Version();
  Check(version != nullptr && version[0] != '\0', "Version() is not empty");
  Check(version != nullptr && std::strcmp(version, CELLSTATE_VERSION) == 0,
        "Version() equals package.json's version");

  const char* env = std::getenv("CELLSTATE_FIXTURES");
  const std::string fixtures = env != nullptr && env[0] != '\0' ? env : CELLSTATE_FIXTURES_DIR;
  std::ifstream readme(fixtures + "/README.md");
  Check(readme.good(), "the fixtures' README.md is readable");

  return failures == 0 ? 0 : 1;
}
