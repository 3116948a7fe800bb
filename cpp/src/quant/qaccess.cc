// Reading the int8 weights of a quantized layer (Layer::QuantizedWeight, issue 17's files): the
// packed panels of the int8 GEMM (ukernel/qgemm/qgemm.h) unpacked back to [rows, cols] int8
// with their row scales. Kept apart from the quantized cells so that their internals can change
// behind these two functions.
#include <cstring>
#include <type_traits>

#include "cell/driver.h"
#include "quant/qlstm.h"

namespace cellstate {
namespace {

// Wq[n*K + k] from QgemmPack's layout: panel p, group g, column j, byte t at
// p*kp*kQNr + g*4*kQNr + j*4 + t (kp = round_up(K, 4)).
void Unpack(size_t K, size_t N, const uint8_t* packed, int8_t* q) {
  const size_t kp = (K + 3) / 4 * 4;
  const int8_t* src = reinterpret_cast<const int8_t*>(packed);
  for (size_t n = 0; n < N; ++n) {
    const int8_t* panel = src + (n / kQNr) * kp * kQNr;
    const size_t j = n % kQNr;
    for (size_t k = 0; k < K; ++k) q[n * K + k] = panel[(k / 4) * 4 * kQNr + j * 4 + (k % 4)];
  }
}

}  // namespace

Status QuantizedLstm::UnpackWeight(const std::string& name, size_t rows, size_t cols, int8_t* q,
                                   float* scale) const {
  const size_t GH = size_t(cfg_.gates()) * size_t(cfg_.hidden_size);
  for (size_t l = 0; l < units_.size(); ++l) {
    const Unit& u = units_[l];
    const std::string sfx = "_l" + std::to_string(l);
    const bool ih = name == "weight_ih" + sfx, hh = name == "weight_hh" + sfx;
    if (!ih && !hh) continue;
    const size_t K = ih ? size_t(u.in) : size_t(cfg_.hidden_size);
    if (rows != GH || cols != K)
      return Status::Error(Code::kInvalidArgument,
                           name + " is [" + std::to_string(GH) + ", " + std::to_string(K) + "]");
    Unpack(K, GH, (ih ? u.wih : u.whh).data(), q);
    const std::vector<float>& s = ih ? u.sih : u.shh;
    std::memcpy(scale, s.data(), GH * sizeof(float));
    return Status::Ok();
  }
  return Status::Error(Code::kInvalidArgument, "'" + name + "' is not a quantized weight");
}

template <typename T>
Status Layer<T>::QuantizedWeight(const std::string& name, size_t rows, size_t cols, int8_t* q,
                                 float* scale) const {
  if (!impl_->quant) return Status::Error(Code::kUnsupported, "the layer is not quantized");
  return impl_->quant->UnpackWeight(name, rows, cols, q, scale);
}

template Status Layer<float>::QuantizedWeight(const std::string&, size_t, size_t, int8_t*,
                                              float*) const;
template Status Layer<double>::QuantizedWeight(const std::string&, size_t, size_t, int8_t*,
                                               float*) const;

}  // namespace cellstate
