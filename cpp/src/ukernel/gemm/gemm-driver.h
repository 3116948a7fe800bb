// The one GEMM driver of every ISA: GemmDriver<P> over a micro-kernel policy P (its MR x NR
// register tile, vector type, loads, FMA and stores, K and M block sizes). Each gemm-<isa>.cc
// defines its policy and instantiates the driver; nothing else about blocking, panel grouping,
// short rows or packing differs between ISAs.
//
// Include this file inside the anonymous namespace of an ISA translation unit, after
// "ukernel/gemm/gemm.h" (for size_t, ptrdiff_t, Part, CELLSTATE_UNROLL) and the policy: every
// function is then private to that translation unit, compiled with its ISA flags, and can never
// be merged by the linker with the same template compiled for another ISA. No STL.
//
// Loops (BLIS order, A read in place): K blocks of P::kKc rows of B, then row blocks of P::kMc
// rows of A (an A block stays in L2), then this thread's column panels (a KC x NR slice of a
// panel stays in L1), then MR-row tiles. Rows left over (M mod MR, and all of M < MR, e.g. the
// batch-1 step) run an mr x (NP*NR) tile over NP panels at once, NP = ShortPanels(mr), so that
// about P::kShortAcc accumulators give every FMA chain enough independent neighbours to hide
// the FMA latency; panels are visited in groups of NP, the left-over rows right after the full
// tiles of their group, so that B streams through the cache once per row block.
//
// Policies with P::kNcPanels > 0 run products of at least P::kNcMinRows rows in the other order
// (ColumnBlocks): K blocks, then blocks of kNcPanels panels (in L2), then MR-row tiles (their
// slice of A in L1), then the panels of the block.
//
// Each C element is one chain from its init value over k in order (gemm.h); K blocks store and
// reload it exactly, so nothing depends on the tiling, the block sizes, M or part.nth.
//
// GemmPair (Kernels::gemm_pair, the streaming step: x_t · W_ih^T, then h_{t-1} · W_hh^T on the
// same columns) runs M < kMr rows in groups of StreamPanels(M) panels, each group one tile
// over all K of the first product and then one of the second, the groups in either order;
// the tiles are Tile's, so the results are those of two Gemm calls.
//
// The policy P provides (all static):
//   V                        the vector type of kW floats (float itself for the scalar path)
//   Mask                     the valid lanes of the kNv vectors of a partial panel
//   kW, kNv                  floats per vector, vectors per panel row: NR = kW * kNv
//   kMr, kKc, kMc            main tile rows, K block, row block (a multiple of kMr)
//   kNcPanels, kNcMinRows    0, or the panels of a column block of the other loop order
//                            (ColumnBlocks), run when M >= kNcMinRows
//   kShortAcc                accumulators aimed at by the tiles of the rows left over
//   kPrefetch                main tiles prefetch the next panel's slice, one line per 64 B
//   kStreamAcc               accumulators aimed at by GemmPair's tiles (few rows)
//   kLaneK                   1, or k values of an A row per vector load (FmaLane, NEON)
//   Mask MakeMask(n)         lanes [0, n) of a panel, n in 1..NR
//   V Zero(), Load(p), LoadMasked(p, mask, v), Broadcast(p), Add(x, y), Fma(a, b, c) = a*b + c
//   void Store(p, x), StoreMasked(p, x, mask, v), Prefetch(p)
//     (v: which of the kNv vectors of the panel row; masked-off lanes are neither read nor
//     written, masked-off loads give 0)
//   kLaneK > 1 only: V LoadA(p) (kLaneK floats), template <int L> V FmaLane(acc, b, aq)
//     = acc + b * aq[L] fused

// Attributes of the tile function (the scalar path keeps GCC's loop vectorizer off it).
#ifndef CELLSTATE_GEMM_TILE_ATTR
#define CELLSTATE_GEMM_TILE_ATTR
#endif

template <class P>
struct GemmDriver {
  using V = typename P::V;
  using Mask = typename P::Mask;
  static constexpr size_t kNv = P::kNv;
  static constexpr size_t kW = P::kW;
  static constexpr size_t kNr = P::kW * P::kNv;
  static constexpr size_t kMr = P::kMr;
  static_assert(P::kMc % P::kMr == 0, "the row block is a multiple of the tile rows");

  static size_t MinSize(size_t a, size_t b) { return a < b ? a : b; }

  // One k step of a kLaneK-deep A quad: acc[m][j] += aq[m][L] * B(k0 + L, j) for L in
  // [L0, kLaneK). b: row k0 of the first panel.
  template <int L, size_t MR, size_t J>
  static void StepLanes(V (&acc)[MR][J], const V (&aq)[MR], const float* b, size_t bs) {
    if constexpr (L < static_cast<int>(P::kLaneK)) {
      V bk[J];
      CELLSTATE_UNROLL(32)
      for (size_t j = 0; j < J; ++j) bk[j] = P::Load(b + (j / kNv) * bs + L * kNr + (j % kNv) * kW);
      CELLSTATE_UNROLL(16)
      for (size_t m = 0; m < MR; ++m) {
        CELLSTATE_UNROLL(32)
        for (size_t j = 0; j < J; ++j) acc[m][j] = P::template FmaLane<L>(acc[m][j], bk[j], aq[m]);
      }
      StepLanes<L + 1>(acc, aq, b, bs);
    }
  }

  // One tile: MR rows of C by NP panels (NP*NR columns), k in [0, kc).
  //   a: &A[m0, k0]; b: panel p0 at row k0 (panel p at b + p*bs); c: &C[m0, n0];
  //   bias: &bias[n0] or null (first K block only); load_c: start from C (accumulate, or a
  //   later K block). kEdge: the last of the NP panels is partial, its valid lanes in mask.
  //   pf: main tiles only, the next panel's slice of this K block (prefetched as k goes).
  template <size_t MR, size_t NP, bool kEdge>
  CELLSTATE_GEMM_TILE_ATTR static void Tile(size_t kc, const float* a, size_t lda, const float* b,
                                            size_t bs, float* c, size_t ldc, const float* bias,
                                            bool load_c, const Mask& mask, const float* pf) {
    constexpr size_t J = kNv * NP;
    V acc[MR][J];
    CELLSTATE_UNROLL(32)
    for (size_t j = 0; j < J; ++j) {
      const bool masked = kEdge && j / kNv == NP - 1;
      const size_t v = j % kNv;
      const size_t off = j * kW;
      V bv = P::Zero();
      if (bias != nullptr) bv = masked ? P::LoadMasked(bias + off, mask, v) : P::Load(bias + off);
      CELLSTATE_UNROLL(16)
      for (size_t m = 0; m < MR; ++m) {
        if (load_c) {
          const float* cm = c + m * ldc + off;
          const V cv = masked ? P::LoadMasked(cm, mask, v) : P::Load(cm);
          acc[m][j] = bias != nullptr ? P::Add(cv, bv) : cv;
        } else {
          acc[m][j] = bv;
        }
      }
    }

    size_t k = 0;
    if constexpr (P::kLaneK > 1) {
      for (; k + P::kLaneK <= kc; k += P::kLaneK) {
        V aq[MR];
        CELLSTATE_UNROLL(16)
        for (size_t m = 0; m < MR; ++m) aq[m] = P::LoadA(a + m * lda + k);
        StepLanes<0>(acc, aq, b + k * kNr, bs);
      }
    }
    for (; k < kc; ++k) {
      if constexpr (P::kPrefetch && MR == kMr) {
        CELLSTATE_UNROLL(4)
        for (size_t l = 0; l < kNr * sizeof(float); l += 64) {
          P::Prefetch(reinterpret_cast<const char*>(pf + k * kNr) + l);
        }
      }
      V bk[J];
      CELLSTATE_UNROLL(32)
      for (size_t j = 0; j < J; ++j) bk[j] = P::Load(b + (j / kNv) * bs + k * kNr + (j % kNv) * kW);
      CELLSTATE_UNROLL(16)
      for (size_t m = 0; m < MR; ++m) {
        const V ak = P::Broadcast(a + m * lda + k);
        CELLSTATE_UNROLL(32)
        for (size_t j = 0; j < J; ++j) acc[m][j] = P::Fma(ak, bk[j], acc[m][j]);
      }
    }

    CELLSTATE_UNROLL(16)
    for (size_t m = 0; m < MR; ++m) {
      CELLSTATE_UNROLL(32)
      for (size_t j = 0; j < J; ++j) {
        float* cm = c + m * ldc + j * kW;
        if (kEdge && j / kNv == NP - 1) {
          P::StoreMasked(cm, acc[m][j], mask, j % kNv);
        } else {
          P::Store(cm, acc[m][j]);
        }
      }
    }
  }

  // What one call shares between tiles.
  struct Job {
    size_t bs;          // panel stride K * NR
    size_t kc;          // rows of this K block
    const float* Bp;    // packed B at row k0 of panel 0
    const float* bias;  // null after the first K block
    bool load_c;        // start from C (accumulate, or a later K block)
    size_t np;          // panels in B
    Mask last_mask;     // valid lanes of panel np - 1
    bool last_partial;  // N is not a multiple of NR
  };

  // One tile over the R panels [p, p + R) for MR rows starting at a / c.
  template <size_t MR, size_t R>
  static void PanelTile(const Job& job, const float* a, size_t lda, float* c, size_t ldc,
                        size_t p) {
    const size_t bs = job.bs;
    const float* b = job.Bp + p * bs;
    float* cp = c + p * kNr;
    const float* bias = job.bias != nullptr ? job.bias + p * kNr : nullptr;
    if (job.last_partial && p + R == job.np) {
      Tile<MR, R, true>(job.kc, a, lda, b, bs, cp, ldc, bias, job.load_c, job.last_mask, b);
    } else {
      Tile<MR, R, false>(job.kc, a, lda, b, bs, cp, ldc, bias, job.load_c, job.last_mask, b);
    }
  }

  // The last r < NP panels [p, p + r) in one tile of r panels.
  template <size_t MR, size_t R>
  static void PanelRest(size_t r, const Job& job, const float* a, size_t lda, float* c, size_t ldc,
                        size_t p) {
    if constexpr (R > 0) {
      if (r == R) {
        PanelTile<MR, R>(job, a, lda, c, ldc, p);
      } else {
        PanelRest<MR, R - 1>(r, job, a, lda, c, ldc, p);
      }
    }
  }

  // Panels per tile for mr < kMr rows: about kShortAcc accumulators, at least one panel.
  static constexpr size_t ShortPanels(size_t mr) {
    return mr * kNv >= P::kShortAcc ? 1 : P::kShortAcc / (mr * kNv);
  }

  // Rows [0, mr) with 0 < mr <= MR < kMr over the panels [p, p_end): tiles of
  // ShortPanels(mr) panels, then one of the rest.
  template <size_t MR>
  static void ShortRows(size_t mr, const Job& job, const float* a, size_t lda, float* c, size_t ldc,
                        size_t p, size_t p_end) {
    if constexpr (MR > 0) {
      if (mr == MR) {
        constexpr size_t NP = ShortPanels(MR);
        for (; p + NP <= p_end; p += NP) PanelTile<MR, NP>(job, a, lda, c, ldc, p);
        PanelRest<MR, NP - 1>(p_end - p, job, a, lda, c, ldc, p);
      } else {
        ShortRows<MR - 1>(mr, job, a, lda, c, ldc, p, p_end);
      }
    }
  }

  static size_t PackedSize(size_t K, size_t N) { return (N + kNr - 1) / kNr * kNr * K; }

  // Panels of NR columns (gemm.h). Rows of B (cs == 1) go a vector at a time, the partial
  // panel with masked loads; otherwise column by column (with rs == 1, B = W^T of a row-major
  // [N, K] W, each column is a contiguous row of W).
  static void Pack(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst) {
    const size_t np = (N + kNr - 1) / kNr;
    for (size_t p = 0; p < np; ++p) {
      const size_t n0 = p * kNr;
      const size_t nr = MinSize(kNr, N - n0);
      float* d = dst + p * K * kNr;
      const float* s0 = src + static_cast<ptrdiff_t>(n0) * cs;
      if (cs == 1) {
        const Mask mask = P::MakeMask(nr);
        for (size_t k = 0; k < K; ++k) {
          const float* s = s0 + static_cast<ptrdiff_t>(k) * rs;
          if (nr == kNr) {
            CELLSTATE_UNROLL(8)
            for (size_t v = 0; v < kNv; ++v) P::Store(d + k * kNr + v * kW, P::Load(s + v * kW));
          } else {
            for (size_t v = 0; v < kNv; ++v) {
              // Vectors wholly past column N - 1 read nothing (no pointer past the row).
              P::Store(d + k * kNr + v * kW,
                       v * kW < nr ? P::LoadMasked(s + v * kW, mask, v) : P::Zero());
            }
          }
        }
      } else {
        for (size_t j = 0; j < kNr; ++j) {
          if (j < nr) {
            const float* s = s0 + static_cast<ptrdiff_t>(j) * cs;
            for (size_t k = 0; k < K; ++k) d[k * kNr + j] = s[static_cast<ptrdiff_t>(k) * rs];
          } else {
            for (size_t k = 0; k < K; ++k) d[k * kNr + j] = 0.0f;
          }
        }
      }
    }
  }

  // This thread's panels [np*ith/nth, np*(ith+1)/nth) of np.
  static void ThreadPanels(size_t np, Part part, size_t* begin, size_t* end) {
    const size_t nth = part.nth > 0 ? static_cast<size_t>(part.nth) : 1;
    const size_t ith = part.ith > 0 ? static_cast<size_t>(part.ith) : 0;
    *begin = np * ith / nth;
    *end = np * (ith + 1) / nth;
  }

  // kernels.h: C[M,N] (=|+=) bias + A · B, this thread's panels [np*ith/nth, np*(ith+1)/nth).
  static void Gemm(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
                   const float* bias, float* C, size_t ldc, bool accumulate, Part part) {
    if (M == 0 || N == 0) return;
    const size_t np = (N + kNr - 1) / kNr;
    size_t p_begin, p_end;
    ThreadPanels(np, part, &p_begin, &p_end);
    if (p_begin >= p_end) return;

    Job job;
    job.np = np;
    job.bs = K * kNr;
    const size_t bs = job.bs;
    job.last_partial = N % kNr != 0;
    job.last_mask = P::MakeMask(N - (np - 1) * kNr);
    size_t k0 = 0;
    do {  // at least once: K == 0 still writes init
      job.kc = MinSize(P::kKc, K - k0);
      job.Bp = Bp + k0 * kNr;
      job.bias = k0 == 0 ? bias : nullptr;
      job.load_c = accumulate || k0 != 0;
      const float* Ak = A + k0;
      if constexpr (P::kNcPanels > 0) {
        if (M >= P::kNcMinRows) {
          ColumnBlocks(M, job, Ak, lda, C, ldc, p_begin, p_end);
          k0 += P::kKc;
          continue;
        }
      }
      for (size_t i0 = 0; i0 < M; i0 += P::kMc) {
        const size_t mc = MinSize(P::kMc, M - i0);
        const size_t mfull = mc / kMr * kMr;
        const size_t rest = mc - mfull;
        // Panels in groups of as many as one tile of the rest rows spans: the full tiles of
        // the group, then the rest rows over the group while its slices are still in cache.
        const size_t group = rest != 0 ? ShortPanelsOf<kMr - 1>(rest) : p_end - p_begin;
        for (size_t q = p_begin; q < p_end; q += group) {
          const size_t q_end = MinSize(q + group, p_end);
          if (mfull != 0) {
            for (size_t p = q; p < q_end; ++p) {
              const float* b = job.Bp + p * bs;
              const float* pb = job.bias != nullptr ? job.bias + p * kNr : nullptr;
              const bool edge = job.last_partial && p == np - 1;
              // While this panel's slice is in L1, pull the next one in (the first tile of a
              // panel would otherwise wait on memory: consecutive panels are K * NR floats
              // apart).
              const float* pf = p + 1 < p_end ? b + bs : b;
              for (size_t i = i0; i < i0 + mfull; i += kMr) {
                const float* a = Ak + i * lda;
                float* c = C + i * ldc + p * kNr;
                if (edge) {
                  Tile<kMr, 1, true>(job.kc, a, lda, b, bs, c, ldc, pb, job.load_c, job.last_mask,
                                     pf);
                } else {
                  Tile<kMr, 1, false>(job.kc, a, lda, b, bs, c, ldc, pb, job.load_c, job.last_mask,
                                      pf);
                }
              }
            }
          }
          if (rest != 0) {
            const size_t i = i0 + mfull;
            ShortRows<kMr - 1>(rest, job, Ak + i * lda, lda, C + i * ldc, ldc, q, q_end);
          }
        }
      }
      k0 += P::kKc;
    } while (k0 < K);
  }

  // One K block in the order column block -> row tile -> panel (P::kNcPanels > 0, M >=
  // P::kNcMinRows): kNcPanels panels of B (kc x kNcPanels*NR floats) stay in L2 while every
  // MR-row tile of A runs over them, its MR x kc slice of A staying in L1 across the panels; the
  // rows left over run over the block last.
  static void ColumnBlocks(size_t M, const Job& job, const float* Ak, size_t lda, float* C,
                           size_t ldc, size_t p_begin, size_t p_end) {
    const size_t bs = job.bs;
    const size_t mfull = M / kMr * kMr;
    for (size_t q = p_begin; q < p_end; q += P::kNcPanels) {
      const size_t q_end = MinSize(q + P::kNcPanels, p_end);
      for (size_t i = 0; i < mfull; i += kMr) {
        const float* a = Ak + i * lda;
        for (size_t p = q; p < q_end; ++p) {
          const float* b = job.Bp + p * bs;
          const float* pb = job.bias != nullptr ? job.bias + p * kNr : nullptr;
          // The next tile's panel (the block's first for the next rows), prefetched into L1.
          const float* pf = p + 1 < q_end ? b + bs : job.Bp + q * bs;
          float* c = C + i * ldc + p * kNr;
          if (job.last_partial && p == job.np - 1) {
            Tile<kMr, 1, true>(job.kc, a, lda, b, bs, c, ldc, pb, job.load_c, job.last_mask, pf);
          } else {
            Tile<kMr, 1, false>(job.kc, a, lda, b, bs, c, ldc, pb, job.load_c, job.last_mask, pf);
          }
        }
      }
      if (mfull < M) {
        ShortRows<kMr - 1>(M - mfull, job, Ak + mfull * lda, lda, C + mfull * ldc, ldc, q, q_end);
      }
    }
  }

  // ShortPanels(mr) for a run-time mr in 1..kMr-1.
  template <size_t MR>
  static size_t ShortPanelsOf(size_t mr) {
    if constexpr (MR > 0) {
      return mr == MR ? ShortPanels(MR) : ShortPanelsOf<MR - 1>(mr);
    } else {
      return 1;
    }
  }

  // ---- GemmPair: two products over the same columns, for few rows -------------------------

  // Panels per stream tile of mr < kMr rows: about kStreamAcc accumulators, at least one panel.
  static constexpr size_t StreamPanels(size_t mr) {
    return mr * kNv >= P::kStreamAcc ? 1 : P::kStreamAcc / (mr * kNv);
  }

  // Rows [0, mr), 0 < mr <= MR < kMr, over the r <= StreamPanels(mr) panels [p, p + r).
  template <size_t MR>
  static void StreamRows(size_t mr, const Job& job, const float* a, size_t lda, float* c,
                         size_t ldc, size_t p, size_t r) {
    if constexpr (MR > 0) {
      if (mr == MR) {
        PanelRest<MR, StreamPanels(MR)>(r, job, a, lda, c, ldc, p);
      } else {
        StreamRows<MR - 1>(mr, job, a, lda, c, ldc, p, r);
      }
    }
  }

  // StreamPanels(mr) for a run-time mr in 1..kMr-1.
  template <size_t MR>
  static size_t StreamPanelsOf(size_t mr) {
    if constexpr (MR > 0) {
      return mr == MR ? StreamPanels(MR) : StreamPanelsOf<MR - 1>(mr);
    } else {
      return 1;
    }
  }

  // One operand set as a Job over the whole K: with few rows each tile reads its slice of B
  // once, so a K block that keeps it in L1 buys nothing.
  static Job StreamJob(const GemmOp<float>& o, size_t N, size_t np) {
    Job job;
    job.bs = o.K * kNr;
    job.kc = o.K;
    job.Bp = o.Bp;
    job.bias = o.bias;
    job.load_c = o.accumulate;
    job.np = np;
    job.last_partial = N % kNr != 0;
    job.last_mask = P::MakeMask(N - (np - 1) * kNr);
    return job;
  }

  // kernels.h: gemm(f) then gemm(s); M < kMr rows go panel group by panel group through both
  // (this thread's panels, as Gemm splits them), the groups from the last when `reverse`.
  static void GemmPair(size_t M, size_t N, const GemmOp<float>& f, const GemmOp<float>& s,
                       bool reverse, Part part) {
    if (M >= kMr) {
      Gemm(M, N, f.K, f.A, f.lda, f.Bp, f.bias, f.C, f.ldc, f.accumulate, part);
      Gemm(M, N, s.K, s.A, s.lda, s.Bp, s.bias, s.C, s.ldc, s.accumulate, part);
      return;
    }
    if (M == 0 || N == 0) return;
    const size_t np = (N + kNr - 1) / kNr;
    size_t p_begin, p_end;
    ThreadPanels(np, part, &p_begin, &p_end);
    if (p_begin >= p_end) return;
    const Job jf = StreamJob(f, N, np);
    const Job js = StreamJob(s, N, np);
    const size_t group = StreamPanelsOf<kMr - 1>(M);
    const size_t groups = (p_end - p_begin + group - 1) / group;
    for (size_t i = 0; i < groups; ++i) {
      const size_t q = p_begin + (reverse ? groups - 1 - i : i) * group;
      const size_t r = MinSize(group, p_end - q);
      StreamRows<kMr - 1>(M, jf, f.A, f.lda, f.C, f.ldc, q, r);
      StreamRows<kMr - 1>(M, js, s.A, s.lda, s.C, s.ldc, q, r);
    }
  }
};
