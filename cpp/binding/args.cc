#include "args.h"

#include <cmath>
#include <limits>

#include "status.h"

namespace cellstate_node {

namespace {

std::string Name(const char* where, const char* name) { return std::string(where) + ": " + name; }

[[noreturn]] void ThrowType(const Napi::Value& v, const char* where, const char* name,
                            const char* what) {
  throw CodedError(v.Env(), ErrorKind::kTypeError, kCodeInvalidArg,
                   Name(where, name) + " must be " + what);
}

template <typename E>
struct ArrayTraits;
template <>
struct ArrayTraits<float> {
  static constexpr napi_typedarray_type kType = napi_float32_array;
  static constexpr const char* kName = "a Float32Array";
};
template <>
struct ArrayTraits<int8_t> {
  static constexpr napi_typedarray_type kType = napi_int8_array;
  static constexpr const char* kName = "an Int8Array";
};
template <>
struct ArrayTraits<int32_t> {
  static constexpr napi_typedarray_type kType = napi_int32_array;
  static constexpr const char* kName = "an Int32Array";
};

}  // namespace

bool Absent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

int ToInt(const Napi::Value& v, int lo, int hi, const char* name, const char* where) {
  if (!v.IsNumber()) ThrowType(v, where, name, "a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != std::floor(d))
    throw CodedError(v.Env(), ErrorKind::kRangeError, kCodeOutOfRange,
                     Name(where, name) + " must be an integer in [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "]");
  return static_cast<int>(d);
}

bool ToBool(const Napi::Value& v, const char* name, const char* where) {
  if (!v.IsBoolean()) ThrowType(v, where, name, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

double ToNumber(const Napi::Value& v, const char* name, const char* where) {
  if (!v.IsNumber()) ThrowType(v, where, name, "a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d))
    throw CodedError(v.Env(), ErrorKind::kRangeError, kCodeOutOfRange,
                     Name(where, name) + " must be finite");
  return d;
}

std::string ToString(const Napi::Value& v, const char* name, const char* where) {
  if (!v.IsString()) ThrowType(v, where, name, "a string");
  return v.As<Napi::String>().Utf8Value();
}

uint64_t ToSeed(const Napi::Value& v, const char* name, const char* where) {
  if (v.IsBigInt()) {
    bool lossless = false;
    const uint64_t seed = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless)
      throw CodedError(v.Env(), ErrorKind::kRangeError, kCodeOutOfRange,
                       Name(where, name) + " must be a BigInt in [0, 2^64)");
    return seed;
  }
  if (!v.IsNumber()) ThrowType(v, where, name, "a number or a BigInt");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740992.0) || d != std::floor(d))
    throw CodedError(v.Env(), ErrorKind::kRangeError, kCodeOutOfRange,
                     Name(where, name) + " must be an integer in [0, 2^53]");
  return static_cast<uint64_t>(d);
}

size_t Product(size_t a, size_t b, size_t c) {
  constexpr size_t kMax = std::numeric_limits<size_t>::max();
  if ((a != 0 && b > kMax / a) || (a * b != 0 && c > kMax / (a * b))) return kMax;
  return a * b * c;
}

template <typename E>
E* ArrayData(const Napi::Value& v, size_t count, const char* name, const char* where) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != ArrayTraits<E>::kType)
    ThrowType(v, where, name, ArrayTraits<E>::kName);
  auto array = v.As<Napi::TypedArrayOf<E>>();
  if (array.ElementLength() != count)
    throw CodedError(v.Env(), ErrorKind::kRangeError, kCodeOutOfRange,
                     Name(where, name) + " must have " + std::to_string(count) + " elements, got " +
                         std::to_string(array.ElementLength()));
  return array.Data();
}

template float* ArrayData<float>(const Napi::Value&, size_t, const char*, const char*);
template int32_t* ArrayData<int32_t>(const Napi::Value&, size_t, const char*, const char*);
template int8_t* ArrayData<int8_t>(const Napi::Value&, size_t, const char*, const char*);

}  // namespace cellstate_node
