# Cross-compiles for 64-bit Windows with Debian's g++-mingw-w64-x86-64-posix: the POSIX threads
# flavour of MinGW-w64 GCC, so std::thread, std::mutex and std::condition_variable work (on
# winpthreads, linked statically with libgcc and libstdc++). The addon then imports only
# Windows system DLLs and node.exe, through import libraries CMakeLists.txt makes with dlltool
# from node-api-headers' def files. scripts/prebuild.mjs builds prebuilds/win32-x64 with it;
# scripts/wine-test.sh runs that binary in Node for Windows under wine.
#   cmake -S . -B build-win32 -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-toolchain.cmake -DCELLSTATE_ADDON=ON
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_DLLTOOL x86_64-w64-mingw32-dlltool)

set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Executables (the C++ tests, scripts/test-cpp.sh --win64) link the MinGW runtime statically too,
# so that wine finds no DLL missing.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
