// int8 inference (Layer::Quantize, cpp/src/cell/quant.cc) against the float layer on the
// bench's workloads (bench/README.md): S1-S3 (one streaming step of batch 1, p50 and p99 per
// step), F1 and G1F (LSTM and GRU forward, T 100, B 32, I 256, H 256).
//
// The float layer and the int8 one run in alternating rounds inside one process (round r float
// first, r + 1 int8 first), so that a shared machine's load drifts hit both alike. Printed: p50
// and p99 over all steps (streaming) or the median call (F1), and the median over rounds of the
// per-round ratio int8 / float.
//
//   qlstm_bench [rounds=N] [threads=N] [S1 S2 S3 F1 G1F ...]   (default: 15 rounds, 1 thread,
//   all)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cellstate/cellstate.h"
#include "ukernel/qgemm/qgemm.h"

namespace {

using namespace cellstate;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Work {
  const char* name;
  int T, B, I, H, L;
  bool stream;
  Cell cell;
};

void Bench(const Work& w, const Engine& e, int rounds) {
  Config c;
  c.input_size = w.I;
  c.hidden_size = w.H;
  c.num_layers = w.L;
  c.cell = w.cell;
  std::unique_ptr<Layer<float>> layer;
  if (!Layer<float>::Create(c, e, &layer).ok()) return;
  std::mt19937 rng(1);
  const float range = 1.0f / std::sqrt(static_cast<float>(w.H));
  std::uniform_real_distribution<float> u(-range, range), ux(-1.0f, 1.0f);
  for (size_t i = 0; i < ParamCount(c); ++i) layer->param_data()[i] = u(rng);
  layer->ParamsChanged();
  std::unique_ptr<Layer<float>> q;
  if (!Layer<float>::Create(c, e, &q).ok()) return;
  std::copy(layer->param_data(), layer->param_data() + ParamCount(c), q->param_data());
  q->ParamsChanged();
  const Status st = q->Quantize(true);
  if (!st.ok()) {
    std::printf("%s: %s\n", w.name, st.message.c_str());
    return;
  }
  const size_t TB = static_cast<size_t>(w.T) * w.B;
  std::vector<float> x(TB * w.I), y(TB * w.H);
  for (auto& v : x) v = ux(rng);
  std::vector<float> fstate(layer->StreamStateSize(w.B)), qstate(q->StreamStateSize(w.B));
  std::vector<float> fscratch(layer->StreamScratchSize(w.B));
  std::vector<float> qscratch(q->StreamScratchSize(w.B));
  ForwardArgs fa;
  fa.seq_len = w.T;
  fa.batch = w.B;
  fa.x = x.data();
  fa.output = y.data();
  const int steps = w.stream ? 2000 : 3;
  std::vector<double> tf, tq, ratio;
  auto run_float = [&](std::vector<double>* t) {
    for (int s = 0; s < steps; ++s) {
      const double t0 = Now();
      if (w.stream)
        layer->Step(w.B, x.data(), fstate.data(), fscratch.data(), y.data());
      else
        layer->Forward(fa);
      t->push_back(Now() - t0);
    }
  };
  auto run_q = [&](std::vector<double>* t) {
    for (int s = 0; s < steps; ++s) {
      const double t0 = Now();
      if (w.stream)
        q->Step(w.B, x.data(), qstate.data(), qscratch.data(), y.data());
      else
        q->Forward(fa);
      t->push_back(Now() - t0);
    }
  };
  {
    std::vector<double> warm;
    run_float(&warm);
    run_q(&warm);
  }
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> a, b;
    if (r % 2 == 0) {
      run_float(&a);
      run_q(&b);
    } else {
      run_q(&b);
      run_float(&a);
    }
    ratio.push_back(Pct(b, 0.5) / Pct(a, 0.5));
    tf.insert(tf.end(), a.begin(), a.end());
    tq.insert(tq.end(), b.begin(), b.end());
  }
  const size_t fw = ParamCount(c) * sizeof(float);
  const char* qisa = QKernelsForIsa(IsaName(e))->name;
  if (w.stream) {
    std::printf(
        "%-3s f32 %-6s p50 %8.2f us p99 %8.2f us | int8 %-10s p50 %8.2f us p99 %8.2f us "
        "| ratio p50 %.3f | float weights %zu B\n",
        w.name, IsaName(e), Pct(tf, 0.5) * 1e6, Pct(tf, 0.99) * 1e6, qisa, Pct(tq, 0.5) * 1e6,
        Pct(tq, 0.99) * 1e6, Pct(ratio, 0.5), fw);
  } else {
    std::printf("%-3s f32 %-6s %8.3f ms | int8 %-10s %8.3f ms | ratio %.3f | float weights %zu B\n",
                w.name, IsaName(e), Pct(tf, 0.5) * 1e3, qisa, Pct(tq, 0.5) * 1e3, Pct(ratio, 0.5),
                fw);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 15, threads = 1;
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("rounds=", 0) == 0)
      rounds = std::atoi(a.c_str() + 7);
    else if (a.rfind("threads=", 0) == 0)
      threads = std::atoi(a.c_str() + 8);
    else
      only.push_back(a);
  }
  Engine e;
  if (!MakeEngine("", threads, &e).ok()) return 1;
  const Work all[] = {{"S1", 1, 1, 64, 128, 1, true, Cell::kLSTM},
                      {"S2", 1, 1, 256, 256, 1, true, Cell::kLSTM},
                      {"S3", 1, 1, 64, 256, 2, true, Cell::kLSTM},
                      {"F1", 100, 32, 256, 256, 1, false, Cell::kLSTM},
                      {"G1F", 100, 32, 256, 256, 1, false, Cell::kGRU}};
  std::printf("qlstm_bench: %d thread(s), %d alternating rounds (float, int8)\n", threads, rounds);
  for (const Work& w : all) {
    bool want = only.empty();
    for (const auto& n : only) want |= n == w.name;
    if (want) Bench(w, e, rounds);
  }
  return 0;
}
