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
  return failures == 0 ? 0 : 1;
}
