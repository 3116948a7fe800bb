// Layer::Quantize and the int8 inference paths of Layer (issue 17): the layer holds a
// QuantizedLstm built from its float parameters; Step and the inference Forward run on it.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "cell/driver.h"
#include "quant/qlstm.h"

namespace cellstate {

template <typename T>
bool Layer<T>::Impl::Quantizable(Status* why) const {
  const char* reason = nullptr;
  if (!std::is_same<T, float>::value)
    reason = "int8 quantization needs a float layer";
  else if (cfg.cell != Cell::kLSTM)
    reason = "int8 quantization supports the LSTM only for now";
  else if (D > 1)
    reason = "int8 quantization does not support bidirectional layers yet";
  else if (cfg.lstm.proj_size > 0)
    reason = "int8 quantization does not support projSize yet";
  else if (size_t(cfg.input_size) > kQMaxK || size_t(cfg.hidden_size) > kQMaxK)
    reason = "int8 quantization needs inputSize and hiddenSize of at most 65536";
  if (reason && why) *why = Status::Error(Code::kUnsupported, reason);
  return !reason;
}

template <typename T>
Status Layer<T>::Impl::BuildQuant(std::unique_ptr<QuantizedLstm>* out) const {
  Status st;
  if (!Quantizable(&st)) return st;
  if constexpr (std::is_same<T, float>::value) {
    return QuantizedLstm::Create(cfg, params.data(), QKernelsForIsa(kern->name), kern, out);
  }
  return Status::Error(Code::kUnsupported, "int8 quantization needs a float layer");
}

template <typename T>
Status Layer<T>::Impl::QuantForward(const ForwardArgs& a) {
  if (a.train)
    return Status::Error(Code::kUnsupported,
                         "the layer is quantized (int8, inference only): training refused");
  if (a.lengths)
    return Status::Error(Code::kUnsupported, "a quantized layer does not support lengths yet");
  if (a.batch_first)
    return Status::Error(Code::kUnsupported,
                         "a quantized layer does not support batch-first input yet");
  if (a.seq_len < 1 || a.batch < 1)
    return Status::Error(Code::kOutOfRange, "seqLen and batch must be >= 1");
  if constexpr (std::is_same<T, float>::value) {
    const int B = a.batch, L = cfg.num_layers;
    const size_t BH = size_t(B) * H;
    try {
      qwork.resize(quant->ForwardScratchBytes(a.seq_len, B));
      qstate.resize(quant->StateSize(B));
    } catch (const std::bad_alloc&) {
      return Status::Error(Code::kOutOfMemory, "out of memory for the int8 forward workspace");
    }
    const float* h0 = static_cast<const float*>(a.h0);
    const float* c0 = static_cast<const float*>(a.c0);
    for (int l = 0; l < L; ++l) {
      float* h = qstate.data() + size_t(l) * 2 * BH;
      if (h0)
        std::memcpy(h, h0 + size_t(l) * BH, sizeof(float) * BH);
      else
        std::fill(h, h + BH, 0.0f);
      if (c0)
        std::memcpy(h + BH, c0 + size_t(l) * BH, sizeof(float) * BH);
      else
        std::fill(h + BH, h + 2 * BH, 0.0f);
    }
    pending = false;
    Status st = quant->Forward(a.seq_len, B, static_cast<const float*>(a.x), qstate.data(),
                               qwork.data(), static_cast<float*>(a.output));
    if (!st.ok()) return st;
    for (int l = 0; l < L; ++l) {
      const float* h = qstate.data() + size_t(l) * 2 * BH;
      if (a.h_n) std::memcpy(static_cast<float*>(a.h_n) + size_t(l) * BH, h, sizeof(float) * BH);
      if (a.c_n)
        std::memcpy(static_cast<float*>(a.c_n) + size_t(l) * BH, h + BH, sizeof(float) * BH);
    }
    return Status::Ok();
  }
  return Status::Error(Code::kUnsupported, "int8 quantization needs a float layer");
}

template <typename T>
Status Layer<T>::Quantize(bool on) {
  Impl& m = *impl_;
  if (!on) {
    m.quant.reset();
    m.qwork = {};
    m.qstate = {};
    return Status::Ok();
  }
  std::unique_ptr<QuantizedLstm> q;
  Status st = m.BuildQuant(&q);
  if (!st.ok()) return st;  // nothing changed
  m.quant = std::move(q);
  m.pending = false;
  return Status::Ok();
}

template <typename T>
bool Layer<T>::quantized() const {
  return impl_->quant != nullptr;
}

#define CELLSTATE_INSTANTIATE(T)                                                     \
  template bool Layer<T>::Impl::Quantizable(Status*) const;                          \
  template Status Layer<T>::Impl::BuildQuant(std::unique_ptr<QuantizedLstm>*) const; \
  template Status Layer<T>::Impl::QuantForward(const ForwardArgs&);                  \
  template Status Layer<T>::Quantize(bool);                                          \
  template bool Layer<T>::quantized() const;
CELLSTATE_INSTANTIATE(float)
CELLSTATE_INSTANTIATE(double)
#undef CELLSTATE_INSTANTIATE

}  // namespace cellstate
