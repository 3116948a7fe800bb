// Reading JavaScript values in the binding: only what memory safety needs (types, integer
// ranges, element counts). Friendly validation happens in lib/ before these run. Each reader
// throws a coded TypeError / RangeError (C++ exceptions are on).
//
// Callers fetch every property first and convert afterwards, so no JavaScript (a getter) runs
// between taking a typed array's data pointer and using it.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace cellstate_node {

// undefined or null.
bool Absent(const Napi::Value& v);

// `name` is the argument's name in messages, `where` the method ("NativeLayer.forward").
int ToInt(const Napi::Value& v, int lo, int hi, const char* name, const char* where);
bool ToBool(const Napi::Value& v, const char* name, const char* where);
double ToNumber(const Napi::Value& v, const char* name, const char* where);  // finite
std::string ToString(const Napi::Value& v, const char* name, const char* where);
// A Number (an integer in [0, 2^53]) or a BigInt in [0, 2^64).
uint64_t ToSeed(const Napi::Value& v, const char* name, const char* where);

// a * b * c, or SIZE_MAX on overflow (which no typed array can match).
size_t Product(size_t a, size_t b, size_t c = 1);

// The data of a typed array of element type E (float: Float32Array, int32_t: Int32Array, int8_t:
// Int8Array) with exactly `count` elements (count >= 1, so a detached buffer is refused too).
template <typename E>
E* ArrayData(const Napi::Value& v, size_t count, const char* name, const char* where);

}  // namespace cellstate_node
