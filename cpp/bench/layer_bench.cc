// Kernel-level benchmark of the workloads, from C++ (the JavaScript benchmark in
// bench/ measures the same through the addon). Prints medians.
//   layer_bench [isa] [threads] [workload ...]   (F1LN, T1LN: F1 and T1 with layerNorm)
// Environment: CELLSTATE_BENCH_REPS (calls per workload, default 7; e.g. 200 under perf) and
// overrides of the engine's thresholds: CELLSTATE_BENCH_ROW_SPLIT,
// CELLSTATE_BENCH_PARALLEL_MIN_FLOPS, CELLSTATE_BENCH_WAVEFRONT_MIN_FLOPS,
// CELLSTATE_BENCH_WAVEFRONT_CHUNK_ROWS.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cellstate/cellstate.h"

using cellstate::Cell;
using cellstate::Config;
using cellstate::Engine;
using cellstate::Layer;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The process's CPU time (all threads): on a loaded machine it counts only the time the threads
// really ran.
double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Work {
  const char* name;
  Cell cell;
  int T, B, I, H, L;
  bool train, stream;
  bool layer_norm = false;
};

void Run(const Work& w, const Engine& e) {
  Config c;
  c.cell = w.cell;
  c.input_size = w.I;
  c.hidden_size = w.H;
  c.num_layers = w.L;
  c.lstm.layer_norm = w.layer_norm;
  std::unique_ptr<Layer<float>> layer;
  if (!Layer<float>::Create(c, e, &layer).ok()) return;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  const size_t np = cellstate::ParamCount(c);
  for (size_t i = 0; i < np; ++i) layer->param_data()[i] = u(rng);
  layer->ParamsChanged();
  const int G = c.gates();
  if (w.stream) {
    std::vector<float> x(size_t(w.B) * w.I), out(size_t(w.B) * w.H);
    std::vector<float> state(layer->StreamStateSize(w.B)), scratch(layer->StreamScratchSize(w.B));
    for (auto& v : x) v = u(rng);
    std::vector<double> t;
    for (int r = 0; r < 20000; ++r) {
      const double t0 = Now();
      layer->Step(w.B, x.data(), state.data(), scratch.data(), out.data());
      t.push_back(Now() - t0);
    }
    std::sort(t.begin(), t.end());
    std::printf("%-4s %-5s threads=%d  step p50 %.2f us  p99 %.2f us\n", w.name, IsaName(e),
                e.threads, t[t.size() / 2] * 1e6, t[t.size() * 99 / 100] * 1e6);
    return;
  }
  const size_t TB = size_t(w.T) * w.B;
  std::vector<float> x(TB * w.I), out(TB * w.H), dout(TB * w.H), dx(TB * w.I);
  for (auto& v : x) v = u(rng);
  for (auto& v : dout) v = u(rng);
  cellstate::ForwardArgs fa;
  fa.seq_len = w.T;
  fa.batch = w.B;
  fa.x = x.data();
  fa.output = out.data();
  fa.train = w.train;
  cellstate::BackwardArgs ba;
  ba.d_output = dout.data();
  ba.d_x = dx.data();
  double flops = 0;
  for (int l = 0; l < w.L; ++l) flops += 2.0 * TB * G * w.H * ((l ? w.H : w.I) + w.H);
  if (w.train) flops *= 3;
  const char* reps_env = std::getenv("CELLSTATE_BENCH_REPS");
  const int reps = reps_env ? std::max(1, std::atoi(reps_env)) : 7;
  std::vector<double> t, cpu;
  for (int r = 0; r < reps; ++r) {
    const double t0 = Now(), c0 = CpuNow();
    layer->Forward(fa);
    if (w.train) layer->Backward(ba);
    t.push_back(Now() - t0);
    cpu.push_back(CpuNow() - c0);
  }
  const double m = Median(t);
  std::printf("%-5s %-5s threads=%d  %.2f ms  %.1f GFLOP/s  (cpu %.2f ms)\n", w.name, IsaName(e),
              e.threads, m * 1e3, flops / m * 1e-9, Median(cpu) * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string isa = argc > 1 ? argv[1] : "";
  const int threads = argc > 2 ? std::atoi(argv[2]) : cellstate::DefaultThreads();
  Engine e;
  if (!cellstate::MakeEngine(isa, threads, &e).ok()) return 1;
  // Overrides of the engine's thresholds, for experiments.
  if (const char* rows = std::getenv("CELLSTATE_BENCH_ROW_SPLIT"))
    e.row_split_min_rows = std::atoi(rows);
  if (const char* f = std::getenv("CELLSTATE_BENCH_PARALLEL_MIN_FLOPS"))
    e.parallel_min_flops = std::atof(f);
  if (const char* f = std::getenv("CELLSTATE_BENCH_WAVEFRONT_MIN_FLOPS"))
    e.wavefront_min_flops = std::atof(f);
  if (const char* r = std::getenv("CELLSTATE_BENCH_INPUT_CHUNK_ROWS"))
    e.input_chunk_rows = std::atoi(r);
  if (const char* r = std::getenv("CELLSTATE_BENCH_WAVEFRONT_CHUNK_ROWS"))
    e.wavefront_chunk_rows = std::atoi(r);
  const Work all[] = {
      {"F1", Cell::kLSTM, 100, 32, 256, 256, 1, false, false},
      {"F2", Cell::kLSTM, 200, 64, 512, 1024, 1, false, false},
      {"T1", Cell::kLSTM, 100, 32, 256, 256, 1, true, false},
      {"T2", Cell::kLSTM, 100, 64, 512, 512, 1, true, false},
      {"G1F", Cell::kGRU, 100, 32, 256, 256, 1, false, false},
      {"G1T", Cell::kGRU, 100, 32, 256, 256, 1, true, false},
      {"S3seq", Cell::kLSTM, 1000, 1, 64, 256, 2, false, false},        // S3 fed as a sequence
      {"F1L2", Cell::kLSTM, 100, 32, 256, 256, 2, false, false},        // F1 with two layers
      {"F1LN", Cell::kLSTM, 100, 32, 256, 256, 1, false, false, true},  // F1, layerNorm
      {"T1LN", Cell::kLSTM, 100, 32, 256, 256, 1, true, false, true},   // T1, layerNorm
      {"S1", Cell::kLSTM, 1, 1, 64, 128, 1, false, true},
      {"S2", Cell::kLSTM, 1, 1, 256, 256, 1, false, true},
      {"S3", Cell::kLSTM, 1, 1, 64, 256, 2, false, true},
  };
  for (const Work& w : all) {
    bool want = argc <= 3;
    for (int i = 3; i < argc; ++i) want |= w.name == std::string(argv[i]);
    if (want) Run(w, e);
  }
  return 0;
}
