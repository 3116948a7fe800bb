#include "status.h"

namespace cellstate_node {

Napi::Error CodedError(Napi::Env env, ErrorKind kind, const char* code,
                       const std::string& message) {
  Napi::Error error;
  switch (kind) {
    case ErrorKind::kTypeError:
      error = Napi::TypeError::New(env, message);
      break;
    case ErrorKind::kRangeError:
      error = Napi::RangeError::New(env, message);
      break;
    case ErrorKind::kError:
      error = Napi::Error::New(env, message);
      break;
  }
  error.Set("code", Napi::String::New(env, code));
  return error;
}

void ThrowDisposed(Napi::Env env, const char* where) {
  throw CodedError(env, ErrorKind::kError, kCodeDisposed,
                   std::string(where) + ": the object was disposed; create a new one");
}

Napi::Error StatusError(Napi::Env env, const cellstate::Status& status, const char* where) {
  using cellstate::Code;
  const std::string message = std::string(where) + ": " + status.message;
  switch (status.code) {
    case Code::kInvalidArgument:
      return CodedError(env, ErrorKind::kTypeError, kCodeInvalidArg, message);
    case Code::kOutOfRange:
      return CodedError(env, ErrorKind::kRangeError, kCodeOutOfRange, message);
    case Code::kNoForward:
      return CodedError(env, ErrorKind::kRangeError, kCodeNoForward, message);
    case Code::kUnsupported:
      return CodedError(env, ErrorKind::kError, kCodeUnsupported, message);
    case Code::kOutOfMemory:
      return CodedError(env, ErrorKind::kError, kCodeOutOfMemory, message);
    case Code::kOk:
      break;
  }
  return CodedError(env, ErrorKind::kError, kCodeUnsupported,
                    std::string(where) + ": unexpected status " +
                        std::to_string(static_cast<int>(status.code)) + ": " + status.message);
}

}  // namespace cellstate_node
