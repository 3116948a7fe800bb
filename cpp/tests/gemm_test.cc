// GEMM micro-kernels of every ISA this CPU runs against a naive double-precision loop, on sizes
// equal to, below, above and multiples of the tiles; both packing strides; with and without
// bias and accumulate; and bit-identical results for nth = 1, 2, 3 and for one row alone
// (M = 1, the streaming step) versus the same row inside a larger M; gemm_pair equal to its two
// gemm calls bit for bit.
#include "ukernel/gemm/gemm.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "dispatch/cpu.h"

namespace cellstate {
namespace {

struct Isa {
  const char* name;
  size_t (*packed_size)(size_t K, size_t N);
  void (*pack)(size_t K, size_t N, const float* src, ptrdiff_t rs, ptrdiff_t cs, float* dst);
  void (*gemm)(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* Bp,
               const float* bias, float* C, size_t ldc, bool accumulate, Part part);
  void (*gemm_pair)(size_t M, size_t N, const GemmOp<float>& first, const GemmOp<float>& second,
                    bool reverse, Part part);
};

struct Case {
  size_t M, N, K;
  bool transposed;  // B = W^T of a row-major [N, K] W (rs = 1); else B is [K, N] (cs = 1)
  bool bias;
  bool accumulate;
};

int g_passed = 0;
int g_failed = 0;

void Fail(const Isa& isa, const Case& c, const char* what) {
  if (g_failed < 20) {
    std::printf("FAIL %s M=%zu N=%zu K=%zu %s bias=%d acc=%d: %s\n", isa.name, c.M, c.N, c.K,
                c.transposed ? "rs=1" : "cs=1", c.bias, c.accumulate, what);
  }
  ++g_failed;
}

GemmOp<float> Op(size_t K, const float* A, size_t lda, const float* Bp, const float* bias, float* C,
                 size_t ldc, bool accumulate) {
  GemmOp<float> o;
  o.K = K;
  o.A = A;
  o.lda = lda;
  o.Bp = Bp;
  o.bias = bias;
  o.C = C;
  o.ldc = ldc;
  o.accumulate = accumulate;
  return o;
}

// The gemm_pair check of RunCase; first is c's product (A, Bp, bias), second one of depth
// K / 2 + 1 on new operands.
bool PairMatches(const Isa& isa, const Case& c, const std::vector<float>& A, size_t lda,
                 const std::vector<float>& Bp, const std::vector<float>& bias,
                 const std::vector<float>& C0, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const size_t M = c.M, N = c.N, K2 = c.K / 2 + 1, lda2 = K2 + 2, ldc = N + 5;
  std::vector<float> A2(M * lda2), B2(K2 * N), bias2(N), C2(M * ldc);
  for (float& x : A2) x = dist(rng);
  for (float& x : B2) x = dist(rng);
  for (float& x : bias2) x = dist(rng);
  for (float& x : C2) x = dist(rng);
  std::vector<float> Bp2(isa.packed_size(K2, N));
  isa.pack(K2, N, B2.data(), static_cast<ptrdiff_t>(N), 1, Bp2.data());
  const float* b1 = c.bias ? bias.data() : nullptr;
  for (int own = 0; own < 2; ++own) {  // second into C (continuing) or into its own C2
    std::vector<float> want = C0, want2 = C2;
    float* s_c = own ? want2.data() : want.data();
    isa.gemm(M, N, c.K, A.data(), lda, Bp.data(), b1, want.data(), ldc, c.accumulate, Part{});
    isa.gemm(M, N, K2, A2.data(), lda2, Bp2.data(), own ? bias2.data() : nullptr, s_c, ldc,
             own ? c.accumulate : true, Part{});
    for (int nth = 1; nth <= 3; nth += 2) {
      for (int reverse = 0; reverse < 2; ++reverse) {
        std::vector<float> got = C0, got2 = C2;
        const GemmOp<float> f =
            Op(c.K, A.data(), lda, Bp.data(), b1, got.data(), ldc, c.accumulate);
        const GemmOp<float> s = Op(K2, A2.data(), lda2, Bp2.data(), own ? bias2.data() : nullptr,
                                   own ? got2.data() : got.data(), ldc, own ? c.accumulate : true);
        for (int ith = 0; ith < nth; ++ith) isa.gemm_pair(M, N, f, s, reverse != 0, Part{ith, nth});
        if (std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) != 0 ||
            std::memcmp(got2.data(), want2.data(), got2.size() * sizeof(float)) != 0) {
          char msg[160];
          std::snprintf(msg, sizeof msg,
                        "gemm_pair (%s C, nth %d, reverse %d) differs from its two gemm calls",
                        own ? "own" : "shared", nth, reverse);
          Fail(isa, c, msg);
          return false;
        }
      }
    }
  }
  return true;
}

bool RunCase(const Isa& isa, const Case& c, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const size_t M = c.M, N = c.N, K = c.K;
  const size_t lda = K + 3, ldc = N + 5;
  const ptrdiff_t rs = c.transposed ? 1 : static_cast<ptrdiff_t>(N + 2);
  const ptrdiff_t cs = c.transposed ? static_cast<ptrdiff_t>(K + 1) : 1;
  std::vector<float> A(M * lda), src(c.transposed ? N * (K + 1) : K * (N + 2)), bias(N);
  std::vector<float> C0(M * ldc);
  for (float& x : A) x = dist(rng);
  for (float& x : src) x = dist(rng);
  for (float& x : bias) x = dist(rng);
  for (float& x : C0) x = dist(rng);

  // Pack into a NaN-filled buffer with a guard: every element inside must be written.
  const size_t ps = isa.packed_size(K, N);
  const size_t guard = 64;
  std::vector<float> Bp(ps + guard, std::nanf(""));
  isa.pack(K, N, src.data(), rs, cs, Bp.data());
  for (size_t i = 0; i < ps; ++i) {
    if (std::isnan(Bp[i])) {
      Fail(isa, c, "pack left an element unwritten");
      return false;
    }
  }
  for (size_t i = ps; i < ps + guard; ++i) {
    if (!std::isnan(Bp[i])) {
      Fail(isa, c, "pack wrote past packed_size");
      return false;
    }
  }

  // Panels are contiguous K x NR blocks (NR = packed_size(1, 1)): packing the columns from
  // panel 1 on by themselves lands at panel 1 of the whole (threads pack by panels this way).
  const size_t nr = isa.packed_size(1, 1);
  if (N > nr && K > 0) {
    std::vector<float> part(isa.packed_size(K, N - nr));
    isa.pack(K, N - nr, src.data() + static_cast<ptrdiff_t>(nr) * cs, rs, cs, part.data());
    if (std::memcmp(part.data(), Bp.data() + nr * K, part.size() * sizeof(float)) != 0) {
      Fail(isa, c, "packing panels 1.. alone differs from panels 1.. of the whole");
      return false;
    }
  }

  // Results for nth = 1, 2, 3 (threads run one after the other).
  std::vector<float> Cn[3];
  for (int nth = 1; nth <= 3; ++nth) {
    std::vector<float>& Cr = Cn[nth - 1];
    Cr = C0;
    for (int ith = 0; ith < nth; ++ith) {
      isa.gemm(M, N, K, A.data(), lda, Bp.data(), c.bias ? bias.data() : nullptr, Cr.data(), ldc,
               c.accumulate, Part{ith, nth});
    }
  }
  for (int nth = 2; nth <= 3; ++nth) {
    if (std::memcmp(Cn[0].data(), Cn[nth - 1].data(), Cn[0].size() * sizeof(float)) != 0) {
      Fail(isa, c, "results differ between nth = 1 and nth > 1");
      return false;
    }
  }

  // The last row alone (M = 1) equals the same row inside the full product, bit for bit.
  {
    std::vector<float> row(C0.begin() + (M - 1) * ldc, C0.begin() + (M - 1) * ldc + N);
    isa.gemm(1, N, K, A.data() + (M - 1) * lda, lda, Bp.data(), c.bias ? bias.data() : nullptr,
             row.data(), N, c.accumulate, Part{});
    if (std::memcmp(row.data(), Cn[0].data() + (M - 1) * ldc, N * sizeof(float)) != 0) {
      Fail(isa, c, "row computed with M = 1 differs from the same row of the full product");
      return false;
    }
  }

  // gemm_pair (rows up to 17: below, at and above every main tile) equals gemm(first) then
  // gemm(second) bit for bit, for nth = 1 and 3 and both orders of the panel groups: second
  // continuing first's chains in C (x_t, then h_{t-1} into the same gates) or into its own C2.
  if (M <= 17 && !PairMatches(isa, c, A, lda, Bp, bias, C0, rng)) return false;

  // Against double precision. Tolerance: 1e-5 * (K + 1) * the largest term of the sum; float
  // rounding of K + 2 terms is far below that.
  const std::vector<float>& Cr = Cn[0];
  for (size_t m = 0; m < M; ++m) {
    for (size_t n = 0; n < ldc; ++n) {
      const float got = Cr[m * ldc + n];
      if (n >= N) {  // padding of C untouched
        if (std::memcmp(&got, &C0[m * ldc + n], sizeof got) != 0) {
          Fail(isa, c, "wrote C outside [M, N]");
          return false;
        }
        continue;
      }
      double want = 0.0, big = 0.0;
      if (c.accumulate) {
        want += C0[m * ldc + n];
        big = std::fabs(want);
      }
      if (c.bias) {
        want += bias[n];
        big = std::fmax(big, std::fabs(static_cast<double>(bias[n])));
      }
      for (size_t k = 0; k < K; ++k) {
        const double t = static_cast<double>(A[m * lda + k]) *
                         src[static_cast<ptrdiff_t>(k) * rs + static_cast<ptrdiff_t>(n) * cs];
        want += t;
        big = std::fmax(big, std::fabs(t));
      }
      const double tol = 1e-5 * static_cast<double>(K + 1) * big;
      if (!(std::fabs(got - want) <= tol)) {
        char msg[160];
        std::snprintf(msg, sizeof msg, "C[%zu,%zu] = %.9g, want %.9g (tol %.3g)", m, n, got, want,
                      tol);
        Fail(isa, c, msg);
        return false;
      }
    }
  }
  return true;
}

void RunIsa(const Isa& isa) {
  // Around the tiles: rows 6 (avx2), 8 (neon), 12 (avx512); panels of 8, 16, 32 columns.
  static const size_t kSizes[] = {1, 3, 7, 8, 9, 12, 13, 15, 16, 17, 31, 32, 33, 64, 65, 100, 257};
  static const size_t kDepths[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 33, 64, 65, 100, 257, 300, 600};
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  int passed = 0;
  int failed_before = g_failed;
  for (size_t M : kSizes) {
    for (size_t N : kSizes) {
      for (size_t K : kDepths) {
        // All option combinations for small products; for larger ones a random option, and a
        // random subset of the largest so that the test stays quick under qemu.
        const double work = static_cast<double>(M * N * (K + 1));
        const bool small = work <= 4096;
        const int pick = static_cast<int>(rng() % 8);
        if (!small && coin(rng) > std::pow(10000.0 / work, 0.7)) continue;
        for (int opt = 0; opt < 8; ++opt) {
          if (!small && opt != pick) continue;
          const Case c{M, N, K, (opt & 1) != 0, (opt & 2) != 0, (opt & 4) != 0};
          if (RunCase(isa, c, rng)) ++passed;
        }
      }
    }
  }
  // Large K and M spanning several K blocks and row blocks.
  const Case big[] = {{300, 70, 1100, true, true, true},
                      {150, 33, 1536, false, false, false},
                      {257, 257, 600, false, true, true},
                      {5, 1030, 513, true, true, false},
                      // Rows left over after the full tiles of several panels at a time.
                      {148, 1000, 300, false, true, true},
                      {100, 600, 520, true, false, true}};
  for (const Case& c : big) {
    if (RunCase(isa, c, rng)) ++passed;
  }
  // Every M, every N and every K in 1..70 (0..70 for K) once, the other two sizes and the
  // option random: all row remainders of every tile, every partial panel, every K tail.
  std::uniform_int_distribution<size_t> size70(1, 70), depth70(0, 70);
  for (size_t v = 0; v <= 70; ++v) {
    const int opt = static_cast<int>(rng() % 8);
    const bool tr = (opt & 1) != 0, bi = (opt & 2) != 0, acc = (opt & 4) != 0;
    const Case sweep[] = {{v, size70(rng), depth70(rng), tr, bi, acc},
                          {size70(rng), v, depth70(rng), tr, bi, acc},
                          {size70(rng), size70(rng), v, tr, bi, acc}};
    for (const Case& c : sweep) {
      if (c.M == 0 || c.N == 0) continue;
      if (RunCase(isa, c, rng)) ++passed;
    }
  }
  std::printf("%s: %d passed, %d failed\n", isa.name, passed, g_failed - failed_before);
  g_passed += passed;
}

#if defined(__x86_64__) || defined(_M_X64)
// Two ISAs or blockings with the same fused chain per element (avx2 and avx512: same init, one
// FMA per k in order; avx512 with K blocks of 256 and 512) give the same bits, whatever their
// tiles and blocking.
void SameBits(const Isa& x, const Isa& y) {
  static const Case kCases[] = {
      {1, 1, 1, false, true, false},       {5, 70, 33, true, true, true},
      {13, 33, 257, false, false, true},   {32, 1024, 300, false, true, false},
      {37, 129, 1100, true, false, false}, {150, 48, 65, false, true, true},
      {256, 300, 1100, false, true, true}, {261, 545, 513, true, false, false}};
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int failed = 0;
  for (const Case& c : kCases) {
    const size_t M = c.M, N = c.N, K = c.K;
    const ptrdiff_t rs = c.transposed ? 1 : static_cast<ptrdiff_t>(N);
    const ptrdiff_t cs = c.transposed ? static_cast<ptrdiff_t>(K) : 1;
    std::vector<float> A(M * K), B(K * N), bias(N), C0(M * N);
    for (float& v : A) v = dist(rng);
    for (float& v : B) v = dist(rng);
    for (float& v : bias) v = dist(rng);
    for (float& v : C0) v = dist(rng);
    std::vector<float> out[2];
    const Isa* isas[2] = {&x, &y};
    for (int i = 0; i < 2; ++i) {
      std::vector<float> Bp(isas[i]->packed_size(K, N));
      isas[i]->pack(K, N, B.data(), rs, cs, Bp.data());
      out[i] = C0;
      isas[i]->gemm(M, N, K, A.data(), K, Bp.data(), c.bias ? bias.data() : nullptr, out[i].data(),
                    N, c.accumulate, Part{});
    }
    if (std::memcmp(out[0].data(), out[1].data(), out[0].size() * sizeof(float)) != 0) {
      Fail(y, c, "differs from the other fused ISA bit for bit");
      ++failed;
    }
  }
  std::printf("%s = %s bit for bit: %d cases, %d failed\n", x.name, y.name,
              static_cast<int>(sizeof kCases / sizeof kCases[0]), failed);
}
#endif

}  // namespace
}  // namespace cellstate

int main() {
  using namespace cellstate;
  // The CPUID signatures behind the per-core choice (gemm-avx512.cc): EPYC 9005 (Zen 5),
  // EPYC 9004 (Zen 4), Xeon Scalable (Skylake-SP), and a family below 0xF (no extended fields).
  static const struct {
    unsigned eax, family, model;
  } kSignatures[] = {{0x00B00F21u, 26, 0x02},
                     {0x00A10F11u, 25, 0x11},
                     {0x00050654u, 6, 0x55},
                     {0x00010521u, 5, 0x02}};
  for (const auto& sig : kSignatures) {
    unsigned family = 0, model = 0;
    CpuDecodeSignature(sig.eax, &family, &model);
    if (family != sig.family || model != sig.model) {
      std::printf("FAIL CPUID signature %08x: family %u model %u, want %u %u\n", sig.eax, family,
                  model, sig.family, sig.model);
      ++g_failed;
    }
  }
  std::printf("this CPU: %s core, family %u, model %u\n", CpuCoreName(CpuCoreKind()), CpuFamily(),
              CpuModel());
  RunIsa({"scalar", scalar_packed_size, scalar_pack, scalar_gemm, scalar_gemm_pair});
#if defined(__x86_64__) || defined(_M_X64)
  if (CpuHasAvx2Fma()) {
    RunIsa({"avx2", avx2_packed_size, avx2_pack, avx2_gemm, avx2_gemm_pair});
  } else {
    std::printf("SKIPPED avx2: not supported by this CPU\n");
  }
  if (CpuHasAvx512()) {
    // Both K blocks of the avx512 driver, whichever this core runs (CpuCoreKind), and K block
    // 512 in the row-block order alone.
    const Isa kc256{"avx512/kc256", avx512_packed_size, avx512_pack, avx512_gemm_kc256,
                    avx512_gemm_pair};
    const Isa kc512{"avx512/kc512", avx512_packed_size, avx512_pack, avx512_gemm_kc512,
                    avx512_gemm_pair};
    const Isa kc512rows{"avx512/kc512rows", avx512_packed_size, avx512_pack, avx512_gemm_kc512_rows,
                        avx512_gemm_pair};
    RunIsa(kc256);
    RunIsa(kc512);
    RunIsa(kc512rows);
    std::printf("avx512 on this %s core: K block %zu\n", CpuCoreName(CpuCoreKind()),
                avx512_gemm_kc());
    SameBits(kc256, kc512);
    SameBits(kc512rows, kc512);  // the column-block order changes no bit
    if (CpuHasAvx2Fma()) {
      SameBits({"avx2", avx2_packed_size, avx2_pack, avx2_gemm, avx2_gemm_pair},
               {"avx512", avx512_packed_size, avx512_pack, avx512_gemm, avx512_gemm_pair});
    }
  } else {
    std::printf("SKIPPED avx512: not supported by this CPU\n");
  }
#else
  std::printf("SKIPPED avx2: not built for this architecture\n");
  std::printf("SKIPPED avx512: not built for this architecture\n");
#endif
#if defined(__aarch64__)
  if (CpuHasNeon()) {
    RunIsa({"neon", neon_packed_size, neon_pack, neon_gemm, neon_gemm_pair});
  } else {
    std::printf("SKIPPED neon: not supported by this CPU\n");
  }
#else
  std::printf("SKIPPED neon: not built for this architecture\n");
#endif
  std::printf("gemm: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
