// GEMM micro-benchmark of the AVX2 kernel (and the scalar one): GFLOP/s for large and
// recurrent-net shapes with 1 and 2 threads (one region of the kernel's thread pool per call,
// as the time loop does), ns per call for the batch-1 step, and a naive loop for a same-run
// ratio. Reports the median (and best) of several runs; `gemm_bench quick` skips 2048^3.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
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

struct Timing {
  double median, best;  // seconds per call
};

// Over `runs` runs of `reps` calls each.
template <typename F>
Timing Time(int runs, int reps, F&& f) {
  std::vector<double> t;
  f();  // warm up
  for (int r = 0; r < runs; ++r) {
    const double t0 = Now();
    for (int i = 0; i < reps; ++i) f();
    t.push_back((Now() - t0) / reps);
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t[0]};
}

struct Call {
  GemmFn gemm;
  size_t M, N, K;
  const float *A, *Bp;
  float* C;
};

void RunPart(void* ctx, Part part) {
  const Call& c = *static_cast<const Call*>(ctx);
  c.gemm(c.M, c.N, c.K, c.A, c.K, c.Bp, nullptr, c.C, c.N, false, part);
}

struct Shape {
  size_t M, N, K;
};

void Bench(cellstate::ThreadPool* pool, const char* name, GemmFn gemm,
           size_t (*packed_size)(size_t, size_t),
           void (*pack)(size_t, size_t, const float*, ptrdiff_t, ptrdiff_t, float*), Shape s,
           bool naive) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N), Bp(packed_size(s.K, s.N));
  for (float& x : A) x = d(rng);
  for (float& x : B) x = d(rng);
  pack(s.K, s.N, B.data(), static_cast<ptrdiff_t>(s.N), 1, Bp.data());
  const double flops = 2.0 * s.M * s.N * s.K;
  const int reps = std::max(1, static_cast<int>(2e8 / flops));
  const int runs = flops > 1e10 ? 5 : 9;
  std::printf("%-7s M=%-5zu N=%-5zu K=%-5zu", name, s.M, s.N, s.K);
  Call call{gemm, s.M, s.N, s.K, A.data(), Bp.data(), C.data()};
  for (int nth = 1; nth <= 2; ++nth) {
    const Timing t = Time(runs, reps, [&] {
      if (nth == 1) {
        RunPart(&call, Part{});
      } else {
        pool->Run(nth, RunPart, &call);
      }
    });
    if (s.M == 1) {
      std::printf("  %dT %7.0f ns (best %7.0f)", nth, t.median * 1e9, t.best * 1e9);
    } else {
      std::printf("  %dT %6.1f GFLOP/s (best %6.1f)", nth, flops / t.median * 1e-9,
                  flops / t.best * 1e-9);
    }
  }
  if (naive) {
    std::vector<float> Cn(s.M * s.N);
    const Timing t = Time(3, std::max(1, reps / 8),
                          [&] { Naive(s.M, s.N, s.K, A.data(), B.data(), Cn.data()); });
    std::printf("  naive %5.1f GFLOP/s", flops / t.median * 1e-9);
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const bool all = argc < 2 || std::string(argv[1]) != "quick";
  std::vector<Shape> shapes = {{32, 1024, 256},   {32, 1024, 512}, {3200, 1024, 256},
                               {3200, 1024, 512}, {1, 512, 128},   {1, 1024, 256},
                               {4, 1024, 256},    {64, 4096, 1024}};
  if (all) shapes.insert(shapes.begin(), Shape{2048, 2048, 2048});
  cellstate::ThreadPool pool(2);
#if defined(__x86_64__)
  if (cellstate::CpuHasAvx2Fma()) {
    for (const Shape& s : shapes) {
      Bench(&pool, "avx2", cellstate::avx2_gemm, cellstate::avx2_packed_size, cellstate::avx2_pack,
            s, s.M * s.N * s.K <= 100000000);
    }
  } else {
    std::printf("SKIPPED avx2: not supported by this CPU\n");
  }
#endif
  for (const Shape& s : shapes) {
    if (s.M * s.N * s.K <= 100000000) {
      Bench(&pool, "scalar", cellstate::scalar_gemm, cellstate::scalar_packed_size,
            cellstate::scalar_pack, s, false);
    }
  }
  return 0;
}
