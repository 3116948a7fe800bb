// The int8 GEMM (cpp/src/ukernel/qgemm) of every ISA this CPU runs, against a naive int32
// reference over the unpacked int8 matrices:
//   - packing: the documented layout and the 128 * row sums, byte for byte;
//   - row quantization: the same bytes and scales as the scalar path, zeroed padding, NaN scale
//     for rows with a NaN or an infinity;
//   - integer results bit-exact (unit scales, so C = float(acc) exactly for |acc| < 2^24) on sizes
//     equal to, below, above and multiples of the 16-column panels, the 4-k groups and the row
//     tiles (1..4 rows), including the saturation corner (all weights and activations +-127);
//   - the float epilogue (scales, bias, accumulate) within a few float roundings of double;
//   - results independent of the thread split (nth = 1, 2, 3) and of M (a row alone equals the
//     same row of a larger product); nothing written outside C[M, N];
//   - end to end (QuantizeWeights + quantize_rows + qgemm) within the quantization error bound.
// An ISA the build or CPU lacks prints "SKIPPED <isa>: <reason>". CELLSTATE_QGEMM_REQUIRE=<isa>
// (set for the aarch64 run under `qemu -cpu max`) fails the test when that ISA was skipped.
#include "ukernel/qgemm/qgemm.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cellstate/cellstate.h"
#include "dispatch/cpu.h"
#include "qcheck.h"

namespace cellstate {
namespace {

std::vector<std::string> g_ran;

size_t Round4(size_t k) { return (k + 3) / 4 * 4; }

// acc[m, n] = sum_k Aq[m, k] * Wq[n, k] in int64 (the test also checks it fits int32).
std::vector<int64_t> RefAcc(size_t M, size_t N, size_t K, const int8_t* Aq, size_t lda,
                            const int8_t* Wq) {
  std::vector<int64_t> acc(M * N, 0);
  for (size_t m = 0; m < M; ++m)
    for (size_t n = 0; n < N; ++n) {
      int64_t s = 0;
      for (size_t k = 0; k < K; ++k) s += int64_t{Aq[m * lda + k]} * Wq[n * K + k];
      acc[m * N + n] = s;
    }
  return acc;
}

bool CheckPack(size_t K, size_t N, std::mt19937& rng) {
  std::vector<int8_t> W(N * K);
  for (auto& v : W) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
  const size_t bytes = QgemmPackedSize(K, N);
  std::vector<uint8_t> P(bytes + 64, 0xA5);
  QgemmPack(K, N, W.data(), K, P.data());
  const size_t panels = (N + 15) / 16, kp = Round4(K);
  QCHECK(bytes == panels * 16 * kp + panels * 16 * 4, "packed size K=%zu N=%zu", K, N);
  for (size_t i = bytes; i < P.size(); ++i) QCHECK(P[i] == 0xA5, "pack wrote past its size");
  for (size_t p = 0; p < panels; ++p)
    for (size_t g = 0; g < kp / 4; ++g)
      for (size_t j = 0; j < 16; ++j)
        for (size_t t = 0; t < 4; ++t) {
          const size_t n = p * 16 + j, k = 4 * g + t;
          const int8_t want = (n < N && k < K) ? W[n * K + k] : 0;
          int8_t got;
          std::memcpy(&got, &P[p * kp * 16 + g * 64 + j * 4 + t], 1);
          QCHECK(got == want, "packed byte p=%zu g=%zu j=%zu t=%zu", p, g, j, t);
        }
  for (size_t n = 0; n < panels * 16; ++n) {
    int32_t want = 0, got;
    for (size_t k = 0; n < N && k < K; ++k) want += 128 * W[n * K + k];
    std::memcpy(&got, &P[panels * 16 * kp + n * 4], 4);
    QCHECK(got == want, "row sum n=%zu: %d, want %d", n, got, want);
  }
  // QgemmUnpack gives the rows back (with a row stride wider than K).
  std::vector<int8_t> U(N * (K + 3), 0x5A);
  QgemmUnpack(K, N, P.data(), U.data(), K + 3);
  for (size_t n = 0; n < N; ++n)
    for (size_t k = 0; k < K + 3; ++k)
      QCHECK(U[n * (K + 3) + k] == (k < K ? W[n * K + k] : int8_t{0x5A}), "unpacked n=%zu k=%zu", n,
             k);
  return true;
}

bool CheckQuantizeRows(const QKernels& q, size_t M, size_t K, std::mt19937& rng, int special) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const size_t lda = K + 5, ldq = QgemmLda(K) + 16;
  std::vector<float> A(M * lda);
  for (auto& v : A) v = nd(rng) * (special == 3 ? 1e-30f : 3.0f);
  if (special == 1) A[(M - 1) * lda + K / 2] = std::numeric_limits<float>::quiet_NaN();
  if (special == 2) A[(M - 1) * lda + K - 1] = -std::numeric_limits<float>::infinity();
  if (special == 4)
    for (size_t k = 0; k < K; ++k) A[k] = 0.0f;  // an all-zero row 0
  if (special == 5)                              // exact .5 ties: RNE must agree everywhere
    for (size_t k = 0; k < K; ++k) A[k] = (k == 0) ? 127.0f : static_cast<float>(k % 9) - 4.5f;
  std::vector<int8_t> got(M * ldq, 0x55), want(M * ldq, 0x55);
  std::vector<float> sg(M), sw(M);
  q.quantize_rows(M, K, A.data(), lda, got.data(), ldq, sg.data());
  scalar_quantize_rows(M, K, A.data(), lda, want.data(), ldq, sw.data());
  for (size_t m = 0; m < M; ++m) {
    const bool bad = (special == 1 || special == 2) && m == M - 1;
    if (bad) {
      QCHECK(std::isnan(sg[m]), "%s: row with NaN/inf: scale %g, want NaN", q.name, sg[m]);
    } else {
      QCHECK(std::memcmp(&sg[m], &sw[m], 4) == 0, "%s K=%zu: scale %.9g, scalar %.9g", q.name, K,
             sg[m], sw[m]);
      float amax = 0.0f;
      for (size_t k = 0; k < K; ++k) amax = std::fmax(amax, std::fabs(A[m * lda + k]));
      QCHECK(sg[m] == amax / 127.0f, "%s: scale is not max|a| / 127", q.name);
    }
    for (size_t k = 0; k < ldq; ++k) {
      const int8_t g = got[m * ldq + k];
      QCHECK(g == want[m * ldq + k], "%s K=%zu special=%d: Aq[%zu,%zu] = %d, scalar %d", q.name, K,
             special, m, k, g, want[m * ldq + k]);
      if (k >= K && k < Round4(K)) QCHECK(g == 0, "%s: padding byte %zu not zeroed", q.name, k);
      if (k >= Round4(K)) QCHECK(g == 0x55, "%s: wrote past round_up(K, 4)", q.name);
      if (k < K) QCHECK(g >= -127 && g <= 127, "%s: value %d out of range", q.name, g);
    }
  }
  return true;
}

struct Case {
  size_t M, N, K;
  int fill;   // 0 random; 1 saturation (+-127 random signs); 2 all +127; 3 A = -127, W = +127
  bool unit;  // unit scales, no bias, no accumulate: C == float(acc) exactly
  bool bias, accumulate;
};

bool RunCase(const QKernels& q, const Case& c, std::mt19937& rng) {
  const size_t M = c.M, N = c.N, K = c.K;
  const size_t lda = QgemmLda(K) + 4, ldc = N + 3;
  std::vector<int8_t> Aq(M * lda, 0), Wq(N * K);
  auto rnd8 = [&] { return static_cast<int8_t>(static_cast<int>(rng() % 255) - 127); };
  auto sat8 = [&] { return static_cast<int8_t>(rng() % 2 ? 127 : -127); };
  for (size_t m = 0; m < M; ++m)
    for (size_t k = 0; k < K; ++k)
      Aq[m * lda + k] = c.fill == 0 ? rnd8() : c.fill == 1 ? sat8() : c.fill == 2 ? 127 : -127;
  for (auto& v : Wq) v = c.fill == 0 ? rnd8() : c.fill == 1 ? sat8() : 127;
  // Garbage in the readable padding of A must not matter (its weights are zero).
  for (size_t m = 0; m < M; ++m)
    for (size_t k = K; k < Round4(K); ++k) Aq[m * lda + k] = rnd8();
  std::vector<uint8_t> Wp(QgemmPackedSize(K, N));
  QgemmPack(K, N, Wq.data(), K, Wp.data());
  std::uniform_real_distribution<float> ud(0.5f, 2.0f), sd(-1.0f, 1.0f);
  std::vector<float> as(M, 1.0f), ws(N, 1.0f), bias(N), C0(M * ldc);
  if (!c.unit) {
    for (auto& v : as) v = ud(rng) * 1e-3f;
    for (auto& v : ws) v = ud(rng) * 1e-2f;
  }
  for (auto& v : bias) v = sd(rng);
  for (auto& v : C0) v = sd(rng);
  const std::vector<int64_t> ref = RefAcc(M, N, K, Aq.data(), lda, Wq.data());

  std::vector<float> Cn[3];
  for (int nth = 1; nth <= 3; ++nth) {
    Cn[nth - 1] = C0;
    for (int ith = 0; ith < nth; ++ith)
      q.qgemm(M, N, K, Aq.data(), lda, as.data(), Wp.data(), ws.data(),
              c.bias ? bias.data() : nullptr, Cn[nth - 1].data(), ldc, c.accumulate,
              Part{ith, nth, nullptr});
  }
  for (int nth = 2; nth <= 3; ++nth)
    QCHECK(std::memcmp(Cn[0].data(), Cn[nth - 1].data(), C0.size() * 4) == 0,
           "%s M=%zu N=%zu K=%zu: nth=%d differs from nth=1", q.name, M, N, K, nth);
  {
    std::vector<float> row(C0.begin() + (M - 1) * ldc, C0.begin() + M * ldc);
    q.qgemm(1, N, K, Aq.data() + (M - 1) * lda, lda, as.data() + M - 1, Wp.data(), ws.data(),
            c.bias ? bias.data() : nullptr, row.data(), ldc, c.accumulate, Part{});
    QCHECK(std::memcmp(row.data(), Cn[0].data() + (M - 1) * ldc, ldc * 4) == 0,
           "%s M=%zu N=%zu K=%zu: row alone differs from the row inside M", q.name, M, N, K);
  }
  const std::vector<float>& C = Cn[0];
  for (size_t m = 0; m < M; ++m)
    for (size_t n = 0; n < ldc; ++n) {
      const float got = C[m * ldc + n];
      if (n >= N) {
        QCHECK(std::memcmp(&got, &C0[m * ldc + n], 4) == 0, "%s: wrote C outside [M, N]", q.name);
        continue;
      }
      const int64_t acc = ref[m * N + n];
      QCHECK(acc <= INT32_MAX && acc >= INT32_MIN, "reference overflows int32");
      if (c.unit) {
        QCHECK(got == static_cast<float>(acc),
               "%s M=%zu N=%zu K=%zu fill=%d: C[%zu,%zu] = %.9g, "
               "want %lld exactly",
               q.name, M, N, K, c.fill, m, n, got, static_cast<long long>(acc));
      } else {
        const double prod = static_cast<double>(acc) * as[m] * ws[n];
        double want = prod, big = std::fabs(prod);
        if (c.bias) want += bias[n], big += std::fabs(bias[n]);
        if (c.accumulate) want += C0[m * ldc + n], big += std::fabs(C0[m * ldc + n]);
        // float(acc) (1), sa * sw (1), the product (1), + bias (1), + C (1): 6 half-ulps
        // relative to the sum of magnitudes.
        const double tol = 6.0 * 0.5 * std::numeric_limits<float>::epsilon() * big + 1e-30;
        QCHECK(std::fabs(got - want) <= tol,
               "%s M=%zu N=%zu K=%zu: C[%zu,%zu] = %.9g, want "
               "%.9g (tol %.3g)",
               q.name, M, N, K, m, n, got, want, tol);
      }
    }
  return true;
}

// Floats in, floats out: the error against the float product stays within the bound of the two
// roundings, sum_k |a| dw + |w| da + da dw with da = sa / 2, dw = sw / 2 (plus float rounding).
bool EndToEnd(const QKernels& q, size_t M, size_t N, size_t K, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> A(M * K), W(N * K), ws(N), as(M), C(M * N);
  for (auto& v : A) v = nd(rng);
  for (auto& v : W) v = 0.1f * nd(rng);
  std::vector<int8_t> Wq(N * K), Aq(M * QgemmLda(K));
  QCHECK(QuantizeWeights(N, K, W.data(), K, Wq.data(), ws.data()), "QuantizeWeights refused");
  std::vector<uint8_t> Wp(QgemmPackedSize(K, N));
  QgemmPack(K, N, Wq.data(), K, Wp.data());
  q.quantize_rows(M, K, A.data(), K, Aq.data(), QgemmLda(K), as.data());
  q.qgemm(M, N, K, Aq.data(), QgemmLda(K), as.data(), Wp.data(), ws.data(), nullptr, C.data(), N,
          false, Part{});
  for (size_t m = 0; m < M; ++m)
    for (size_t n = 0; n < N; ++n) {
      double want = 0, bound = 0;
      for (size_t k = 0; k < K; ++k) {
        const double a = A[m * K + k], w = W[n * K + k];
        want += a * w;
        bound += std::fabs(a) * ws[n] / 2 + std::fabs(w) * as[m] / 2 + as[m] * ws[n] / 4;
      }
      bound = bound * (1 + 1e-5) + 1e-6 * std::fabs(want);
      QCHECK(std::fabs(C[m * N + n] - want) <= bound,
             "%s end to end C[%zu,%zu] = %.7g, want "
             "%.7g (bound %.3g)",
             q.name, m, n, C[m * N + n], want, bound);
    }
  // A non-finite weight is refused; a non-finite activation gives NaN outputs for its row only.
  std::vector<float> W2 = W;
  std::vector<int8_t> Wq2(N * K);
  std::vector<float> ws2(N);
  W2[3 * K + 1] = std::numeric_limits<float>::infinity();
  QCHECK(!QuantizeWeights(N, K, W2.data(), K, Wq2.data(), ws2.data()), "inf weight accepted");
  A[(M - 1) * K] = std::numeric_limits<float>::quiet_NaN();
  q.quantize_rows(M, K, A.data(), K, Aq.data(), QgemmLda(K), as.data());
  q.qgemm(M, N, K, Aq.data(), QgemmLda(K), as.data(), Wp.data(), ws.data(), nullptr, C.data(), N,
          false, Part{});
  for (size_t n = 0; n < N; ++n) {
    QCHECK(std::isnan(C[(M - 1) * N + n]), "%s: NaN activation row gave a number", q.name);
    if (M > 1) QCHECK(std::isfinite(C[n]), "%s: a NaN row leaked into row 0", q.name);
  }
  return true;
}

// QgemmRun (a Dense layer's int8 product on the engine's threads) equals the one-thread
// quantize_rows + qgemm bit for bit, for 1, 2 and 3 threads (and 1, 2 with the threshold).
bool CheckRun(const QKernels& q, size_t M, size_t N, size_t K, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> X(M * K), Wf(N * K), ws(N), bias(N);
  for (auto& v : X) v = nd(rng);
  for (auto& v : Wf) v = nd(rng);
  for (auto& v : bias) v = nd(rng);
  std::vector<int8_t> Wq(N * K);
  QCHECK(QuantizeWeights(N, K, Wf.data(), K, Wq.data(), ws.data()), "QuantizeWeights");
  std::vector<uint8_t> Wp(QgemmPackedSize(K, N));
  QgemmPack(K, N, Wq.data(), K, Wp.data());
  const size_t lda = QgemmLda(K);
  std::vector<int8_t> aq(M * lda);
  std::vector<float> sa(M), want(M * N);
  q.quantize_rows(M, K, X.data(), K, aq.data(), lda, sa.data());
  q.qgemm(M, N, K, aq.data(), lda, sa.data(), Wp.data(), ws.data(), bias.data(), want.data(), N,
          false, Part{});
  for (int threads : {1, 2, 3})
    for (bool force : {true, false}) {
      Engine e;
      QCHECK(MakeEngine("", threads, &e).ok(), "MakeEngine");
      if (force) e.parallel_min_flops = 0;
      std::vector<int8_t> aq2(M * lda);
      std::vector<float> sa2(M), got(M * N, -1.0f);
      QgemmRun(e, q, M, N, K, X.data(), aq2.data(), lda, sa2.data(), Wp.data(), ws.data(),
               bias.data(), got.data());
      QCHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0,
             "%s QgemmRun M=%zu threads %d%s differs", q.name, M, threads,
             force ? " (forced)" : "");
    }
  return true;
}

void RunIsa(const QKernels& q) {
  std::mt19937 rng(17);
  const int failed_before = g_failed;
  int passed = 0;
  // Quantization of rows.
  for (size_t K : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 257, 1000})
    for (int special = 0; special <= 5; ++special)
      if (CheckQuantizeRows(q, 3, K, rng, special)) ++passed;
  // Sizes around the panels (16 columns), the k groups (4), the tiles (1-4 rows) and the
  // vector widths (4, 8, 16 columns).
  static const size_t kM[] = {1, 2, 3, 4, 5, 7, 8, 9, 17};
  static const size_t kN[] = {1,  3,  4,  5,  7,  8,  9,  15,  16, 17,
                              31, 32, 33, 47, 48, 64, 65, 100, 129};
  static const size_t kK[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 257, 1000};
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  for (size_t M : kM)
    for (size_t N : kN)
      for (size_t K : kK) {
        const double work = static_cast<double>(M * N * K);
        if (work > 4096 && coin(rng) > std::pow(4096.0 / work, 0.6)) continue;
        const int opt = static_cast<int>(rng() % 4);
        if (RunCase(q, {M, N, K, 0, true, false, false}, rng)) ++passed;
        if (RunCase(q, {M, N, K, 0, false, (opt & 1) != 0, (opt & 2) != 0}, rng)) ++passed;
      }
  // The saturation corner: every product +-127 * +-127, K up to 1000 (|acc| <= 16129000 < 2^24,
  // still exact in float with unit scales).
  for (int fill = 1; fill <= 3; ++fill)
    for (size_t M : {1, 4, 5})
      for (size_t K : {1, 4, 7, 64, 255, 1000})
        if (RunCase(q, {M, 33, K, fill, true, false, false}, rng)) ++passed;
  // Streaming shapes (M = 1, 4, 16; N = 4K), with scales, bias and accumulate.
  for (size_t M : {1, 4, 16})
    if (RunCase(q, {M, 4 * 256, 256, 0, false, true, true}, rng)) ++passed;
  for (size_t M : {1, 3, 16})
    if (EndToEnd(q, M, 37, 200, rng)) ++passed;
  for (size_t M : {1, 5, 33, 130})
    if (CheckRun(q, M, 37, 70, rng)) ++passed;
  std::printf("%s: %d passed, %d failed\n", q.name, passed, g_failed - failed_before);
  g_passed += passed;
  g_ran.push_back(q.name);
}

void Try(const char* name, bool built, bool cpu) {
  if (!built) {
    std::printf("SKIPPED %s: not built for this architecture\n", name);
  } else if (!cpu) {
    std::printf("SKIPPED %s: not supported by this CPU\n", name);
  } else if (const QKernels* q = QKernelsByName(name)) {
    RunIsa(*q);
  } else {
    std::printf("FAIL %s: the CPU has it but QKernelsByName returned null\n", name);
    ++g_failed;
  }
}

}  // namespace
}  // namespace cellstate

int main() {
  using namespace cellstate;
  std::mt19937 rng(5);
  for (size_t K : {1, 3, 4, 5, 17, 64})
    for (size_t N : {1, 15, 16, 17, 40})
      if (CheckPack(K, N, rng)) ++g_passed;
#if defined(__x86_64__) || defined(_M_X64)
  constexpr bool kX86 = true, kArm = false;
#elif defined(__aarch64__)
  constexpr bool kX86 = false, kArm = true;
#else
  constexpr bool kX86 = false, kArm = false;
#endif
  Try("scalar", true, true);
  Try("avx2", kX86, kX86 && CpuHasAvx2Fma());
  Try("avxvnni", kX86, kX86 && CpuHasAvxVnni());
  Try("avx512vnni", kX86, kX86 && CpuHasAvx512Vnni());
  Try("neon", kArm, kArm && CpuHasNeon());
  Try("neondot", kArm, kArm && CpuHasNeonDot());

  // The table that goes with a float engine's ISA.
  {
    const char* a512 = QKernelsForIsa("avx512")->name;
    const char* want512 = CpuHasAvx512Vnni() ? "avx512vnni"
                          : CpuHasAvxVnni()  ? "avxvnni"
                          : CpuHasAvx2Fma()  ? "avx2"
                                             : "scalar";
    const char* neon = QKernelsForIsa("neon")->name;
    const char* want_neon = CpuHasNeonDot() ? "neondot" : CpuHasNeon() ? "neon" : "scalar";
    if (std::strcmp(a512, want512) != 0 || std::strcmp(neon, want_neon) != 0 ||
        std::strcmp(QKernelsForIsa("scalar")->name, "scalar") != 0 ||
        std::strcmp(QKernelsForIsa("ref")->name, "scalar") != 0 || QKernelsByName("bogus")) {
      std::printf("FAIL QKernelsForIsa: avx512 -> %s (want %s), neon -> %s (want %s)\n", a512,
                  want512, neon, want_neon);
      ++g_failed;
    } else {
      ++g_passed;
    }
  }
  if (const char* req = std::getenv("CELLSTATE_QGEMM_REQUIRE")) {
    bool ran = false;
    for (const auto& n : g_ran) ran = ran || n == req;
    if (!ran) {
      std::printf("FAIL CELLSTATE_QGEMM_REQUIRE=%s but that ISA did not run\n", req);
      ++g_failed;
    }
  }
  return QReport("qgemm");
}
