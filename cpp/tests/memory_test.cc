// Layer<float>::MemoryBytes (what the binding reports to V8) counts parameters, gradients,
// packed weights and the workspaces forward and backward size; DiscardPendingBackward makes
// Backward report kNoForward; PackedMatrix::MemoryBytes counts its packed weights.
#include <cstdio>
#include <memory>
#include <vector>

#include "cellstate/cellstate.h"

namespace {

int failures = 0;

void Check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

}  // namespace

int main() {
  cellstate::Engine engine;
  Check(cellstate::MakeEngine("", 1, &engine).ok(), "MakeEngine");
  cellstate::Config cfg;
  cfg.cell = cellstate::Cell::kLSTM;
  cfg.input_size = 16;
  cfg.hidden_size = 32;
  cfg.num_layers = 2;
  std::unique_ptr<cellstate::Layer<float>> layer;
  Check(cellstate::Layer<float>::Create(cfg, engine, &layer).ok(), "Create");
  const size_t params = cellstate::ParamCount(cfg) * sizeof(float);
  const size_t created = layer->MemoryBytes();
  // Parameters, gradients and the packed weights (at least the size of the parameters).
  Check(created >= 3 * params, "MemoryBytes counts parameters, gradients and packed weights");

  const int T = 20, B = 8;
  std::vector<float> x(size_t(T) * B * 16, 0.5f), out(size_t(T) * B * 32);
  std::vector<float> h_n(size_t(2) * B * 32), c_n(size_t(2) * B * 32);
  cellstate::ForwardArgs f;
  f.seq_len = T;
  f.batch = B;
  f.train = true;
  f.x = x.data();
  f.output = out.data();
  f.h_n = h_n.data();
  f.c_n = c_n.data();
  Check(layer->Forward(f).ok(), "training Forward");
  const size_t after_forward = layer->MemoryBytes();
  // The training workspace keeps at least the gates of every step of both layers.
  Check(after_forward >= created + size_t(2) * T * B * 4 * 32 * sizeof(float),
        "MemoryBytes grows by the forward workspace");
  Check(layer->has_pending_backward(), "a training forward leaves a pending backward");
  layer->DiscardPendingBackward();
  Check(!layer->has_pending_backward(), "DiscardPendingBackward clears it");
  std::vector<float> dx(x.size());
  cellstate::BackwardArgs b;
  b.d_output = out.data();
  b.d_x = dx.data();
  Check(layer->Backward(b).code == cellstate::Code::kNoForward,
        "Backward after DiscardPendingBackward reports kNoForward");
  Check(layer->MemoryBytes() == after_forward, "MemoryBytes is stable without resizing calls");

  std::vector<float> w(size_t(16) * 8, 0.25f);
  std::unique_ptr<cellstate::PackedMatrix> packed;
  Check(cellstate::PackedMatrix::Create(engine, 16, 8, w.data(), false, nullptr, &packed).ok(),
        "PackedMatrix::Create");
  Check(packed->MemoryBytes() >= w.size() * sizeof(float), "PackedMatrix::MemoryBytes");

  // A quantized layer holds its weights only as packed int8 (a byte each, padded to the GEMM's
  // panels, and a scale per row) with the small float parameters: under half of its float
  // parameters' bytes, and every float copy (parameters, gradients, packed) back on
  // Quantize(false).
  {
    cellstate::Config qc = cfg;
    qc.input_size = 64;
    qc.hidden_size = 64;
    std::unique_ptr<cellstate::Layer<float>> q;
    Check(cellstate::Layer<float>::Create(qc, engine, &q).ok(), "Create (int8)");
    const size_t float_bytes = q->MemoryBytes();
    const size_t param_bytes = cellstate::ParamCount(qc) * sizeof(float);
    Check(q->Quantize(true).ok(), "Quantize");
    const size_t int8_bytes = q->MemoryBytes();
    std::printf("LSTM I64 H64 L2: float %zu bytes, int8 %zu bytes (parameters %zu)\n", float_bytes,
                int8_bytes, param_bytes);
    Check(int8_bytes < param_bytes / 2, "a quantized layer holds under half its float parameters");
    Check(q->Quantize(false).ok() && q->MemoryBytes() >= 3 * param_bytes,
          "Quantize(false) holds the float copies again");
  }
  // Its inference workspace holds the quantized input rows of one chunk of the input GEMM, not
  // of all T·B rows: from T = 512 to T = 4096 it grows by what the float layer's grows (the
  // gates and outputs of every step).
  {
    auto grow = [&](bool quantize) {
      size_t bytes[2] = {0, 0};
      for (int i = 0; i < 2; ++i) {
        cellstate::Config c1 = cfg;
        c1.num_layers = 1;
        c1.input_size = 256;
        c1.hidden_size = 8;
        std::unique_ptr<cellstate::Layer<float>> l;
        Check(cellstate::Layer<float>::Create(c1, engine, &l).ok(), "Create (workspace)");
        if (quantize) Check(l->Quantize(true).ok(), "Quantize (workspace)");
        const int Tn = i == 0 ? 512 : 4096;
        std::vector<float> xs(size_t(Tn) * 256, 0.5f), ys(size_t(Tn) * 8);
        cellstate::ForwardArgs fa;
        fa.seq_len = Tn;
        fa.batch = 1;
        fa.x = xs.data();
        fa.output = ys.data();
        Check(l->Forward(fa).ok(), "inference Forward");
        bytes[i] = l->MemoryBytes();
      }
      return bytes[1] - bytes[0];
    };
    const size_t fg = grow(false), qg = grow(true);
    std::printf("workspace growth T 512 -> 4096: float %zu bytes, int8 %zu bytes\n", fg, qg);
    Check(qg == fg, "the int8 input rows are sized per chunk");
  }
  return failures == 0 ? 0 : 1;
}
