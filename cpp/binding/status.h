// The one place where kernel statuses and binding refusals become JavaScript errors.
#pragma once

#include <napi.h>

#include <exception>
#include <new>
#include <string>

#include "cellstate/cellstate.h"

namespace cellstate_node {

// Stable `code` values (mirrored by lib/errors.ts).
inline constexpr const char* kCodeInvalidArg = "ERR_CELLSTATE_INVALID_ARG";
inline constexpr const char* kCodeOutOfRange = "ERR_CELLSTATE_OUT_OF_RANGE";
inline constexpr const char* kCodeNoForward = "ERR_CELLSTATE_NO_FORWARD";
inline constexpr const char* kCodeUnsupported = "ERR_CELLSTATE_UNSUPPORTED";
inline constexpr const char* kCodeOutOfMemory = "ERR_CELLSTATE_OOM";
inline constexpr const char* kCodeBusy = "ERR_CELLSTATE_BUSY";
inline constexpr const char* kCodeDisposed = "ERR_CELLSTATE_DISPOSED";

// node-addon-api must drop, not rethrow, errors it cannot throw while a worker's environment is
// torn down (CMakeLists.txt defines this); otherwise a terminated worker aborts the process.
#ifndef NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#error "build the binding with NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS (node-addon-api >= 8)"
#endif

enum class ErrorKind { kError, kTypeError, kRangeError };

// A JavaScript Error / TypeError / RangeError with `code` set.
Napi::Error CodedError(Napi::Env env, ErrorKind kind, const char* code, const std::string& message);

// The Error (code ERR_CELLSTATE_DISPOSED) of any call on an object after its dispose().
[[noreturn]] void ThrowDisposed(Napi::Env env, const char* where);

// Maps a failed cellstate::Status. The rule, following the kernel's own use of the codes:
//   kInvalidArgument -> TypeError  (wrong kind of value: unknown cell, an option of another cell)
//   kOutOfRange      -> RangeError (sizes, lengths, contradictory option combinations)
//   kNoForward       -> RangeError with code ERR_CELLSTATE_NO_FORWARD (API.md lists "backward
//                       without a training forward" among the bad inputs that are a TypeError
//                       or RangeError; it is an Error with that code all the same)
//   kUnsupported     -> Error ERR_CELLSTATE_UNSUPPORTED
//   kOutOfMemory     -> Error ERR_CELLSTATE_OOM
// `where` ("NativeLayer.forward") prefixes the kernel's message.
Napi::Error StatusError(Napi::Env env, const cellstate::Status& status, const char* where);

// Runs a method body, turning C++ exceptions other than Napi::Error (an allocation failure in the
// binding) into JavaScript errors instead of std::terminate.
template <typename F>
Napi::Value Guarded(Napi::Env env, const char* where, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw CodedError(env, ErrorKind::kError, kCodeOutOfMemory,
                     std::string(where) + ": out of memory");
  } catch (const std::exception& e) {
    throw CodedError(env, ErrorKind::kError, kCodeUnsupported,
                     std::string(where) + ": " + e.what());
  }
}

}  // namespace cellstate_node
