// The public shell of a recurrent stack (Layer<T>, cellstate.h): construction and the accessors.
// The work is done by the driver (cell/driver.h) and the cell (cell/cell.h).
#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "cell/driver.h"
#include "cellstate/cellstate.h"

namespace cellstate {

template <typename T>
Status Layer<T>::Create(const Config& cfg, const Engine& engine, std::unique_ptr<Layer>* out) {
  Status st = Validate(cfg);
  if (!st.ok()) return st;
  try {
    auto impl = std::make_unique<Impl>();
    st = impl->Init(cfg, engine);
    if (!st.ok()) return st;
    out->reset(new Layer(std::move(impl)));
  } catch (const std::bad_alloc&) {
    return Status::Error(Code::kOutOfMemory, "out of memory for the parameters");
  }
  return Status::Ok();
}

template <typename T>
Status Layer<T>::Impl::Init(const Config& c, const Engine& e) {
  cfg = c;
  cell = MakeCell<T>(cfg);
  if (!cell) return Status::Error(Code::kInvalidArgument, "unknown cell");
  G = cfg.gates();
  H = cfg.hidden_size;
  R = cfg.out_size();
  C = cfg.cell_state_size();
  D = cfg.directions();
  SetEngine(e);
  table = ParamTable(cfg);
  const size_t n = ParamCount(cfg);
  params.assign(n, T(0));
  grads.assign(n, T(0));
  BuildUnits();
  infer_bufs.clear();
  cell->Workspace(false, &infer_bufs);
  Pack();
  return Status::Ok();
}

template <typename T>
void Layer<T>::Impl::SetEngine(const Engine& e) {
  engine = e;
  kern = KernelsFor<T>(e);
}

template <typename T>
Layer<T>::Layer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
template <typename T>
Layer<T>::~Layer() = default;
template <typename T>
const Config& Layer<T>::config() const {
  return impl_->cfg;
}
template <typename T>
const std::vector<ParamInfo>& Layer<T>::params() const {
  return impl_->table;
}
template <typename T>
T* Layer<T>::param_data() {
  return impl_->qk ? nullptr : impl_->params.data();
}
template <typename T>
const T* Layer<T>::param_data() const {
  return impl_->qk ? nullptr : impl_->params.data();
}
template <typename T>
T* Layer<T>::grad_data() {
  return impl_->qk ? nullptr : impl_->grads.data();
}
template <typename T>
const T* Layer<T>::grad_data() const {
  return impl_->qk ? nullptr : impl_->grads.data();
}
template <typename T>
void Layer<T>::ParamsChanged() {
  impl_->pending = false;
  impl_->Pack();
}
template <typename T>
void Layer<T>::ZeroGrad() {
  std::fill(impl_->grads.begin(), impl_->grads.end(), T(0));
}
template <typename T>
void Layer<T>::SetEngine(const Engine& e) {
  if (KernelsFor<T>(e) != impl_->kern) {
    impl_->SetEngine(e);
    impl_->pending = false;  // the workspace layout belongs to the old kernels
    impl_->Pack();
    // A quantized layer keeps its int8 weights (one packed layout for every ISA) and takes the
    // int8 table that goes with the new engine.
    if (impl_->qk)
      if (const QKernels* k = QKernelsForIsa(impl_->kern->name)) impl_->qk = k;
  } else {
    impl_->engine = e;
  }
}
template <typename T>
const Engine& Layer<T>::engine() const {
  return impl_->engine;
}
template <typename T>
Status Layer<T>::Forward(const ForwardArgs& a) {
  if (impl_->qk && a.train)
    return Status::Error(Code::kUnsupported,
                         "the layer is quantized (int8, inference only): training refused");
  return impl_->Forward(a);
}
template <typename T>
Status Layer<T>::Backward(const BackwardArgs& a) {
  return impl_->Backward(a);
}
template <typename T>
bool Layer<T>::has_pending_backward() const {
  return impl_->pending;
}

template <typename T>
void Layer<T>::DiscardPendingBackward() {
  impl_->pending = false;
}

template <typename T>
size_t Layer<T>::MemoryBytes() const {
  const Impl& m = *impl_;
  size_t bytes =
      sizeof(Impl) + sizeof(T) * (m.params.capacity() + m.grads.capacity() + m.packed.capacity() +
                                  m.packed_bwd.capacity() + m.work.capacity() + m.bwork.capacity());
  bytes += sizeof(size_t) * (m.ws.out.capacity() + m.ws.xin.capacity() + m.ws.mask.capacity());
  bytes += sizeof(int32_t) * m.lengths.capacity() + sizeof(ParamInfo) * m.table.capacity();
  bytes += sizeof(typename Impl::Unit) * m.units.capacity();
  bytes += sizeof(BufSpec) * (m.ws.cell.capacity() + m.infer_bufs.capacity());
  bytes += sizeof(size_t) * m.bw.cell.capacity();
  bytes += m.qpacked.capacity() + sizeof(float) * m.qscale.capacity();
  bytes +=
      sizeof(size_t) * m.small.capacity() + sizeof(typename Impl::QEntry) * m.qentries.capacity();
  for (const auto& q : m.qentries) bytes += sizeof(typename Impl::QPiece) * q.pieces.capacity();
  return bytes;
}

template <typename T>
size_t Layer<T>::StreamStateSize(int batch) const {
  const Impl& m = *impl_;
  return size_t(batch) * m.cfg.num_layers * (m.R + m.C);
}
template <typename T>
size_t Layer<T>::StreamScratchSize(int batch) const {
  return impl_->StreamScratchSize(batch);
}
template <typename T>
Status Layer<T>::Step(int batch, const T* x, T* state, T* scratch, T* out) const {
  return impl_->Step(batch, x, state, scratch, out);
}

template class Layer<float>;
template class Layer<double>;

}  // namespace cellstate
