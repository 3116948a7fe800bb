// GEMM micro-benchmark of the SIMD kernels (avx2, avx512, neon) and the scalar one: GFLOP/s for
// large and recurrent-net shapes with 1 and 2 threads (one region of the kernel's thread pool
// per call, as the time loop does), ns per call for the batch-1 step, and a naive loop for a
// same-run ratio.
//
// The ISAs are compared in alternating rounds inside one process (round r runs them in the
// order A B, round r + 1 in the order B A, ...), so that a drift of the machine's load hits
// them alike. Per ISA it prints the median over rounds of the wall-clock rate, the best round,
// and the median rate per CPU-second (the process's CPU time: time the threads were really
// scheduled, which a loaded machine inflates less than wall time); per pair of ISAs the median
// of the per-round ratios.
//
//   gemm_bench [quick] [rounds=N] [shapes=MxNxK,...] [pad=P] [acc=1] [isa,isa,...]
//     quick: skip 2048^3; rounds: default 9; shapes: instead of the built-in list; pad: A's row
//     stride is K + P floats (default 0); ISAs:
//     default every SIMD ISA this CPU runs (plus scalar on the small shapes); avx512kc256 and
//     avx512kc512 name the two K blocks of the avx512 driver (avx512 runs the one chosen for
//     this core), avx512kc512rows the K block 512 in the row-block order alone; acc=1: C += A·B.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "dispatch/cpu.h"
#include "dispatch/pool.h"
#include "ukernel/gemm/gemm.h"

namespace {

using cellstate::Part;
using GemmFn = void (*)(size_t, size_t, size_t, const float*, size_t, const float*, const float*,
                        float*, size_t, bool, Part);
using PackedSizeFn = size_t (*)(size_t, size_t);
using PackFn = void (*)(size_t, size_t, const float*, ptrdiff_t, ptrdiff_t, float*);

struct Isa {
  const char* name;
  GemmFn gemm;
  PackedSizeFn packed_size;
  PackFn pack;
};

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void Naive(size_t M, size_t N, size_t K, const float* A, const float* B, float* C) {
  for (size_t m = 0; m < M; ++m) {
    for (size_t n = 0; n < N; ++n) C[m * N + n] = 0.0f;
    for (size_t k = 0; k < K; ++k) {
      const float a = A[m * K + k];
      for (size_t n = 0; n < N; ++n) C[m * N + n] += a * B[k * N + n];
    }
  }
}

// `acc=1`: C += A·B (the recurrent GEMM adds onto the gates of the input GEMM).
bool g_accumulate = false;

struct Call {
  GemmFn gemm;
  size_t M, N, K;
  const float *A, *Bp;
  float* C;
  size_t lda;
};

void RunPart(void* ctx, Part part) {
  const Call& c = *static_cast<const Call*>(ctx);
  c.gemm(c.M, c.N, c.K, c.A, c.lda, c.Bp, nullptr, c.C, c.N, g_accumulate, part);
}

struct Shape {
  size_t M, N, K;
};

// Floats added to each row of A past its K (lda = K + pad; `pad=N`): a row stride that is not
// a multiple of 4 KB shows what set aliasing of A's rows in L1 costs.
size_t g_lda_pad = 0;

// One ISA's data for a shape: its packed B and its own C.
struct Setup {
  Isa isa;
  std::vector<float> Bp, C;
  std::vector<double> wall, cpu;  // seconds per call, one per round
};

// ISAs compared in alternating rounds on one shape, nth threads.
void Compare(cellstate::ThreadPool* pool, std::vector<Setup>& setups, const Shape& s,
             const std::vector<float>& A, int nth, int rounds) {
  const double flops = 2.0 * s.M * s.N * s.K;
  // About 25 ms of work per ISA and round at 50 GFLOP/s.
  const int reps = std::max(1, static_cast<int>(1.25e9 / flops));
  for (Setup& st : setups) {
    st.wall.clear();
    st.cpu.clear();
  }
  auto run = [&](Setup& st) {
    Call call{st.isa.gemm, s.M, s.N, s.K, A.data(), st.Bp.data(), st.C.data(), s.K + g_lda_pad};
    if (nth == 1) {
      RunPart(&call, Part{});
    } else {
      pool->Run(nth, RunPart, &call);
    }
  };
  for (Setup& st : setups) run(st);  // warm up
  for (int r = 0; r < rounds; ++r) {
    for (size_t q = 0; q < setups.size(); ++q) {
      Setup& st = setups[r % 2 == 0 ? q : setups.size() - 1 - q];
      const double c0 = CpuNow(), t0 = Now();
      for (int i = 0; i < reps; ++i) run(st);
      st.wall.push_back((Now() - t0) / reps);
      st.cpu.push_back((CpuNow() - c0) / reps);
    }
  }
  std::printf("M=%-5zu N=%-5zu K=%-5zu %dT", s.M, s.N, s.K, nth);
  for (const Setup& st : setups) {
    const double w = Median(st.wall), best = *std::min_element(st.wall.begin(), st.wall.end());
    const double c = Median(st.cpu);
    if (s.M == 1) {
      std::printf("  %s %7.0f ns (best %7.0f, cpu %7.0f)", st.isa.name, w * 1e9, best * 1e9,
                  c * 1e9);
    } else {
      std::printf("  %s %6.1f GFLOP/s (best %6.1f, per cpu-s %6.1f)", st.isa.name, flops / w * 1e-9,
                  flops / best * 1e-9, flops / c * 1e-9);
    }
  }
  // Paired ratios: the last ISA over each other one (rate ratio = time ratio inverted).
  for (size_t q = 0; q + 1 < setups.size(); ++q) {
    const Setup& a = setups[q];
    const Setup& b = setups.back();
    std::vector<double> ratio, cratio;
    for (int r = 0; r < rounds; ++r) {
      ratio.push_back(a.wall[r] / b.wall[r]);
      cratio.push_back(a.cpu[r] / b.cpu[r]);
    }
    std::printf("  %s/%s %.2fx (cpu %.2fx)", b.isa.name, a.isa.name, Median(ratio), Median(cratio));
  }
  std::printf("\n");
}

void BenchShape(cellstate::ThreadPool* pool, const std::vector<Isa>& isas, const Shape& s,
                int rounds, bool naive) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> A(s.M * (s.K + g_lda_pad)), B(s.K * s.N);
  for (float& x : A) x = d(rng);
  for (float& x : B) x = d(rng);
  std::vector<Setup> setups;
  for (const Isa& isa : isas) {
    Setup st;
    st.isa = isa;
    st.Bp.resize(isa.packed_size(s.K, s.N));
    st.C.resize(s.M * s.N);
    isa.pack(s.K, s.N, B.data(), static_cast<ptrdiff_t>(s.N), 1, st.Bp.data());
    setups.push_back(std::move(st));
  }
  for (int nth = 1; nth <= 2; ++nth) Compare(pool, setups, s, A, nth, rounds);
  // The SIMD ISAs agree bit for bit (one fused chain per element in each; scalar does not fuse).
  const Setup* first = nullptr;
  for (const Setup& st : setups) {
    if (std::strcmp(st.isa.name, "scalar") == 0) continue;
    if (first == nullptr) {
      first = &st;
    } else if (std::memcmp(st.C.data(), first->C.data(), s.M * s.N * sizeof(float)) != 0) {
      std::printf("  note: %s and %s results differ\n", first->isa.name, st.isa.name);
    }
  }
  if (naive && g_lda_pad == 0) {
    const double flops = 2.0 * s.M * s.N * s.K;
    std::vector<float> Cn(s.M * s.N);
    std::vector<double> t;
    for (int r = 0; r < 3; ++r) {
      const double t0 = Now();
      Naive(s.M, s.N, s.K, A.data(), B.data(), Cn.data());
      t.push_back(Now() - t0);
    }
    std::printf("  naive %5.1f GFLOP/s\n", flops / Median(t) * 1e-9);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool all = true;
  int rounds = 9;
  std::vector<std::string> want;
  std::vector<Shape> custom;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "quick") {
      all = false;
    } else if (a.rfind("rounds=", 0) == 0) {
      rounds = std::max(1, std::atoi(a.c_str() + 7));
    } else if (a.rfind("pad=", 0) == 0) {
      g_lda_pad = std::strtoul(a.c_str() + 4, nullptr, 10);
    } else if (a.rfind("acc=", 0) == 0) {
      g_accumulate = std::atoi(a.c_str() + 4) != 0;
    } else if (a.rfind("shapes=", 0) == 0) {
      for (const char* p = a.c_str() + 7; *p;) {
        char* end;
        Shape s;
        s.M = std::strtoul(p, &end, 10);
        s.N = *end == 'x' ? std::strtoul(end + 1, &end, 10) : 0;
        s.K = *end == 'x' ? std::strtoul(end + 1, &end, 10) : 0;
        if (s.M == 0 || s.N == 0 || s.K == 0) {
          std::fprintf(stderr, "gemm_bench: bad shape list %s\n", a.c_str());
          return 2;
        }
        custom.push_back(s);
        p = *end == ',' ? end + 1 : end;
      }
    } else {
      for (size_t p = 0; p <= a.size();) {
        const size_t q = std::min(a.find(',', p), a.size());
        if (q > p) want.push_back(a.substr(p, q - p));
        p = q + 1;
      }
    }
  }
  std::vector<Isa> simd;
#if defined(__x86_64__)
  if (cellstate::CpuHasAvx2Fma()) {
    simd.push_back(
        {"avx2", cellstate::avx2_gemm, cellstate::avx2_packed_size, cellstate::avx2_pack});
  } else {
    std::printf("SKIPPED avx2: not supported by this CPU\n");
  }
  if (cellstate::CpuHasAvx512()) {
    simd.push_back(
        {"avx512", cellstate::avx512_gemm, cellstate::avx512_packed_size, cellstate::avx512_pack});
    // The two K blocks of the avx512 driver, compared only when asked for by name.
    if (!want.empty()) {
      simd.push_back({"avx512kc256", cellstate::avx512_gemm_kc256, cellstate::avx512_packed_size,
                      cellstate::avx512_pack});
      simd.push_back({"avx512kc512", cellstate::avx512_gemm_kc512, cellstate::avx512_packed_size,
                      cellstate::avx512_pack});
      simd.push_back({"avx512kc512rows", cellstate::avx512_gemm_kc512_rows,
                      cellstate::avx512_packed_size, cellstate::avx512_pack});
    }
  } else {
    std::printf("SKIPPED avx512: not supported by this CPU\n");
  }
#endif
#if defined(__aarch64__)
  simd.push_back({"neon", cellstate::neon_gemm, cellstate::neon_packed_size, cellstate::neon_pack});
#endif
  const Isa scalar{"scalar", cellstate::scalar_gemm, cellstate::scalar_packed_size,
                   cellstate::scalar_pack};
  auto wanted = [&](const char* name) {
    if (want.empty()) return true;
    for (const auto& w : want)
      if (w == name) return true;
    return false;
  };
  std::vector<Isa> isas;
  for (const Isa& i : simd)
    if (wanted(i.name)) isas.push_back(i);
  const bool with_scalar = !want.empty() && wanted("scalar");

  std::vector<Shape> shapes = {{32, 1024, 256},   {32, 1024, 512}, {3200, 1024, 256},
                               {3200, 1024, 512}, {1, 512, 128},   {1, 1024, 256},
                               {4, 1024, 256},    {64, 4096, 1024}};
  if (all) shapes.insert(shapes.begin(), Shape{2048, 2048, 2048});
  if (!custom.empty()) shapes = custom;
  cellstate::ThreadPool pool(2);
  std::printf("gemm_bench: %d alternating rounds; rates are medians over rounds\n", rounds);
  std::printf("CPU: %s core (family %u, model %u)",
              cellstate::CpuCoreName(cellstate::CpuCoreKind()), cellstate::CpuFamily(),
              cellstate::CpuModel());
#if defined(__x86_64__)
  if (cellstate::CpuHasAvx512()) std::printf("; avx512 K block %zu", cellstate::avx512_gemm_kc());
#endif
  std::printf("\n");
  for (const Shape& s : shapes) {
    std::vector<Isa> run = isas;
    // The scalar kernel on the small shapes only.
    if ((with_scalar || want.empty()) && s.M * s.N * s.K <= 100000000) {
      run.insert(run.begin(), scalar);
    }
    if (run.empty()) continue;
    BenchShape(&pool, run, s, rounds, s.M * s.N * s.K <= 100000000);
  }
  return 0;
}
