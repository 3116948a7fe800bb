// The LSTM family (docs/cells.md): gates i, f, g, o (each of i, f, o optional; CIFG couples
// i = 1 - f), peepholes, a projection of the hidden state (projSize), optional input and output
// activations, layer normalization (layerNorm). Its options, parameter table, packing, workspace,
// forward and backward step and gradient reductions; the micro-kernels are k.lstm (cell/lstm.h).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cell/cell.h"

namespace cellstate {

int Config::peepholes() const {
  if (cell != Cell::kLSTM || !lstm.peephole) return 0;
  const bool has_i = lstm.input_gate && !lstm.coupled;
  return (has_i ? 1 : 0) + (lstm.forget_gate ? 1 : 0) + (lstm.output_gate ? 1 : 0);
}

namespace {

// Parameter entries of a unit: the four of every cell, then weight_hr, weight_ph when present.
enum : int { kIh = 0, kHh = 1, kBih = 2, kBhh = 3 };
// Packed slots (forward and backward alike); layerNorm: β_ih + b_ih + b_hh (forward).
enum : int { kPackHh = 0, kPackHr = 1, kPackLnBias = 2 };
// Forward buffers (with a projection): m [·,H] (per step when training), the projected state.
enum : int { kBufM = 0, kBufPtmp = 1 };
// Backward buffers (with a projection): dh_s [TB,P] and its transpose.
enum : int { kBwDhs = 0, kBwDhsT = 1 };
// layerNorm, after those (ln_buf_, ln_bw_): the parameter entries from ln_ in this order, the
// forward buffers (the first for inference too: W_hh h; the others training only, per step:
// what backward needs), the backward buffers.
enum : int { kLnIhW = 0, kLnIhB, kLnHhW, kLnHhB, kLnCW, kLnCB, kLnParams };
enum : int { kLnGhh = 0, kLnXih, kLnRih, kLnRhh, kLnChat, kLnRc };
enum : int { kLnDa = 0, kLnDgh, kLnDghT, kLnDyc, kLnDcn, kLnSums, kLnAcc };

int LstmGates(const LstmOptions& o) {
  const bool has_i = o.input_gate && !o.coupled;
  return (has_i ? 1 : 0) + (o.forget_gate ? 1 : 0) + 1 + (o.output_gate ? 1 : 0);
}

template <typename T>
class LstmCell final : public RecurrentCell<T> {
 public:
  explicit LstmCell(const Config& cfg)
      : H_(cfg.hidden_size), R_(cfg.out_size()), P_(cfg.lstm.proj_size), G_(cfg.gates()) {
    const LstmOptions& o = cfg.lstm;
    const bool has_i = o.input_gate && !o.coupled;
    LstmDesc<T>& d = desc_;
    d.H = H_;
    int blk = 0;
    d.off_i = has_i ? H_ * blk++ : -1;
    d.off_f = o.forget_gate ? H_ * blk++ : -1;
    d.off_g = H_ * blk++;
    d.off_o = o.output_gate ? H_ * blk++ : -1;
    d.coupled = o.coupled;
    // cellActivation / hiddenActivation 'affine' with α 1, β 0 are NIAF / NOAF (the fast path).
    auto identity = [](const Activation& a) {
      return a.kind == ActKind::kAffine && a.alpha == 1.f && a.beta == 0.f;
    };
    d.input_activation = o.input_activation && !identity(o.acts.cell);
    d.output_activation = o.output_activation && !identity(o.acts.hidden);
    acts_ = o.acts;
    // Any other function, or a clip: the steps of *_act, with the pre-activations kept for
    // backward when their derivative needs them (CellActivationsNeedPre).
    generic_ = !ActivationIsSigmoid(acts_.gate) || acts_.clip > 0.f ||
               (d.input_activation && !ActivationIsTanh(acts_.cell)) ||
               (d.output_activation && !ActivationIsTanh(acts_.hidden));
    need_pre_ = generic_ && CellActivationsNeedPre(acts_);
    int next = 4;
    if (P_ > 0) hr_ = next++;
    if (o.peephole) {
      int pk = 0;
      d.ph_i = has_i ? H_ * pk++ : -1;
      d.ph_f = o.forget_gate ? H_ * pk++ : -1;
      d.ph_o = o.output_gate ? H_ * pk++ : -1;
      ph_ = next++;
    }
    if (o.layer_norm) {
      ln_ = next;
      next += kLnParams;
      ln_buf_ = P_ > 0 ? 2 : 0;
      ln_bw_ = P_ > 0 ? 2 : 0;
    }
  }

  double RowFlops(int in) const override { return double(G_) * H_ * (in + R_ + (P_ ? H_ : 0)); }

  void PlanPack(const Kernels<T>& k, UnitT<T>* u, size_t* total, bool gemm_weights) const override {
    const size_t GH = size_t(G_) * H_;
    if (gemm_weights) {
      u->fw_ih = *total;
      *total += k.packed_size(u->in, GH);
      u->fw[kPackHh] = *total;
      *total += k.packed_size(R_, GH);
      if (P_ > 0) {
        u->fw[kPackHr] = *total;
        *total += k.packed_size(H_, P_);
      }
    }
    if (ln_ >= 0) {  // no bias in the input GEMM: it goes after LN(W_ih x)
      u->fw_bias = kNone;
      u->fw[kPackLnBias] = *total;
    } else {
      u->fw_bias = *total;
    }
    *total += GH;
  }

  void Pack(const Kernels<T>& k, const UnitT<T>& u, const T* params, T* dst,
            bool gemm_weights) const override {
    const int GH = G_ * H_;
    if (gemm_weights) {
      // gates = x · W_ih^T: B(k, n) = W_ih[n, k]
      k.pack(u.in, GH, params + u.param[kIh], 1, u.in, dst + u.fw_ih);
      k.pack(R_, GH, params + u.param[kHh], 1, R_, dst + u.fw[kPackHh]);
      if (P_ > 0) k.pack(H_, P_, params + u.param[hr_], 1, H_, dst + u.fw[kPackHr]);
    }
    // Both biases add to the same pre-activation: folded into the input GEMM, or with
    // layerNorm into LN(W_ih x)'s β.
    T* bias = dst + (ln_ >= 0 ? u.fw[kPackLnBias] : u.fw_bias);
    const T* b_ih = params + u.param[kBih];
    const T* b_hh = params + u.param[kBhh];
    for (int j = 0; j < GH; ++j) bias[j] = b_ih[j] + b_hh[j];
    if (ln_ >= 0) {
      const T* beta_ih = params + u.param[ln_ + kLnIhB];
      for (int j = 0; j < GH; ++j) bias[j] += beta_ih[j];
    }
  }

  void PlanPackBackward(const Kernels<T>& k, UnitT<T>* u, size_t* total) const override {
    const size_t GH = size_t(G_) * H_;
    u->bw_ih = *total;
    *total += k.packed_size(GH, u->in);
    u->bw[kPackHh] = *total;
    *total += k.packed_size(GH, R_);
    if (P_ > 0) {
      u->bw[kPackHr] = *total;
      *total += k.packed_size(P_, H_);
    }
  }

  void PackBackward(const Kernels<T>& k, const UnitT<T>& u, const T* params,
                    T* dst) const override {
    const int GH = G_ * H_;
    // dx = dG · W_ih: B(k, n) = W_ih[k, n]
    k.pack(GH, u.in, params + u.param[kIh], u.in, 1, dst + u.bw_ih);
    k.pack(GH, R_, params + u.param[kHh], R_, 1, dst + u.bw[kPackHh]);
    if (P_ > 0) k.pack(P_, H_, params + u.param[hr_], H_, 1, dst + u.bw[kPackHr]);
  }

  void QuantSlots(std::vector<QuantSlot>* out) const override {
    out->push_back({kPackHh, kHh, 0, G_ * H_});
    if (P_ > 0) out->push_back({kPackHr, hr_, 0, P_});
  }

  void Workspace(bool train, std::vector<BufSpec>* out) const override {
    if (P_ > 0) {                           // without, m is written straight into h
      out->push_back({size_t(H_), train});  // kBufM: backward reads m for dW_hr
      out->push_back({size_t(P_), false});  // kBufPtmp
    }
    const size_t GH = size_t(G_) * H_;
    if (ln_ >= 0) {
      out->push_back({GH, train});  // kLnGhh: W_hh h, then (training) its x̂
      if (train) {
        out->push_back({GH, true});          // kLnXih: x̂ of W_ih x
        out->push_back({1, true});           // kLnRih: its 1/std
        out->push_back({1, true});           // kLnRhh
        out->push_back({size_t(H_), true});  // kLnChat: ĉ of c_t
        out->push_back({1, true});           // kLnRc
      }
    }
    // The pre-activations, for backward only, last (inference leaves io.buf[PreBuf()] null).
    if (train && need_pre_) out->push_back({GH, true});
  }
  int PreBuf() const { return ln_ >= 0 ? ln_buf_ + kLnRc + 1 : P_ > 0 ? 2 : 0; }

  void BackwardWorkspace(size_t TB, int B, std::vector<size_t>* out) const override {
    if (P_ > 0) {
      out->push_back(TB * P_);  // kBwDhs
      out->push_back(TB * P_);  // kBwDhsT
    }
    if (ln_ < 0) return;
    const size_t GH = size_t(G_) * H_;
    // kLnDa: da, the gradient of the gates' pre-activations, per step when the peephole
    // gradients (reduced after the loop) read it, else per row.
    out->push_back((ph_ >= 0 ? TB : size_t(B)) * GH);
    out->push_back(TB * GH);                   // kLnDgh: the gradient of W_hh h (through LN_hh)
    out->push_back(TB * GH);                   // kLnDghT: its transpose
    out->push_back(size_t(B) * H_);            // kLnDyc: the gradient of LN(c_t)'s output
    out->push_back(size_t(B) * H_);            // kLnDcn: scratch of ln_step_bwd
    out->push_back(GH);                        // kLnSums: Σ da, per column (LnGradients)
    out->push_back(size_t(B) * LnAccWidth());  // kLnAcc: per-row sums over the steps
  }
  // Per batch row, the sums over its steps (LnAccumulate): Σ da, Σ da ⊙ x̂_ih, Σ da ⊙ x̂_hh
  // (G·H each), Σ dyc, Σ dyc ⊙ ĉ (H each).
  size_t LnAccWidth() const { return 3 * size_t(G_) * H_ + 2 * size_t(H_); }

  LstmDesc<T> Desc(const UnitT<T>& u, const T* params) const {
    LstmDesc<T> d = desc_;
    d.ph = ph_ >= 0 ? params + u.param[ph_] : nullptr;  // read in place
    if (ln_ >= 0) {
      d.ln_c_gamma = params + u.param[ln_ + kLnCW];
      d.ln_c_beta = params + u.param[ln_ + kLnCB];
    }
    return d;
  }

  void StepForward(const FwdStep<T>& s) const override {
    const LstmKernels<T>& lk = s.k.lstm;
    const StepIo<T>& io = s.io;
    const int H = H_, R = R_, P = P_;
    const size_t GH = size_t(G_) * H;
    const LstmDesc<T> d = Desc(s.u, s.params);
    // layerNorm: W_hh h into its own buffer; per row, LN(W_ih x) + biases, + LN(W_hh h), then the
    // step with LN(c_t). Training keeps x̂ and 1/std of the three (null pointers: inference).
    const bool ln = ln_ >= 0;
    T* ghh = ln ? io.buf[ln_buf_ + kLnGhh] : nullptr;
    const T* hin = s.RecurrentInput();  // h, or h ⊙ mask (recurrent dropout)
    if (ln)
      s.Mul(kPackHh, s.B, GH, R, hin, R, nullptr, ghh, GH, false);
    else
      s.Mul(kPackHh, s.B, GH, R, hin, R, nullptr, io.g, GH, true);
    s.Sync();
    T* mbuf = io.buf[kBufM];
    T* pre = need_pre_ ? io.buf[PreBuf()] : nullptr;
    for (size_t b = s.b0; b < s.b1; ++b) {
      if (s.active(b)) {
        T* m = P > 0 ? mbuf + b * H : s.hout + b * R;
        if (ln)
          LnStepForward(s, d, b, ghh, m);
        else if (generic_)
          lk.fwd_act(d, acts_, io.g + b * GH, io.c + b * H, s.cout + b * H, m,
                     pre ? pre + b * GH : nullptr);
        else
          lk.fwd(d, io.g + b * GH, io.c + b * H, s.cout + b * H, m);
      } else {
        s.keep(b);
        if (P > 0) std::fill(mbuf + b * H, mbuf + (b + 1) * H, T(0));
        if (ln && io.buf[ln_buf_ + kLnXih]) LnClearSaved(s, b);
      }
      if (P == 0) s.emit(b);
    }
    s.Sync();
    if (P > 0) {
      T* ptmp = io.buf[kBufPtmp];
      s.Mul(kPackHr, s.B, P, H, mbuf, H, nullptr, ptmp, P, false);
      s.Sync();
      for (size_t b = s.b0; b < s.b1; ++b) {
        if (s.active(b)) std::memcpy(s.hout + b * R, ptmp + b * R, sizeof(T) * R);
        s.emit(b);
      }
      s.Sync();
    }
  }

  void PrefetchBackward(const BwdStep<T>& s, size_t nb) const override {
    PrefetchRows(s.W + s.u.ws.cprev + nb * H_, s.b0, s.b1, H_, H_);
    PrefetchRows(s.W + s.u.ws.cst + nb * H_, s.b0, s.b1, H_, H_);
  }

  void StepBackward(const BwdStep<T>& s) const override {
    const LstmKernels<T>& lk = s.k.lstm;
    const int H = H_, R = R_, P = P_;
    const size_t GH = size_t(G_) * H;
    const UnitT<T>& u = s.u;
    const LstmDesc<T> d = Desc(u, s.params);
    const T* cp = s.W + u.ws.cprev + s.tb * H;
    const T* ct = s.W + u.ws.cst + s.tb * H;
    T* dh = s.dh;
    const T* dm = dh;
    if (P > 0) {
      T* dhs = s.V + s.bwbuf[kBwDhs] + s.tb * P;
      for (size_t b = s.b0; b < s.b1; ++b) {
        if (s.active(b))
          std::memcpy(dhs + b * P, dh + b * P, sizeof(T) * P);
        else
          std::fill(dhs + b * P, dhs + (b + 1) * P, T(0));
      }
      s.Sync();
      s.Gemm(s.B, H, P, dh, P, s.packed + u.bw[kPackHr], nullptr, s.tmp, H, false);
      s.Sync();
      dm = s.tmp;
    }
    // layerNorm: the gates' gradient da (kept for the reductions) reaches W_hh h through LN_hh
    // (dgh, for the recurrent GEMM) and W_ih x through LN_ih (dgt, the driver's).
    const bool ln = ln_ >= 0;
    T* dght = ln ? s.V + s.bwbuf[ln_bw_ + kLnDgh] + s.tb * GH : s.dgt;
    const T* pre = need_pre_ ? s.W + u.ws.buf[PreBuf()] + s.tb * GH : nullptr;
    if (ln && s.first) {  // the per-row sums start at the unit's first backward step
      const size_t aw = LnAccWidth();
      T* acc = s.V + s.bwbuf[ln_bw_ + kLnAcc];
      std::fill(acc + s.b0 * aw, acc + s.b1 * aw, T(0));
    }
    for (size_t b = s.b0; b < s.b1; ++b) {
      if (s.active(b)) {
        if (ln)
          LnStepBackward(s, d, b, cp + b * H, ct + b * H, dm + b * H, dght + b * GH);
        else if (generic_)
          lk.bwd_act(d, acts_, s.acts + b * GH, pre ? pre + b * GH : nullptr, cp + b * H,
                     ct + b * H, dm + b * H, s.dc + b * H, s.dgt + b * GH);
        else
          lk.bwd(d, s.acts + b * GH, cp + b * H, ct + b * H, dm + b * H, s.dc + b * H,
                 s.dgt + b * GH);
        std::fill(dh + b * R, dh + (b + 1) * R, T(0));
      } else {
        std::fill(s.dgt + b * GH, s.dgt + (b + 1) * GH, T(0));
        if (ln) {
          std::fill(dght + b * GH, dght + (b + 1) * GH, T(0));
          if (ph_ >= 0) {  // the peephole reductions read every step's da
            T* da = s.V + s.bwbuf[ln_bw_ + kLnDa] + (s.tb + b) * GH;
            std::fill(da, da + GH, T(0));
          }
        }
      }
    }
    s.Sync();
    if (ln)
      s.Gemm(s.B, R, GH, dght, GH, s.packed + u.bw[kPackHh], nullptr, dh, R, true);
    else
      s.Gemm(s.B, R, GH, s.dgt, GH, s.packed + u.bw[kPackHh], nullptr, dh, R, true);
    s.Sync();
    if (s.mask) s.MaskRows(dh, nullptr, R);  // dh_{t-1} = (dG · W_hh) ⊙ mask
  }

  void Gradients(const BwdReduce<T>& r) const override {
    const int H = H_, R = R_, P = P_;
    const size_t GH = size_t(G_) * H, TB = r.TB;
    const UnitT<T>& u = r.u;
    const Part p = r.p;
    T* gp = r.grads;
    const bool ln = ln_ >= 0;
    // The gates' gradient da: r.dg, or with layerNorm the saved one (kept per step only for the
    // peephole gradients; r.dg is then the gradient of W_ih x).
    const T* da = ln ? r.V + r.bwbuf[ln_bw_ + kLnDa] : r.dg;
    if (ln) {
      TransposeSum(TB, GH, r.dg, r.dgT, static_cast<T*>(nullptr), static_cast<T*>(nullptr), p);
      LnGradients(r);
    } else {
      // dG^T; the bias gradients are its row sums (both biases have the same gradient).
      TransposeSum(TB, GH, r.dg, r.dgT, gp + u.param[kBih], gp + u.param[kBhh], p);
    }
    if (ph_ >= 0) {
      // dp_x = Σ_{t,b} da_x ⊙ c_{t-1} (c_t for the output gate); padded rows have da = 0. Each
      // thread owns columns; each column's sum runs over the rows in order (any nth).
      const LstmDesc<T>& d = desc_;
      const T* cp = r.W + u.ws.cprev;
      const T* ct = r.W + u.ws.cst;
      T* gph = gp + u.param[ph_];
      size_t j0, j1;
      Split(H, p, &j0, &j1);
      const int n = int(j1 - j0);
      auto peep = [&](int ph, int off, const T* c) {
        if (ph >= 0 && n > 0)
          r.k.lstm.ln_col_sums(TB, n, da + off + j0, GH, c + j0, nullptr, H, nullptr, gph + ph + j0,
                               nullptr);
      };
      peep(d.ph_i, d.off_i, cp);
      peep(d.ph_f, d.off_f, cp);
      peep(d.ph_o, d.off_o, ct);
    }
    InputWeightGrad(r, GH);
    // dW_hh from dG^T, or with layerNorm from the transpose of dgh.
    const T* dhhT = r.dgT;
    if (ln) {
      T* dghT = r.V + r.bwbuf[ln_bw_ + kLnDghT];
      TransposeSum(TB, GH, r.V + r.bwbuf[ln_bw_ + kLnDgh], dghT, static_cast<T*>(nullptr),
                   static_cast<T*>(nullptr), p);
      dhhT = dghT;
    }
    PackParallel(r.k, TB, R, r.hprev, R, 1, r.xpack, p);
    Barrier(p);
    if (ln)
      r.k.gemm(GH, R, TB, dhhT, TB, r.xpack, nullptr, gp + u.param[kHh], R, true, p);
    else
      r.k.gemm(GH, R, TB, r.dgT, TB, r.xpack, nullptr, gp + u.param[kHh], R, true, p);
    if (P > 0) {
      Barrier(p);
      const T* dhs = r.V + r.bwbuf[kBwDhs];
      T* dhsT = r.V + r.bwbuf[kBwDhsT];
      size_t q0, q1;
      Split(P, p, &q0, &q1);
      for (size_t q = q0; q < q1; ++q)
        for (size_t m = 0; m < TB; ++m) dhsT[q * TB + m] = dhs[m * P + q];
      PackParallel(r.k, TB, H, r.W + u.ws.buf[kBufM], H, 1, r.xpack, p);
      Barrier(p);
      r.k.gemm(P, H, TB, dhsT, TB, r.xpack, nullptr, gp + u.param[hr_], H, true, p);
    }
  }

  // ---- layerNorm -------------------------------------------------------------------------

  // Row b of a step: g = LN(W_ih x) + b_ih + b_hh + LN(W_hh h), then the step with LN(c_t).
  void LnStepForward(const FwdStep<T>& s, const LstmDesc<T>& d, size_t b, T* ghh, T* m) const {
    const LstmKernels<T>& lk = s.k.lstm;
    const StepIo<T>& io = s.io;
    const int GH = G_ * H_, H = H_;
    const T* ln = s.params;
    const UnitT<T>& u = s.u;
    T* g = io.g + b * GH;
    T* gh = ghh + b * GH;
    // Training: the saved x̂ (x̂_hh over W_hh h in place), 1/std and ĉ of this step's row.
    T* xih = io.buf[ln_buf_ + kLnXih];
    const bool save = xih != nullptr;
    lk.ln_fwd(GH, g, ln + u.param[ln_ + kLnIhW], s.packed + u.fw[kPackLnBias],
              save ? xih + b * GH : nullptr, save ? io.buf[ln_buf_ + kLnRih] + b : nullptr, g,
              false);
    lk.ln_fwd(GH, gh, ln + u.param[ln_ + kLnHhW], ln + u.param[ln_ + kLnHhB], save ? gh : nullptr,
              save ? io.buf[ln_buf_ + kLnRhh] + b : nullptr, g, true);
    T* chat = save ? io.buf[ln_buf_ + kLnChat] + b * H : nullptr;
    T* rc = save ? io.buf[ln_buf_ + kLnRc] + b : nullptr;
    if (generic_) {
      T* pre = need_pre_ && io.buf[PreBuf()] ? io.buf[PreBuf()] + b * GH : nullptr;
      lk.ln_step_fwd_act(d, acts_, g, io.c + b * H, s.cout + b * H, chat, rc, m, pre);
    } else {
      lk.ln_step_fwd(d, g, io.c + b * H, s.cout + b * H, chat, rc, m);
    }
  }

  // A padded row's saved x̂ and ĉ are zeros, so that the reductions over all rows (da = 0
  // there) never meet stale workspace values.
  void LnClearSaved(const FwdStep<T>& s, size_t b) const {
    const StepIo<T>& io = s.io;
    const size_t GH = size_t(G_) * H_;
    for (int k : {kLnGhh, kLnXih})
      std::fill(io.buf[ln_buf_ + k] + b * GH, io.buf[ln_buf_ + k] + (b + 1) * GH, T(0));
    std::fill(io.buf[ln_buf_ + kLnChat] + b * H_, io.buf[ln_buf_ + kLnChat] + (b + 1) * H_, T(0));
  }

  // Row b of a backward step: da (saved), dgh = LN_hh's backward of da, dgt = LN_ih's.
  void LnStepBackward(const BwdStep<T>& s, const LstmDesc<T>& d, size_t b, const T* cp, const T* ct,
                      const T* dm, T* dgh) const {
    const LstmKernels<T>& lk = s.k.lstm;
    const int GH = G_ * H_, H = H_;
    const UnitT<T>& u = s.u;
    const size_t row = s.tb + b;
    const T* W = s.W;
    T* da = s.V + s.bwbuf[ln_bw_ + kLnDa] + (ph_ >= 0 ? row : b) * GH;
    const T* chat = W + u.ws.buf[ln_buf_ + kLnChat] + row * H;
    const T rc = W[u.ws.buf[ln_buf_ + kLnRc] + row];
    T* dyc = s.V + s.bwbuf[ln_bw_ + kLnDyc] + b * H;
    T* tmp = s.V + s.bwbuf[ln_bw_ + kLnDcn] + b * H;
    if (generic_) {
      const T* pre = need_pre_ ? W + u.ws.buf[PreBuf()] + row * GH : nullptr;
      lk.ln_step_bwd_act(d, acts_, s.acts + b * GH, pre, cp, ct, chat, rc, dm, s.dc + b * H, da,
                         dyc, tmp);
    } else {
      lk.ln_step_bwd(d, s.acts + b * GH, cp, ct, chat, rc, dm, s.dc + b * H, da, dyc, tmp);
    }
    lk.ln_bwd(GH, da, W + u.ws.buf[ln_buf_ + kLnGhh] + row * GH,
              W[u.ws.buf[ln_buf_ + kLnRhh] + row], s.params + u.param[ln_ + kLnHhW], dgh, nullptr,
              nullptr, false);
    lk.ln_bwd(GH, da, W + u.ws.buf[ln_buf_ + kLnXih] + row * GH,
              W[u.ws.buf[ln_buf_ + kLnRih] + row], s.params + u.param[ln_ + kLnIhW], s.dgt + b * GH,
              nullptr, nullptr, false);
    // This row's γ/β and bias gradient terms, while da, x̂ and ĉ are in cache (summed over the
    // rows after the loop, LnGradients).
    T* acc = s.V + s.bwbuf[ln_bw_ + kLnAcc] + b * LnAccWidth();
    lk.ln_col_sums(1, GH, da, GH, W + u.ws.buf[ln_buf_ + kLnXih] + row * GH,
                   W + u.ws.buf[ln_buf_ + kLnGhh] + row * GH, GH, acc, acc + GH, acc + 2 * GH);
    lk.ln_col_sums(1, H, dyc, H, chat, nullptr, H, acc + 3 * GH, acc + 3 * GH + H, nullptr);
  }

  // The biases' and the six LN tensors' gradients: the per-row sums over the steps that the
  // backward steps accumulated (kLnAcc; padded steps add nothing), summed over the B rows in
  // order (ln_col_sums), each thread owning columns: the same sums on any nth. Σ da is the
  // gradient of b_ih, b_hh, β_ih and β_hh alike.
  void LnGradients(const BwdReduce<T>& r) const {
    const size_t GH = size_t(G_) * H_, H = size_t(H_), B = size_t(r.B), aw = LnAccWidth();
    const UnitT<T>& u = r.u;
    const LstmKernels<T>& lk = r.k.lstm;
    T* gp = r.grads;
    T* b_ih = gp + u.param[kBih];
    T* b_hh = gp + u.param[kBhh];
    T* be_ih = gp + u.param[ln_ + kLnIhB];
    T* be_hh = gp + u.param[ln_ + kLnHhB];
    T* sums = r.V + r.bwbuf[ln_bw_ + kLnSums];
    const T* acc = r.V + r.bwbuf[ln_bw_ + kLnAcc];
    auto col = [&](const T* a, size_t j0, size_t j1, T* out) {
      lk.ln_col_sums(B, int(j1 - j0), a + j0, aw, nullptr, nullptr, aw, out + j0, nullptr, nullptr);
    };
    size_t j0, j1;
    Split(GH, r.p, &j0, &j1);
    if (j1 > j0) {
      std::fill(sums + j0, sums + j1, T(0));
      col(acc, j0, j1, sums);
      col(acc + GH, j0, j1, gp + u.param[ln_ + kLnIhW]);
      col(acc + 2 * GH, j0, j1, gp + u.param[ln_ + kLnHhW]);
      for (size_t j = j0; j < j1; ++j) {
        b_ih[j] += sums[j];
        b_hh[j] += sums[j];
        be_ih[j] += sums[j];
        be_hh[j] += sums[j];
      }
    }
    Split(H, r.p, &j0, &j1);
    if (j1 > j0) {
      col(acc + 3 * GH, j0, j1, gp + u.param[ln_ + kLnCB]);
      col(acc + 3 * GH + H, j0, j1, gp + u.param[ln_ + kLnCW]);
    }
  }

 private:
  int H_, R_, P_, G_;
  int hr_ = -1, ph_ = -1;       // parameter entries of weight_hr, weight_ph (-1: absent)
  int ln_ = -1;                 // layerNorm: entry of ln_ih_weight (the six follow), else -1
  int ln_buf_ = 0, ln_bw_ = 0;  // layerNorm: its first forward and backward buffer
  LstmDesc<T> desc_;
  CellActivations acts_;
  bool generic_ = false, need_pre_ = false;
};

class LstmFamilyImpl final : public CellFamily {
 public:
  Cell id() const override { return Cell::kLSTM; }
  const char* name() const override { return "lstm"; }
  const char* title() const override { return "LSTM"; }

  bool Parse(const Option& o, Config* cfg, Status* st) const override {
    LstmOptions& l = cfg->lstm;
    return IntOption(o, "projSize", &l.proj_size, st) ||
           BoolOption(o, "peephole", &l.peephole, st) || BoolOption(o, "coupled", &l.coupled, st) ||
           BoolOption(o, "inputGate", &l.input_gate, st) ||
           BoolOption(o, "forgetGate", &l.forget_gate, st) ||
           BoolOption(o, "outputGate", &l.output_gate, st) ||
           BoolOption(o, "inputActivation", &l.input_activation, st) ||
           BoolOption(o, "outputActivation", &l.output_activation, st) ||
           BoolOption(o, "layerNorm", &l.layer_norm, st) ||
           ActivationOption(o, "gateActivation", &l.acts.gate, st) ||
           (ActivationOption(o, "cellActivation", &l.acts.cell, st) &&
            (l.cell_activation_set = true)) ||
           (ActivationOption(o, "hiddenActivation", &l.acts.hidden, st) &&
            (l.hidden_activation_set = true)) ||
           ClipOption(o, &l.acts.clip, st);
  }

  Status Validate(const Config& c) const override {
    auto range = [](const std::string& m) { return Status::Error(Code::kOutOfRange, m); };
    const LstmOptions& l = c.lstm;
    if (l.proj_size < 0 || (l.proj_size > 0 && l.proj_size >= c.hidden_size))
      return range("projSize must satisfy 0 < projSize < hiddenSize (" +
                   std::to_string(c.hidden_size) + ") or be 0, got " + std::to_string(l.proj_size));
    if (l.coupled && !l.input_gate)
      return range("coupled: true contradicts inputGate: false (CIFG derives the input gate)");
    if (l.coupled && !l.forget_gate)
      return range("coupled: true contradicts forgetGate: false (CIFG needs the forget gate)");
    // The rule of lib/cells/lstm.ts (setRole): a function given beside the flag that makes it
    // the identity is refused, 'tanh' too. Given: parsed from the options (the *_set flags), or
    // set on the Config by a caller that builds it field by field (any function but the default
    // tanh, which the flag would otherwise silently override).
    auto given = [](bool set, const Activation& a) { return set || !ActivationIsTanh(a); };
    if (!l.input_activation && given(l.cell_activation_set, l.acts.cell))
      return range(
          "inputActivation: false and cellActivation both set the candidate's function "
          "(inputActivation: false is cellActivation: 'affine'); give one");
    if (!l.output_activation && given(l.hidden_activation_set, l.acts.hidden))
      return range(
          "outputActivation: false and hiddenActivation both set the function of c_t "
          "(outputActivation: false is hiddenActivation: 'affine'); give one");
    if (l.peephole && !l.input_gate && !l.forget_gate && !l.output_gate)
      return range(
          "peephole: true contradicts inputGate, forgetGate and outputGate all false (no gate to "
          "peep into)");
    return Status::Ok();
  }

  int Gates(const Config& c) const override { return LstmGates(c.lstm); }
  int StateSize(const Config& c) const override {
    return c.lstm.proj_size > 0 ? c.lstm.proj_size : c.hidden_size;
  }
  int CellStateSize(const Config& c) const override { return c.hidden_size; }

  void Params(const Config& c, int in, std::vector<ParamSpec>* out) const override {
    const int H = c.hidden_size, G = Gates(c), R = StateSize(c), K = c.peepholes();
    out->push_back({"weight_ih", {G * H, in}});
    out->push_back({"weight_hh", {G * H, R}});
    out->push_back({"bias_ih", {G * H}});
    out->push_back({"bias_hh", {G * H}});
    if (c.lstm.proj_size > 0) out->push_back({"weight_hr", {c.lstm.proj_size, H}});
    if (K > 0) out->push_back({"weight_ph", {K * H}});
    if (c.lstm.layer_norm) {  // docs/cells.md: after weight_hr / weight_ph
      out->push_back({"ln_ih_weight", {G * H}});
      out->push_back({"ln_ih_bias", {G * H}});
      out->push_back({"ln_hh_weight", {G * H}});
      out->push_back({"ln_hh_bias", {G * H}});
      out->push_back({"ln_c_weight", {H}});
      out->push_back({"ln_c_bias", {H}});
    }
  }

  std::unique_ptr<RecurrentCell<float>> MakeFloat(const Config& c) const override {
    return std::make_unique<LstmCell<float>>(c);
  }
  std::unique_ptr<RecurrentCell<double>> MakeDouble(const Config& c) const override {
    return std::make_unique<LstmCell<double>>(c);
  }
};

}  // namespace

const CellFamily& LstmFamily() {
  static const LstmFamilyImpl family;
  return family;
}

}  // namespace cellstate
