// The stack's state at the edges of a call: h0/c0 (or zeros) into a unit's running state,
// and its final state out to hN/cN. Rows [b0, b1) of unit sidx (= layer·D + direction).
#include <algorithm>
#include <cstring>

#include "cell/driver.h"

namespace cellstate {

template <typename T>
void Layer<T>::Impl::LoadState(const ForwardArgs& a, size_t sidx, size_t b0, size_t b1, T* h,
                               T* c) const {
  const int B = ws_B;
  for (size_t b = b0; b < b1; ++b) {
    const size_t row = sidx * B + b;
    if (a.h0)
      std::memcpy(h + b * R, static_cast<const T*>(a.h0) + row * R, sizeof(T) * R);
    else
      std::fill(h + b * R, h + (b + 1) * R, T(0));
    if (!c) continue;
    if (a.c0)
      std::memcpy(c + b * C, static_cast<const T*>(a.c0) + row * C, sizeof(T) * C);
    else
      std::fill(c + b * C, c + (b + 1) * C, T(0));
  }
}

template <typename T>
void Layer<T>::Impl::StoreState(const ForwardArgs& a, size_t sidx, size_t b0, size_t b1, const T* h,
                                const T* c) const {
  const int B = ws_B;
  for (size_t b = b0; b < b1; ++b) {
    const size_t row = sidx * B + b;
    if (a.h_n) std::memcpy(static_cast<T*>(a.h_n) + row * R, h + b * R, sizeof(T) * R);
    if (c && a.c_n) std::memcpy(static_cast<T*>(a.c_n) + row * C, c + b * C, sizeof(T) * C);
  }
}

#define CELLSTATE_INSTANTIATE(T)                                                                 \
  template void Layer<T>::Impl::LoadState(const ForwardArgs&, size_t, size_t, size_t, T*, T*)    \
      const;                                                                                     \
  template void Layer<T>::Impl::StoreState(const ForwardArgs&, size_t, size_t, size_t, const T*, \
                                           const T*) const;
CELLSTATE_INSTANTIATE(float)
CELLSTATE_INSTANTIATE(double)
#undef CELLSTATE_INSTANTIATE

}  // namespace cellstate
