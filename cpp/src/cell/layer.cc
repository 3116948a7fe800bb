// The time loop: per layer and direction, one input GEMM over all T·B rows, then per step the
// recurrent GEMM and one fused post-GEMM; backward mirrors it (per step the post-GEMM
// backward and the dh GEMM; after the loop one GEMM each for dW_ih, dW_hh, dx). Forward for
// training keeps what backward needs in a workspace sized once per shape; nothing is
// allocated inside the time loops.
#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cell/layer_impl.h"
#include "cellstate/cellstate.h"
#include "kernels.h"

namespace cellstate {

namespace {

// Splitmix64: the dropout masks' counter-based generator (same masks on every machine).
inline uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// dst[c, r] = src[r, c] for the columns c in [c0, c1), in 16×16 blocks; sums[c] += Σ_r src[r, c]
// in row order, and sums2[c] likewise when not null (LSTM and RNN: the two biases have the same
// gradient). With SSE, 4×4 register transposes (non-temporal stores were slower: the GEMM that
// reads dst finds part of it in the last-level cache). The sums add the rows in order on either
// path, so the results do not depend on it or on how the columns are split (callers split them
// in whole blocks).
constexpr size_t kTransposeBlock = 16;

template <typename T>
void TransposeCols(size_t rows, size_t cols, const T* src, T* dst, size_t c0, size_t c1, T* sums,
                   T* sums2 = nullptr) {
  constexpr size_t kB = kTransposeBlock;
  for (size_t cb = c0; cb < c1; cb += kB) {
    const size_t ce = std::min(c1, cb + kB);
    T acc[kB] = {};
    size_t r0 = 0;  // rows [0, r0) done by the vector path
#if defined(__SSE2__)
    if constexpr (std::is_same<T, float>::value) {
      if (ce - cb == kB) {
        __m128 va[kB / 4];
        for (auto& v : va) v = _mm_setzero_ps();
        for (; r0 + 4 <= rows; r0 += 4) {
          const float* s0 = src + r0 * cols + cb;
          for (size_t q = 0; q < kB / 4; ++q) {
            __m128 a = _mm_loadu_ps(s0 + 4 * q), b = _mm_loadu_ps(s0 + cols + 4 * q);
            __m128 c = _mm_loadu_ps(s0 + 2 * cols + 4 * q), d = _mm_loadu_ps(s0 + 3 * cols + 4 * q);
            va[q] = _mm_add_ps(_mm_add_ps(_mm_add_ps(_mm_add_ps(va[q], a), b), c), d);
            _MM_TRANSPOSE4_PS(a, b, c, d);
            float* d0 = dst + (cb + 4 * q) * rows + r0;
            _mm_storeu_ps(d0, a);
            _mm_storeu_ps(d0 + rows, b);
            _mm_storeu_ps(d0 + 2 * rows, c);
            _mm_storeu_ps(d0 + 3 * rows, d);
          }
        }
        for (size_t q = 0; q < kB / 4; ++q) _mm_storeu_ps(acc + 4 * q, va[q]);
      }
    }
#endif
    for (size_t rb = r0; rb < rows; rb += kB) {
      const size_t re = std::min(rows, rb + kB);
      for (size_t r = rb; r < re; ++r)
        for (size_t c = cb; c < ce; ++c) {
          const T v = src[r * cols + c];
          dst[c * rows + r] = v;
          acc[c - cb] += v;
        }
    }
    for (size_t c = cb; c < ce; ++c) {
      sums[c] += acc[c - cb];
      if (sums2) sums2[c] += acc[c - cb];
    }
  }
}

// Asks for rows [b0, b1) of a row-major block with n columns (row stride ld) ahead of use: the
// time loops read each step's slice of the [T, B, ·] buffers (gates, saved states), which were
// written long before and are out of cache.
template <typename T>
void PrefetchRows(const T* p, size_t b0, size_t b1, size_t n, size_t ld) {
#if defined(__GNUC__)
  for (size_t b = b0; b < b1; ++b)
    for (size_t j = 0; j < n; j += 64 / sizeof(T)) __builtin_prefetch(p + b * ld + j, 0, 2);
#else
  (void)p, (void)b0, (void)b1, (void)n, (void)ld;
#endif
}

// Copies a [T, B, F] tensor from or to [B, T, F] (batch_first) or [T, B, F].
template <typename T>
void CopyTimeMajor(int Tn, int B, size_t F, bool batch_first, const T* src, T* dst,
                   bool to_time_major) {
  if (!batch_first) {
    std::memcpy(dst, src, sizeof(T) * size_t(Tn) * B * F);
    return;
  }
  for (int t = 0; t < Tn; ++t)
    for (int b = 0; b < B; ++b) {
      const size_t tm = (size_t(t) * B + b) * F, bm = (size_t(b) * Tn + t) * F;
      if (to_time_major)
        std::memcpy(dst + tm, src + bm, sizeof(T) * F);
      else
        std::memcpy(dst + bm, src + tm, sizeof(T) * F);
    }
}

}  // namespace

// The per-step work of one unit split among threads. With enough batch rows per thread, each
// thread runs whole rows: the recurrent GEMMs of its rows and then their post-GEMM. Rows are
// independent sequences, so the phases of a step, and the steps, need no barrier. Otherwise the
// GEMMs split over columns and barriers separate the phases. Each C element is the same FMA
// chain either way (kernels.h), so the results do not change.
template <typename T>
struct StepSplit {
  const Kernels<T>& k;
  Part p;
  size_t b0, b1;
  bool rows;
  void Gemm(size_t M, size_t N, size_t K, const T* A, size_t lda, const T* Bp, const T* bias, T* C,
            size_t ldc, bool acc) const {
    if (!rows) {
      k.gemm(M, N, K, A, lda, Bp, bias, C, ldc, acc, p);
    } else if (b1 > b0) {
      k.gemm(b1 - b0, N, K, A + b0 * lda, lda, Bp, bias, C + b0 * ldc, ldc, acc, Part{});
    }
  }
  void Sync() const {
    if (!rows) Barrier(p);
  }
};

// ---- weights ------------------------------------------------------------------------------

template <typename T>
void Layer<T>::Impl::Pack() {
  const Kernels<T>& k = *kern;
  const int H = cfg.hidden_size, R = cfg.out_size(), G = cfg.gates(), P = cfg.proj_size;
  const int GH = G * H;
  size_t total = 0;
  for (auto& u : units) {
    u.fw_ih_off = total;
    total += k.packed_size(u.in, GH);
    u.fw_hh_off = total;
    if (gru_reset_before()) {
      total += k.packed_size(H, 2 * H);
      u.fw_hn_off = total;
      total += k.packed_size(H, H);
    } else {
      total += k.packed_size(R, GH);
    }
    u.fw_hr_off = total;
    if (P > 0) total += k.packed_size(H, P);
    u.bias_off = total;
    total += GH;
  }
  packed.assign(total, T(0));
  for (auto& u : units) {
    const T* w_ih = params.data() + u.p_ih;
    const T* w_hh = params.data() + u.p_hh;
    // gates = x · W_ih^T: B(k, n) = W_ih[n, k]
    k.pack(u.in, GH, w_ih, 1, u.in, packed.data() + u.fw_ih_off);
    if (gru_reset_before()) {
      k.pack(H, 2 * H, w_hh, 1, H, packed.data() + u.fw_hh_off);
      k.pack(H, H, w_hh + size_t(2) * H * H, 1, H, packed.data() + u.fw_hn_off);
    } else {
      k.pack(R, GH, w_hh, 1, R, packed.data() + u.fw_hh_off);
    }
    if (P > 0) k.pack(H, P, params.data() + u.p_hr, 1, H, packed.data() + u.fw_hr_off);
    // The bias folded into the input GEMM: b_ih + b_hh where both add to the same
    // pre-activation (LSTM, RNN); b_ih alone for GRU, whose b_hh goes with the recurrent GEMM.
    T* bias = packed.data() + u.bias_off;
    const T* b_ih = params.data() + u.p_bih;
    const T* b_hh = params.data() + u.p_bhh;
    for (int j = 0; j < GH; ++j) bias[j] = cfg.cell == Cell::kGRU ? b_ih[j] : b_ih[j] + b_hh[j];
    // layerNorm: the biases go after LN(W_ih x), with its β (ln_ih_bias).
    if (layer_norm()) {
      const T* beta_ih = params.data() + u.p_ln + GH;
      for (int j = 0; j < GH; ++j) bias[j] += beta_ih[j];
    }
  }
  packed_bwd_valid = false;
}

template <typename T>
void Layer<T>::Impl::PackBackward() {
  const Kernels<T>& k = *kern;
  const int H = cfg.hidden_size, R = cfg.out_size(), G = cfg.gates(), P = cfg.proj_size;
  const int GH = G * H;
  size_t total = 0;
  for (auto& u : units) {
    u.bw_ih_off = total;
    total += k.packed_size(GH, u.in);
    u.bw_hh_off = total;
    if (gru_reset_before()) {
      total += k.packed_size(2 * H, H);
      u.bw_hn_off = total;
      total += k.packed_size(H, H);
    } else {
      total += k.packed_size(GH, R);
    }
    u.bw_hr_off = total;
    if (P > 0) total += k.packed_size(P, H);
  }
  packed_bwd.assign(total, T(0));
  for (auto& u : units) {
    const T* w_hh = params.data() + u.p_hh;
    // dx = dG · W_ih: B(k, n) = W_ih[k, n]
    k.pack(GH, u.in, params.data() + u.p_ih, u.in, 1, packed_bwd.data() + u.bw_ih_off);
    if (gru_reset_before()) {
      k.pack(2 * H, H, w_hh, H, 1, packed_bwd.data() + u.bw_hh_off);
      k.pack(H, H, w_hh + size_t(2) * H * H, H, 1, packed_bwd.data() + u.bw_hn_off);
    } else {
      k.pack(GH, R, w_hh, R, 1, packed_bwd.data() + u.bw_hh_off);
    }
    if (P > 0) k.pack(P, H, params.data() + u.p_hr, H, 1, packed_bwd.data() + u.bw_hr_off);
  }
  packed_bwd_valid = true;
}

// ---- workspace plan -----------------------------------------------------------------------

template <typename T>
void Layer<T>::Impl::PlanForward(int Tn, int B, bool train, bool wave) {
  const size_t TB = size_t(Tn) * B;
  const int H = cfg.hidden_size, R = cfg.out_size(), G = cfg.gates(), D = cfg.directions();
  const size_t GH = size_t(G) * H;
  const bool lstm = cfg.cell == Cell::kLSTM, gru = cfg.cell == Cell::kGRU;
  const bool drop = train && cfg.dropout > 0.f && cfg.num_layers > 1;
  size_t off = 0;
  auto take = [&](size_t n) {
    const size_t o = off;
    off += (n + 15) & ~size_t(15);  // 64-byte aligned sub-buffers for float
    return o;
  };
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
  // Per unit (layer, direction).
  const size_t shared_gates = train ? 0 : take(TB * GH);
  for (auto& u : units) {
    auto& w = u.ws;
    w = UnitWs{};
    w.gates = train ? take(TB * GH) : shared_gates;
    if (!train) {
      w.h = take(size_t(B) * R);
      w.c = lstm ? take(size_t(B) * H) : kNone;
    }
    if (train) {
      // Slots s = 0..T in step order; step t reads slot t and writes slot t + 1 (forward) or
      // reads slot t + 1 and writes slot t (reverse).
      const size_t hs = take(TB * R + size_t(B) * R);
      w.hprev = hs + (u.dir ? size_t(B) * R : 0);
      w.hst = hs + (u.dir ? 0 : size_t(B) * R);
      if (lstm) {
        const size_t cs = take(TB * H + size_t(B) * H);
        w.cprev = cs + (u.dir ? size_t(B) * H : 0);
        w.cst = cs + (u.dir ? 0 : size_t(B) * H);
      }
    }
    if (wave && u.layer > 0) w.gstep = take(size_t(WaveChunk(Tn, B)) * B * GH);
    if (lstm) w.m = take((train && cfg.proj_size > 0 ? TB : size_t(B)) * H);
    if (lstm && cfg.proj_size > 0) w.ptmp = take(size_t(B) * cfg.proj_size);
    if (gru) {
      w.gh = take((train && cfg.reset_after ? TB : size_t(B)) * 3 * H);
      if (!cfg.reset_after) w.rh = take((train ? TB : size_t(B)) * H);
    }
    if (layer_norm()) {
      w.xhh = take((train ? TB : size_t(B)) * GH);
      if (train) {
        w.xih = take(TB * GH);
        w.rih = take(TB);
        w.rhh = take(TB);
        w.chat = take(TB * H);
        w.rc = take(TB);
      }
    }
  }
  ws_size = off;
  ws_T = Tn;
  ws_B = B;
  ws_train = train;
}

template <typename T>
void Layer<T>::Impl::PlanBackward() {
  const size_t TB = size_t(ws_T) * ws_B;
  const int H = cfg.hidden_size, R = cfg.out_size(), G = cfg.gates(), D = cfg.directions();
  const size_t GH = size_t(G) * H;
  const Kernels<T>& k = *kern;
  size_t off = 0;
  auto take = [&](size_t n) {
    const size_t o = off;
    off += (n + 15) & ~size_t(15);
    return o;
  };
  size_t max_in = cfg.input_size;
  if (cfg.num_layers > 1) max_in = std::max<size_t>(max_in, size_t(D) * R);
  bw.dg = take(TB * GH);
  bw.dgT = take(TB * GH);
  // GRU, and layerNorm (the recurrent GEMM's gradient goes through LN_hh): dgh and its transpose.
  const bool sep_dgh = cfg.cell == Cell::kGRU || layer_norm();
  bw.dgh = sep_dgh ? take(TB * GH) : kNone;
  bw.dghT = sep_dgh ? take(TB * GH) : kNone;
  if (layer_norm()) {
    bw.dyc = take(TB * H);
    bw.dcn = take(size_t(ws_B) * H);
    bw.lnsum = take(GH);
  }
  bw.xpack = take(std::max(k.packed_size(TB, max_in), k.packed_size(TB, std::max(R, H))));
  bw.dy[0] = take(TB * D * R);
  bw.dy[1] = take(TB * std::max<size_t>(max_in, size_t(D) * R));
  bw.dh = take(size_t(ws_B) * R);
  bw.dc = take(size_t(ws_B) * H);
  bw.tmp = take(size_t(ws_B) * std::max(R, H));
  if (cfg.proj_size > 0) {
    bw.dhs = take(TB * cfg.proj_size);
    bw.dhsT = take(TB * cfg.proj_size);
  }
  bw_size = off;
}

// ---- forward ------------------------------------------------------------------------------

template <typename T>
int Layer<T>::Impl::Threads(double flops_per_step) const {
  if (std::is_same<T, double>::value || engine.threads <= 1) return 1;
  return flops_per_step >= engine.parallel_min_flops ? engine.threads : 1;
}

template <typename T>
bool Layer<T>::Impl::RowSplit(int B, Part p) const {
  return p.nth > 1 && B >= p.nth * engine.row_split_min_rows;
}

template <typename T>
void Layer<T>::Impl::StepForward(const Unit& u, int B, int t, const int32_t* lens,
                                 const StepIo<T>& io, Part p) const {
  const Kernels<T>& k = *kern;
  const int H = cfg.hidden_size, R = cfg.out_size(), P = cfg.proj_size;
  const size_t GH = size_t(cfg.gates()) * H;
  const T* pk = packed.data();
  const T* b_hh = params.data() + u.p_bhh;
  size_t b0, b1;
  Split(B, p, &b0, &b1);
  const StepSplit<T> ss{k, p, b0, b1, RowSplit(B, p)};
  auto active = [&](size_t b) { return !lens || t < lens[b]; };
  T* hout = io.hout ? io.hout : io.h;
  T* cout = io.cout ? io.cout : io.c;
  // A row past its length keeps its state.
  auto keep = [&](size_t b) {
    if (io.hout) std::memcpy(hout + b * R, io.h + b * R, sizeof(T) * R);
    if (io.cout) std::memcpy(cout + b * H, io.c + b * H, sizeof(T) * H);
  };
  auto emit = [&](size_t b) {
    if (!io.out) return;
    T* o = io.out + b * io.ldo;
    if (active(b))
      std::memcpy(o, hout + b * R, sizeof(T) * R);
    else
      std::fill(o, o + R, T(0));
  };
  switch (cfg.cell) {
    case Cell::kLSTM: {
      const bool ln = layer_norm();
      // layerNorm: W_hh h in its own buffer, normalized into the gates row by row below.
      ss.Gemm(B, GH, R, io.h, R, pk + u.fw_hh_off, nullptr, ln ? io.ghh : io.g, GH, !ln);
      ss.Sync();
      const T* ln_hh = ln ? params.data() + u.p_ln + 2 * GH : nullptr;  // γ_hh, β_hh
      for (size_t b = b0; b < b1; ++b) {
        if (active(b)) {
          T* m = P > 0 ? io.m + b * H : hout + b * R;
          if (ln) {
            T* gh = io.ghh + b * GH;
            k.ln_fwd(int(GH), gh, ln_hh, ln_hh + GH, io.rhh ? gh : nullptr,
                     io.rhh ? io.rhh + b : nullptr, io.g + b * GH, true);
            k.lstm_ln_fwd(u.desc, io.g + b * GH, io.c + b * H, cout + b * H,
                          io.chat ? io.chat + b * H : nullptr, io.rc ? io.rc + b : nullptr, m);
          } else {
            k.lstm_fwd(u.desc, io.g + b * GH, io.c + b * H, cout + b * H, m);
          }
        } else {
          keep(b);
          if (P > 0) std::fill(io.m + b * H, io.m + (b + 1) * H, T(0));
        }
        if (P == 0) emit(b);
      }
      ss.Sync();
      if (P > 0) {
        ss.Gemm(B, P, H, io.m, H, pk + u.fw_hr_off, nullptr, io.ptmp, P, false);
        ss.Sync();
        for (size_t b = b0; b < b1; ++b) {
          if (active(b)) std::memcpy(hout + b * R, io.ptmp + b * R, sizeof(T) * R);
          emit(b);
        }
        ss.Sync();
      }
      break;
    }
    case Cell::kGRU: {
      if (cfg.reset_after) {
        ss.Gemm(B, GH, H, io.h, H, pk + u.fw_hh_off, b_hh, io.gh, GH, false);
        ss.Sync();
        for (size_t b = b0; b < b1; ++b) {
          if (active(b))
            k.gru_fwd(H, io.g + b * GH, io.gh + b * GH, io.h + b * H, hout + b * H);
          else
            keep(b);
          emit(b);
        }
        ss.Sync();
      } else {
        // gh holds [B, 2H] for r and z, then [B, H] for n.
        ss.Gemm(B, 2 * H, H, io.h, H, pk + u.fw_hh_off, b_hh, io.gh, 2 * H, false);
        ss.Sync();
        for (size_t b = b0; b < b1; ++b) {
          if (active(b))
            k.gru_fwd_rz(H, io.g + b * GH, io.gh + b * 2 * H, io.h + b * H, io.rh + b * H);
          else
            std::fill(io.rh + b * H, io.rh + (b + 1) * H, T(0));
        }
        ss.Sync();
        T* ghn = io.gh + size_t(B) * 2 * H;
        ss.Gemm(B, H, H, io.rh, H, pk + u.fw_hn_off, b_hh + 2 * H, ghn, H, false);
        ss.Sync();
        for (size_t b = b0; b < b1; ++b) {
          if (active(b))
            k.gru_fwd_n(H, io.g + b * GH, ghn + b * H, io.h + b * H, hout + b * H);
          else
            keep(b);
          emit(b);
        }
        ss.Sync();
      }
      break;
    }
    case Cell::kRNN: {
      ss.Gemm(B, GH, R, io.h, R, pk + u.fw_hh_off, nullptr, io.g, GH, true);
      ss.Sync();
      for (size_t b = b0; b < b1; ++b) {
        if (active(b))
          k.rnn_fwd(H, cfg.relu, io.g + b * GH, hout + b * H);
        else
          keep(b);
        emit(b);
      }
      ss.Sync();
      break;
    }
  }
}

template <typename T>
StepIo<T> Layer<T>::Impl::StepBuffers(const Unit& u, size_t tb, bool train) {
  const int H = cfg.hidden_size, R = cfg.out_size();
  const size_t GH = size_t(cfg.gates()) * H;
  T* W = work.data();
  const UnitWs& w = u.ws;
  StepIo<T> io;
  if (train) {  // the state slots of the step (see UnitWs)
    io.h = W + w.hprev + tb * R;
    io.hout = W + w.hst + tb * R;
    if (w.cprev != kNone) {
      io.c = W + w.cprev + tb * H;
      io.cout = W + w.cst + tb * H;
    }
  } else {  // one state, updated in place
    io.h = W + w.h;
    if (w.c != kNone) io.c = W + w.c;
  }
  // Training keeps per step what backward reads again; inference reuses one [B, ·] each.
  const bool per_step_m = train && cfg.proj_size > 0;
  const bool per_step_gh = train && cfg.cell == Cell::kGRU && cfg.reset_after;
  if (w.m != kNone) io.m = W + w.m + (per_step_m ? tb * H : 0);
  if (w.ptmp != kNone) io.ptmp = W + w.ptmp;
  if (w.gh != kNone) io.gh = W + w.gh + (per_step_gh ? tb * GH : 0);
  if (w.rh != kNone) io.rh = W + w.rh + (train ? tb * H : 0);
  if (w.xhh != kNone) io.ghh = W + w.xhh + (train ? tb * GH : 0);
  if (w.rhh != kNone) {
    io.rhh = W + w.rhh + tb;
    io.chat = W + w.chat + tb * H;
    io.rc = W + w.rc + tb;
  }
  return io;
}

template <typename T>
void Layer<T>::Impl::LoadState(const ForwardArgs& a, size_t sidx, size_t b0, size_t b1, T* h,
                               T* c) const {
  const int H = cfg.hidden_size, R = cfg.out_size(), B = ws_B;
  for (size_t b = b0; b < b1; ++b) {
    const size_t row = sidx * B + b;
    if (a.h0)
      std::memcpy(h + b * R, static_cast<const T*>(a.h0) + row * R, sizeof(T) * R);
    else
      std::fill(h + b * R, h + (b + 1) * R, T(0));
    if (!c) continue;
    if (a.c0)
      std::memcpy(c + b * H, static_cast<const T*>(a.c0) + row * H, sizeof(T) * H);
    else
      std::fill(c + b * H, c + (b + 1) * H, T(0));
  }
}

template <typename T>
void Layer<T>::Impl::StoreState(const ForwardArgs& a, size_t sidx, size_t b0, size_t b1, const T* h,
                                const T* c) const {
  const int H = cfg.hidden_size, R = cfg.out_size(), B = ws_B;
  for (size_t b = b0; b < b1; ++b) {
    const size_t row = sidx * B + b;
    if (a.h_n) std::memcpy(static_cast<T*>(a.h_n) + row * R, h + b * R, sizeof(T) * R);
    if (c && a.c_n) std::memcpy(static_cast<T*>(a.c_n) + row * H, c + b * H, sizeof(T) * H);
  }
}

template <typename T>
void Layer<T>::Impl::ForwardUnit(Unit& u, const ForwardArgs& a, const T* xin, T* out, Part p) {
  const int Tn = ws_T, B = ws_B;
  const int H = cfg.hidden_size, R = cfg.out_size(), D = cfg.directions();
  const size_t GH = size_t(cfg.gates()) * H, TB = size_t(Tn) * B;
  const bool train = ws_train;
  T* W = work.data();
  const UnitWs& w = u.ws;
  // The state before the first step, and after the last (the slots of the saved states when
  // training, else the one state).
  const StepIo<T> first = StepBuffers(u, size_t(u.dir ? Tn - 1 : 0) * B, train);
  const StepIo<T> last = StepBuffers(u, size_t(u.dir ? 0 : Tn - 1) * B, train);
  const size_t sidx = size_t(u.layer) * D + u.dir;
  size_t b0, b1;
  Split(B, p, &b0, &b1);
  LoadState(a, sidx, b0, b1, first.h, first.c);
  // The input GEMM over all T·B rows, bias folded in (layerNorm: normalized, then the bias).
  T* gates = W + w.gates;
  const bool ln = layer_norm();
  kern->gemm(TB, GH, u.in, xin, u.in, packed.data() + u.fw_ih_off,
             ln ? nullptr : packed.data() + u.bias_off, gates, GH, false, p);
  Barrier(p);
  if (ln) {
    InputNorm(u, gates, TB, train ? W + w.xih : nullptr, train ? W + w.rih : nullptr, p);
    Barrier(p);
  }
  const int32_t* lens = has_lengths ? lengths.data() : nullptr;
  for (int s = 0; s < Tn; ++s) {
    const int t = u.dir ? Tn - 1 - s : s;
    const size_t tb = size_t(t) * B;
    StepIo<T> io = StepBuffers(u, tb, train);
    io.g = gates + tb * GH;
    io.out = out + tb * D * R + size_t(u.dir) * R;
    io.ldo = size_t(D) * R;
    if (s + 1 < Tn) PrefetchRows(gates + (u.dir ? tb - B : tb + B) * GH, b0, b1, GH, GH);
    StepForward(u, B, t, lens, io, p);
  }
  StoreState(a, sidx, b0, b1, train ? last.hout : last.h, train ? last.cout : last.c);
  Barrier(p);
}

// Inference through a stack of one-direction layers can run as a wavefront: layer l on thread
// l mod nth, one chunk of steps behind layer l - 1 (cuDNN's schedule for stacked RNNs).
// A layer waits only for the steps of the layer below that its next chunk reads, never at a
// barrier, so it pays where the steps are too small to split (small batches, streams fed as
// sequences).
template <typename T>
bool Layer<T>::Impl::Wavefront(bool train, int Tn, int B, double flops_per_step) const {
  // Layer l starts a chunk behind layer l - 1: with fewer than two chunks nothing overlaps.
  return std::is_same<T, float>::value && !train && cfg.num_layers > 1 && !cfg.bidirectional &&
         engine.threads > 1 && flops_per_step < engine.parallel_min_flops &&
         flops_per_step * Tn >= engine.wavefront_min_flops && Tn >= 2 * WaveChunk(Tn, B);
}

// The wavefront's layers above the first take their input projections in chunks of this many
// steps: one GEMM per chunk instead of a matrix-vector product per step re-reading W_ih.
template <typename T>
int Layer<T>::Impl::WaveChunk(int Tn, int B) const {
  const int rows = std::max(1, engine.wavefront_chunk_rows);
  return std::max(1, std::min(Tn, (rows + B - 1) / B));
}

template <typename T>
void Layer<T>::Impl::ForwardWavefront(const ForwardArgs& a, const T* x0, T* last_out, Part p) {
  const int Tn = ws_T, B = ws_B, L = cfg.num_layers;
  const int H = cfg.hidden_size, R = cfg.out_size();
  const size_t GH = size_t(cfg.gates()) * H, TB = size_t(Tn) * B;
  T* W = work.data();
  const int32_t* lens = has_lengths ? lengths.data() : nullptr;
  if (p.ith == 0)
    for (int l = 0; l < L; ++l) progress[l].Reset();  // the barrier below publishes it
  // The first layer's input GEMM over all T·B rows, split among the threads.
  const Unit& u0 = units[0];
  const bool ln = layer_norm();
  kern->gemm(TB, GH, u0.in, x0, u0.in, packed.data() + u0.fw_ih_off,
             ln ? nullptr : packed.data() + u0.bias_off, W + u0.ws.gates, GH, false, p);
  Barrier(p);
  if (ln) {
    InputNorm(u0, W + u0.ws.gates, TB, nullptr, nullptr, p);
    Barrier(p);
  }
  for (int l = p.ith; l < L; l += p.nth) {
    const Unit& u = units[l];
    const UnitWs& w = u.ws;
    const StepIo<T> state = StepBuffers(u, 0, false);
    LoadState(a, l, 0, B, state.h, state.c);
    T* out = l == L - 1 ? last_out : W + ws.out[l];
    const T* xin = l > 0 ? W + ws.out[l - 1] : nullptr;
    const int chunk = WaveChunk(Tn, B);
    for (int t = 0; t < Tn; ++t) {
      const size_t tb = size_t(t) * B;
      if (l > 0 && t % chunk == 0) {
        // The next chunk's input projections, once the layer below has written its steps
        // (the same FMA chains as one GEMM over all rows: results equal the layer-by-layer
        // order).
        const int n = std::min(chunk, Tn - t);
        progress[l - 1].WaitAtLeast(t + n);
        kern->gemm(size_t(n) * B, GH, u.in, xin + tb * u.in, u.in, packed.data() + u.fw_ih_off,
                   ln ? nullptr : packed.data() + u.bias_off, W + w.gstep, GH, false, Part{});
        if (ln) InputNorm(u, W + w.gstep, size_t(n) * B, nullptr, nullptr, Part{});
      }
      StepIo<T> io = StepBuffers(u, tb, false);
      io.out = out + tb * R;
      io.ldo = R;
      io.g = l == 0 ? W + w.gates + tb * GH : W + w.gstep + size_t(t % chunk) * B * GH;
      StepForward(u, B, t, lens, io, Part{});
      progress[l].Set(t + 1);
    }
    StoreState(a, l, 0, B, state.h, state.c);
  }
}

template <typename T>
Status Layer<T>::Impl::Forward(const ForwardArgs& a) {
  if (a.seq_len < 1 || a.batch < 1)
    return Status::Error(Code::kOutOfRange, "seqLen and batch must be >= 1");
  if (!a.x || !a.output) return Status::Error(Code::kInvalidArgument, "x and output are required");
  if (a.c0 && cfg.cell != Cell::kLSTM)
    return Status::Error(Code::kInvalidArgument, "c0 is an LSTM input");
  if (a.lengths) {
    for (int b = 0; b < a.batch; ++b) {
      const int32_t len = a.lengths[b];
      if (len < 1 || len > a.seq_len)
        return Status::Error(Code::kOutOfRange,
                             "lengths[" + std::to_string(b) + "] must be in [1, " +
                                 std::to_string(a.seq_len) + "], got " + std::to_string(len));
    }
  }
  pending = false;
  const int Tn = a.seq_len, B = a.batch, I = cfg.input_size, D = cfg.directions();
  const int R = cfg.out_size(), L = cfg.num_layers, H = cfg.hidden_size;
  const size_t TB = size_t(Tn) * B, ldo = size_t(D) * R;
  double flops = 0;  // per time step
  for (int l = 0; l < L; ++l)
    flops += 2.0 * B * D * cfg.gates() * H * ((l ? ldo : I) + R + (cfg.proj_size ? H : 0));
  const bool wave = Wavefront(a.train, Tn, B, flops);
  try {
    PlanForward(Tn, B, a.train, wave);
    if (work.size() < ws_size) work.resize(ws_size);
    lengths.assign(a.batch, a.seq_len);
    if (a.lengths) std::copy(a.lengths, a.lengths + a.batch, lengths.begin());
  } catch (const std::bad_alloc&) {
    work.clear();
    work.shrink_to_fit();
    return Status::Error(Code::kOutOfMemory, "out of memory for the forward workspace");
  }
  has_lengths = a.lengths != nullptr;
  ws_batch_first = a.batch_first;
  T* W = work.data();
  // Inference on time-major input reads x and writes the output in place; otherwise x is
  // copied (training keeps it for dW_ih, padded steps are zeroed, batch-first is transposed).
  const bool direct_x = !a.train && !a.batch_first && !has_lengths;
  const bool direct_out = !a.train && !a.batch_first;
  const T* x0 = static_cast<const T*>(a.x);
  if (!direct_x) {
    CopyTimeMajor(Tn, B, I, a.batch_first, x0, W + ws.x0, true);
    if (has_lengths) ZeroPadded(W + ws.x0, I);
    x0 = W + ws.x0;
  }
  const bool drop = a.train && cfg.dropout > 0.f && L > 1;
  const T keep_scale = T(1) / (T(1) - T(cfg.dropout));
  if (wave) {
    T* last = direct_out ? static_cast<T*>(a.output) : W + ws.out[L - 1];
    Parallel(engine.pool.get(), std::min(engine.threads, L), std::is_same<T, float>::value,
             [&](Part p) { ForwardWavefront(a, x0, last, p); });
    if (!direct_out)
      CopyTimeMajor(Tn, B, ldo, a.batch_first, last, static_cast<T*>(a.output), false);
    return Status::Ok();
  }
  Parallel(engine.pool.get(), Threads(flops), std::is_same<T, float>::value, [&](Part p) {
    for (int l = 0; l < L; ++l) {
      T* out = (direct_out && l == L - 1) ? static_cast<T*>(a.output) : W + ws.out[l];
      const T* xin = l == 0 ? x0 : W + ws.xin[l];
      for (int d = 0; d < D; ++d) ForwardUnit(units[size_t(l) * D + d], a, xin, out, p);
      if (drop && l + 1 < L) {
        // Inverted dropout between layers: next input = out ⊙ mask, mask ∈ {0, 1/(1-p)}.
        T* mask = W + ws.mask[l];
        T* nx = W + ws.xin[l + 1];
        const uint64_t key = Mix(a.dropout_seed ^ Mix(uint64_t(l) + 1));
        const double prob = cfg.dropout;
        size_t i0, i1;
        Split(TB * ldo, p, &i0, &i1);
        for (size_t i = i0; i < i1; ++i) {
          const double u = double(Mix(key + i) >> 11) * 0x1.0p-53;
          mask[i] = u < prob ? T(0) : keep_scale;
          nx[i] = out[i] * mask[i];
        }
        Barrier(p);
      }
    }
  });
  if (!direct_out)
    CopyTimeMajor(Tn, B, ldo, a.batch_first, W + ws.out[L - 1], static_cast<T*>(a.output), false);
  pending = a.train;
  return Status::Ok();
}

template <typename T>
void Layer<T>::Impl::InputNorm(const Unit& u, T* g, size_t rows, T* xhat, T* rstd, Part p) const {
  const size_t GH = size_t(cfg.gates()) * cfg.hidden_size;
  const T* gamma = params.data() + u.p_ln;
  const T* beta = packed.data() + u.bias_off;  // β_ih + b_ih + b_hh (Pack)
  size_t r0, r1;
  Split(rows, p, &r0, &r1);
  for (size_t r = r0; r < r1; ++r)
    kern->ln_fwd(int(GH), g + r * GH, gamma, beta, xhat ? xhat + r * GH : nullptr,
                 rstd ? rstd + r : nullptr, g + r * GH, false);
}

template <typename T>
void Layer<T>::Impl::ZeroPadded(T* x, size_t F) const {
  for (int t = 0; t < ws_T; ++t)
    for (int b = 0; b < ws_B; ++b)
      if (!Active(b, t)) {
        T* row = x + (size_t(t) * ws_B + b) * F;
        std::fill(row, row + F, T(0));
      }
}

// ---- backward -----------------------------------------------------------------------------

template <typename T>
void Layer<T>::Impl::BackwardUnit(Unit& u, const BackwardArgs& a, const T* xin, const T* dy, T* dx,
                                  bool dx_accumulate, Part p) {
  const Kernels<T>& k = *kern;
  const int Tn = ws_T, B = ws_B;
  const int H = cfg.hidden_size, R = cfg.out_size(), D = cfg.directions(), P = cfg.proj_size;
  const size_t GH = size_t(cfg.gates()) * H, ldo = size_t(D) * R, TB = size_t(Tn) * B;
  T* W = work.data();
  T* V = bwork.data();
  const UnitWs& w = u.ws;
  const T* pb = packed_bwd.data();
  const bool lstm = cfg.cell == Cell::kLSTM, gru = cfg.cell == Cell::kGRU;
  const bool ln = layer_norm();
  T* dg = V + bw.dg;
  T* dgh = gru || ln ? V + bw.dgh : nullptr;
  T* dh = V + bw.dh;
  T* dc = V + bw.dc;
  T* tmp = V + bw.tmp;
  size_t b0, b1;
  Split(B, p, &b0, &b1);
  const StepSplit<T> ss{k, p, b0, b1, RowSplit(B, p)};

  const size_t sidx = size_t(u.layer) * D + u.dir;
  for (size_t b = b0; b < b1; ++b) {
    const size_t row = sidx * B + b;
    if (a.d_h_n)
      std::memcpy(dh + b * R, static_cast<const T*>(a.d_h_n) + row * R, sizeof(T) * R);
    else
      std::fill(dh + b * R, dh + (b + 1) * R, T(0));
    if (!lstm) continue;
    if (a.d_c_n)
      std::memcpy(dc + b * H, static_cast<const T*>(a.d_c_n) + row * H, sizeof(T) * H);
    else
      std::fill(dc + b * H, dc + (b + 1) * H, T(0));
  }

  for (int s = Tn - 1; s >= 0; --s) {
    const int t = u.dir ? Tn - 1 - s : s;
    const size_t tb = size_t(t) * B;
    const T* dyt = dy + tb * ldo + size_t(u.dir) * R;
    const T* acts = W + w.gates + tb * GH;
    T* dgt = dg + tb * GH;
    if (s > 0) {  // the next step's saved tensors
      const size_t nb = u.dir ? tb + B : tb - B;
      PrefetchRows(W + w.gates + nb * GH, b0, b1, GH, GH);
      PrefetchRows(dy + nb * ldo + size_t(u.dir) * R, b0, b1, R, ldo);
      if (lstm) {
        PrefetchRows(W + w.cprev + nb * H, b0, b1, H, H);
        PrefetchRows(W + w.cst + nb * H, b0, b1, H, H);
      } else if (gru) {
        PrefetchRows(W + w.hprev + nb * R, b0, b1, R, R);
      } else {
        PrefetchRows(W + w.hst + nb * R, b0, b1, R, R);
      }
    }
    // dh_t = carried + upstream, on the active rows.
    for (size_t b = b0; b < b1; ++b)
      if (Active(int(b), t))
        for (int j = 0; j < R; ++j) dh[b * R + j] += dyt[b * ldo + j];
    switch (cfg.cell) {
      case Cell::kLSTM: {
        const T* cp = W + w.cprev + tb * H;
        const T* ct = W + w.cst + tb * H;
        const T* dm = dh;
        if (P > 0) {
          T* dhs = V + bw.dhs + tb * P;
          for (size_t b = b0; b < b1; ++b) {
            if (Active(int(b), t))
              std::memcpy(dhs + b * P, dh + b * P, sizeof(T) * P);
            else
              std::fill(dhs + b * P, dhs + (b + 1) * P, T(0));
          }
          ss.Sync();
          ss.Gemm(B, H, P, dh, P, pb + u.bw_hr_off, nullptr, tmp, H, false);
          ss.Sync();
          dm = tmp;
        }
        // layerNorm: the gate gradient reaches W_hh h through LN_hh (dght), and c_t through
        // LN(c_t) (dyc: its output's gradient, kept for the γ_c, β_c reductions).
        T* dght = ln ? dgh + tb * GH : dgt;
        T* dyc = ln ? V + bw.dyc + tb * H : nullptr;
        const T* ln_hh_gamma = ln ? params.data() + u.p_ln + 2 * GH : nullptr;
        for (size_t b = b0; b < b1; ++b) {
          if (Active(int(b), t)) {
            if (ln) {
              k.lstm_ln_bwd(u.desc, acts + b * GH, cp + b * H, ct + b * H,
                            W + w.chat + (tb + b) * H, W[w.rc + tb + b], dm + b * H, dc + b * H,
                            dgt + b * GH, dyc + b * H, V + bw.dcn + b * H);
              k.ln_bwd(int(GH), dgt + b * GH, W + w.xhh + (tb + b) * GH, W[w.rhh + tb + b],
                       ln_hh_gamma, dght + b * GH, nullptr, nullptr, false);
            } else {
              k.lstm_bwd(u.desc, acts + b * GH, cp + b * H, ct + b * H, dm + b * H, dc + b * H,
                         dgt + b * GH);
            }
            std::fill(dh + b * R, dh + (b + 1) * R, T(0));
          } else {
            std::fill(dgt + b * GH, dgt + (b + 1) * GH, T(0));
            if (ln) {
              std::fill(dght + b * GH, dght + (b + 1) * GH, T(0));
              std::fill(dyc + b * H, dyc + (b + 1) * H, T(0));
            }
          }
        }
        ss.Sync();
        ss.Gemm(B, R, GH, dght, GH, pb + u.bw_hh_off, nullptr, dh, R, true);
        ss.Sync();
        break;
      }
      case Cell::kGRU: {
        const T* hp = W + w.hprev + tb * R;
        T* dght = dgh + tb * GH;
        auto inactive = [&](size_t b) {
          std::fill(dgt + b * GH, dgt + (b + 1) * GH, T(0));
          std::fill(dght + b * GH, dght + (b + 1) * GH, T(0));
        };
        if (cfg.reset_after) {
          const T* gh = W + w.gh + tb * GH;
          for (size_t b = b0; b < b1; ++b) {
            if (Active(int(b), t))
              k.gru_bwd(H, acts + b * GH, gh + b * GH, hp + b * H, dh + b * H, dgt + b * GH,
                        dght + b * GH, dh + b * H);
            else
              inactive(b);
          }
          ss.Sync();
          ss.Gemm(B, H, GH, dght, GH, pb + u.bw_hh_off, nullptr, dh, H, true);
          ss.Sync();
        } else {
          for (size_t b = b0; b < b1; ++b) {
            if (Active(int(b), t))
              k.gru_bwd_n(H, acts + b * GH, hp + b * H, dh + b * H, dgt + b * GH, dght + b * GH,
                          dh + b * H);
            else
              inactive(b);
          }
          ss.Sync();
          // d(r ⊙ h) = da_n · W_hn
          ss.Gemm(B, H, H, dght + 2 * H, GH, pb + u.bw_hn_off, nullptr, tmp, H, false);
          ss.Sync();
          for (size_t b = b0; b < b1; ++b)
            if (Active(int(b), t))
              k.gru_bwd_r(H, acts + b * GH, hp + b * H, tmp + b * H, dgt + b * GH, dght + b * GH,
                          dh + b * H);
          ss.Sync();
          ss.Gemm(B, H, 2 * H, dght, GH, pb + u.bw_hh_off, nullptr, dh, H, true);
          ss.Sync();
        }
        break;
      }
      case Cell::kRNN: {
        const T* ht = W + w.hst + tb * R;  // h_t (the output at t on the active rows)
        for (size_t b = b0; b < b1; ++b) {
          if (Active(int(b), t)) {
            k.rnn_bwd(H, cfg.relu, ht + b * R, dh + b * H, dgt + b * GH);
            std::fill(dh + b * H, dh + (b + 1) * H, T(0));
          } else {
            std::fill(dgt + b * GH, dgt + (b + 1) * GH, T(0));
          }
        }
        ss.Sync();
        ss.Gemm(B, H, GH, dgt, GH, pb + u.bw_hh_off, nullptr, dh, H, true);
        ss.Sync();
        break;
      }
    }
  }
  Barrier(p);  // the reductions below read every row
  for (size_t b = b0; b < b1; ++b) {
    const size_t row = sidx * B + b;
    if (a.d_h0) std::memcpy(static_cast<T*>(a.d_h0) + row * R, dh + b * R, sizeof(T) * R);
    if (lstm && a.d_c0) std::memcpy(static_cast<T*>(a.d_c0) + row * H, dc + b * H, sizeof(T) * H);
  }

  // After the loop: one large GEMM each for the weight gradients and dx, and the reductions
  // for biases and peepholes, each split over output rows (the same sums whatever nth is).
  T* gp = grads.data();
  T* dgT = V + bw.dgT;
  T* dghT = gru || ln ? V + bw.dghT : dgT;
  T* xpack = V + bw.xpack;
  // dG^T (and dGh^T) by cache blocks of 16×16, each thread owning a range of gate columns;
  // the bias gradients are the row sums of the transposes, summed in row order.
  size_t n0, n1;  // whole blocks of columns per thread, so the sums do not depend on nth
  Split((GH + kTransposeBlock - 1) / kTransposeBlock, p, &n0, &n1);
  n0 = std::min(GH, n0 * kTransposeBlock);
  n1 = std::min(GH, n1 * kTransposeBlock);
  if (gru) {
    TransposeCols(TB, GH, dg, dgT, n0, n1, gp + u.p_bih);
    TransposeCols(TB, GH, dgh, dghT, n0, n1, gp + u.p_bhh);
  } else if (!ln) {
    TransposeCols(TB, GH, dg, dgT, n0, n1, gp + u.p_bih, gp + u.p_bhh);
  }
  if (lstm && cfg.peephole) {
    // dp_x = Σ_{t,b} da_x ⊙ c_{t-1} (c_t for the output gate); padded rows have da = 0.
    const LstmDesc<T>& d = u.desc;
    const T* cp = W + w.cprev;
    const T* ct = W + w.cst;
    T* gph = gp + u.p_ph;
    size_t j0, j1;
    Split(H, p, &j0, &j1);
    for (size_t m = 0; m < TB; ++m) {  // row order, so each sum is the same on any nth
      const T* row = dg + m * GH;
      const T* cpm = cp + m * H;
      const T* ctm = ct + m * H;
      for (size_t j = j0; j < j1; ++j) {
        if (d.ph_i >= 0) gph[d.ph_i + j] += row[d.off_i + j] * cpm[j];
        if (d.ph_f >= 0) gph[d.ph_f + j] += row[d.off_f + j] * cpm[j];
        if (d.ph_o >= 0) gph[d.ph_o + j] += row[d.off_o + j] * ctm[j];
      }
    }
  }
  if (ln) {
    // dg holds da, the gradient of LN_ih's and LN_hh's outputs (and of both biases). The
    // reductions over the active rows in row order, each thread owning columns, while dg is
    // still da: biases, β_ih and β_hh get Σ da; γ_ih Σ da ⊙ x̂_ih; γ_hh Σ da ⊙ x̂_hh; γ_c and β_c
    // Σ dyc ⊙ ĉ and Σ dyc.
    const T* xih = W + w.xih;
    const T* xhh = W + w.xhh;
    T* g_ln = gp + u.p_ln;  // ln_ih_weight, ln_ih_bias, ln_hh_weight, ln_hh_bias, ln_c_*
    size_t j0, j1;
    Split(GH, p, &j0, &j1);
    for (size_t m = 0; m < TB; ++m) {
      if (!Active(int(m % B), int(m / B))) continue;
      const T* row = dg + m * GH;
      for (size_t j = j0; j < j1; ++j) {
        const T d = row[j];
        gp[u.p_bih + j] += d;
        gp[u.p_bhh + j] += d;
        g_ln[j] += d * xih[m * GH + j];
        g_ln[GH + j] += d;
        g_ln[2 * GH + j] += d * xhh[m * GH + j];
        g_ln[3 * GH + j] += d;
      }
    }
    const T* chat = W + w.chat;
    const T* dyc = V + bw.dyc;
    Split(H, p, &j0, &j1);
    for (size_t m = 0; m < TB; ++m) {
      if (!Active(int(m % B), int(m / B))) continue;
      for (size_t j = j0; j < j1; ++j) {
        g_ln[4 * GH + j] += dyc[m * H + j] * chat[m * H + j];
        g_ln[4 * GH + H + j] += dyc[m * H + j];
      }
    }
    Barrier(p);
    // da → the gradient of W_ih x through LN_ih, in place, row by row (padded rows stay 0).
    const T* gamma_ih = params.data() + u.p_ln;
    size_t r0, r1;
    Split(TB, p, &r0, &r1);
    for (size_t m = r0; m < r1; ++m)
      if (Active(int(m % B), int(m / B)))
        k.ln_bwd(int(GH), dg + m * GH, xih + m * GH, W[w.rih + m], gamma_ih, dg + m * GH, nullptr,
                 nullptr, false);
    Barrier(p);
    T* scratch = V + bw.lnsum;  // the transposes' column sums are not needed here
    TransposeCols(TB, GH, dg, dgT, n0, n1, scratch);
    TransposeCols(TB, GH, dgh, dghT, n0, n1, scratch);
  }
  PackParallel(*kern, TB, u.in, xin, u.in, 1, xpack, p);
  Barrier(p);
  k.gemm(GH, u.in, TB, dgT, TB, xpack, nullptr, gp + u.p_ih, u.in, true, p);
  Barrier(p);
  PackParallel(*kern, TB, R, W + w.hprev, R, 1, xpack, p);
  Barrier(p);
  if (gru && !cfg.reset_after) {
    k.gemm(2 * H, H, TB, dghT, TB, xpack, nullptr, gp + u.p_hh, H, true, p);
    Barrier(p);
    PackParallel(*kern, TB, H, W + w.rh, H, 1, xpack, p);
    Barrier(p);
    k.gemm(H, H, TB, dghT + size_t(2) * H * TB, TB, xpack, nullptr, gp + u.p_hh + size_t(2) * H * H,
           H, true, p);
  } else {
    k.gemm(GH, R, TB, dghT, TB, xpack, nullptr, gp + u.p_hh, R, true, p);
  }
  if (P > 0) {
    Barrier(p);
    T* dhs = V + bw.dhs;
    T* dhsT = V + bw.dhsT;
    size_t q0, q1;
    Split(P, p, &q0, &q1);
    for (size_t q = q0; q < q1; ++q)
      for (size_t m = 0; m < TB; ++m) dhsT[q * TB + m] = dhs[m * P + q];
    PackParallel(*kern, TB, H, W + w.m, H, 1, xpack, p);
    Barrier(p);
    k.gemm(P, H, TB, dhsT, TB, xpack, nullptr, gp + u.p_hr, H, true, p);
  }
  if (dx) k.gemm(TB, u.in, GH, dg, GH, pb + u.bw_ih_off, nullptr, dx, u.in, dx_accumulate, p);
  Barrier(p);
}

template <typename T>
Status Layer<T>::Impl::Backward(const BackwardArgs& a) {
  if (!pending)
    return Status::Error(Code::kNoForward,
                         "backward needs a forward with train: true first (once per forward; "
                         "setParameters in between discards it)");
  if (a.d_c_n && cfg.cell != Cell::kLSTM)
    return Status::Error(Code::kInvalidArgument, "a c gradient is an LSTM input");
  pending = false;
  try {
    if (!packed_bwd_valid) PackBackward();
    PlanBackward();
    if (bwork.size() < bw_size) bwork.resize(bw_size);
  } catch (const std::bad_alloc&) {
    bwork.clear();
    bwork.shrink_to_fit();
    return Status::Error(Code::kOutOfMemory, "out of memory for the backward workspace");
  }
  const int Tn = ws_T, B = ws_B, D = cfg.directions(), R = cfg.out_size(), L = cfg.num_layers;
  const int H = cfg.hidden_size, I = cfg.input_size;
  const size_t TB = size_t(Tn) * B, ldo = size_t(D) * R;
  T* W = work.data();
  T* V = bwork.data();
  T* dy = V + bw.dy[0];
  T* dxl = V + bw.dy[1];
  if (a.d_output)
    CopyTimeMajor(Tn, B, ldo, ws_batch_first, static_cast<const T*>(a.d_output), dy, true);
  else
    std::fill(dy, dy + TB * ldo, T(0));
  double flops = 0;
  for (int l = 0; l < L; ++l)
    flops += 4.0 * B * D * cfg.gates() * H * ((l ? ldo : I) + R + (cfg.proj_size ? H : 0));
  Parallel(engine.pool.get(), Threads(flops), std::is_same<T, float>::value, [&](Part p) {
    T* gy = dy;
    T* gx = dxl;
    for (int l = L - 1; l >= 0; --l) {
      const bool want_dx = l > 0 || a.d_x;
      for (int d = 0; d < D; ++d)
        BackwardUnit(units[size_t(l) * D + d], a, l == 0 ? W + ws.x0 : W + ws.xin[l], gy,
                     want_dx ? gx : nullptr, d > 0, p);
      if (l > 0) {
        if (ws.mask[l - 1] != kNone) {
          const T* mask = W + ws.mask[l - 1];
          size_t i0, i1;
          Split(TB * ldo, p, &i0, &i1);
          for (size_t i = i0; i < i1; ++i) gx[i] *= mask[i];
          Barrier(p);
        }
        std::swap(gy, gx);
      }
    }
    if (p.ith == 0) dxl = gx;
  });
  if (a.d_x) {
    if (has_lengths) ZeroPadded(dxl, I);
    CopyTimeMajor(Tn, B, I, ws_batch_first, dxl, static_cast<T*>(a.d_x), false);
  }
  return Status::Ok();
}

// ---- streaming ----------------------------------------------------------------------------

template <typename T>
size_t Layer<T>::Impl::StreamScratchSize(int B) const {
  const size_t H = cfg.hidden_size, GH = cfg.gates() * H, P = cfg.proj_size;
  size_t n = B * GH;                                   // gates
  if (P > 0) n += B * (H + P);                         // m, projected state
  if (cfg.cell == Cell::kGRU) n += B * 3 * H + B * H;  // gh, rh
  if (layer_norm()) n += B * GH;                       // W_hh h
  return n;
}

template <typename T>
Status Layer<T>::Impl::Step(int B, const T* x, T* state, T* scratch, T* out) const {
  if (cfg.bidirectional)
    return Status::Error(Code::kUnsupported, "a bidirectional layer cannot stream");
  if (B < 1) return Status::Error(Code::kOutOfRange, "batch must be >= 1");
  const int H = cfg.hidden_size, R = cfg.out_size(), P = cfg.proj_size, L = cfg.num_layers;
  const size_t GH = size_t(cfg.gates()) * H;
  const bool lstm = cfg.cell == Cell::kLSTM;
  const size_t per_layer = size_t(B) * (R + (lstm ? H : 0));
  StepIo<T> io;
  T* sp = scratch;
  io.g = sp;
  sp += B * GH;
  if (P > 0) {
    io.m = sp;
    sp += size_t(B) * H;
    io.ptmp = sp;
    sp += size_t(B) * P;
  }
  if (cfg.cell == Cell::kGRU) {
    io.gh = sp;
    sp += size_t(B) * 3 * H;
    io.rh = sp;
  }
  const bool ln = layer_norm();
  if (ln) io.ghh = sp;
  double flops = 0;
  for (int l = 0; l < L; ++l) flops += 2.0 * B * GH * ((l ? R : cfg.input_size) + R + (P ? H : 0));
  // A single step has two to four barriers and microseconds of work: it takes threads only
  // when it is much larger than a step of a sequence needs (a pool of many streams).
  Parallel(engine.pool.get(), Threads(flops / 8), std::is_same<T, float>::value, [&](Part p) {
    const T* xin = x;
    for (int l = 0; l < L; ++l) {
      const Unit& u = units[l];
      StepIo<T> lio = io;
      lio.h = state + l * per_layer;
      lio.c = lstm ? lio.h + size_t(B) * R : nullptr;
      lio.out = l == L - 1 ? out : nullptr;
      lio.ldo = R;
      kern->gemm(B, GH, u.in, xin, u.in, packed.data() + u.fw_ih_off,
                 ln ? nullptr : packed.data() + u.bias_off, lio.g, GH, false, p);
      Barrier(p);
      if (ln) {
        InputNorm(u, lio.g, size_t(B), nullptr, nullptr, p);
        Barrier(p);
      }
      StepForward(u, B, 0, nullptr, lio, p);
      Barrier(p);  // the next layer reads every row of this layer's new state
      xin = lio.h;
    }
  });
  return Status::Ok();
}

// ---- construction and the public shell ----------------------------------------------------

template <typename T>
Status Layer<T>::Create(const Config& cfg, const Engine& engine, std::unique_ptr<Layer>* out) {
  Status st = Validate(cfg);
  if (!st.ok()) return st;
  try {
    auto impl = std::make_unique<Impl>();
    impl->cfg = cfg;
    impl->SetEngine(engine);
    impl->table = ParamTable(cfg);
    const size_t n = ParamCount(cfg);
    impl->params.assign(n, T(0));
    impl->grads.assign(n, T(0));
    impl->BuildUnits();
    impl->Pack();
    out->reset(new Layer(std::move(impl)));
  } catch (const std::bad_alloc&) {
    return Status::Error(Code::kOutOfMemory, "out of memory for the parameters");
  }
  return Status::Ok();
}

template <typename T>
void Layer<T>::Impl::SetEngine(const Engine& e) {
  engine = e;
  kern = KernelsFor<T>(e);
}

template <typename T>
void Layer<T>::Impl::BuildUnits() {
  const int H = cfg.hidden_size, D = cfg.directions(), R = cfg.out_size();
  units.clear();
  auto find = [&](const std::string& name) -> size_t {
    for (const auto& p : table)
      if (p.name == name) return p.offset;
    return kNone;
  };
  const bool has_i = cfg.input_gate && !cfg.coupled;
  for (int l = 0; l < cfg.num_layers; ++l)
    for (int d = 0; d < D; ++d) {
      Unit u;
      u.layer = l;
      u.dir = d;
      u.in = l == 0 ? cfg.input_size : D * R;
      const std::string sfx = "_l" + std::to_string(l) + (d ? "_reverse" : "");
      u.p_ih = find("weight_ih" + sfx);
      u.p_hh = find("weight_hh" + sfx);
      u.p_bih = find("bias_ih" + sfx);
      u.p_bhh = find("bias_hh" + sfx);
      u.p_hr = find("weight_hr" + sfx);
      u.p_ph = find("weight_ph" + sfx);
      u.p_ln = find("ln_ih_weight" + sfx);
      if (cfg.cell == Cell::kLSTM) {
        LstmDesc<T>& ds = u.desc;
        ds.H = H;
        int blk = 0;
        ds.off_i = has_i ? H * blk++ : -1;
        ds.off_f = cfg.forget_gate ? H * blk++ : -1;
        ds.off_g = H * blk++;
        ds.off_o = cfg.output_gate ? H * blk++ : -1;
        ds.coupled = cfg.coupled;
        ds.input_activation = cfg.input_activation;
        ds.output_activation = cfg.output_activation;
        if (cfg.peephole) {
          int pk = 0;
          ds.ph_i = has_i ? H * pk++ : -1;
          ds.ph_f = cfg.forget_gate ? H * pk++ : -1;
          ds.ph_o = cfg.output_gate ? H * pk++ : -1;
        }
      }
      units.push_back(u);
    }
  progress.reset(new Progress[cfg.num_layers]);
  // The peephole vectors are read in place (params never reallocates).
  for (auto& u : units) {
    u.desc.ph = (cfg.cell == Cell::kLSTM && cfg.peephole) ? params.data() + u.p_ph : nullptr;
    if (layer_norm()) {  // γ_c, β_c after ln_ih_*, ln_hh_* [G·H each]
      const size_t c_off = u.p_ln + size_t(4) * cfg.gates() * H;
      u.desc.ln_c_gamma = params.data() + c_off;
      u.desc.ln_c_beta = params.data() + c_off + H;
    }
  }
}

template <typename T>
Layer<T>::Layer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
template <typename T>
Layer<T>::~Layer() = default;
template <typename T>
const Config& Layer<T>::config() const {
  return impl_->cfg;
}
template <typename T>
const std::vector<ParamInfo>& Layer<T>::params() const {
  return impl_->table;
}
template <typename T>
T* Layer<T>::param_data() {
  return impl_->params.data();
}
template <typename T>
const T* Layer<T>::param_data() const {
  return impl_->params.data();
}
template <typename T>
T* Layer<T>::grad_data() {
  return impl_->grads.data();
}
template <typename T>
const T* Layer<T>::grad_data() const {
  return impl_->grads.data();
}
template <typename T>
void Layer<T>::ParamsChanged() {
  impl_->pending = false;
  impl_->Pack();
}
template <typename T>
void Layer<T>::ZeroGrad() {
  std::fill(impl_->grads.begin(), impl_->grads.end(), T(0));
}
template <typename T>
void Layer<T>::SetEngine(const Engine& e) {
  if (KernelsFor<T>(e) != impl_->kern) {
    impl_->SetEngine(e);
    impl_->pending = false;  // the workspace layout belongs to the old kernels
    impl_->Pack();
  } else {
    impl_->engine = e;
  }
}
template <typename T>
const Engine& Layer<T>::engine() const {
  return impl_->engine;
}
template <typename T>
Status Layer<T>::Forward(const ForwardArgs& a) {
  return impl_->Forward(a);
}
template <typename T>
Status Layer<T>::Backward(const BackwardArgs& a) {
  return impl_->Backward(a);
}
template <typename T>
bool Layer<T>::has_pending_backward() const {
  return impl_->pending;
}

template <typename T>
void Layer<T>::DiscardPendingBackward() {
  impl_->pending = false;
}

template <typename T>
size_t Layer<T>::MemoryBytes() const {
  const Impl& m = *impl_;
  size_t bytes =
      sizeof(Impl) + sizeof(T) * (m.params.capacity() + m.grads.capacity() + m.packed.capacity() +
                                  m.packed_bwd.capacity() + m.work.capacity() + m.bwork.capacity());
  bytes += sizeof(size_t) * (m.ws.out.capacity() + m.ws.xin.capacity() + m.ws.mask.capacity());
  bytes += sizeof(int32_t) * m.lengths.capacity() + sizeof(ParamInfo) * m.table.capacity();
  bytes += sizeof(typename Impl::Unit) * m.units.capacity();
  return bytes;
}

template <typename T>
size_t Layer<T>::StreamStateSize(int batch) const {
  const Config& c = impl_->cfg;
  return size_t(batch) * c.num_layers * (c.out_size() + (c.has_cell_state() ? c.hidden_size : 0));
}
template <typename T>
size_t Layer<T>::StreamScratchSize(int batch) const {
  return impl_->StreamScratchSize(batch);
}
template <typename T>
Status Layer<T>::Step(int batch, const T* x, T* state, T* scratch, T* out) const {
  return impl_->Step(batch, x, state, scratch, out);
}

template class Layer<float>;
template class Layer<double>;

}  // namespace cellstate
