// The driver's plans: the units of the stack, the packing of their weights (through the cell),
// and the forward and backward workspaces, sized once per shape.
#include <algorithm>
#include <string>
#include <vector>

#include "cell/driver.h"

namespace cellstate {

template <typename T>
void Layer<T>::Impl::BuildUnits() {
  units.clear();
  for (int l = 0; l < cfg.num_layers; ++l)
    for (int d = 0; d < D; ++d) {
      Unit u;
      u.layer = l;
      u.dir = d;
      u.reverse = d == 1 || cfg.reverse;  // a bidirectional layer's second, or reverse-only
      u.index = size_t(l) * D + d;
      u.in = l == 0 ? cfg.input_size : D * R;
      std::fill(u.fw, u.fw + kCellSlots, kNone);
      std::fill(u.bw, u.bw + kCellSlots, kNone);
      units.push_back(u);
    }
  UnitParams();
  progress.reset(new Progress[cfg.num_layers]);
}

template <typename T>
void Layer<T>::Impl::UnitParams() {
  const CellFamily* fam = FamilyOf(cfg.cell);
  std::vector<ParamSpec> specs;
  for (Unit& u : units) {
    std::fill(u.param, u.param + kCellSlots, kNone);
    specs.clear();
    fam->Params(cfg, u.in, &specs);
    const std::string sfx = "_l" + std::to_string(u.layer) + (u.dir ? "_reverse" : "");
    for (size_t i = 0; i < specs.size(); ++i)
      for (const auto& p : table)
        if (p.name == specs[i].name + sfx) u.param[i] = p.offset;
  }
}

template <typename T>
void Layer<T>::Impl::Pack() {
  // A quantized layer's GEMMs run on its int8 weights: only the rest is packed.
  const bool gemm_weights = qk == nullptr;
  size_t total = 0;
  for (auto& u : units) {
    if (!gemm_weights) {
      u.fw_ih = kNone;
      std::fill(u.fw, u.fw + kCellSlots, kNone);
    }
    cell->PlanPack(*kern, &u, &total, gemm_weights);
  }
  std::vector<T, HugeAlloc<T>> fresh(total, T(0));  // a smaller pack frees the larger one
  for (auto& u : units) cell->Pack(*kern, u, params.data(), fresh.data(), gemm_weights);
  packed.swap(fresh);
  packed_bwd_valid = false;
}

template <typename T>
void Layer<T>::Impl::PackBackward() {
  size_t total = 0;
  for (auto& u : units) cell->PlanPackBackward(*kern, &u, &total);
  packed_bwd.assign(total, T(0));
  for (auto& u : units) cell->PackBackward(*kern, u, params.data(), packed_bwd.data());
  packed_bwd_valid = true;
}

namespace {
// Sub-buffers of a workspace, 64-byte aligned for float.
struct Taker {
  size_t off = 0;
  size_t operator()(size_t n) {
    const size_t o = off;
    off += (n + 15) & ~size_t(15);
    return o;
  }
};
}  // namespace

template <typename T>
void Layer<T>::Impl::PlanForward(int Tn, int B, bool train, bool wave) {
  const size_t TB = size_t(Tn) * B;
  const size_t GH = size_t(G) * H;
  const bool drop = train && cfg.dropout > 0.f && cfg.num_layers > 1;
  Taker take;
  ws.x0 = take(TB * cfg.input_size);
  // Layer outputs: all kept when training (inputs of the next layer's weight gradient);
  // two alternating buffers for inference.
  ws.out.assign(cfg.num_layers, 0);
  ws.xin.assign(cfg.num_layers, 0);
  ws.mask.assign(cfg.num_layers, kNone);
  const size_t out_n = TB * D * R;
  if (train) {
    for (int l = 0; l < cfg.num_layers; ++l) ws.out[l] = take(out_n);
  } else {
    const size_t a = take(out_n), b = cfg.num_layers > 1 ? take(out_n) : a;
    for (int l = 0; l < cfg.num_layers; ++l) ws.out[l] = (l % 2) ? b : a;
  }
  for (int l = 0; l < cfg.num_layers; ++l) {
    ws.xin[l] = l == 0 ? ws.x0 : ws.out[l - 1];
    if (drop && l > 0) {
      ws.mask[l - 1] = take(out_n);
      ws.xin[l] = take(out_n);
    }
  }
  ws.imask = train && cfg.input_dropout > 0.f ? take(size_t(B) * cfg.input_size) : kNone;
  const bool rdrop = train && cfg.recurrent_dropout > 0.f;
  ws.cell.clear();
  cell->Workspace(train, &ws.cell);
  // int8: the input GEMMs' quantized rows and scales, for one chunk of steps (ForwardUnit runs
  // the input GEMM chunk by chunk), or all T·B rows for a wavefront's first layer.
  ws.qx = ws.qxs = kNone;
  ws.qxld = 0;
  if (qk) {
    for (const auto& u : units) ws.qxld = std::max(ws.qxld, QuantLd(u));
    const size_t rows = wave ? TB : size_t(QuantChunk(Tn, B)) * B;
    ws.qxs = take(rows);
    ws.qx = take(rows * ws.qxld / sizeof(T));
  }
  // Per unit (layer, direction).
  const size_t shared_gates = train ? 0 : take(TB * GH);
  for (auto& u : units) {
    auto& w = u.ws;
    w = UnitWs{};
    w.gates = train ? take(TB * GH) : shared_gates;
    if (!train) {
      w.h = take(size_t(B) * R);
      w.c = C > 0 ? take(size_t(B) * C) : kNone;
    } else {
      // Slots s = 0..T in step order; step t reads slot t and writes slot t + 1 (forward) or
      // reads slot t + 1 and writes slot t (reverse).
      const size_t hs = take(TB * R + size_t(B) * R);
      w.hprev = hs + (u.reverse ? size_t(B) * R : 0);
      w.hst = hs + (u.reverse ? 0 : size_t(B) * R);
      if (C > 0) {
        const size_t cs = take(TB * C + size_t(B) * C);
        w.cprev = cs + (u.reverse ? size_t(B) * C : 0);
        w.cst = cs + (u.reverse ? 0 : size_t(B) * C);
      }
    }
    if (rdrop) {
      w.rmask = take(size_t(B) * R);
      w.hm = take(TB * R);
    }
    if (wave && u.layer > 0) w.gstep = take(size_t(WaveChunk(Tn, B)) * B * GH);
    for (size_t i = 0; i < ws.cell.size(); ++i)
      w.buf[i] = take((ws.cell[i].per_step ? TB : size_t(B)) * ws.cell[i].width);
    if (qk) {  // the step's rows, or a wavefront chunk's input rows
      const size_t rows = size_t(B) * ((wave && u.layer > 0) ? size_t(WaveChunk(Tn, B)) : 1);
      w.qld = QuantLd(u);
      w.qsa = take(rows);
      w.qa = take(rows * w.qld / sizeof(T));
    }
  }
  ws_size = take.off;
  ws_T = Tn;
  ws_B = B;
  ws_train = train;
}

template <typename T>
void Layer<T>::Impl::PlanBackward() {
  const size_t TB = size_t(ws_T) * ws_B;
  const size_t GH = size_t(G) * H;
  const Kernels<T>& k = *kern;
  Taker take;
  size_t max_in = cfg.input_size;
  if (cfg.num_layers > 1) max_in = std::max<size_t>(max_in, size_t(D) * R);
  bw.dg = take(TB * GH);
  bw.dgT = take(TB * GH);
  bw.xpack = take(std::max(k.packed_size(TB, max_in), k.packed_size(TB, std::max(R, H))));
  // The two buffers alternate between a layer's upstream gradient and its dx (the next layer
  // down's upstream gradient): either can receive the lowest layer's dx, I columns wide, while
  // the other still holds that layer's upstream gradient (its reverse unit reads it after the
  // forward unit wrote dx), so both take the widest of the two.
  const size_t dy_n = TB * std::max<size_t>(max_in, size_t(D) * R);
  bw.dy[0] = take(dy_n);
  bw.dy[1] = take(dy_n);
  bw.dh = take(size_t(ws_B) * R);
  bw.dc = take(size_t(ws_B) * std::max(C, 1));
  bw.tmp = take(size_t(ws_B) * std::max(R, H));
  bw.tmp2 =
      units.empty() || units[0].ws.rmask == kNone ? kNone : take(size_t(ws_B) * std::max(R, H));
  std::vector<size_t> sizes;
  cell->BackwardWorkspace(TB, ws_B, &sizes);
  bw.cell.assign(sizes.size(), 0);
  for (size_t i = 0; i < sizes.size(); ++i) bw.cell[i] = take(sizes[i]);
  bw_size = take.off;
}

#define CELLSTATE_INSTANTIATE(T)                                   \
  template void Layer<T>::Impl::BuildUnits();                      \
  template void Layer<T>::Impl::UnitParams();                      \
  template void Layer<T>::Impl::Pack();                            \
  template void Layer<T>::Impl::PackBackward();                    \
  template void Layer<T>::Impl::PlanForward(int, int, bool, bool); \
  template void Layer<T>::Impl::PlanBackward();
CELLSTATE_INSTANTIATE(float)
CELLSTATE_INSTANTIATE(double)
#undef CELLSTATE_INSTANTIATE

}  // namespace cellstate
