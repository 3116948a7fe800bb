// int8 dynamic quantization of a recurrent stack (Layer::Quantize, issue 17), through the same
// driver and cells as float inference: the input GEMM over all T·B rows and the cells' recurrent
// GEMMs (FwdStep::Mul) run on int8 weights with one scale per row, and on activations quantized
// per row and step (x_t, h_{t-1}, r ⊙ h, m_t); the post-GEMMs stay the float ones. So every
// cell, option, direction, lengths, batch-first, the wavefront and threads work quantized.
// A quantized layer keeps its weights only in the packed int8 form (plus the small float
// parameters): parameters read back dequantized, and Quantize(false) runs float on those.
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
    if (qk) return Status::Ok();  // its int8 weights are the layer's weights
    const QKernels* k = QKernelsForIsa(kern->name);
    if (!k) return Status::Error(Code::kUnsupported, "no int8 kernels for this CPU");
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
    auto index_of = [&](size_t offset) {  // in table
      for (size_t i = 0; i < table.size(); ++i)
        if (table[i].offset == offset) return i;
      return kNone;  // not reached: every unit's entry is in the table
    };
    try {
      // Scales: the entries' in order; then the packed matrices (64-byte aligned), the units'
      // int8 offsets, and which rows of which entry each holds.
      std::vector<QEntry> qe(entries.size());
      size_t nscale = 0;
      for (size_t e = 0; e < entries.size(); ++e) {
        const ParamInfo& p = table[entries[e]];
        qe[e].index = entries[e];
        qe[e].rows = size_t(p.shape[0]);
        qe[e].cols = size_t(p.shape[1]);
        qe[e].scale = nscale;
        nscale += qe[e].rows;
      }
      auto entry_of = [&](size_t offset) -> QEntry& {
        for (QEntry& q : qe)
          if (table[q.index].offset == offset) return q;
        return qe.front();  // not reached: every offset was quantized
      };
      std::vector<Unit> us = units;
      size_t total = 0;
      auto place = [&](QEntry& q, size_t row0, size_t rows) {
        const size_t at = total;
        total += (QgemmPackedSize(q.cols, rows) + 63) / 64 * 64;
        q.pieces.push_back({at, row0, rows});
        return at;
      };
      for (Unit& u : us) {
        std::fill(u.qw, u.qw + kCellSlots, kNone);
        std::fill(u.qs, u.qs + kCellSlots, kNone);
        QEntry& ih = entry_of(u.param[0]);
        u.qw_ih = place(ih, 0, ih.rows);
        u.qs_ih = ih.scale;
        for (const QuantSlot& s : slots) {
          QEntry& q = entry_of(u.param[s.entry]);
          u.qw[s.slot] = place(q, size_t(s.row0), size_t(s.rows));
          u.qs[s.slot] = q.scale + size_t(s.row0);
        }
      }
      std::vector<uint8_t, HugeAlloc<uint8_t>> bytes(total, 0);
      std::vector<float> scales(nscale);
      std::vector<int8_t> w;  // one entry, row-major, while it is packed
      for (const QEntry& q : qe) {
        const ParamInfo& p = table[q.index];
        w.resize(q.rows * q.cols);
        if (!QuantizeWeights(q.rows, q.cols, params.data() + p.offset, q.cols, w.data(),
                             scales.data() + q.scale))
          return Status::Error(Code::kInvalidArgument,
                               "int8 quantization: " + p.name + " holds a NaN or an infinity");
        for (const QPiece& c : q.pieces)
          QgemmPack(q.cols, c.rows, w.data() + c.row0 * q.cols, q.cols, bytes.data() + c.at);
      }
      // The float parameters kept: every entry that is not an int8 weight, in table order.
      std::vector<size_t> at(table.size(), kNone);
      size_t nsmall = 0;
      for (size_t i = 0; i < table.size(); ++i)
        if (std::find(entries.begin(), entries.end(), i) == entries.end()) {
          at[i] = nsmall;
          nsmall += table[i].size;
        }
      std::vector<T> compact(nsmall);
      for (size_t i = 0; i < table.size(); ++i)
        if (at[i] != kNone)
          std::copy_n(params.data() + table[i].offset, table[i].size, compact.data() + at[i]);
      for (Unit& u : us)
        for (size_t& o : u.param)
          if (o != kNone) o = at[index_of(o)];
      std::vector<Unit> old_units = units;
      for (size_t i = 0; i < units.size(); ++i)
        std::copy(us[i].param, us[i].param + kCellSlots, units[i].param);
      params.swap(compact);
      qk = k;
      try {
        Pack();  // the float rest (biases and the like), at the compact offsets
      } catch (const std::bad_alloc&) {
        qk = nullptr;
        params.swap(compact);
        units.swap(old_units);
        throw;
      }
      // Committed: nothing below throws.
      for (size_t i = 0; i < units.size(); ++i) {
        Unit& u = units[i];
        u.qw_ih = us[i].qw_ih;
        u.qs_ih = us[i].qs_ih;
        std::copy(us[i].qw, us[i].qw + kCellSlots, u.qw);
        std::copy(us[i].qs, us[i].qs + kCellSlots, u.qs);
      }
      qentries.swap(qe);
      qpacked.swap(bytes);
      qscale.swap(scales);
      small.swap(at);
      std::vector<T>().swap(grads);  // a quantized layer does not train
      std::vector<T, HugeAlloc<T>>().swap(packed_bwd);
      packed_bwd_valid = false;
    } catch (const std::bad_alloc&) {
      return Status::Error(Code::kOutOfMemory, "out of memory for the int8 weights");
    }
    return Status::Ok();
  }
  return Status::Error(Code::kUnsupported, "int8 quantization needs a float layer");
}

template <typename T>
Status Layer<T>::Impl::ToFloat(const T* src) {
  const size_t n = ParamCount(cfg);
  try {
    std::vector<T> p(src, src + n), g(n, T(0));
    std::vector<Unit> old_units = units;
    params.swap(p);
    const QKernels* old_qk = qk;
    qk = nullptr;
    UnitParams();
    try {
      Pack();
    } catch (const std::bad_alloc&) {
      units.swap(old_units);
      qk = old_qk;
      params.swap(p);
      throw;
    }
    grads.swap(g);
  } catch (const std::bad_alloc&) {
    return Status::Error(Code::kOutOfMemory, "out of memory for the float parameters");
  }
  qentries = {};
  decltype(qpacked)().swap(qpacked);
  std::vector<float>().swap(qscale);
  std::vector<size_t>().swap(small);
  return Status::Ok();
}

template <typename T>
void Layer<T>::Impl::FullParams(T* out) const {
  if (!qk) {
    std::copy(params.begin(), params.end(), out);
    return;
  }
  for (size_t i = 0; i < table.size(); ++i)
    if (small[i] != kNone)
      std::copy_n(params.data() + small[i], table[i].size, out + table[i].offset);
  std::vector<int8_t> w;
  for (const QEntry& q : qentries) {
    w.resize(q.rows * q.cols);
    for (const QPiece& c : q.pieces)
      QgemmUnpack(q.cols, c.rows, qpacked.data() + c.at, w.data() + c.row0 * q.cols, q.cols);
    T* dst = out + table[q.index].offset;
    for (size_t r = 0; r < q.rows; ++r) {
      const float s = qscale[q.scale + r];  // fround(q · s), as dequantizeMatrix
      for (size_t c = 0; c < q.cols; ++c) dst[r * q.cols + c] = T(float(w[r * q.cols + c]) * s);
    }
  }
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
    if (!m.qk) return Status::Ok();
    std::vector<T> full;
    try {
      full.resize(ParamCount(m.cfg));
    } catch (const std::bad_alloc&) {
      return Status::Error(Code::kOutOfMemory, "out of memory for the float parameters");
    }
    m.FullParams(full.data());
    return m.ToFloat(full.data());
  }
  const Status st = m.QuantizeParams();
  if (st.ok()) m.pending = false;
  return st;  // on failure nothing changed
}

template <typename T>
void Layer<T>::ReadParams(T* out) const {
  impl_->FullParams(out);
}

template <typename T>
Status Layer<T>::WriteParams(const T* src) {
  Impl& m = *impl_;
  if (!m.qk) {
    std::copy_n(src, m.params.size(), m.params.begin());
    ParamsChanged();
    return Status::Ok();
  }
  // A quantized layer: float on src, then quantized again; when the new weights cannot be (a
  // NaN), it stays float on them rather than keep the old ones.
  const Status st = m.ToFloat(src);
  if (!st.ok()) return st;
  m.pending = false;
  (void)m.QuantizeParams();
  return Status::Ok();
}

template <typename T>
void Layer<T>::ReadGrads(T* out) const {
  const Impl& m = *impl_;
  if (m.grads.empty())  // a quantized layer keeps none
    std::fill_n(out, ParamCount(m.cfg), T(0));
  else
    std::copy(m.grads.begin(), m.grads.end(), out);
}

template <typename T>
bool Layer<T>::quantized() const {
  return impl_->qk != nullptr;
}

#define CELLSTATE_INSTANTIATE(T)                                                              \
  template bool Layer<T>::Impl::Quantizable(Status*) const;                                   \
  template size_t Layer<T>::Impl::QuantLd(const Unit&) const;                                 \
  template Status Layer<T>::Impl::QuantizeParams();                                           \
  template Status Layer<T>::Impl::ToFloat(const T*);                                          \
  template void Layer<T>::Impl::FullParams(T*) const;                                         \
  template void Layer<T>::ReadParams(T*) const;                                               \
  template Status Layer<T>::WriteParams(const T*);                                            \
  template void Layer<T>::ReadGrads(T*) const;                                                \
  template void Layer<T>::Impl::InputGemm(const Unit&, size_t, const T*, T*, int8_t*, float*, \
                                          size_t, Part) const;                                \
  template Status Layer<T>::Quantize(bool);                                                   \
  template bool Layer<T>::quantized() const;
CELLSTATE_INSTANTIATE(float)
CELLSTATE_INSTANTIATE(double)
#undef CELLSTATE_INSTANTIATE

}  // namespace cellstate
