#!/usr/bin/env bash
# Builds the C++ tests (cpp/tests/*_test.cc, addon off) and runs them with ctest.
#
#   scripts/test-cpp.sh              Release build in build-tests/
#   scripts/test-cpp.sh --sanitize   ASan + UBSan build in build-asan/
#   scripts/test-cpp.sh --tsan       ThreadSanitizer build in build-tsan/ (the threaded tests)
#   scripts/test-cpp.sh --aarch64    cross-compiled for aarch64 in build-aarch64/, run under
#                                    qemu; prints SKIPPED and exits 0 when the cross g++ or
#                                    qemu-aarch64-static is missing
#   scripts/test-cpp.sh --win64      cross-compiled for Windows x64 with MinGW-w64 in
#                                    build-win64/, run under wine (the prefix of
#                                    scripts/wine-test.sh); SKIPPED like --aarch64
#   anything after -- goes to ctest (e.g. -- -R lstm)
#
# Tests run from the repository root and read test/fixtures (CELLSTATE_FIXTURES=<dir> reads another
# fixture set with the same schema instead).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=native
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) mode=asan ;;
    --aarch64) mode=aarch64 ;;
    --tsan) mode=tsan ;;
    --win64) mode=win64 ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "test-cpp.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

jobs="$(nproc 2>/dev/null || echo 2)"
cmake_args=(-DCELLSTATE_TESTS=ON -DCELLSTATE_ADDON=OFF)
case "$mode" in
  native)
    dir=build-tests
    cmake_args+=(-DCMAKE_BUILD_TYPE=Release)
    ;;
  asan)
    dir=build-asan
    cmake_args+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCELLSTATE_SANITIZE=ON)
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    ;;
  tsan)
    dir=build-tsan
    cmake_args+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCELLSTATE_TSAN=ON)
    export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
    # The tests that run the kernel's threads (pool, barriers, row/column splits, wavefront).
    [ ${#ctest_args[@]} -gt 0 ] || ctest_args=(-R "isa_test|pool_test|fixtures_test|qlayer_test")
    ;;
  aarch64)
    dir=build-aarch64
    missing=()
    command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(aarch64-linux-gnu-g++)
    command -v qemu-aarch64-static >/dev/null || missing+=(qemu-aarch64-static)
    [ -d /usr/aarch64-linux-gnu/lib ] || missing+=(/usr/aarch64-linux-gnu/lib)
    if [ ${#missing[@]} -gt 0 ]; then
      echo "SKIPPED: aarch64 toolchain or qemu missing (${missing[*]}); install g++-aarch64-linux-gnu qemu-user-static"
      exit 0
    fi
    cmake_args+=(-DCMAKE_BUILD_TYPE=Release
                 -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-toolchain.cmake")
    ;;
  win64)
    dir=build-win64
    wine="$(command -v wine64 || echo /usr/lib/wine/wine64)"
    missing=()
    command -v x86_64-w64-mingw32-g++-posix >/dev/null || missing+=(x86_64-w64-mingw32-g++-posix)
    [ -x "$wine" ] || missing+=(wine64)
    if [ ${#missing[@]} -gt 0 ]; then
      echo "SKIPPED: MinGW-w64 or wine missing (${missing[*]}); install g++-mingw-w64-x86-64-posix wine64"
      exit 0
    fi
    bash "$root/scripts/wine-test.sh" --setup-only
    export WINEPREFIX="$root/build-wine/prefix" WINEDEBUG=-all
    cmake_args+=(-DCMAKE_BUILD_TYPE=Release
                 -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64-toolchain.cmake"
                 -DCMAKE_CROSSCOMPILING_EMULATOR="$wine")
    ;;
esac

echo "== C++ tests ($mode) in $dir"
cmake -S . -B "$dir" "${cmake_args[@]}"
cmake --build "$dir" --parallel "$jobs"
ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$jobs" "${ctest_args[@]}"
