// Layer<float>::QuantizedWeight (cpp/src/quant/qaccess.cc), what int8 files store: the int8
// values and row scales a quantized layer runs on, unpacked from the int8 GEMM's panels, equal
// QuantizeWeights of the layer's float weights bit for bit, for shapes that are and are not
// multiples of the panel (16 columns) and of the 4-byte groups, and for every layer of a stack;
// refusals (not quantized, unknown name, wrong shape) write nothing.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cellstate/cellstate.h"
#include "qcheck.h"
#include "ukernel/qgemm/qgemm.h"

namespace cellstate {
namespace {

ParamInfo Entry(const Config& c, const std::string& name) {
  for (const ParamInfo& p : ParamTable(c))
    if (p.name == name) return p;
  return {};
}

bool CheckShape(const Engine& e, int I, int H, int L) {
  const std::string what =
      "I" + std::to_string(I) + " H" + std::to_string(H) + " L" + std::to_string(L);
  Config c;
  c.input_size = I;
  c.hidden_size = H;
  c.num_layers = L;
  std::unique_ptr<Layer<float>> layer;
  QCHECK(Layer<float>::Create(c, e, &layer).ok(), "%s: Create", what.c_str());
  std::mt19937 rng(uint32_t(I * 131 + H));
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (size_t i = 0; i < ParamCount(c); ++i) layer->param_data()[i] = u(rng);
  layer->ParamsChanged();
  const size_t GH = size_t(4) * H;
  std::vector<int8_t> q(GH * std::max(I, H), 5);
  std::vector<float> s(GH, 5.0f);
  // not quantized yet: refused, nothing written
  QCHECK(
      layer->QuantizedWeight("weight_ih_l0", GH, I, q.data(), s.data()).code == Code::kUnsupported,
      "%s: a float layer answered", what.c_str());
  QCHECK(q[0] == 5 && s[0] == 5.0f, "%s: a refusal wrote", what.c_str());
  const std::vector<float> fl(layer->param_data(), layer->param_data() + ParamCount(c));
  QCHECK(layer->Quantize(true).ok(), "%s: Quantize", what.c_str());
  // What the layer reads back: its int8 weights dequantized, the rest as it was.
  std::vector<float> back(fl.size());
  layer->ReadParams(back.data());
  for (int l = 0; l < L; ++l)
    for (const char* b : {"bias_ih", "bias_hh"}) {
      const ParamInfo p = Entry(c, std::string(b) + "_l" + std::to_string(l));
      QCHECK(p.size > 0 && std::equal(fl.begin() + p.offset, fl.begin() + p.offset + p.size,
                                      back.begin() + p.offset),
             "%s %s: read back differs", what.c_str(), p.name.c_str());
    }
  for (int l = 0; l < L; ++l)
    for (const char* w : {"weight_ih", "weight_hh"}) {
      const std::string name = std::string(w) + "_l" + std::to_string(l);
      const size_t K = (std::string(w) == "weight_ih" && l == 0) ? size_t(I) : size_t(H);
      std::vector<int8_t> want(GH * K), got(GH * K, 99);
      std::vector<float> want_s(GH), got_s(GH, -1.0f);
      const size_t off = Entry(c, name).offset;
      QCHECK(QuantizeWeights(GH, K, fl.data() + off, K, want.data(), want_s.data()),
             "%s: QuantizeWeights", name.c_str());
      for (size_t i = 0; i < GH * K; ++i)
        QCHECK(back[off + i] == float(want[i]) * want_s[i / K], "%s %s: read back [%zu]",
               what.c_str(), name.c_str(), i);
      QCHECK(layer->QuantizedWeight(name, GH, K, got.data(), got_s.data()).ok(), "%s %s",
             what.c_str(), name.c_str());
      QCHECK(std::memcmp(want.data(), got.data(), want.size()) == 0, "%s %s: int8 values differ",
             what.c_str(), name.c_str());
      QCHECK(std::memcmp(want_s.data(), got_s.data(), GH * sizeof(float)) == 0,
             "%s %s: scales differ", what.c_str(), name.c_str());
    }
  q.assign(q.size(), 5);
  s.assign(s.size(), 5.0f);
  QCHECK(layer->QuantizedWeight("bias_ih_l0", GH, 1, q.data(), s.data()).code ==
             Code::kInvalidArgument,
         "%s: a bias answered", what.c_str());
  QCHECK(layer->QuantizedWeight("weight_ih_l0", GH, size_t(I) + 1, q.data(), s.data()).code ==
             Code::kInvalidArgument,
         "%s: a wrong shape answered", what.c_str());
  QCHECK(
      layer->QuantizedWeight("weight_ih_l" + std::to_string(L), GH, I, q.data(), s.data()).code ==
          Code::kInvalidArgument,
      "%s: a layer past the stack answered", what.c_str());
  QCHECK(q[0] == 5 && s[0] == 5.0f, "%s: a refusal wrote", what.c_str());
  ++g_passed;
  return true;
}

}  // namespace
}  // namespace cellstate

int main() {
  using namespace cellstate;
  Engine e;
  if (!MakeEngine("", 1, &e).ok()) {
    std::printf("MakeEngine failed\n");
    return 1;
  }
  // K below, at and past the 4-byte groups; 4H below, at and past the 16-column panels
  CheckShape(e, 1, 1, 1);
  CheckShape(e, 3, 4, 1);
  CheckShape(e, 4, 5, 2);
  CheckShape(e, 7, 9, 1);
  CheckShape(e, 16, 32, 1);
  CheckShape(e, 33, 17, 3);
  return QReport("qaccess");
}
