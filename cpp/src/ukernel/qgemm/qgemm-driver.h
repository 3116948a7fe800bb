// The int8 GEMM's loops and epilogue arguments, one template for every SIMD path
// (qgemm-avx512vnni.cc, qgemm-x86-impl.h for AVX2 and AVX-VNNI, qgemm-neon-impl.h for NEON with
// and without sdot), like the float GEMM's gemm-driver.h: each ISA supplies only its register
// tile. Included inside an anonymous namespace of each ISA file, so that each gets its own copy
// compiled with its own flags (nothing here is shared with baseline code: no function-local
// statics, no out-of-line non-template functions).
//
// Loops: row blocks of kQMc rows; in each, this thread's column panels (a contiguous range of
// part.nth's split) in groups of NP (a last group short of NP goes one panel at a time); for each
// group the block's rows in tiles of Isa::MainRows<NP>() rows, then one tile of the 1-3 rows left.
// Every C element is one exact int32 sum and one fused epilogue whatever the tile, so the
// schedule changes no bit.
//
// Isa provides:
//   template <size_t NP> static constexpr size_t MainRows();  // 1 to 4
//   template <size_t MR, size_t NP>
//   static void Tile(size_t groups, const int8_t* a, size_t lda, const int8_t* b, size_t ps,
//                    const float* as, const QOut& o);
// where a is the tile's first row of Aq, b its first panel (ps bytes a panel), as its rows'
// scales, and Tile writes the MR x (16 NP) block of C that o describes (columns past o.ncols
// untouched).
//
// Needs: <cstddef>, <cstdint>, <type_traits>, qgemm.h.

struct QOut {
  const int32_t* corr;  // 128 * row sums of the tile's first panel (the unsigned-offset paths)
  const float* ws;      // &w_scale[n0]
  const float* bias;    // &bias[n0] or null
  float* c;             // &C[m0, n0]
  size_t ldc;
  size_t ncols;  // valid columns from n0
  bool accumulate;
};

template <class Isa, size_t NP>
void QDrive(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda, const float* a_scale,
            const void* Wp, const float* w_scale, const float* bias, float* C, size_t ldc,
            bool accumulate, Part part) {
  constexpr size_t kMain = Isa::template MainRows<NP>();
  static_assert(kMain >= 1 && kMain <= 4, "a remainder of at most 3 rows");
  const size_t panels = (N + kQNr - 1) / kQNr;
  const size_t groups = (K + 3) / 4;
  const size_t ps = groups * 4 * kQNr;
  const int8_t* w = static_cast<const int8_t*>(Wp);
  const int32_t* sums = reinterpret_cast<const int32_t*>(w + panels * ps);
  const size_t p0 = panels * static_cast<size_t>(part.ith) / static_cast<size_t>(part.nth);
  const size_t p1 = panels * static_cast<size_t>(part.ith + 1) / static_cast<size_t>(part.nth);
  for (size_t mb = 0; mb < M; mb += kQMc) {
    const size_t me = M - mb > kQMc ? mb + kQMc : M;
    for (size_t p = p0; p < p1;) {
      const size_t np = p1 - p >= NP ? NP : 1;
      const size_t n0 = p * kQNr;
      const int8_t* b = w + p * ps;
      size_t m = mb;
      auto rows = [&](auto mr) {
        constexpr size_t kMr = decltype(mr)::value;
        const QOut o{sums + n0, w_scale + n0, bias ? bias + n0 : nullptr, C + m * ldc + n0, ldc,
                     N - n0,    accumulate};
        if (np == NP)
          Isa::template Tile<kMr, NP>(groups, Aq + m * lda, lda, b, ps, a_scale + m, o);
        else
          Isa::template Tile<kMr, 1>(groups, Aq + m * lda, lda, b, ps, a_scale + m, o);
        m += kMr;
      };
      while (me - m >= kMain) rows(std::integral_constant<size_t, kMain>{});
      const size_t left = me - m;  // < kMain <= 4
      if constexpr (kMain > 3) {
        if (left == 3) rows(std::integral_constant<size_t, 3>{});
      }
      if constexpr (kMain > 2) {
        if (left == 2) rows(std::integral_constant<size_t, 2>{});
      }
      if constexpr (kMain > 1) {
        if (left == 1) rows(std::integral_constant<size_t, 1>{});
      }
      p += np;
    }
  }
}
