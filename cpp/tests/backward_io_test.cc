// Backward reads the caller's time-major d_output and writes d_x in place (no copy through the
// workspace) unless the two overlap. These cases check that whatever the arguments' placement,
// the results are the same bit for bit:
//   - d_x overlapping d_output (the same array, or shifted by a row either way) gives what
//     separate arrays give, and leaves d_output's values irrelevant once read;
//   - time-major arguments give what batch-first ones give (transposed), over stacks, both
//     directions, lengths, input and inter-layer dropout;
// on every engine (ISAs, threads) for LSTM, GRU and RNN.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "layer_util.h"
#include "test_util.h"

namespace {

using namespace cstest;

struct Out {
  std::vector<float> dx, grads, dh0;
};

// One training forward and backward on `e`. d_x is written at dx_at (a buffer of the caller's
// choosing, which may overlap d_output: dout_at), both time-major or both batch-first as p says.
Out RunAt(const Problem& p, const Engine& e, float* dout_at, float* dx_at) {
  Out o;
  std::unique_ptr<cellstate::Layer<float>> layer;
  if (!CHECK_OK(cellstate::Layer<float>::Create(p.cfg, e, &layer))) return o;
  const size_t np = cellstate::ParamCount(p.cfg);
  for (size_t i = 0; i < np; ++i) layer->param_data()[i] = static_cast<float>(p.params[i]);
  layer->ParamsChanged();
  layer->ZeroGrad();
  const Dims d = DimsOf(p.cfg, p.T, p.B);
  std::vector<float> x = Cast<float>(p.x), out(d.out), hn(d.h), cn(d.c);
  cellstate::ForwardArgs fa;
  fa.seq_len = p.T;
  fa.batch = p.B;
  fa.batch_first = p.batch_first;
  fa.x = x.data();
  fa.lengths = PtrOrNull(p.lengths);
  fa.train = true;
  fa.dropout_seed = p.dropout_seed;
  fa.output = out.data();
  fa.h_n = hn.data();
  fa.c_n = d.lstm ? cn.data() : nullptr;
  if (!CHECK_OK(layer->Forward(fa))) return o;
  o.dh0.assign(d.h, 0.0f);
  cellstate::BackwardArgs ba;
  ba.d_output = dout_at;
  ba.d_x = dx_at;
  ba.d_h0 = o.dh0.data();
  if (!CHECK_OK(layer->Backward(ba))) return o;
  o.dx.assign(dx_at, dx_at + d.x);
  o.grads.assign(layer->grad_data(), layer->grad_data() + np);
  return o;
}

bool Same(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void CheckSame(const Out& ref, const Out& got, const std::string& what) {
  CHECK_MSG(Same(ref.dx, got.dx), what << ": dx differs");
  CHECK_MSG(Same(ref.grads, got.grads), what << ": gradients differ");
  CHECK_MSG(Same(ref.dh0, got.dh0), what << ": dh0 differs");
}

// [T, B, F] -> [B, T, F]
std::vector<float> ToBatchFirst(const std::vector<float>& v, int T, int B, size_t F) {
  std::vector<float> r(v.size());
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < B; ++b)
      std::memcpy(&r[(size_t(b) * T + t) * F], &v[(size_t(t) * B + b) * F], F * sizeof(float));
  return r;
}

}  // namespace

int main() {
  Suite& suite = Suite::Get();
  suite.SetName("backward_io_test");
  Rng rng(0xbac4);
  const Cell cells[] = {Cell::kLSTM, Cell::kGRU, Cell::kRNN};
  int idx = 0;
  for (const NamedEngine& ne : FloatEngines(/*with_ref=*/true)) {
    for (Cell cell : cells) {
      for (int variant = 0; variant < 4; ++variant, ++idx) {
        Config cfg;
        cfg.cell = cell;
        cfg.num_layers = variant % 2 == 0 ? 1 : 3;
        cfg.bidirectional = variant >= 2;
        const int D = cfg.bidirectional ? 2 : 1;
        cfg.hidden_size = 3 + idx % 5;
        cfg.input_size = D * cfg.hidden_size;  // d_x and d_output have the same shape
        if (cfg.num_layers > 1) cfg.dropout = 0.3;
        if (variant == 3) cfg.input_dropout = 0.25;
        const int T = 4 + idx % 3, B = 1 + idx % 4;
        Problem p = RandomProblem(cfg, T, B, /*batch_first=*/false, /*lengths=*/idx % 2 == 1, false,
                                  false, 0.5, &rng);
        p.dropout_seed = 7 + idx;
        const Dims d = DimsOf(cfg, T, B);
        const size_t row = size_t(D) * cfg.hidden_size;
        RunCase("#" + std::to_string(idx) + " " + ne.name + " " + Describe(p), [&] {
          std::vector<float> dout = Cast<float>(p.d_output), dx(d.x);
          const Out ref = RunAt(p, ne.engine, dout.data(), dx.data());
          // d_x is d_output.
          std::vector<float> same = Cast<float>(p.d_output);
          CheckSame(ref, RunAt(p, ne.engine, same.data(), same.data()), "d_x = d_output");
          // d_x one row after d_output, and one row before it.
          std::vector<float> buf(d.out + row);
          std::vector<float> g = Cast<float>(p.d_output);
          std::memcpy(buf.data(), g.data(), g.size() * sizeof(float));
          CheckSame(ref, RunAt(p, ne.engine, buf.data(), buf.data() + row), "d_x after d_output");
          std::memcpy(buf.data() + row, g.data(), g.size() * sizeof(float));
          CheckSame(ref, RunAt(p, ne.engine, buf.data() + row, buf.data()), "d_x before d_output");
          // Batch-first arguments: the same numbers, transposed.
          Problem pb = p;
          pb.batch_first = true;
          const std::vector<float> xb =
              ToBatchFirst(Cast<float>(p.x), T, B, size_t(cfg.input_size));
          pb.x.assign(xb.begin(), xb.end());
          std::vector<float> doutb = ToBatchFirst(g, T, B, row), dxb(d.x);
          Out bf = RunAt(pb, ne.engine, doutb.data(), dxb.data());
          bf.dx = ToBatchFirst(bf.dx, B, T, size_t(cfg.input_size));  // back to time-major
          CheckSame(ref, bf, "batch-first");
        });
      }
    }
  }
  return suite.Finish();
}
