// Backward mirrors forward: per unit, from the last step to the first, the upstream gradient
// joins the carried one and the cell's backward step (RecurrentCell::StepBackward: its fused
// post-GEMM backward and the recurrent dh GEMM) runs; after the loop, the cell's gradient
// reductions (one large GEMM each for its weights) and one GEMM for dx. Layers run from the
// top down, the dropout masks applied between them.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cell/driver.h"

namespace cellstate {

namespace {

// dst[c, r] = src[r, c] for the columns c in [c0, c1), in 16×16 blocks; sums[c] += Σ_r src[r, c]
// in row order, and sums2[c] likewise (each when not null) (LSTM and RNN: the two biases have the
// same gradient). With SSE, 4×4 register transposes (non-temporal stores were slower: the GEMM that
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
      if (sums) sums[c] += acc[c - cb];
      if (sums2) sums2[c] += acc[c - cb];
    }
  }
}

}  // namespace

template <typename T>
void TransposeSum(size_t rows, size_t cols, const T* src, T* dst, T* sums, T* sums2, Part p) {
  size_t n0, n1;  // whole blocks of columns per thread, so the sums do not depend on nth
  Split((cols + kTransposeBlock - 1) / kTransposeBlock, p, &n0, &n1);
  n0 = std::min(cols, n0 * kTransposeBlock);
  n1 = std::min(cols, n1 * kTransposeBlock);
  TransposeCols(rows, cols, src, dst, n0, n1, sums, sums2);
}

template <typename T>
void InputWeightGrad(const BwdReduce<T>& r, size_t GH) {
  const size_t in = size_t(r.u.in);
  PackParallel(r.k, r.TB, in, r.xin, ptrdiff_t(in), 1, r.xpack, r.p);
  Barrier(r.p);
  r.k.gemm(GH, in, r.TB, r.dgT, r.TB, r.xpack, nullptr, r.grads + r.u.param[0], in, true, r.p);
  Barrier(r.p);
}

template <typename T>
void Layer<T>::Impl::BackwardUnit(Unit& u, const BackwardArgs& a, const T* xin, const T* dy, T* dx,
                                  bool dx_accumulate, Part p) {
  const Kernels<T>& k = *kern;
  const int Tn = ws_T, B = ws_B;
  const size_t GH = size_t(G) * H, ldo = size_t(D) * R, TB = size_t(Tn) * B;
  T* W = work.data();
  T* V = bwork.data();
  const UnitWs& w = u.ws;
  T* dg = V + bw.dg;
  T* dh = V + bw.dh;
  T* dc = V + bw.dc;
  size_t b0, b1;
  Split(B, p, &b0, &b1);
  const StepSplit<T> ss{k, p, b0, b1, RowSplit(B, p)};
  const T* rmask = w.rmask == kNone ? nullptr : W + w.rmask;  // recurrent dropout

  for (size_t b = b0; b < b1; ++b) {
    const size_t row = u.index * B + b;
    if (a.d_h_n)
      std::memcpy(dh + b * R, static_cast<const T*>(a.d_h_n) + row * R, sizeof(T) * R);
    else
      std::fill(dh + b * R, dh + (b + 1) * R, T(0));
    if (C == 0) continue;
    if (a.d_c_n)
      std::memcpy(dc + b * C, static_cast<const T*>(a.d_c_n) + row * C, sizeof(T) * C);
    else
      std::fill(dc + b * C, dc + (b + 1) * C, T(0));
  }

  for (int s = Tn - 1; s >= 0; --s) {
    const int t = u.reverse ? Tn - 1 - s : s;
    const size_t tb = size_t(t) * B;
    const T* dyt = dy + tb * ldo + size_t(u.dir) * R;
    const BwdStep<T> st{ss,
                        u,
                        packed_bwd.data(),
                        params.data(),
                        W,
                        V,
                        bw.cell.data(),
                        B,
                        t,
                        tb,
                        lengths.data(),
                        W + w.gates + tb * GH,
                        dg + tb * GH,
                        dh,
                        dc,
                        V + bw.tmp,
                        rmask,
                        rmask ? W + w.hm + tb * R : nullptr,
                        rmask ? V + bw.tmp2 : nullptr,
                        s == Tn - 1};
    if (s > 0) {  // the next step's saved tensors
      const size_t nb = u.reverse ? tb + B : tb - B;
      PrefetchRows(W + w.gates + nb * GH, b0, b1, GH, GH);
      PrefetchRows(dy + nb * ldo + size_t(u.dir) * R, b0, b1, R, ldo);
      cell->PrefetchBackward(st, nb);
    }
    // dh_t = carried + upstream, on the active rows.
    for (size_t b = b0; b < b1; ++b)
      if (Active(int(b), t))
        for (int j = 0; j < R; ++j) dh[b * R + j] += dyt[b * ldo + j];
    cell->StepBackward(st);
  }
  Barrier(p);  // the reductions below read every row
  for (size_t b = b0; b < b1; ++b) {
    const size_t row = u.index * B + b;
    if (a.d_h0) std::memcpy(static_cast<T*>(a.d_h0) + row * R, dh + b * R, sizeof(T) * R);
    if (C > 0 && a.d_c0) std::memcpy(static_cast<T*>(a.d_c0) + row * C, dc + b * C, sizeof(T) * C);
  }

  // After the loop: the cell's weight, bias (and other) gradients, then dx, each split over
  // output rows (the same sums whatever nth is).
  const BwdReduce<T> r{k,
                       u,
                       params.data(),
                       grads.data(),
                       W,
                       V,
                       bw.cell.data(),
                       TB,
                       xin,
                       W + (rmask ? w.hm : w.hprev),
                       dg,
                       V + bw.dgT,
                       V + bw.xpack,
                       p,
                       B};
  cell->Gradients(r);
  if (dx)
    k.gemm(TB, u.in, GH, dg, GH, packed_bwd.data() + u.bw_ih, nullptr, dx, u.in, dx_accumulate, p);
  Barrier(p);
}

template <typename T>
Status Layer<T>::Impl::Backward(const BackwardArgs& a) {
  if (!pending)
    return Status::Error(Code::kNoForward,
                         "backward needs a forward with train: true first (once per forward; "
                         "setParameters in between discards it)");
  if (a.d_c_n && C == 0)
    return Status::Error(Code::kInvalidArgument,
                         "a c gradient is the gradient of a cell state, which " +
                             WithArticle(FamilyOf(cfg.cell)->title()) + " has not");
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
  const int Tn = ws_T, B = ws_B, L = cfg.num_layers;
  const int I = cfg.input_size;
  const size_t TB = size_t(Tn) * B, ldo = size_t(D) * R;
  T* W = work.data();
  T* V = bwork.data();
  T* dy = V + bw.dy[0];
  T* dxl = V + bw.dy[1];
  // Time-major arguments are read and written in place (no copy through dy and dxl) unless
  // the caller's d_output and d_x overlap.
  const T* user_dy = static_cast<const T*>(a.d_output);
  T* user_dx = static_cast<T*>(a.d_x);
  // (Addresses compared as integers: the two arrays are unrelated objects.)
  const uintptr_t dy0 = reinterpret_cast<uintptr_t>(user_dy);
  const uintptr_t dx0 = reinterpret_cast<uintptr_t>(user_dx);
  const bool overlap =
      user_dy && user_dx && dy0 < dx0 + TB * I * sizeof(T) && dx0 < dy0 + TB * ldo * sizeof(T);
  const bool in_place = !ws_batch_first && !overlap;
  const T* top = dy;  // the top layer's output gradient
  if (user_dy && in_place)
    top = user_dy;
  else if (user_dy)
    CopyTimeMajor(Tn, B, ldo, ws_batch_first, user_dy, dy, true);
  else
    std::fill(dy, dy + TB * ldo, T(0));
  T* const dx_in_place = in_place ? user_dx : nullptr;
  T* dx_out = nullptr;  // where layer 0 wrote its input gradient
  const double flops = 4.0 * B * StackRowFlops();
  Parallel(engine.pool.get(), Threads(flops), std::is_same<T, float>::value, [&](Part p) {
    // Layer l reads gy and writes gx; the layer below reads that and writes the other buffer.
    T* bufs[2] = {dy, dxl};
    const T* gy = top;
    int out = 1;
    for (int l = L - 1; l >= 0; --l) {
      const bool want_dx = l > 0 || a.d_x;
      T* gx = l == 0 && dx_in_place ? dx_in_place : bufs[out];
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
        gy = gx;
        out ^= 1;
      } else if (p.ith == 0) {
        dx_out = gx;
      }
    }
  });
  if (a.d_x) {
    if (ws.imask != kNone) {  // through x_t ⊙ mask
      const T* m = W + ws.imask;
      for (size_t tb = 0; tb < TB; ++tb) {
        const T* mb = m + (tb % size_t(B)) * I;
        for (int i = 0; i < I; ++i) dx_out[tb * I + i] *= mb[i];
      }
    }
    if (has_lengths) ZeroPadded(dx_out, I);
    if (dx_out != user_dx) CopyTimeMajor(Tn, B, I, ws_batch_first, dx_out, user_dx, false);
  }
  return Status::Ok();
}

#define CELLSTATE_INSTANTIATE(T)                                                                 \
  template void TransposeSum<T>(size_t, size_t, const T*, T*, T*, T*, Part);                     \
  template void InputWeightGrad<T>(const BwdReduce<T>&, size_t);                                 \
  template void Layer<T>::Impl::BackwardUnit(Unit&, const BackwardArgs&, const T*, const T*, T*, \
                                             bool, Part);                                        \
  template Status Layer<T>::Impl::Backward(const BackwardArgs&);
CELLSTATE_INSTANTIATE(float)
CELLSTATE_INSTANTIATE(double)
#undef CELLSTATE_INSTANTIATE

}  // namespace cellstate
