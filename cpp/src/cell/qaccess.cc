// Reading the int8 weights of a quantized layer (Layer::QuantizedWeight, issue 17's files): the
// quantized entries the driver packs from (Impl::qentries: int8 [rows, cols] row-major and one
// scale per row), by their ParamTable name.
#include <cstring>
#include <string>

#include "cell/driver.h"

namespace cellstate {

template <typename T>
Status Layer<T>::QuantizedWeight(const std::string& name, size_t rows, size_t cols, int8_t* q,
                                 float* scale) const {
  const Impl& m = *impl_;
  if (!m.qk) return Status::Error(Code::kUnsupported, "the layer is not quantized");
  for (const auto& e : m.qentries) {
    if (m.table[e.index].name != name) continue;
    if (rows != e.rows || cols != e.cols)
      return Status::Error(Code::kInvalidArgument, name + " is [" + std::to_string(e.rows) + ", " +
                                                       std::to_string(e.cols) + "]");
    std::memcpy(q, e.w.data(), e.w.size());
    std::memcpy(scale, e.scale.data(), e.scale.size() * sizeof(float));
    return Status::Ok();
  }
  return Status::Error(Code::kInvalidArgument, "'" + name + "' is not a quantized weight");
}

template Status Layer<float>::QuantizedWeight(const std::string&, size_t, size_t, int8_t*,
                                              float*) const;
template Status Layer<double>::QuantizedWeight(const std::string&, size_t, size_t, int8_t*,
                                               float*) const;

}  // namespace cellstate
