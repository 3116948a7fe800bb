# Cross-compiles for 64-bit Arm Linux with Debian's g++-aarch64-linux-gnu (GCC's default
# -march=armv8-a; no -march flags are added); ctest runs the resulting test executables under
# qemu-user (package qemu-user-static). scripts/prebuild.mjs builds prebuilds/linux-arm64 with it.
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-toolchain.cmake -DCELLSTATE_TESTS=ON
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(CELLSTATE_AARCH64_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${CELLSTATE_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Cortex-A53 is a plain ARMv8.0-A core (Raspberry Pi 3): qemu then refuses any later instruction
# (LSE atomics, fp16, dot product), so the tests prove the binaries run on every ARMv8-A CPU.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static;-cpu;cortex-a53;-L;${CELLSTATE_AARCH64_SYSROOT})
