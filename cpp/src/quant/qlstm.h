// Quantized inference of a unidirectional LSTM stack (issue 17, before the cell interface of the
// kernel redesign exists): the input and recurrent GEMMs run on the int8 GEMM
// (cpp/src/ukernel/qgemm) with int8 weights (one scale per gate row) and activations x_t,
// h_{t-1} quantized per row and step; biases, peepholes and the post-GEMM stay float (the float
// table's lstm.fwd). Every LSTM option of docs/cells.md except projection and bidirectional.
//
// Step and Forward give the same results bit for bit (Forward's input GEMM over T*B rows
// quantizes each row by itself, and the int8 GEMM does not depend on M); results do not depend
// on the ISA's int32 sums (exact), only on its float epilogue (a last-bit difference).
// Single-threaded; Step and Forward allocate nothing and may run concurrently (const).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cellstate/cellstate.h"
#include "kernels.h"
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {

class QuantizedLstm {
 public:
  // cfg: an LSTM configuration; params: its flat parameters (ParamTable order). qk: the int8
  // table (QKernelsForIsa(IsaName(engine)) for the engine's ISA), fk: the float table whose
  // lstm.fwd runs the post-GEMM. kUnsupported for projection, bidirectional or another cell;
  // kInvalidArgument when a weight is NaN or infinite; kOutOfRange past the int8 GEMM's depth.
  static Status Create(const Config& cfg, const float* params, const QKernels* qk,
                       const Kernels<float>* fk, std::unique_ptr<QuantizedLstm>* out);

  const Config& config() const { return cfg_; }
  const char* isa() const { return qk_->name; }
  // Same layout as Layer<float>::StreamStateSize: per layer h [B,H] then c [B,H] (floats).
  size_t StateSize(int batch) const;
  // Bytes of scratch for Step (B rows) and Forward (T*B rows).
  size_t StepScratchBytes(int batch) const { return StepScratchBytesFor(cfg_, batch); }
  // The same from the configuration alone (before Create: Layer::StreamScratchSize).
  static size_t StepScratchBytesFor(const Config& cfg, int batch);
  size_t ForwardScratchBytes(int T, int batch) const;
  // One time step of B sequences: x [B,I] in, state in/out, out [B,H] (the last layer's h).
  Status Step(int batch, const float* x, float* state, void* scratch, float* out) const;
  // T steps, time-major: x [T,B,I], y [T,B,H] (the last layer's h at every step); state in/out.
  Status Forward(int T, int batch, const float* x, float* state, void* scratch, float* y) const;
  // Bytes of the packed int8 weights, their scales and the float biases and peepholes.
  size_t WeightBytes() const;
  // The int8 values [rows, cols] and row scales [rows] of one quantized weight by its
  // ParamTable name ("weight_ih_l0", "weight_hh_l1"), unpacked (quant/qaccess.cc, for files).
  // kInvalidArgument for another name; rows/cols are checked against the weight's shape.
  Status UnpackWeight(const std::string& name, size_t rows, size_t cols, int8_t* q,
                      float* scale) const;

 private:
  struct Unit {
    int in = 0;
    std::vector<uint8_t> wih, whh;  // packed int8 (QgemmPack)
    std::vector<float> sih, shh;    // scales per gate row
    std::vector<float> bias;        // b_ih + b_hh
    std::vector<float> ph;          // peepholes (empty without)
    LstmDesc<float> desc;
  };
  QuantizedLstm() = default;
  size_t ScratchBytes(size_t rows_in, size_t rows_h) const {
    return ScratchBytesFor(cfg_, rows_in, rows_h);
  }
  static size_t ScratchBytesFor(const Config& cfg, size_t rows_in, size_t rows_h);
  // Rows of the input GEMM per chunk of steps (Forward): the gates of 256 rows of 4H = 1024
  // floats take 1 MB, about an L2.
  static constexpr size_t kChunkRows = 256;
  static size_t ChunkSteps(size_t T, size_t B);
  // One layer over T steps: per chunk of steps the input GEMM over its rows, then per step the
  // recurrent GEMM and the post-GEMM. xin [T*B, in]; yout [T*B, H] receives h at every step.
  void RunLayer(const Unit& u, int T, int B, const float* xin, float* h, float* c, uint8_t* ws,
                float* yout) const;

  Config cfg_;
  const QKernels* qk_ = nullptr;
  const Kernels<float>* fk_ = nullptr;
  std::vector<Unit> units_;
  size_t max_in_ = 0;
};

}  // namespace cellstate
