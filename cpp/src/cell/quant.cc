// int8 dynamic quantization of a recurrent stack (Layer::Quantize, issue 17), through the same
// driver and cells as float inference: the input GEMM over all T·B rows and the cells' recurrent
// GEMMs (FwdStep::Mul) run on int8 weights with one scale per row, and on activations quantized
// per row and step (x_t, h_{t-1}, r ⊙ h, m_t); the post-GEMMs stay the float ones. So every
// cell, option, direction, lengths, batch-first, the wavefront and threads work quantized.
#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "cell/driver.h"

namespace cellstate {

template <typename T>
bool Layer<T>::Impl::Quantizable(Status* why) const {
  std::string reason;
  if (!std::is_same<T, float>::value) {
    reason = "int8 quantization needs a float layer";
  } else {
    for (const ParamInfo& p : table)
      if (p.shape.size() == 2 && size_t(p.shape[1]) > kQMaxK) {
        reason = "int8 quantization: " + p.name + " has " + std::to_string(p.shape[1]) +
                 " columns; at most " + std::to_string(kQMaxK) + " fit the int32 sums";
        break;
      }
  }
  if (!reason.empty() && why) *why = Status::Error(Code::kUnsupported, reason);
  return reason.empty();
}

template <typename T>
size_t Layer<T>::Impl::QuantLd(const Unit& u) const {
  return QgemmLda(size_t(std::max({u.in, R, H})));
}

template <typename T>
Status Layer<T>::Impl::QuantizeParams() {
  Status st;
  if (!Quantizable(&st)) return st;
  if constexpr (std::is_same<T, float>::value) {
    // The entries to quantize: W_ih of every unit and the cell's slots, each entry once.
    std::vector<QuantSlot> slots;
    cell->QuantSlots(&slots);
    std::vector<size_t> entries;
    auto add = [&](size_t offset) {
      for (size_t i = 0; i < table.size(); ++i)
        if (table[i].offset == offset &&
            std::find(entries.begin(), entries.end(), i) == entries.end())
          entries.push_back(i);
    };
    for (const Unit& u : units) {
      add(u.param[0]);
      for (const QuantSlot& q : slots) add(u.param[q.entry]);
    }
    std::vector<QEntry> out;
    try {
      out.resize(entries.size());
      for (size_t e = 0; e < entries.size(); ++e) {
        const ParamInfo& p = table[entries[e]];
        QEntry& q = out[e];
        q.index = entries[e];
        q.rows = size_t(p.shape[0]);
        q.cols = size_t(p.shape[1]);
        q.w.resize(q.rows * q.cols);
        q.scale.resize(q.rows);
        if (!QuantizeWeights(q.rows, q.cols, params.data() + p.offset, q.cols, q.w.data(),
                             q.scale.data()))
          return Status::Error(Code::kInvalidArgument,
                               "int8 quantization: " + p.name + " holds a NaN or an infinity");
      }
    } catch (const std::bad_alloc&) {
      return Status::Error(Code::kOutOfMemory, "out of memory for the int8 weights");
    }
    const QKernels* k = QKernelsForIsa(kern->name);
    std::vector<QEntry> old;
    old.swap(qentries);
    qentries.swap(out);
    try {
      QuantPack();
    } catch (const std::bad_alloc&) {
      qentries.swap(old);
      return Status::Error(Code::kOutOfMemory, "out of memory for the int8 weights");
    }
    qk = k;
    return Status::Ok();
  }
  return Status::Error(Code::kUnsupported, "int8 quantization needs a float layer");
}

template <typename T>
void Layer<T>::Impl::QuantPack() {
  std::vector<QuantSlot> slots;
  cell->QuantSlots(&slots);
  auto entry_of = [&](size_t offset) -> const QEntry& {
    for (const QEntry& q : qentries)
      if (table[q.index].offset == offset) return q;
    return qentries.front();  // not reached: every offset was quantized
  };
  // Scales: the entries' in order; a slot's start at its first row.
  std::vector<size_t> scale_at(qentries.size());
  size_t nscale = 0;
  for (size_t e = 0; e < qentries.size(); ++e) {
    scale_at[e] = nscale;
    nscale += qentries[e].rows;
  }
  auto scale_of = [&](const QEntry& q) { return scale_at[size_t(&q - qentries.data())]; };
  // Offsets first (64-byte aligned matrices), then the bytes.
  std::vector<Unit> us = units;
  size_t total = 0;
  auto place = [&](size_t K, size_t N) {
    const size_t o = total;
    total += (QgemmPackedSize(K, N) + 63) / 64 * 64;
    return o;
  };
  for (Unit& u : us) {
    std::fill(u.qw, u.qw + kCellSlots, kNone);
    std::fill(u.qs, u.qs + kCellSlots, kNone);
    const QEntry& ih = entry_of(u.param[0]);
    u.qw_ih = place(ih.cols, ih.rows);
    u.qs_ih = scale_of(ih);
    for (const QuantSlot& s : slots) {
      const QEntry& q = entry_of(u.param[s.entry]);
      u.qw[s.slot] = place(q.cols, size_t(s.rows));
      u.qs[s.slot] = scale_of(q) + size_t(s.row0);
    }
  }
  std::vector<uint8_t, HugeAlloc<uint8_t>> bytes(total, 0);
  std::vector<float> scales(nscale);
  for (size_t e = 0; e < qentries.size(); ++e)
    std::copy(qentries[e].scale.begin(), qentries[e].scale.end(), scales.begin() + scale_at[e]);
  for (const Unit& u : us) {
    const QEntry& ih = entry_of(u.param[0]);
    QgemmPack(ih.cols, ih.rows, ih.w.data(), ih.cols, bytes.data() + u.qw_ih);
    for (const QuantSlot& s : slots) {
      const QEntry& q = entry_of(u.param[s.entry]);
      QgemmPack(q.cols, size_t(s.rows), q.w.data() + size_t(s.row0) * q.cols, q.cols,
                bytes.data() + u.qw[s.slot]);
    }
  }
  // Nothing above threw: commit (the units keep their float offsets and workspace).
  for (size_t i = 0; i < units.size(); ++i) {
    units[i].qw_ih = us[i].qw_ih;
    units[i].qs_ih = us[i].qs_ih;
    std::copy(us[i].qw, us[i].qw + kCellSlots, units[i].qw);
    std::copy(us[i].qs, us[i].qs + kCellSlots, units[i].qs);
  }
  qpacked.swap(bytes);
  qscale.swap(scales);
}

template <typename T>
void Layer<T>::Impl::InputGemm(const Unit& u, size_t M, const T* x, T* Cm, int8_t* aq, float* sa,
                               size_t ldq, Part p) const {
  const size_t GH = size_t(G) * H;
  const T* bias = u.fw_bias == kNone ? nullptr : packed.data() + u.fw_bias;
  if constexpr (std::is_same<T, float>::value) {
    if (qk) {
      const StepSplit<float> s{*kern, p, 0, 0, false};
      s.QGemm(*qk, M, GH, size_t(u.in), x, size_t(u.in), qpacked.data() + u.qw_ih,
              qscale.data() + u.qs_ih, bias, Cm, GH, false, aq, sa, ldq);
      return;
    }
  }
  (void)aq, (void)sa, (void)ldq;
  kern->gemm(M, GH, u.in, x, u.in, packed.data() + u.fw_ih, bias, Cm, GH, false, p);
}

template <typename T>
Status Layer<T>::Quantize(bool on) {
  Impl& m = *impl_;
  if (!on) {
    m.qk = nullptr;
    m.qentries = {};
    m.qpacked = {};
    m.qscale = {};
    return Status::Ok();
  }
  const Status st = m.QuantizeParams();
  if (st.ok()) m.pending = false;
  return st;  // on failure nothing changed
}

template <typename T>
bool Layer<T>::quantized() const {
  return impl_->qk != nullptr;
}

#define CELLSTATE_INSTANTIATE(T)                                                              \
  template bool Layer<T>::Impl::Quantizable(Status*) const;                                   \
  template size_t Layer<T>::Impl::QuantLd(const Unit&) const;                                 \
  template Status Layer<T>::Impl::QuantizeParams();                                           \
  template void Layer<T>::Impl::QuantPack();                                                  \
  template void Layer<T>::Impl::InputGemm(const Unit&, size_t, const T*, T*, int8_t*, float*, \
                                          size_t, Part) const;                                \
  template Status Layer<T>::Quantize(bool);                                                   \
  template bool Layer<T>::quantized() const;
CELLSTATE_INSTANTIATE(float)
CELLSTATE_INSTANTIATE(double)
#undef CELLSTATE_INSTANTIATE

}  // namespace cellstate
