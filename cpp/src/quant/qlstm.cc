// QuantizedLstm (qlstm.h).
#include "quant/qlstm.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace cellstate {
namespace {

constexpr size_t kAlign = 64;
size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

Status QuantizedLstm::Create(const Config& cfg, const float* params, const QKernels* qk,
                             const Kernels<float>* fk, std::unique_ptr<QuantizedLstm>* out) {
  if (cfg.cell != Cell::kLSTM)
    return Status::Error(Code::kUnsupported, "QuantizedLstm: the layer is not an LSTM");
  if (cfg.bidirectional || cfg.lstm.proj_size > 0)
    return Status::Error(Code::kUnsupported,
                         "int8 inference does not support bidirectional or projected LSTMs yet");
  Status st = Validate(cfg);
  if (!st.ok()) return st;
  if (!qk || !fk || !params)
    return Status::Error(Code::kInvalidArgument, "QuantizedLstm: null table or parameters");
  const size_t H = size_t(cfg.hidden_size), GH = size_t(cfg.gates()) * H;
  if (size_t(cfg.input_size) > kQMaxK || H > kQMaxK)
    return Status::Error(Code::kOutOfRange,
                         "int8 inference: inputSize and hiddenSize must be at "
                         "most " +
                             std::to_string(kQMaxK));
  std::unique_ptr<QuantizedLstm> q(new QuantizedLstm());
  q->cfg_ = cfg;
  q->qk_ = qk;
  q->fk_ = fk;
  const std::vector<ParamInfo> table = ParamTable(cfg);
  auto find = [&](const std::string& name) -> const float* {
    for (const auto& p : table)
      if (p.name == name) return params + p.offset;
    return nullptr;
  };
  const bool has_i = cfg.lstm.input_gate && !cfg.lstm.coupled;
  for (int l = 0; l < cfg.num_layers; ++l) {
    Unit u;
    u.in = l == 0 ? cfg.input_size : cfg.hidden_size;
    q->max_in_ = std::max(q->max_in_, size_t(u.in));
    const std::string sfx = "_l" + std::to_string(l);
    const float* wih = find("weight_ih" + sfx);
    const float* whh = find("weight_hh" + sfx);
    const float* bih = find("bias_ih" + sfx);
    const float* bhh = find("bias_hh" + sfx);
    std::vector<int8_t> wq;
    auto quantize = [&](const float* w, size_t K, std::vector<uint8_t>* packed,
                        std::vector<float>* scale) {
      wq.assign(GH * K, 0);
      scale->assign(GH, 0.0f);
      if (!QuantizeWeights(GH, K, w, K, wq.data(), scale->data())) return false;
      packed->assign(QgemmPackedSize(K, GH), 0);
      QgemmPack(K, GH, wq.data(), K, packed->data());
      return true;
    };
    if (!quantize(wih, size_t(u.in), &u.wih, &u.sih) || !quantize(whh, H, &u.whh, &u.shh))
      return Status::Error(Code::kInvalidArgument, "int8 quantization: weight_ih" + sfx +
                                                       " or weight_hh" + sfx +
                                                       " holds a NaN or an infinity");
    u.bias.resize(GH);
    for (size_t n = 0; n < GH; ++n) u.bias[n] = bih[n] + bhh[n];
    LstmDesc<float>& ds = u.desc;
    ds.H = cfg.hidden_size;
    int blk = 0;
    ds.off_i = has_i ? cfg.hidden_size * blk++ : -1;
    ds.off_f = cfg.lstm.forget_gate ? cfg.hidden_size * blk++ : -1;
    ds.off_g = cfg.hidden_size * blk++;
    ds.off_o = cfg.lstm.output_gate ? cfg.hidden_size * blk++ : -1;
    ds.coupled = cfg.lstm.coupled;
    ds.input_activation = cfg.lstm.input_activation;
    ds.output_activation = cfg.lstm.output_activation;
    if (cfg.lstm.peephole) {
      const float* ph = find("weight_ph" + sfx);
      u.ph.assign(ph, ph + size_t(cfg.peepholes()) * H);
      int pk = 0;
      ds.ph_i = has_i ? cfg.hidden_size * pk++ : -1;
      ds.ph_f = cfg.lstm.forget_gate ? cfg.hidden_size * pk++ : -1;
      ds.ph_o = cfg.lstm.output_gate ? cfg.hidden_size * pk++ : -1;
    }
    q->units_.push_back(std::move(u));
  }
  // The peephole vectors are read in place (units_ no longer reallocates).
  for (Unit& u : q->units_) u.desc.ph = u.ph.empty() ? nullptr : u.ph.data();
  *out = std::move(q);
  return Status::Ok();
}

size_t QuantizedLstm::StateSize(int batch) const {
  return size_t(cfg_.num_layers) * 2 * size_t(batch) * size_t(cfg_.hidden_size);
}

// [rows_in, GH] gates, [rows_in] + [rows_h] scales, [rows_in, lda(max_in)] + [rows_h, lda(H)]
// int8 rows.
size_t QuantizedLstm::ScratchBytesFor(const Config& cfg, size_t rows_in, size_t rows_h) {
  const size_t H = size_t(cfg.hidden_size), GH = size_t(cfg.gates()) * H;
  const size_t max_in = std::max(size_t(cfg.input_size), cfg.num_layers > 1 ? H : 0);
  return AlignUp(rows_in * GH * sizeof(float)) + AlignUp(rows_in * sizeof(float)) +
         AlignUp(rows_h * sizeof(float)) + AlignUp(rows_in * QgemmLda(max_in)) +
         AlignUp(rows_h * QgemmLda(H));
}

size_t QuantizedLstm::StepScratchBytesFor(const Config& cfg, int batch) {
  return ScratchBytesFor(cfg, size_t(batch), size_t(batch));
}

size_t QuantizedLstm::ChunkSteps(size_t T, size_t B) {
  return std::max<size_t>(1, std::min(T, kChunkRows / B));
}

size_t QuantizedLstm::ForwardScratchBytes(int T, int batch) const {
  const size_t TB = size_t(T) * size_t(batch);
  const size_t rows = ChunkSteps(size_t(T), size_t(batch)) * size_t(batch);
  // Plus the output of the layers below the last, [T*B, H].
  return ScratchBytes(rows, size_t(batch)) +
         (cfg_.num_layers > 1 ? AlignUp(TB * size_t(cfg_.hidden_size) * sizeof(float)) : 0);
}

void QuantizedLstm::RunLayer(const Unit& u, int T, int B, const float* xin, float* h, float* c,
                             uint8_t* ws, float* yout) const {
  const size_t H = size_t(cfg_.hidden_size), GH = size_t(cfg_.gates()) * H;
  const size_t Bs = size_t(B), in = size_t(u.in);
  const size_t tc = ChunkSteps(size_t(T), Bs), rows = tc * Bs;
  float* G = reinterpret_cast<float*>(ws);
  ws += AlignUp(rows * GH * sizeof(float));
  float* sx = reinterpret_cast<float*>(ws);
  ws += AlignUp(rows * sizeof(float));
  float* sh = reinterpret_cast<float*>(ws);
  ws += AlignUp(Bs * sizeof(float));
  int8_t* xq = reinterpret_cast<int8_t*>(ws);
  ws += AlignUp(rows * QgemmLda(max_in_));
  int8_t* hq = reinterpret_cast<int8_t*>(ws);
  const size_t ldx = QgemmLda(in), ldh = QgemmLda(H);
  // The input GEMM of a chunk of tc steps at a time (tc * B rows), so that its gates stay in
  // the cache until the steps read them; rows are quantized and multiplied independently, so
  // the chunking changes no bit. xin of a chunk is read before yout of the chunk is written
  // (yout may alias xin: the layers of Forward share one buffer).
  for (size_t t0 = 0; t0 < size_t(T); t0 += tc) {
    const size_t n = std::min(tc, size_t(T) - t0);
    qk_->quantize_rows(n * Bs, in, xin + t0 * Bs * in, in, xq, ldx, sx);
    qk_->qgemm(n * Bs, GH, in, xq, ldx, sx, u.wih.data(), u.sih.data(), u.bias.data(), G, GH, false,
               Part{});
    for (size_t t = 0; t < n; ++t) {
      float* g = G + t * Bs * GH;
      qk_->quantize_rows(Bs, H, h, H, hq, ldh, sh);
      qk_->qgemm(Bs, GH, H, hq, ldh, sh, u.whh.data(), u.shh.data(), nullptr, g, GH, true, Part{});
      for (size_t b = 0; b < Bs; ++b)
        fk_->lstm.fwd(u.desc, g + b * GH, c + b * H, c + b * H, h + b * H);
      if (yout) std::memcpy(yout + (t0 + t) * Bs * H, h, sizeof(float) * Bs * H);
    }
  }
}

Status QuantizedLstm::Step(int batch, const float* x, float* state, void* scratch,
                           float* out) const {
  if (batch < 1 || !x || !state || !scratch || !out)
    return Status::Error(Code::kInvalidArgument, "QuantizedLstm::Step: bad arguments");
  const size_t BH = size_t(batch) * size_t(cfg_.hidden_size);
  const float* xin = x;
  for (size_t l = 0; l < units_.size(); ++l) {
    float* h = state + l * 2 * BH;
    const bool last = l + 1 == units_.size();
    RunLayer(units_[l], 1, batch, xin, h, h + BH, static_cast<uint8_t*>(scratch),
             last ? out : nullptr);
    xin = h;
  }
  return Status::Ok();
}

Status QuantizedLstm::Forward(int T, int batch, const float* x, float* state, void* scratch,
                              float* y) const {
  if (T < 1 || batch < 1 || !x || !state || !scratch || !y)
    return Status::Error(Code::kInvalidArgument, "QuantizedLstm::Forward: bad arguments");
  const size_t BH = size_t(batch) * size_t(cfg_.hidden_size);
  uint8_t* ws = static_cast<uint8_t*>(scratch);
  const size_t rows = ChunkSteps(size_t(T), size_t(batch)) * size_t(batch);
  float* mid = reinterpret_cast<float*>(ws + ScratchBytes(rows, size_t(batch)));
  const float* xin = x;
  for (size_t l = 0; l < units_.size(); ++l) {
    float* h = state + l * 2 * BH;
    const bool last = l + 1 == units_.size();
    float* yout = last ? y : mid;
    RunLayer(units_[l], T, batch, xin, h, h + BH, ws, yout);
    xin = yout;
  }
  return Status::Ok();
}

size_t QuantizedLstm::WeightBytes() const {
  size_t n = 0;
  for (const Unit& u : units_)
    n += u.wih.size() + u.whh.size() +
         (u.sih.size() + u.shh.size() + u.bias.size() + u.ph.size()) * sizeof(float);
  return n;
}

}  // namespace cellstate
