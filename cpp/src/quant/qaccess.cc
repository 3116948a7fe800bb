// Reading the int8 weights of a quantized layer (Layer::QuantizedWeight, issue 17's files): the
// quantized entries of the parameter table, unpacked from the form the GEMMs run on (cell/quant.cc
// keeps no other copy), with their row scales. Kept apart from the quantized driver so that its
// internals can change behind this function.
#include <algorithm>
#include <string>

#include "cell/driver.h"

namespace cellstate {

template <typename T>
Status Layer<T>::QuantizedWeight(const std::string& name, size_t rows, size_t cols, int8_t* q,
                                 float* scale) const {
  if (!impl_->qk) return Status::Error(Code::kUnsupported, "the layer is not quantized");
  for (const auto& e : impl_->qentries) {
    if (impl_->table[e.index].name != name) continue;
    if (rows != e.rows || cols != e.cols)
      return Status::Error(Code::kInvalidArgument, name + " is [" + std::to_string(e.rows) + ", " +
                                                       std::to_string(e.cols) + "]");
    for (const auto& c : e.pieces)
      QgemmUnpack(e.cols, c.rows, impl_->qpacked.data() + c.at, q + c.row0 * e.cols, e.cols);
    std::copy_n(impl_->qscale.data() + e.scale, e.rows, scale);
    return Status::Ok();
  }
  return Status::Error(Code::kInvalidArgument, "'" + name + "' is not a quantized weight");
}

template Status Layer<float>::QuantizedWeight(const std::string&, size_t, size_t, int8_t*,
                                              float*) const;
template Status Layer<double>::QuantizedWeight(const std::string&, size_t, size_t, int8_t*,
                                               float*) const;

}  // namespace cellstate
