// Build smoke test: the kernel library links into a test executable, reports the version of
// package.json (passed by CMake as CELLSTATE_VERSION), and the fixtures folder that ctest hands
// over in CELLSTATE_FIXTURES is readable.
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

  const char* fixtures = std::getenv("CELLSTATE_FIXTURES");
  if (fixtures == nullptr) fixtures = CELLSTATE_FIXTURES_DIR;
  std::ifstream readme(std::string(fixtures) + "/README.md");
  Check(readme.good(), "CELLSTATE_FIXTURES/README.md is readable");

  return failures == 0 ? 0 : 1;
}
