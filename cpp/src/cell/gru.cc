// The GRU family (docs/cells.md): gates r, z, n; resetAfter: true applies r after the recurrent
// product of n (PyTorch, cuDNN), false before it (the original GRU; a second recurrent GEMM on
// r ⊙ h). Its options, parameter table, packing, workspace, forward and backward step and
// gradient reductions; the micro-kernels are k.gru (cell/gru.h).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "cell/cell.h"

namespace cellstate {

namespace {

enum : int { kIh = 0, kHh = 1, kBih = 2, kBhh = 3 };
// Packed slots: W_hh (resetAfter: all three blocks; else r and z), W_hn (resetAfter false).
enum : int { kPackHh = 0, kPackHn = 1 };
// Forward buffers: gh = W_hh h + b_hh ([·,3H], per step when training with resetAfter: backward
// reads gh_n); rh = r ⊙ h (resetAfter false; per step when training).
enum : int { kBufGh = 0, kBufRh = 1 };
// Backward buffers: the gradient of the recurrent pre-activations and its transpose.
enum : int { kBwDgh = 0, kBwDghT = 1 };

template <typename T>
class GruCell final : public RecurrentCell<T> {
 public:
  explicit GruCell(const Config& cfg)
      : H_(cfg.hidden_size), after_(cfg.gru.reset_after), acts_(cfg.gru.acts) {
    // Any other function, or a clip: the steps of *_act (docs/cells.md, "Activation functions
    // and clipping"), with the pre-activations kept for backward when needed.
    generic_ =
        !ActivationIsSigmoid(acts_.gate) || !ActivationIsTanh(acts_.cell) || acts_.clip > 0.f;
    need_pre_ = generic_ && CellActivationsNeedPre(acts_);
  }

  double RowFlops(int in) const override { return 3.0 * H_ * (in + H_); }

  void PlanPack(const Kernels<T>& k, UnitT<T>* u, size_t* total, bool gemm_weights) const override {
    const size_t H = H_, GH = 3 * H;
    if (gemm_weights) {
      u->fw_ih = *total;
      *total += k.packed_size(u->in, GH);
      u->fw[kPackHh] = *total;
      if (after_) {
        *total += k.packed_size(H, GH);
      } else {
        *total += k.packed_size(H, 2 * H);
        u->fw[kPackHn] = *total;
        *total += k.packed_size(H, H);
      }
    }
    u->fw_bias = *total;
    *total += GH;
  }

  void Pack(const Kernels<T>& k, const UnitT<T>& u, const T* params, T* dst,
            bool gemm_weights) const override {
    const int H = H_, GH = 3 * H;
    if (gemm_weights) {
      const T* w_hh = params + u.param[kHh];
      k.pack(u.in, GH, params + u.param[kIh], 1, u.in, dst + u.fw_ih);
      if (after_) {
        k.pack(H, GH, w_hh, 1, H, dst + u.fw[kPackHh]);
      } else {
        k.pack(H, 2 * H, w_hh, 1, H, dst + u.fw[kPackHh]);
        k.pack(H, H, w_hh + size_t(2) * H * H, 1, H, dst + u.fw[kPackHn]);
      }
    }
    // b_ih goes with the input GEMM, b_hh with the recurrent one (r multiplies W_hn h + b_hn).
    std::copy(params + u.param[kBih], params + u.param[kBih] + GH, dst + u.fw_bias);
  }

  void PlanPackBackward(const Kernels<T>& k, UnitT<T>* u, size_t* total) const override {
    const size_t H = H_, GH = 3 * H;
    u->bw_ih = *total;
    *total += k.packed_size(GH, u->in);
    u->bw[kPackHh] = *total;
    if (after_) {
      *total += k.packed_size(GH, H);
    } else {
      *total += k.packed_size(2 * H, H);
      u->bw[kPackHn] = *total;
      *total += k.packed_size(H, H);
    }
  }

  void PackBackward(const Kernels<T>& k, const UnitT<T>& u, const T* params,
                    T* dst) const override {
    const int H = H_, GH = 3 * H;
    const T* w_hh = params + u.param[kHh];
    k.pack(GH, u.in, params + u.param[kIh], u.in, 1, dst + u.bw_ih);
    if (after_) {
      k.pack(GH, H, w_hh, H, 1, dst + u.bw[kPackHh]);
    } else {
      k.pack(2 * H, H, w_hh, H, 1, dst + u.bw[kPackHh]);
      k.pack(H, H, w_hh + size_t(2) * H * H, H, 1, dst + u.bw[kPackHn]);
    }
  }

  void QuantSlots(std::vector<QuantSlot>* out) const override {
    if (after_) {
      out->push_back({kPackHh, kHh, 0, 3 * H_});
    } else {  // r ⊙ h is quantized after the product (Mul's activations)
      out->push_back({kPackHh, kHh, 0, 2 * H_});
      out->push_back({kPackHn, kHh, 2 * H_, H_});
    }
  }

  void Workspace(bool train, std::vector<BufSpec>* out) const override {
    out->push_back({size_t(3) * H_, train && after_});  // kBufGh
    if (!after_) out->push_back({size_t(H_), train});   // kBufRh
    // The pre-activations of r, z, n, for backward only (inference leaves the slot null).
    if (train && need_pre_) out->push_back({size_t(3) * H_, true});
  }
  int PreBuf() const { return after_ ? 1 : 2; }

  void BackwardWorkspace(size_t TB, int, std::vector<size_t>* out) const override {
    out->push_back(TB * 3 * H_);  // kBwDgh
    out->push_back(TB * 3 * H_);  // kBwDghT
  }

  void StepForward(const FwdStep<T>& s) const override {
    const GruKernels<T>& gk = s.k.gru;
    const StepIo<T>& io = s.io;
    const int H = H_;
    const size_t GH = size_t(3) * H;
    const T* b_hh = s.params + s.u.param[kBhh];
    T* gh = io.buf[kBufGh];
    T* pre = need_pre_ ? io.buf[PreBuf()] : nullptr;
    auto pre_of = [&](size_t b) { return pre ? pre + b * GH : nullptr; };
    // The recurrent GEMMs read h, or h ⊙ mask with recurrent dropout (z ⊙ h does not).
    const T* hin = s.RecurrentInput();
    if (after_) {
      s.Mul(kPackHh, s.B, GH, H, hin, H, b_hh, gh, GH, false);
      s.Sync();
      for (size_t b = s.b0; b < s.b1; ++b) {
        if (s.active(b) && generic_)
          gk.fwd_act(H, acts_, io.g + b * GH, gh + b * GH, io.h + b * H, s.hout + b * H, pre_of(b));
        else if (s.active(b))
          gk.fwd(H, io.g + b * GH, gh + b * GH, io.h + b * H, s.hout + b * H);
        else
          s.keep(b);
        s.emit(b);
      }
      s.Sync();
    } else {
      // gh holds [B, 2H] for r and z, then [B, H] for n.
      T* rh = io.buf[kBufRh];
      s.Mul(kPackHh, s.B, 2 * H, H, hin, H, b_hh, gh, 2 * H, false);
      s.Sync();
      for (size_t b = s.b0; b < s.b1; ++b) {
        if (s.active(b) && generic_)
          gk.fwd_rz_act(H, acts_, io.g + b * GH, gh + b * 2 * H, hin + b * H, rh + b * H,
                        pre_of(b));
        else if (s.active(b))
          gk.fwd_rz(H, io.g + b * GH, gh + b * 2 * H, hin + b * H, rh + b * H);
        else
          std::fill(rh + b * H, rh + (b + 1) * H, T(0));
      }
      s.Sync();
      T* ghn = gh + size_t(s.B) * 2 * H;
      s.Mul(kPackHn, s.B, H, H, rh, H, b_hh + 2 * H, ghn, H, false);
      s.Sync();
      for (size_t b = s.b0; b < s.b1; ++b) {
        if (s.active(b) && generic_)
          gk.fwd_n_act(H, acts_, io.g + b * GH, ghn + b * H, io.h + b * H, s.hout + b * H,
                       pre_of(b));
        else if (s.active(b))
          gk.fwd_n(H, io.g + b * GH, ghn + b * H, io.h + b * H, s.hout + b * H);
        else
          s.keep(b);
        s.emit(b);
      }
      s.Sync();
    }
  }

  void PrefetchBackward(const BwdStep<T>& s, size_t nb) const override {
    PrefetchRows(s.W + s.u.ws.hprev + nb * H_, s.b0, s.b1, H_, H_);
  }

  void StepBackward(const BwdStep<T>& s) const override {
    const GruKernels<T>& gk = s.k.gru;
    const int H = H_;
    const size_t GH = size_t(3) * H;
    const UnitT<T>& u = s.u;
    const T* hp = s.W + u.ws.hprev + s.tb * H;
    T* dgt = s.dgt;
    T* dght = s.V + s.bwbuf[kBwDgh] + s.tb * GH;
    T* dh = s.dh;
    const T* pre = need_pre_ ? s.W + u.ws.buf[PreBuf()] + s.tb * GH : nullptr;
    auto pre_of = [&](size_t b) { return pre ? pre + b * GH : nullptr; };
    auto inactive = [&](size_t b) {
      std::fill(dgt + b * GH, dgt + (b + 1) * GH, T(0));
      std::fill(dght + b * GH, dght + (b + 1) * GH, T(0));
    };
    if (after_) {
      const T* gh = s.W + u.ws.buf[kBufGh] + s.tb * GH;
      for (size_t b = s.b0; b < s.b1; ++b) {
        if (s.active(b) && generic_)
          gk.bwd_act(H, acts_, s.acts + b * GH, pre_of(b), gh + b * GH, hp + b * H, dh + b * H,
                     dgt + b * GH, dght + b * GH, dh + b * H);
        else if (s.active(b))
          gk.bwd(H, s.acts + b * GH, gh + b * GH, hp + b * H, dh + b * H, dgt + b * GH,
                 dght + b * GH, dh + b * H);
        else
          inactive(b);
      }
      s.Sync();
      if (!s.mask) {
        s.Gemm(s.B, H, GH, dght, GH, s.packed + u.bw[kPackHh], nullptr, dh, H, true);
        s.Sync();
      } else {  // dh_{t-1} = z ⊙ dh_t + (dGh · W_hh) ⊙ mask
        s.Gemm(s.B, H, GH, dght, GH, s.packed + u.bw[kPackHh], nullptr, s.tmp, H, false);
        s.Sync();
        s.MaskRows(s.tmp, dh, H);
        for (size_t b = s.b0; b < s.b1; ++b)
          if (s.active(b)) std::copy(s.tmp + b * H, s.tmp + (b + 1) * H, dh + b * H);
      }
    } else {
      for (size_t b = s.b0; b < s.b1; ++b) {
        if (s.active(b) && generic_)
          gk.bwd_n_act(H, acts_, s.acts + b * GH, pre_of(b), hp + b * H, dh + b * H, dgt + b * GH,
                       dght + b * GH, dh + b * H);
        else if (s.active(b))
          gk.bwd_n(H, s.acts + b * GH, hp + b * H, dh + b * H, dgt + b * GH, dght + b * GH,
                   dh + b * H);
        else
          inactive(b);
      }
      s.Sync();
      // d(r ⊙ h) = da_n · W_hn
      s.Gemm(s.B, H, H, dght + 2 * H, GH, s.packed + u.bw[kPackHn], nullptr, s.tmp, H, false);
      s.Sync();
      // Recurrent dropout: r ⊙ h ⊙ mask and W_rz (h ⊙ mask) took the masked state, so the
      // gradient through them goes to dh (zeroed, the z ⊙ h term set aside in tmp2) and is
      // masked at the end: dh_{t-1} = z ⊙ dh_t + (r ⊙ d(rh) + dGh_rz · W_rz) ⊙ mask.
      const T* hr = s.mask ? s.hm : hp;
      for (size_t b = s.b0; b < s.b1; ++b) {
        if (s.active(b) && s.mask) {
          std::copy(dh + b * H, dh + (b + 1) * H, s.tmp2 + b * H);
          std::fill(dh + b * H, dh + (b + 1) * H, T(0));
        }
        if (s.active(b) && generic_)
          gk.bwd_r_act(H, acts_, s.acts + b * GH, pre_of(b), hr + b * H, s.tmp + b * H,
                       dgt + b * GH, dght + b * GH, dh + b * H);
        else if (s.active(b))
          gk.bwd_r(H, s.acts + b * GH, hr + b * H, s.tmp + b * H, dgt + b * GH, dght + b * GH,
                   dh + b * H);
      }
      s.Sync();
      s.Gemm(s.B, H, 2 * H, dght, GH, s.packed + u.bw[kPackHh], nullptr, dh, H, true);
      s.Sync();
      if (s.mask) s.MaskRows(dh, s.tmp2, H);
    }
  }

  void Gradients(const BwdReduce<T>& r) const override {
    const int H = H_;
    const size_t GH = size_t(3) * H, TB = r.TB;
    const UnitT<T>& u = r.u;
    const Part p = r.p;
    T* gp = r.grads;
    const T* dgh = r.V + r.bwbuf[kBwDgh];
    T* dghT = r.V + r.bwbuf[kBwDghT];
    // dG^T and dGh^T; the bias gradients are their row sums.
    TransposeSum<T>(TB, GH, r.dg, r.dgT, gp + u.param[kBih], nullptr, p);
    TransposeSum<T>(TB, GH, dgh, dghT, gp + u.param[kBhh], nullptr, p);
    InputWeightGrad(r, GH);
    PackParallel(r.k, TB, H, r.hprev, H, 1, r.xpack, p);
    Barrier(p);
    if (!after_) {
      r.k.gemm(2 * H, H, TB, dghT, TB, r.xpack, nullptr, gp + u.param[kHh], H, true, p);
      Barrier(p);
      PackParallel(r.k, TB, H, r.W + u.ws.buf[kBufRh], H, 1, r.xpack, p);
      Barrier(p);
      r.k.gemm(H, H, TB, dghT + size_t(2) * H * TB, TB, r.xpack, nullptr,
               gp + u.param[kHh] + size_t(2) * H * H, H, true, p);
    } else {
      r.k.gemm(GH, H, TB, dghT, TB, r.xpack, nullptr, gp + u.param[kHh], H, true, p);
    }
  }

 private:
  int H_;
  bool after_;
  CellActivations acts_;
  bool generic_ = false, need_pre_ = false;
};

class GruFamilyImpl final : public CellFamily {
 public:
  Cell id() const override { return Cell::kGRU; }
  const char* name() const override { return "gru"; }
  const char* title() const override { return "GRU"; }
  bool Parse(const Option& o, Config* cfg, Status* st) const override {
    GruOptions& g = cfg->gru;
    return BoolOption(o, "resetAfter", &g.reset_after, st) ||
           ActivationOption(o, "gateActivation", &g.acts.gate, st) ||
           ActivationOption(o, "cellActivation", &g.acts.cell, st) ||
           ClipOption(o, &g.acts.clip, st);
  }
  Status Validate(const Config&) const override { return Status::Ok(); }
  int Gates(const Config&) const override { return 3; }
  int StateSize(const Config& c) const override { return c.hidden_size; }
  int CellStateSize(const Config&) const override { return 0; }
  void Params(const Config& c, int in, std::vector<ParamSpec>* out) const override {
    const int H = c.hidden_size;
    out->push_back({"weight_ih", {3 * H, in}});
    out->push_back({"weight_hh", {3 * H, H}});
    out->push_back({"bias_ih", {3 * H}});
    out->push_back({"bias_hh", {3 * H}});
  }
  std::unique_ptr<RecurrentCell<float>> MakeFloat(const Config& c) const override {
    return std::make_unique<GruCell<float>>(c);
  }
  std::unique_ptr<RecurrentCell<double>> MakeDouble(const Config& c) const override {
    return std::make_unique<GruCell<double>>(c);
  }
};

}  // namespace

const CellFamily& GruFamily() {
  static const GruFamilyImpl family;
  return family;
}

}  // namespace cellstate
