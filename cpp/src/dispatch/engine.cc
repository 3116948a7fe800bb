// Choosing the kernels: CPU features, the CELLSTATE_ISA override, threads.
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "cellstate/cellstate.h"
#include "dispatch/cpu.h"
#include "dispatch/pool.h"
#include "kernels.h"

namespace cellstate {

#if !(defined(__x86_64__) || defined(_M_X64))
const Kernels<float>* Avx2Kernels() { return nullptr; }
const Kernels<float>* Avx512Kernels() { return nullptr; }
#endif
#if !(defined(__aarch64__) || defined(_M_ARM64))
const Kernels<float>* NeonKernels() { return nullptr; }
#endif

namespace {

const Kernels<float>* TableFor(const std::string& isa) {
  if (isa == "avx512") return CpuHasAvx512() ? Avx512Kernels() : nullptr;
  if (isa == "avx2") return CpuHasAvx2Fma() ? Avx2Kernels() : nullptr;
  if (isa == "neon") return CpuHasNeon() ? NeonKernels() : nullptr;
  if (isa == "scalar") return ScalarKernels();
  if (isa == "ref") return RefKernels<float>();
  return nullptr;
}

}  // namespace

std::vector<std::string> AvailableIsas() {
  std::vector<std::string> out;
  for (const char* isa : {"avx512", "avx2", "neon", "scalar"})
    if (TableFor(isa)) out.push_back(isa);
  return out;
}

Status MakeEngine(const std::string& isa, int threads, Engine* out) {
  std::string want = isa;
  if (want.empty()) {
    const char* env = std::getenv("CELLSTATE_ISA");
    if (env && *env) want = env;
  }
  if (want.empty()) want = AvailableIsas().front();
  const Kernels<float>* k = TableFor(want);
  if (!k)
    return Status::Error(
        Code::kUnsupported, "ISA '" + want +
                                "' is unknown or not supported by this CPU (available: " +
                                [] {
                                  std::string s;
                                  for (const auto& n : AvailableIsas())
                                    s += (s.empty() ? "" : ", ") + n;
                                  return s;
                                }() +
                                ")");
  out->kernels = k;
  out->threads = threads < 1 ? 1 : threads;
  out->pool.reset();
  if (out->threads > 1) {
    try {
      out->pool = std::make_shared<ThreadPool>(out->threads);
    } catch (const std::bad_alloc&) {
      out->threads = 1;
    }
  }
  return Status::Ok();
}

const char* IsaName(const Engine& e) {
  return e.kernels ? static_cast<const Kernels<float>*>(e.kernels)->name : "none";
}

int DefaultThreads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

bool HasOpenMP() { return false; }

}  // namespace cellstate
