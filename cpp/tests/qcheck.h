// The checks of the int8 tests (qgemm_test, qlayer_test, qaccess_test): each case is a function
// returning bool; QCHECK(cond, printf format, ...) fails it (prints the first 30 failures,
// counts every one, returns false); a case that returns true adds to g_passed. main() reports
// QReport("name") and exits with QExitCode().
#pragma once

#include <cstdio>

namespace cellstate {

inline int g_passed = 0;
inline int g_failed = 0;

// "<name>: N passed, M failed"; nonzero when anything failed or nothing passed.
inline int QReport(const char* name) {
  std::printf("%s: %d passed, %d failed\n", name, g_passed, g_failed);
  return g_failed == 0 && g_passed > 0 ? 0 : 1;
}

}  // namespace cellstate

#define QCHECK(cond, ...)                                \
  do {                                                   \
    if (!(cond)) {                                       \
      if (::cellstate::g_failed < 30) {                  \
        std::printf("%s:%d: FAIL ", __FILE__, __LINE__); \
        std::printf(__VA_ARGS__);                        \
        std::printf("\n");                               \
      }                                                  \
      ++::cellstate::g_failed;                           \
      return false;                                      \
    }                                                    \
  } while (0)
