// The addon imports its Node-API functions from "node.exe", delay-loaded (CMakeLists.txt makes
// delay-import libraries from node-api-headers' def files). When the first Node-API call
// resolves them, this hook hands back the running executable instead of looking for a file
// named node.exe: the addon then works in a host that is not called node.exe (Electron apps,
// a renamed node.exe), whose executable exports the same Node-API functions. node-gyp links
// the same hook (win_delay_load_hook.cc) into every addon it builds on Windows.
// Compiled into the MinGW addon only.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
// windows.h first: delayimp.h uses its types.
#include <delayimp.h>
#include <string.h>

namespace {
FARPROC WINAPI LoadHostExecutable(unsigned event, PDelayLoadInfo info) {
  if (event != dliNotePreLoadLibrary || _stricmp(info->szDll, "node.exe") != 0) return nullptr;
  return reinterpret_cast<FARPROC>(GetModuleHandleW(nullptr));
}
}  // namespace

// The delay-load helper (MinGW-w64's libmingwex, like MSVC's delayimp.lib) calls this hook.
extern "C" {
PfnDliHook __pfnDliNotifyHook2 = LoadHostExecutable;
}
