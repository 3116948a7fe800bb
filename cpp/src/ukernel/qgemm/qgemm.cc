// The int8 GEMM's ISA-independent parts: weight quantization, packing (one layout for every ISA)
// and the choice of a table. Compiled without ISA flags.
#include "ukernel/qgemm/qgemm.h"

#include <cmath>
#include <cstring>
#include <string_view>

#include "dispatch/cpu.h"

namespace cellstate {

size_t QgemmPackedSize(size_t K, size_t N) {
  const size_t panels = (N + kQNr - 1) / kQNr;
  const size_t kp = (K + 3) / 4 * 4;
  return panels * kQNr * kp + panels * kQNr * sizeof(int32_t);
}

bool QuantizeWeights(size_t N, size_t K, const float* W, size_t ldw, int8_t* Wq, float* scale) {
  for (size_t n = 0; n < N; ++n) {
    const float* w = W + n * ldw;
    float amax = 0.0f;
    for (size_t k = 0; k < K; ++k) {
      if (!std::isfinite(w[k])) return false;
      amax = std::fmax(amax, std::fabs(w[k]));
    }
    scale[n] = amax / static_cast<float>(kQMax);
    const float inv = amax > 0.0f ? static_cast<float>(kQMax) / amax : 0.0f;
    for (size_t k = 0; k < K; ++k) {
      float q = std::nearbyint(w[k] * inv);
      q = std::fmin(std::fmax(q, -static_cast<float>(kQMax)), static_cast<float>(kQMax));
      Wq[n * K + k] = static_cast<int8_t>(q);
    }
  }
  return true;
}

void QgemmPack(size_t K, size_t N, const int8_t* Wq, size_t ldw, void* dst) {
  const size_t panels = (N + kQNr - 1) / kQNr;
  const size_t kp = (K + 3) / 4 * 4;
  int8_t* out = static_cast<int8_t*>(dst);
  int32_t* sums = reinterpret_cast<int32_t*>(out + panels * kQNr * kp);
  for (size_t p = 0; p < panels; ++p) {
    int8_t* panel = out + p * kp * kQNr;
    for (size_t j = 0; j < kQNr; ++j) {
      const size_t n = p * kQNr + j;
      int32_t sum = 0;
      for (size_t k = 0; k < kp; ++k) {
        const int8_t v = (n < N && k < K) ? Wq[n * ldw + k] : 0;
        panel[(k / 4) * 4 * kQNr + j * 4 + (k % 4)] = v;
        sum += v;
      }
      const int32_t corr = 128 * sum;
      std::memcpy(&sums[n], &corr, sizeof corr);  // dst need not be aligned
    }
  }
}

void QgemmUnpack(size_t K, size_t N, const void* src, int8_t* Wq, size_t ldw) {
  const size_t kp = (K + 3) / 4 * 4;
  const int8_t* in = static_cast<const int8_t*>(src);
  for (size_t n = 0; n < N; ++n) {
    const int8_t* panel = in + (n / kQNr) * kp * kQNr;
    const size_t j = n % kQNr;
    for (size_t k = 0; k < K; ++k) Wq[n * ldw + k] = panel[(k / 4) * 4 * kQNr + j * 4 + (k % 4)];
  }
}

namespace {

constexpr QKernels kScalar = {"scalar", scalar_quantize_rows, scalar_qgemm};
#if defined(__x86_64__) || defined(_M_X64)
constexpr QKernels kAvx2 = {"avx2", avx2_quantize_rows, avx2_qgemm};
constexpr QKernels kAvxVnni = {"avxvnni", avx2_quantize_rows, avxvnni_qgemm};
constexpr QKernels kAvx512Vnni = {"avx512vnni", avx512_quantize_rows, avx512vnni_qgemm};
#endif
#if defined(__aarch64__)
constexpr QKernels kNeon = {"neon", neon_quantize_rows, neon_qgemm};
constexpr QKernels kNeonDot = {"neondot", neon_quantize_rows, neondot_qgemm};
#endif

}  // namespace

const QKernels* QKernelsByName(const char* name) {
  const std::string_view n = name ? name : "";
  if (n == "scalar") return &kScalar;
#if defined(__x86_64__) || defined(_M_X64)
  if (n == "avx2") return CpuHasAvx2Fma() ? &kAvx2 : nullptr;
  if (n == "avxvnni") return CpuHasAvxVnni() ? &kAvxVnni : nullptr;
  if (n == "avx512vnni") return CpuHasAvx512Vnni() ? &kAvx512Vnni : nullptr;
#endif
#if defined(__aarch64__)
  if (n == "neon") return CpuHasNeon() ? &kNeon : nullptr;
  if (n == "neondot") return CpuHasNeonDot() ? &kNeonDot : nullptr;
#endif
  return nullptr;
}

const QKernels* BestQKernels() {
  for (const char* n : {"avx512vnni", "avxvnni", "avx2", "neondot", "neon"})
    if (const QKernels* k = QKernelsByName(n)) return k;
  return &kScalar;
}

const QKernels* QKernelsForIsa(const char* float_isa) {
  const std::string_view f = float_isa ? float_isa : "";
  const char* const* order = nullptr;
  static const char* const kAvx512Order[] = {"avx512vnni", "avxvnni", "avx2", nullptr};
  static const char* const kAvx2Order[] = {"avxvnni", "avx2", nullptr};
  static const char* const kNeonOrder[] = {"neondot", "neon", nullptr};
  if (f == "avx512") order = kAvx512Order;
  if (f == "avx2") order = kAvx2Order;
  if (f == "neon") order = kNeonOrder;
  if (order) {
    for (; *order; ++order)
      if (const QKernels* k = QKernelsByName(*order)) return k;
  }
  return &kScalar;
}

}  // namespace cellstate
