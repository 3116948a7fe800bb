// int8 GEMM micro-benchmark at the streaming shapes of a recurrent layer (M = 1, 4, 16 rows;
// K = H; N = 4H, the LSTM's gates; H = 256, 512, 1024), one thread, against the float GEMM of
// the best float ISA on the same weights. An int8 call is what a quantized step pays: quantize
// the M activation rows, then the int8 GEMM with its dequantizing epilogue (bias, accumulate).
//
// Variants run in alternating rounds inside one process (round r in one order, r + 1 in the
// reverse), so that drifts of a shared machine's load hit them alike; printed per variant: the
// median over rounds of ns per call, GOP/s (2 M N K per call), weight bytes, and the median of
// the per-round ratios to the float call.
//
//   qgemm_bench [rounds=N] [H=256,512,...] [M=1,4,...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "dispatch/cpu.h"
#include "ukernel/gemm/gemm.h"
#include "ukernel/qgemm/qgemm.h"

namespace {

using cellstate::Part;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<size_t> ParseList(const char* s) {
  std::vector<size_t> out;
  while (*s) {
    out.push_back(std::strtoul(s, const_cast<char**>(&s), 10));
    if (*s == ',')
      ++s;
    else
      break;
  }
  return out;
}

struct Variant {
  std::string name;
  size_t weight_bytes;
  std::function<void()> call;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace cellstate;
  int rounds = 9;
  std::vector<size_t> hs = {256, 512, 1024}, ms = {1, 4, 16};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("rounds=", 0) == 0) rounds = std::atoi(a.c_str() + 7);
    if (a.rfind("H=", 0) == 0) hs = ParseList(a.c_str() + 2);
    if (a.rfind("M=", 0) == 0) ms = ParseList(a.c_str() + 2);
  }

  // The float GEMM of the best float ISA.
  const char* fname = "scalar";
  auto fsize = scalar_packed_size;
  auto fpack = scalar_pack;
  auto fgemm = scalar_gemm;
#if defined(__x86_64__) || defined(_M_X64)
  if (CpuHasAvx512()) {
    fname = "avx512", fsize = avx512_packed_size, fpack = avx512_pack, fgemm = avx512_gemm;
  } else if (CpuHasAvx2Fma()) {
    fname = "avx2", fsize = avx2_packed_size, fpack = avx2_pack, fgemm = avx2_gemm;
  }
#elif defined(__aarch64__)
  fname = "neon", fsize = neon_packed_size, fpack = neon_pack, fgemm = neon_gemm;
#endif
  std::vector<const QKernels*> qs;
  for (const char* n : {"avx512vnni", "avxvnni", "avx2", "neondot", "neon", "scalar"})
    if (const QKernels* q = QKernelsByName(n)) qs.push_back(q);

  std::printf(
      "qgemm_bench: 1 thread, %d alternating rounds, medians; int8 = quantize rows + "
      "int8 GEMM + epilogue (bias, accumulate)\n",
      rounds);
  std::printf("%-6s %-4s %-6s %-18s %12s %9s %10s %9s\n", "H", "M", "N", "variant", "ns/call",
              "GOP/s", "W bytes", "vs f32");
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (size_t H : hs) {
    for (size_t M : ms) {
      const size_t K = H, N = 4 * H;
      std::vector<float> W(N * K), A(M * K), bias(N), C(M * N, 0.0f);
      for (auto& v : W) v = 0.05f * nd(rng);
      for (auto& v : A) v = nd(rng);
      for (auto& v : bias) v = nd(rng);
      // Float: B = W^T, packed once.
      std::vector<float> Bp(fsize(K, N));
      fpack(K, N, W.data(), 1, static_cast<ptrdiff_t>(K), Bp.data());
      // int8: quantized and packed once.
      std::vector<int8_t> Wq(N * K), Aq(M * QgemmLda(K));
      std::vector<float> ws(N), as(M);
      QuantizeWeights(N, K, W.data(), K, Wq.data(), ws.data());
      const size_t qbytes = QgemmPackedSize(K, N);
      std::vector<uint8_t> Wp(qbytes + 64);
      void* wp = Wp.data() + (64 - reinterpret_cast<uintptr_t>(Wp.data()) % 64) % 64;
      QgemmPack(K, N, Wq.data(), K, wp);

      std::vector<Variant> vars;
      vars.push_back({std::string("f32 ") + fname, Bp.size() * sizeof(float), [&] {
                        fgemm(M, N, K, A.data(), K, Bp.data(), bias.data(), C.data(), N, true,
                              Part{});
                      }});
      for (const QKernels* q : qs) {
        if (std::strcmp(q->name, "scalar") == 0 && H > 256) continue;
        vars.push_back({std::string("i8 ") + q->name, qbytes, [&, q] {
                          q->quantize_rows(M, K, A.data(), K, Aq.data(), QgemmLda(K), as.data());
                          q->qgemm(M, N, K, Aq.data(), QgemmLda(K), as.data(), wp, ws.data(),
                                   bias.data(), C.data(), N, true, Part{});
                        }});
      }
      // Calls per timing: about 2 ms of work at 50 GOP/s.
      const double ops = 2.0 * static_cast<double>(M * N * K);
      const int reps = std::max(20, static_cast<int>(1e8 / ops));
      std::vector<std::vector<double>> ns(vars.size());
      std::vector<std::vector<double>> ratio(vars.size());
      for (auto& v : vars) v.call();  // warm up (page faults, caches)
      for (int r = 0; r < rounds; ++r) {
        std::vector<double> t(vars.size());
        for (size_t j = 0; j < vars.size(); ++j) {
          const size_t i = r % 2 == 0 ? j : vars.size() - 1 - j;
          for (int w = 0; w < reps / 10 + 1; ++w) vars[i].call();
          const double t0 = Now();
          for (int k = 0; k < reps; ++k) vars[i].call();
          t[i] = (Now() - t0) / reps * 1e9;
        }
        for (size_t i = 0; i < vars.size(); ++i) {
          ns[i].push_back(t[i]);
          ratio[i].push_back(t[i] / t[0]);
        }
      }
      for (size_t i = 0; i < vars.size(); ++i) {
        const double med = Median(ns[i]);
        std::printf("%-6zu %-4zu %-6zu %-18s %12.0f %9.1f %10zu %9.3f\n", H, M, N,
                    vars[i].name.c_str(), med, ops / med, vars[i].weight_bytes, Median(ratio[i]));
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
