// The simple (Elman) RNN (docs/cells.md): h = act(W_ih x + b_ih + W_hh h + b_hh) with act tanh
// or relu. Its options, parameter table, packing, forward and backward step and gradient
// reductions; the micro-kernels are k.rnn (cell/rnn.h).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "cell/cell.h"

namespace cellstate {

namespace {

enum : int { kIh = 0, kHh = 1, kBih = 2, kBhh = 3 };
enum : int { kPackHh = 0 };

template <typename T>
class RnnCell final : public RecurrentCell<T> {
 public:
  explicit RnnCell(const Config& cfg)
      : H_(cfg.hidden_size), relu_(cfg.rnn.relu), acts_(cfg.rnn.acts) {
    // tanh or relu without clip: the fast steps; anything else those of *_act (docs/cells.md,
    // "Activation functions and clipping"), the nonlinearity being acts_.cell.
    acts_.cell = relu_ ? Activation{ActKind::kRelu, 0.f, 0.f} : acts_.cell;
    generic_ =
        acts_.clip > 0.f || !(ActivationIsTanh(acts_.cell) || acts_.cell.kind == ActKind::kRelu);
    need_pre_ = generic_ && CellActivationsNeedPre(acts_);
  }

  double RowFlops(int in) const override { return double(H_) * (in + H_); }

  void PlanPack(const Kernels<T>& k, UnitT<T>* u, size_t* total, bool gemm_weights) const override {
    if (gemm_weights) {
      u->fw_ih = *total;
      *total += k.packed_size(u->in, H_);
      u->fw[kPackHh] = *total;
      *total += k.packed_size(H_, H_);
    }
    u->fw_bias = *total;
    *total += H_;
  }

  void Pack(const Kernels<T>& k, const UnitT<T>& u, const T* params, T* dst,
            bool gemm_weights) const override {
    if (gemm_weights) {
      k.pack(u.in, H_, params + u.param[kIh], 1, u.in, dst + u.fw_ih);
      k.pack(H_, H_, params + u.param[kHh], 1, H_, dst + u.fw[kPackHh]);
    }
    T* bias = dst + u.fw_bias;
    const T* b_ih = params + u.param[kBih];
    const T* b_hh = params + u.param[kBhh];
    for (int j = 0; j < H_; ++j) bias[j] = b_ih[j] + b_hh[j];
  }

  void PlanPackBackward(const Kernels<T>& k, UnitT<T>* u, size_t* total) const override {
    u->bw_ih = *total;
    *total += k.packed_size(H_, u->in);
    u->bw[kPackHh] = *total;
    *total += k.packed_size(H_, H_);
  }

  void PackBackward(const Kernels<T>& k, const UnitT<T>& u, const T* params,
                    T* dst) const override {
    k.pack(H_, u.in, params + u.param[kIh], u.in, 1, dst + u.bw_ih);
    k.pack(H_, H_, params + u.param[kHh], H_, 1, dst + u.bw[kPackHh]);
  }

  void QuantSlots(std::vector<QuantSlot>* out) const override {
    out->push_back({kPackHh, kHh, 0, H_});
  }

  void Workspace(bool train, std::vector<BufSpec>* out) const override {
    // The pre-activation, for backward only (inference leaves the slot null).
    if (train && need_pre_) out->push_back({size_t(H_), true});  // kBufPre
  }
  void BackwardWorkspace(size_t, int, std::vector<size_t>*) const override {}

  void StepForward(const FwdStep<T>& s) const override {
    const int H = H_;
    const StepIo<T>& io = s.io;
    const T* hin = s.RecurrentInput();  // h, or h ⊙ mask (recurrent dropout)
    s.Mul(kPackHh, s.B, H, H, hin, H, nullptr, io.g, H, true);
    s.Sync();
    T* pre = need_pre_ ? io.buf[0] : nullptr;
    for (size_t b = s.b0; b < s.b1; ++b) {
      if (s.active(b) && generic_)
        s.k.rnn.fwd_act(H, acts_, io.g + b * H, s.hout + b * H, pre ? pre + b * H : nullptr);
      else if (s.active(b))
        s.k.rnn.fwd(H, relu_, io.g + b * H, s.hout + b * H);
      else
        s.keep(b);
      s.emit(b);
    }
    s.Sync();
  }

  void PrefetchBackward(const BwdStep<T>& s, size_t nb) const override {
    PrefetchRows(s.W + s.u.ws.hst + nb * H_, s.b0, s.b1, H_, H_);
  }

  void StepBackward(const BwdStep<T>& s) const override {
    const int H = H_;
    const T* ht = s.W + s.u.ws.hst + s.tb * H;  // h_t (the output at t on the active rows)
    const T* pre = need_pre_ ? s.W + s.u.ws.buf[0] + s.tb * H : nullptr;
    for (size_t b = s.b0; b < s.b1; ++b) {
      if (s.active(b)) {
        if (generic_)
          s.k.rnn.bwd_act(H, acts_, ht + b * H, pre ? pre + b * H : nullptr, s.dh + b * H,
                          s.dgt + b * H);
        else
          s.k.rnn.bwd(H, relu_, ht + b * H, s.dh + b * H, s.dgt + b * H);
        std::fill(s.dh + b * H, s.dh + (b + 1) * H, T(0));
      } else {
        std::fill(s.dgt + b * H, s.dgt + (b + 1) * H, T(0));
      }
    }
    s.Sync();
    s.Gemm(s.B, H, H, s.dgt, H, s.packed + s.u.bw[kPackHh], nullptr, s.dh, H, true);
    s.Sync();
    if (s.mask) s.MaskRows(s.dh, nullptr, H);  // dh_{t-1} = (dA · W_hh) ⊙ mask
  }

  void Gradients(const BwdReduce<T>& r) const override {
    const int H = H_;
    const size_t TB = r.TB;
    const UnitT<T>& u = r.u;
    T* gp = r.grads;
    // dA^T; both bias gradients are its row sums.
    TransposeSum(TB, size_t(H), r.dg, r.dgT, gp + u.param[kBih], gp + u.param[kBhh], r.p);
    InputWeightGrad(r, size_t(H));
    PackParallel(r.k, TB, H, r.hprev, H, 1, r.xpack, r.p);
    Barrier(r.p);
    r.k.gemm(H, H, TB, r.dgT, TB, r.xpack, nullptr, gp + u.param[kHh], H, true, r.p);
  }

 private:
  int H_;
  bool relu_;
  CellActivations acts_;
  bool generic_ = false, need_pre_ = false;
};

class RnnFamilyImpl final : public CellFamily {
 public:
  Cell id() const override { return Cell::kRNN; }
  const char* name() const override { return "rnn"; }
  const char* title() const override { return "RNN"; }
  bool Parse(const Option& o, Config* cfg, Status* st) const override {
    RnnOptions& r = cfg->rnn;
    if (ClipOption(o, &r.acts.clip, st)) return true;
    if (!ActivationOption(o, "nonlinearity", &r.acts.cell, st)) return false;
    // relu keeps its flag (the fast step); the cell role holds any other function.
    r.relu = st->ok() && r.acts.cell.kind == ActKind::kRelu;
    if (r.relu) r.acts.cell = DefaultActivation(ActKind::kTanh);
    return true;
  }
  Status Validate(const Config&) const override { return Status::Ok(); }
  int Gates(const Config&) const override { return 1; }
  int StateSize(const Config& c) const override { return c.hidden_size; }
  int CellStateSize(const Config&) const override { return 0; }
  void Params(const Config& c, int in, std::vector<ParamSpec>* out) const override {
    const int H = c.hidden_size;
    out->push_back({"weight_ih", {H, in}});
    out->push_back({"weight_hh", {H, H}});
    out->push_back({"bias_ih", {H}});
    out->push_back({"bias_hh", {H}});
  }
  std::unique_ptr<RecurrentCell<float>> MakeFloat(const Config& c) const override {
    return std::make_unique<RnnCell<float>>(c);
  }
  std::unique_ptr<RecurrentCell<double>> MakeDouble(const Config& c) const override {
    return std::make_unique<RnnCell<double>>(c);
  }
};

}  // namespace

const CellFamily& RnnFamily() {
  static const RnnFamilyImpl family;
  return family;
}

}  // namespace cellstate
