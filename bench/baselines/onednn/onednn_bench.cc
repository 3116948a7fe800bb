// The oneDNN baseline of `npm run bench` (bench/run.mjs through bench/baselines/onednn.mjs):
// oneDNN's RNN primitives (vanilla_lstm, vanilla_gru, lbr_gru) on cellstate's workloads, with
// cellstate's weights and inputs, driven one measurement at a time so that its rounds alternate
// with cellstate's in one run. Not part of cellstate: built on demand with
//   g++ -O2 -std=c++17 -fopenmp onednn_bench.cc -ldnnl -o build/bench/onednn_bench
// against Debian's libdnnl-dev (oneDNN 2.x, OpenMP runtime: the thread count is OpenMP's,
// omp_set_num_threads before a primitive is created and run; primitives are made per count).
//
// Protocol: one command per line on stdin, one JSON line on stdout per command.
//   info                                   -> {"info": {...}}
//   load NAME KIND MODE T B I H DIR        batch workload. KIND lstm | gru | lbr_gru,
//                                          MODE infer | train. DIR holds float32 files in
//                                          cellstate's layout (spec/CELLS.md, PyTorch's):
//                                          w_ih.bin [G·H, I], w_hh.bin [G·H, H], b_ih.bin,
//                                          b_hh.bin [G·H], x.bin [T, B, I], dy.bin [T, B, H]
//                                          (train)                   -> {"ok": true}
//   loadstream NAME L I H FRAMES DIR       streaming LSTM, batch 1, one step per call, L layers
//                                          (layer l > 0 takes H inputs); DIR holds
//                                          w_ih_l{l}.bin ... b_hh_l{l}.bin and x.bin [FRAMES, I]
//   loadgemm NAME N DIR                    SGEMM ceiling: dnnl_sgemm C = A · B, N x N,
//                                          row-major; DIR holds a.bin, b.bin [N, N]
//                                          (check writes c.bin)     -> {"ok": true}
//   loadpeak NAME                          the core's FMA peak: every thread runs a register-only
//                                          loop of independent fused multiply-adds (AVX-512, else
//                                          AVX2), 2^28 flops per thread and call; not oneDNN's
//   check NAME DIR                         one call at 1 thread from zero state and zero
//                                          gradients; writes what it computed into DIR in
//                                          cellstate's layout: y.bin, hn.bin (LSTM: cn.bin);
//                                          train: dx.bin, dh0.bin (LSTM: dc0.bin), dw_ih.bin,
//                                          dw_hh.bin, db_ih.bin, db_hh.bin;
//                                          stream: y.bin = the last layer's h after each of 5
//                                          steps over frames 0-4      -> {"ok": true}
//   run NAME THREADS WARMUP REPS           -> {"times": [seconds per call, or per step]}
//   quit
// Errors answer {"error": "..."}; the process goes on.
//
// What is timed: inference = one forward_inference execution; training = forward_training +
// backward (diff_src_layer, diff_src_iter, diff_weights_layer, diff_weights_iter, diff_bias;
// oneDNN 2.x accumulates the weight gradients, as cellstate does); stream = one step of every
// layer. Every memory descriptor is format_tag::any (but src_iter, which oneDNN's GRU wants
// plain: ldnc), so the primitives pick their own layouts; the reorders of cellstate's weights and
// inputs into them happen at creation, outside the timed region. Both propagations take a zero
// initial state (src_iter) and give the final state (dst_iter), as cellstate's forward does.
//
// Layout mapping (cellstate = PyTorch's): oneDNN's user format ldgoi is PyTorch's [G·H, in]
// row-major weight with the gate blocks in oneDNN's order. LSTM gates i, f, g, o are oneDNN's
// i, f, c~, o (same order); GRU gates r, z, n are oneDNN's u (= z), r, o (= n): blocks 1, 0, 2.
// Biases: LSTM and vanilla GRU b = b_ih + b_hh; lbr_gru has 4 vectors u, r, o, u' =
// b_iz + b_hz, b_ir + b_hr, b_in, b_hn (u' is the bias inside r ⊙ (W_hn h + b_hn)).
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "oneapi/dnnl/dnnl_version.h"

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
using Args = std::unordered_map<int, memory>;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<float> ReadFloats(const std::string& path, size_t n) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<float> v(n);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(n * sizeof(float)));
  if (size_t(f.gcount()) != n * sizeof(float) || f.peek() != EOF)
    throw std::runtime_error(path + " does not hold " + std::to_string(n) + " floats");
  return v;
}

void WriteFloats(const std::string& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string JsonEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\')
      o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20)
      o += ' ';
    else
      o += c;
  }
  return o;
}

enum class Kind { kLstm, kGru, kLbrGru };

Kind ParseKind(const std::string& s) {
  if (s == "lstm") return Kind::kLstm;
  if (s == "gru") return Kind::kGru;
  if (s == "lbr_gru") return Kind::kLbrGru;
  throw std::runtime_error("unknown cell kind " + s + " (lstm, gru, lbr_gru)");
}

int Gates(Kind k) { return k == Kind::kLstm ? 4 : 3; }
int BiasGates(Kind k) { return k == Kind::kLbrGru ? 4 : Gates(k); }
// cellstate's gate block for oneDNN's gate g (GRU: u, r, o = z, r, n = blocks 1, 0, 2).
int CsBlock(Kind k, int g) { return k == Kind::kLstm ? g : (g == 0 ? 1 : g == 1 ? 0 : 2); }

// cellstate's [G·H, in] weight -> oneDNN's ldgoi (gate blocks in oneDNN's order), and back.
std::vector<float> ToLdgoi(Kind k, const std::vector<float>& w, int H, int in) {
  std::vector<float> o(w.size());
  const size_t block = size_t(H) * in;
  for (int g = 0; g < Gates(k); ++g)
    std::memcpy(&o[g * block], &w[CsBlock(k, g) * block], block * sizeof(float));
  return o;
}
std::vector<float> FromLdgoi(Kind k, const std::vector<float>& w, int H, int in) {
  std::vector<float> o(w.size());
  const size_t block = size_t(H) * in;
  for (int g = 0; g < Gates(k); ++g)
    std::memcpy(&o[CsBlock(k, g) * block], &w[g * block], block * sizeof(float));
  return o;
}

// cellstate's two biases -> oneDNN's ldgo bias.
std::vector<float> ToBias(Kind k, const std::vector<float>& bih, const std::vector<float>& bhh,
                          int H) {
  std::vector<float> o(size_t(BiasGates(k)) * H);
  for (int g = 0; g < Gates(k); ++g) {
    const int b = CsBlock(k, g);
    for (int j = 0; j < H; ++j) {
      const size_t s = size_t(b) * H + j;
      // lbr_gru's o gate takes b_in only; b_hn is its 4th vector, u'.
      o[size_t(g) * H + j] = (k == Kind::kLbrGru && g == 2) ? bih[s] : bih[s] + bhh[s];
    }
  }
  if (k == Kind::kLbrGru)
    for (int j = 0; j < H; ++j) o[size_t(3) * H + j] = bhh[size_t(2) * H + j];
  return o;
}
// oneDNN's diff_bias -> cellstate's d b_ih, d b_hh (a summed bias gets the same gradient twice).
void FromBias(Kind k, const std::vector<float>& db, int H, std::vector<float>* dbih,
              std::vector<float>* dbhh) {
  dbih->assign(size_t(Gates(k)) * H, 0.f);
  dbhh->assign(size_t(Gates(k)) * H, 0.f);
  for (int g = 0; g < Gates(k); ++g) {
    const int b = CsBlock(k, g);
    for (int j = 0; j < H; ++j) {
      const float v = db[size_t(g) * H + j];
      (*dbih)[size_t(b) * H + j] = v;
      (*dbhh)[size_t(b) * H + j] = (k == Kind::kLbrGru && g == 2) ? db[size_t(3) * H + j] : v;
    }
  }
}

struct Ctx {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
};

memory::desc Any(const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); }
memory::desc Plain(const memory::dims& d, tag t) { return memory::desc(d, dt::f32, t); }

memory UserMem(Ctx& c, const memory::desc& md, std::vector<float>* data) {
  return memory(md, c.eng, data->data());
}

// A memory of the primitive's own descriptor, filled from `user` (a reorder) or zeroed.
memory Place(Ctx& c, const memory::desc& md, const memory* user) {
  memory m(md, c.eng);
  if (user) {
    dnnl::reorder(*user, m).execute(c.strm, const_cast<memory&>(*user), m);
    c.strm.wait();
  } else {
    std::memset(m.get_data_handle(), 0, md.get_size());
  }
  return m;
}

void Zero(memory& m) { std::memset(m.get_data_handle(), 0, m.get_desc().get_size()); }

std::vector<float> ToUser(Ctx& c, memory& m, const memory::desc& user_md) {
  std::vector<float> v(user_md.get_size() / sizeof(float));
  memory u(user_md, c.eng, v.data());
  dnnl::reorder(m, u).execute(c.strm, m, u);
  c.strm.wait();
  return v;
}

// One layer's cellstate parameters, in oneDNN's user formats.
struct Params {
  std::vector<float> w_ih, w_hh, bias;  // ldgoi, ldgoi, ldgo
};

Params LoadParams(Kind k, const std::string& dir, const std::string& suffix, int I, int H) {
  const int G = Gates(k);
  Params p;
  p.w_ih = ToLdgoi(k, ReadFloats(dir + "/w_ih" + suffix + ".bin", size_t(G) * H * I), H, I);
  p.w_hh = ToLdgoi(k, ReadFloats(dir + "/w_hh" + suffix + ".bin", size_t(G) * H * H), H, H);
  p.bias = ToBias(k, ReadFloats(dir + "/b_ih" + suffix + ".bin", size_t(G) * H),
                  ReadFloats(dir + "/b_hh" + suffix + ".bin", size_t(G) * H), H);
  return p;
}

// Forward and (training) backward primitive descriptors for one layer, all formats `any` but
// src_iter.
struct Descs {
  memory::desc x, iter, wl, wi, bias, y, iter_any;
};

Descs MakeDescs(Kind k, int T, int B, int I, int H) {
  Descs d;
  d.x = Any({T, B, I});
  d.iter = Plain({1, 1, B, H}, tag::ldnc);
  d.wl = Any({1, 1, I, Gates(k), H});
  d.wi = Any({1, 1, H, Gates(k), H});
  d.bias = Any({1, 1, BiasGates(k), H});
  d.y = Any({T, B, H});
  d.iter_any = Any({1, 1, B, H});
  return d;
}

// oneDNN 2.x builds a primitive descriptor from an operation descriptor (P::desc); oneDNN 3
// removed those and takes the same arguments after the engine (and the forward hint last).
#if DNNL_VERSION_MAJOR >= 3
template <class P, class... A>
typename P::primitive_desc MakePd(const dnnl::engine& e, const A&... a) {
  return typename P::primitive_desc(e, a...);
}
template <class P, class Hint, class... A>
typename P::primitive_desc MakeBwdPd(const dnnl::engine& e, const Hint& hint, const A&... a) {
  return typename P::primitive_desc(e, a..., hint);
}
#else
template <class P, class... A>
typename P::primitive_desc MakePd(const dnnl::engine& e, const A&... a) {
  return typename P::primitive_desc(typename P::desc(a...), e);
}
template <class P, class Hint, class... A>
typename P::primitive_desc MakeBwdPd(const dnnl::engine& e, const Hint& hint, const A&... a) {
  return typename P::primitive_desc(typename P::desc(a...), e, hint);
}
#endif

dnnl::primitive_desc FwdPd(Ctx& c, Kind k, dnnl::prop_kind pk, const Descs& d) {
  const auto dir = dnnl::rnn_direction::unidirectional_left2right;
  switch (k) {
    case Kind::kLstm:
      return MakePd<dnnl::lstm_forward>(c.eng, pk, dir, d.x, d.iter, d.iter, d.wl, d.wi, d.bias,
                                        d.y, d.iter_any, d.iter_any);
    case Kind::kGru:
      return MakePd<dnnl::gru_forward>(c.eng, pk, dir, d.x, d.iter, d.wl, d.wi, d.bias, d.y,
                                       d.iter_any);
    case Kind::kLbrGru:
      return MakePd<dnnl::lbr_gru_forward>(c.eng, pk, dir, d.x, d.iter, d.wl, d.wi, d.bias, d.y,
                                           d.iter_any);
  }
  throw std::logic_error("kind");
}

dnnl::primitive_desc BwdPd(Ctx& c, Kind k, const Descs& d, const dnnl::primitive_desc& fwd) {
  const auto dir = dnnl::rnn_direction::unidirectional_left2right;
  const auto bk = dnnl::prop_kind::backward;
  switch (k) {
    case Kind::kLstm:
      return MakeBwdPd<dnnl::lstm_backward>(c.eng, dnnl::lstm_forward::primitive_desc(fwd.get()),
                                            bk, dir, d.x, d.iter, d.iter, d.wl, d.wi, d.bias, d.y,
                                            d.iter_any, d.iter_any, d.x, d.iter, d.iter, d.wl, d.wi,
                                            d.bias, d.y, d.iter_any, d.iter_any);
    case Kind::kGru:
      return MakeBwdPd<dnnl::gru_backward>(c.eng, dnnl::gru_forward::primitive_desc(fwd.get()), bk,
                                           dir, d.x, d.iter, d.wl, d.wi, d.bias, d.y, d.iter_any,
                                           d.x, d.iter, d.wl, d.wi, d.bias, d.y, d.iter_any);
    case Kind::kLbrGru:
      return MakeBwdPd<dnnl::lbr_gru_backward>(
          c.eng, dnnl::lbr_gru_forward::primitive_desc(fwd.get()), bk, dir, d.x, d.iter, d.wl, d.wi,
          d.bias, d.y, d.iter_any, d.x, d.iter, d.wl, d.wi, d.bias, d.y, d.iter_any);
  }
  throw std::logic_error("kind");
}

memory::desc ArgMd(const dnnl::primitive_desc& pd, int arg) {
  return pd.query_md(dnnl::query::exec_arg_md, arg);
}

// Primitives and memories of one batch workload at one thread count.
struct Batch {
  dnnl::primitive fwd, bwd;
  Args fargs, bargs;
};

class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::vector<double> Run(Ctx& c, int threads, int warmup, int reps) = 0;
  virtual void Check(Ctx& c, const std::string& dir) = 0;
};

class BatchWorkload : public Workload {
 public:
  BatchWorkload(Kind k, bool train, int T, int B, int I, int H, const std::string& dir)
      : k_(k), train_(train), T_(T), B_(B), I_(I), H_(H) {
    p_ = LoadParams(k, dir, "", I, H);
    x_ = ReadFloats(dir + "/x.bin", size_t(T) * B * I);
    if (train) dy_ = ReadFloats(dir + "/dy.bin", size_t(T) * B * H);
  }

  std::vector<double> Run(Ctx& c, int threads, int warmup, int reps) override {
    Batch& b = Get(c, threads);
    std::vector<double> times;
    for (int r = 0; r < warmup + reps; ++r) {
      const double t0 = Now();
      Call(c, b);
      if (r >= warmup) times.push_back(Now() - t0);
    }
    return times;
  }

  void Check(Ctx& c, const std::string& dir) override {
    Batch& b = Get(c, 1);
    for (int a : {DNNL_ARG_DIFF_WEIGHTS_LAYER, DNNL_ARG_DIFF_WEIGHTS_ITER, DNNL_ARG_DIFF_BIAS})
      if (b.bargs.count(a)) Zero(b.bargs[a]);
    Call(c, b);
    WriteFloats(dir + "/y.bin",
                ToUser(c, b.fargs[DNNL_ARG_DST_LAYER], Plain({T_, B_, H_}, tag::tnc)));
    WriteFloats(dir + "/hn.bin",
                ToUser(c, b.fargs[DNNL_ARG_DST_ITER], Plain({1, 1, B_, H_}, tag::ldnc)));
    if (k_ == Kind::kLstm)
      WriteFloats(dir + "/cn.bin",
                  ToUser(c, b.fargs[DNNL_ARG_DST_ITER_C], Plain({1, 1, B_, H_}, tag::ldnc)));
    if (!train_) return;
    const int G = Gates(k_);
    if (k_ == Kind::kLstm)
      WriteFloats(dir + "/dc0.bin",
                  ToUser(c, b.bargs[DNNL_ARG_DIFF_SRC_ITER_C], Plain({1, 1, B_, H_}, tag::ldnc)));
    WriteFloats(dir + "/dx.bin",
                ToUser(c, b.bargs[DNNL_ARG_DIFF_SRC_LAYER], Plain({T_, B_, I_}, tag::tnc)));
    WriteFloats(dir + "/dh0.bin",
                ToUser(c, b.bargs[DNNL_ARG_DIFF_SRC_ITER], Plain({1, 1, B_, H_}, tag::ldnc)));
    WriteFloats(dir + "/dw_ih.bin", FromLdgoi(k_,
                                              ToUser(c, b.bargs[DNNL_ARG_DIFF_WEIGHTS_LAYER],
                                                     Plain({1, 1, I_, G, H_}, tag::ldgoi)),
                                              H_, I_));
    WriteFloats(dir + "/dw_hh.bin", FromLdgoi(k_,
                                              ToUser(c, b.bargs[DNNL_ARG_DIFF_WEIGHTS_ITER],
                                                     Plain({1, 1, H_, G, H_}, tag::ldgoi)),
                                              H_, H_));
    std::vector<float> dbih, dbhh;
    FromBias(k_,
             ToUser(c, b.bargs[DNNL_ARG_DIFF_BIAS], Plain({1, 1, BiasGates(k_), H_}, tag::ldgo)),
             H_, &dbih, &dbhh);
    WriteFloats(dir + "/db_ih.bin", dbih);
    WriteFloats(dir + "/db_hh.bin", dbhh);
  }

 private:
  void Call(Ctx& c, Batch& b) {
    b.fwd.execute(c.strm, b.fargs);
    if (train_) b.bwd.execute(c.strm, b.bargs);
    c.strm.wait();
  }

  // Primitives are created with OpenMP set to `threads` (oneDNN sizes its work split and
  // scratchpad for the thread count at creation).
  Batch& Get(Ctx& c, int threads) {
    omp_set_num_threads(threads);
    auto it = by_threads_.find(threads);
    if (it != by_threads_.end()) return it->second;
    const Descs d = MakeDescs(k_, T_, B_, I_, H_);
    const auto pk = train_ ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    const dnnl::primitive_desc fpd = FwdPd(c, k_, pk, d);
    const int G = Gates(k_);
    memory ux = UserMem(c, Plain({T_, B_, I_}, tag::tnc), &x_);
    memory uwl = UserMem(c, Plain({1, 1, I_, G, H_}, tag::ldgoi), &p_.w_ih);
    memory uwi = UserMem(c, Plain({1, 1, H_, G, H_}, tag::ldgoi), &p_.w_hh);
    memory ub = UserMem(c, Plain({1, 1, BiasGates(k_), H_}, tag::ldgo), &p_.bias);
    Batch b;
    Args& f = b.fargs;
    f[DNNL_ARG_SRC_LAYER] = Place(c, ArgMd(fpd, DNNL_ARG_SRC_LAYER), &ux);
    f[DNNL_ARG_SRC_ITER] = Place(c, ArgMd(fpd, DNNL_ARG_SRC_ITER), nullptr);
    f[DNNL_ARG_WEIGHTS_LAYER] = Place(c, ArgMd(fpd, DNNL_ARG_WEIGHTS_LAYER), &uwl);
    f[DNNL_ARG_WEIGHTS_ITER] = Place(c, ArgMd(fpd, DNNL_ARG_WEIGHTS_ITER), &uwi);
    f[DNNL_ARG_BIAS] = Place(c, ArgMd(fpd, DNNL_ARG_BIAS), &ub);
    f[DNNL_ARG_DST_LAYER] = Place(c, ArgMd(fpd, DNNL_ARG_DST_LAYER), nullptr);
    f[DNNL_ARG_DST_ITER] = Place(c, ArgMd(fpd, DNNL_ARG_DST_ITER), nullptr);
    if (k_ == Kind::kLstm) {
      f[DNNL_ARG_SRC_ITER_C] = Place(c, ArgMd(fpd, DNNL_ARG_SRC_ITER_C), nullptr);
      f[DNNL_ARG_DST_ITER_C] = Place(c, ArgMd(fpd, DNNL_ARG_DST_ITER_C), nullptr);
    }
    if (train_) f[DNNL_ARG_WORKSPACE] = Place(c, ArgMd(fpd, DNNL_ARG_WORKSPACE), nullptr);
    b.fwd = dnnl::primitive(fpd);
    if (train_) {
      const dnnl::primitive_desc bpd = BwdPd(c, k_, d, fpd);
      memory udy = UserMem(c, Plain({T_, B_, H_}, tag::tnc), &dy_);
      Args& a = b.bargs;
      // Forward's tensors are passed on as they are: the backward must take the forward's
      // layouts (a reorder here would be inside the timed call).
      for (int arg :
           {DNNL_ARG_SRC_LAYER, DNNL_ARG_SRC_ITER, DNNL_ARG_SRC_ITER_C, DNNL_ARG_DST_LAYER,
            DNNL_ARG_DST_ITER, DNNL_ARG_DST_ITER_C, DNNL_ARG_WORKSPACE, DNNL_ARG_BIAS}) {
        if (!f.count(arg)) continue;
        if (ArgMd(bpd, arg) != f[arg].get_desc())
          throw std::runtime_error("backward wants another layout for argument " +
                                   std::to_string(arg) + " than forward gave");
        a[arg] = f[arg];
      }
      // The backward's weights may be in another layout (ldgoi-like): reordered here, once.
      a[DNNL_ARG_WEIGHTS_LAYER] = Place(c, ArgMd(bpd, DNNL_ARG_WEIGHTS_LAYER), &uwl);
      a[DNNL_ARG_WEIGHTS_ITER] = Place(c, ArgMd(bpd, DNNL_ARG_WEIGHTS_ITER), &uwi);
      for (int arg : {DNNL_ARG_DIFF_SRC_LAYER, DNNL_ARG_DIFF_SRC_ITER, DNNL_ARG_DIFF_WEIGHTS_LAYER,
                      DNNL_ARG_DIFF_WEIGHTS_ITER, DNNL_ARG_DIFF_BIAS, DNNL_ARG_DIFF_DST_ITER})
        a[arg] = Place(c, ArgMd(bpd, arg), nullptr);
      if (k_ == Kind::kLstm)
        for (int arg : {DNNL_ARG_DIFF_SRC_ITER_C, DNNL_ARG_DIFF_DST_ITER_C})
          a[arg] = Place(c, ArgMd(bpd, arg), nullptr);
      a[DNNL_ARG_DIFF_DST_LAYER] = Place(c, ArgMd(bpd, DNNL_ARG_DIFF_DST_LAYER), &udy);
      b.bwd = dnnl::primitive(bpd);
    }
    Batch& made = by_threads_.emplace(threads, std::move(b)).first->second;
    // One call at creation: the first execution's one-off costs (OpenMP team, lazily made
    // kernels) belong to setting up, as the reorders do, not to the first timed call.
    Call(c, made);
    return made;
  }

  Kind k_;
  bool train_;
  int T_, B_, I_, H_;
  Params p_;
  std::vector<float> x_, dy_;
  std::map<int, Batch> by_threads_;
};

// A streaming LSTM: batch 1, one step per call, L single-layer primitives (layer l > 0 takes H
// inputs, which one multi-layer oneDNN primitive cannot: it has one input width for all
// layers). The state lives in two sets of buffers that swap roles every step.
// The SGEMM ceiling: oneDNN's dnnl_sgemm (row-major, C = A · B, beta 0) on N x N matrices, its
// own packing of A and B inside every call (as cellstate's matmul packs B).
class GemmWorkload : public Workload {
 public:
  GemmWorkload(int N, const std::string& dir) : N_(N) {
    a_ = ReadFloats(dir + "/a.bin", size_t(N) * N);
    b_ = ReadFloats(dir + "/b.bin", size_t(N) * N);
    c_.assign(size_t(N) * N, 0.0f);
  }

  std::vector<double> Run(Ctx&, int threads, int warmup, int reps) override {
    omp_set_num_threads(threads);
    std::vector<double> times;
    for (int r = 0; r < warmup + reps; ++r) {
      const double t0 = Now();
      Call();
      if (r >= warmup) times.push_back(Now() - t0);
    }
    return times;
  }

  void Check(Ctx&, const std::string& dir) override {
    omp_set_num_threads(1);
    Call();
    WriteFloats(dir + "/c.bin", c_);
  }

 private:
  void Call() {
    const dnnl_dim_t n = N_;
    const dnnl_status_t st =
        dnnl_sgemm('N', 'N', n, n, n, 1.0f, a_.data(), n, b_.data(), n, 0.0f, c_.data(), n);
    if (st != dnnl_success) throw std::runtime_error("dnnl_sgemm failed");
  }

  int N_;
  std::vector<float> a_, b_, c_;
};

// The FMA peak of the core: per thread a loop of independent fused multiply-adds on registers
// only (24 chains of 16 floats on AVX-512, 12 of 8 on AVX2: more than latency x throughput
// chains), 2^28 flops per thread and call; what no GEMM can exceed.
constexpr long kPeakFlopsPerThread = 1L << 28;

__attribute__((target("avx512f"), noinline)) float PeakAvx512(long iters) {
  __m512 acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_ps(float(i));
  __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(1e-3f);
  for (long k = 0; k < iters; ++k) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    __asm__ volatile("" : "+v"(m), "+v"(a));  // keep the loop from being folded
  }
  __m512 s = acc[0];
  for (int i = 1; i < 24; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx2,fma"), noinline)) float PeakAvx2(long iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i));
  __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(1e-3f);
  for (long k = 0; k < iters; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    __asm__ volatile("" : "+x"(m), "+x"(a));
  }
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

class PeakWorkload : public Workload {
 public:
  std::vector<double> Run(Ctx&, int threads, int warmup, int reps) override {
    omp_set_num_threads(threads);
    const bool avx512 = __builtin_cpu_supports("avx512f");
    const long iters = kPeakFlopsPerThread / (avx512 ? 24 * 16 * 2 : 12 * 8 * 2);
    std::vector<double> times;
    for (int r = 0; r < warmup + reps; ++r) {
      const double t0 = Now();
      float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
      total += avx512 ? PeakAvx512(iters) : PeakAvx2(iters);
      if (r >= warmup) times.push_back(Now() - t0);
      sink_ = total;
    }
    return times;
  }
  void Check(Ctx&, const std::string&) override {}

 private:
  volatile float sink_ = 0;
};

class StreamWorkload : public Workload {
 public:
  StreamWorkload(int L, int I, int H, int frames, const std::string& dir)
      : L_(L), I_(I), H_(H), frames_(frames) {
    for (int l = 0; l < L; ++l)
      p_.push_back(LoadParams(Kind::kLstm, dir, "_l" + std::to_string(l), l ? H : I, H));
    x_ = ReadFloats(dir + "/x.bin", size_t(frames) * I);
  }

  std::vector<double> Run(Ctx& c, int threads, int warmup, int reps) override {
    Make(c, threads);
    std::vector<double> times;
    for (int r = 0; r < warmup + reps; ++r) {
      const double t0 = Now();
      Step(c);
      if (r >= warmup) times.push_back(Now() - t0);
    }
    return times;
  }

  void Check(Ctx& c, const std::string& dir) override {
    Make(c, 1);
    for (auto& layer : layers_)
      for (auto& s : layer.state) Zero(s);
    const int saved = next_frame_;
    next_frame_ = 0;
    std::vector<float> y;
    for (int k = 0; k < 5; ++k) {
      Step(c);
      std::vector<float> h = ToUser(c, layers_.back().out, Plain({1, 1, H_}, tag::tnc));
      y.insert(y.end(), h.begin(), h.end());
    }
    next_frame_ = saved;
    WriteFloats(dir + "/y.bin", y);
  }

 private:
  struct Layer {
    dnnl::primitive prim;
    memory in, out;
    memory state[4];  // h, c (even steps read these), h', c' (odd steps)
    Args args[2];
  };

  void Step(Ctx& c) {
    std::memcpy(layers_[0].in.get_data_handle(), &x_[size_t(next_frame_) * I_],
                size_t(I_) * sizeof(float));
    next_frame_ = (next_frame_ + 1) % frames_;
    for (auto& layer : layers_) layer.prim.execute(c.strm, layer.args[parity_]);
    c.strm.wait();
    parity_ ^= 1;
  }

  void Make(Ctx& c, int threads) {
    omp_set_num_threads(threads);
    if (threads_ == threads) return;
    layers_.clear();
    layers_.resize(L_);
    parity_ = 0;
    for (int l = 0; l < L_; ++l) {
      const int in = l ? H_ : I_;
      Descs d = MakeDescs(Kind::kLstm, 1, 1, in, H_);
      d.iter_any = d.iter;  // the state swaps between src_iter and dst_iter: one layout
      const dnnl::primitive_desc pd = FwdPd(c, Kind::kLstm, dnnl::prop_kind::forward_inference, d);
      Layer& y = layers_[l];
      memory uwl = UserMem(c, Plain({1, 1, in, 4, H_}, tag::ldgoi), &p_[l].w_ih);
      memory uwi = UserMem(c, Plain({1, 1, H_, 4, H_}, tag::ldgoi), &p_[l].w_hh);
      memory ub = UserMem(c, Plain({1, 1, 4, H_}, tag::ldgo), &p_[l].bias);
      memory wl = Place(c, ArgMd(pd, DNNL_ARG_WEIGHTS_LAYER), &uwl);
      memory wi = Place(c, ArgMd(pd, DNNL_ARG_WEIGHTS_ITER), &uwi);
      memory b = Place(c, ArgMd(pd, DNNL_ARG_BIAS), &ub);
      if (l == 0) {
        if (ArgMd(pd, DNNL_ARG_SRC_LAYER) != Plain({1, 1, in}, tag::tnc))
          throw std::runtime_error("stream: the first layer's input is not plain");
        y.in = Place(c, ArgMd(pd, DNNL_ARG_SRC_LAYER), nullptr);
      } else {
        if (ArgMd(pd, DNNL_ARG_SRC_LAYER) != layers_[l - 1].out.get_desc())
          throw std::runtime_error("stream: layer input and output layouts differ");
        y.in = layers_[l - 1].out;
      }
      y.out = Place(c, ArgMd(pd, DNNL_ARG_DST_LAYER), nullptr);
      for (auto& s : y.state) s = Place(c, d.iter, nullptr);
      for (int p = 0; p < 2; ++p) {
        Args& a = y.args[p];
        a[DNNL_ARG_SRC_LAYER] = y.in;
        a[DNNL_ARG_DST_LAYER] = y.out;
        a[DNNL_ARG_WEIGHTS_LAYER] = wl;
        a[DNNL_ARG_WEIGHTS_ITER] = wi;
        a[DNNL_ARG_BIAS] = b;
        a[DNNL_ARG_SRC_ITER] = y.state[2 * p];
        a[DNNL_ARG_SRC_ITER_C] = y.state[2 * p + 1];
        a[DNNL_ARG_DST_ITER] = y.state[2 - 2 * p];
        a[DNNL_ARG_DST_ITER_C] = y.state[3 - 2 * p];
      }
      y.prim = dnnl::primitive(pd);
    }
    threads_ = threads;
    Step(c);  // the first execution's one-off costs, outside the timed steps
  }

  int L_, I_, H_, frames_;
  std::vector<Params> p_;
  std::vector<float> x_;
  std::vector<Layer> layers_;
  int threads_ = 0, parity_ = 0, next_frame_ = 0;
};

std::string IsaName(dnnl::cpu_isa isa) {
  switch (static_cast<dnnl_cpu_isa_t>(isa)) {
    case dnnl_cpu_isa_sse41:
      return "sse41";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
      return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "isa 0x" + [&] {
        char b[16];
        std::snprintf(b, sizeof b, "%x", unsigned(isa));
        return std::string(b);
      }();
  }
}

std::string Info() {
  const dnnl::version_t* v = dnnl::version();
  const char* rt = v->cpu_runtime == DNNL_RUNTIME_OMP          ? "OpenMP"
                   : v->cpu_runtime == DNNL_RUNTIME_TBB        ? "TBB"
                   : v->cpu_runtime == DNNL_RUNTIME_SEQ        ? "sequential"
                   : v->cpu_runtime == DNNL_RUNTIME_THREADPOOL ? "threadpool"
                                                               : "other";
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  std::ostringstream o;
  o << "{\"version\":\"" << v->major << '.' << v->minor << '.' << v->patch << "\",\"hash\":\""
    << JsonEscape(v->hash) << "\",\"cpu_runtime\":\"" << rt << "\",\"isa\":\""
    << IsaName(dnnl::get_effective_cpu_isa()) << "\",\"omp_max_threads\":" << omp_get_max_threads()
    << ",\"omp_wait_policy\":\"" << JsonEscape(wait ? wait : "default") << "\"}";
  return o.str();
}

int ToInt(const std::string& s, const char* what) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || v < 0) throw std::runtime_error(std::string("bad ") + what + ": " + s);
  return v;
}

}  // namespace

int main() {
  std::unique_ptr<Ctx> ctx;
  std::map<std::string, std::unique_ptr<Workload>> workloads;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::vector<std::string> t;
    for (std::string w; in >> w;) t.push_back(w);
    if (t.empty()) continue;
    std::string answer;
    try {
      if (!ctx) ctx = std::make_unique<Ctx>();
      const std::string& cmd = t[0];
      if (cmd == "quit") break;
      if (cmd == "info") {
        answer = "{\"info\":" + Info() + "}";
      } else if (cmd == "load" && t.size() == 9) {
        if (t[3] != "infer" && t[3] != "train") throw std::runtime_error("mode: infer or train");
        workloads[t[1]] = std::make_unique<BatchWorkload>(ParseKind(t[2]), t[3] == "train",
                                                          ToInt(t[4], "T"), ToInt(t[5], "B"),
                                                          ToInt(t[6], "I"), ToInt(t[7], "H"), t[8]);
        answer = "{\"ok\":true}";
      } else if (cmd == "loadgemm" && t.size() == 4) {
        workloads[t[1]] = std::make_unique<GemmWorkload>(ToInt(t[2], "N"), t[3]);
        answer = "{\"ok\":true}";
      } else if (cmd == "loadpeak" && t.size() == 2) {
        workloads[t[1]] = std::make_unique<PeakWorkload>();
        answer = "{\"ok\":true}";
      } else if (cmd == "loadstream" && t.size() == 7) {
        workloads[t[1]] = std::make_unique<StreamWorkload>(
            ToInt(t[2], "L"), ToInt(t[3], "I"), ToInt(t[4], "H"), ToInt(t[5], "FRAMES"), t[6]);
        answer = "{\"ok\":true}";
      } else if ((cmd == "check" && t.size() == 3) || (cmd == "run" && t.size() == 5)) {
        auto it = workloads.find(t[1]);
        if (it == workloads.end()) throw std::runtime_error("no workload " + t[1]);
        if (cmd == "check") {
          it->second->Check(*ctx, t[2]);
          answer = "{\"ok\":true}";
        } else {
          const std::vector<double> times = it->second->Run(
              *ctx, ToInt(t[2], "threads"), ToInt(t[3], "warmup"), ToInt(t[4], "reps"));
          std::ostringstream o;
          o.precision(9);
          o << "{\"times\":[";
          for (size_t i = 0; i < times.size(); ++i) o << (i ? "," : "") << times[i];
          o << "]}";
          answer = o.str();
        }
      } else {
        throw std::runtime_error("unknown command or wrong arguments: " + line);
      }
    } catch (const dnnl::error& e) {
      answer = "{\"error\":\"oneDNN: " + JsonEscape(e.what()) + "\"}";
    } catch (const std::exception& e) {
      answer = "{\"error\":\"" + JsonEscape(e.what()) + "\"}";
    }
    std::cout << answer << '\n' << std::flush;
  }
  return 0;
}
