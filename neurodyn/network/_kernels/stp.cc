// Spike delivery with Tsodyks-Markram short-term plasticity, as an XLA FFI handler (CPU).
//
// For every presynaptic neuron i that spiked (spikes[pre_start + i], bool) in step `step`:
//   h = (step - last[s]) * dt  for its state entries s (one per neuron, or one per synapse)
//   propagate the state over h and apply the spike (model 0: NEST's tsodyks_synapse,
//   model 1: the u*x model of Markram, Wang & Tsodyks 1998; the equations are in
//   neurodyn/network/short_term.py), released = u * x, last[s] = step
//   out[post_start + post_idx[i, j]] += weight[i, j] * released   (valid j only)
// so a step costs O(n_pre / 8) to find the spiking neurons plus O(spiking x out-degree):
// silent neurons' states are not touched (event-driven, as NEST updates a synapse only
// when a spike passes it).
//
// Operands (no batch dimensions; under vmap the call is repeated per network):
//   target   [n_total]           float32 or float64 (T)
//   post_idx [n_pre, K]          int32, padding >= n_post (or < 0) is skipped
//   weight   [] or [n_pre, K]    T
//   spikes   [n_spikes]          bool, n_spikes >= pre_start + n_pre
//   u, x     [S]                 T, S = n_pre (state per neuron) or n_pre * K (per synapse)
//   y        [S] (model 0) or [0] (model 1)
//   last     [S]                 int32, the step of the entry's previous spike
//   step     []                  int32
//   U, tau_rec, tau_fac, tau_psc [] , [n_pre] or [n_pre, K] (T; tau_psc unused by model 1)
// Results: out, u, x, y, last (all may alias their inputs). Attributes: post_start, n_post,
// pre_start, model (int64), dt (double, ms).
//
// Built with _kernels/delivery.cc into one library by neurodyn/network/_build.py.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "spikes.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using neurodyn::ForEachSpike;

template <typename T>
inline T Decay(T h, T tau) {
  return tau > T(0) ? std::exp(-h / tau) : T(0);
}

// Propagates one state entry over h and applies a spike; returns the released fraction.
template <typename T>
inline T Spike(int64_t model, T h, T U, T tau_rec, T tau_fac, T tau_psc, T* u, T* x, T* y) {
  if (model == 0) {
    const T p_uu = Decay(h, tau_fac), p_yy = std::exp(-h / tau_psc), p_zz = std::exp(-h / tau_rec);
    const T p_xy = ((p_zz - T(1)) * tau_rec - (p_yy - T(1)) * tau_psc) / (tau_psc - tau_rec);
    const T p_xz = T(1) - p_zz;
    const T z = T(1) - *x - *y;
    T uu = *u * p_uu;
    T xx = *x + p_xy * *y + p_xz * z;
    T yy = *y * p_yy;
    uu = uu + U * (T(1) - uu);
    const T released = uu * xx;
    *u = uu;
    *x = xx - released;
    *y = yy + released;
    return released;
  }
  const T xx = T(1) + (*x - T(1)) * std::exp(-h / tau_rec);
  const T uu = U + (*u - U) * Decay(h, tau_fac);
  const T released = uu * xx;
  *x = xx - released;
  *u = uu + U * (T(1) - uu);
  return released;
}

template <typename T>
ffi::Error DeliverStpTyped(ffi::AnyBuffer target, ffi::Buffer<ffi::S32> post_idx, ffi::AnyBuffer weight,
                           ffi::Buffer<ffi::PRED> spikes, ffi::AnyBuffer u, ffi::AnyBuffer x, ffi::AnyBuffer y,
                           ffi::Buffer<ffi::S32> last, ffi::Buffer<ffi::S32> step, ffi::AnyBuffer p_U,
                           ffi::AnyBuffer p_rec, ffi::AnyBuffer p_fac, ffi::AnyBuffer p_psc,
                           ffi::Result<ffi::AnyBuffer> out, ffi::Result<ffi::AnyBuffer> u_out,
                           ffi::Result<ffi::AnyBuffer> x_out, ffi::Result<ffi::AnyBuffer> y_out,
                           ffi::Result<ffi::Buffer<ffi::S32>> last_out, int64_t post_start, int64_t n_post,
                           int64_t pre_start, int64_t model, double dt) {
  const auto p_dims = post_idx.dimensions();
  if (p_dims.size() != 2) return ffi::Error::InvalidArgument("neurodyn_deliver_stp: post_idx must be [n_pre, K]");
  const int64_t n_pre = p_dims[0], k = p_dims[1];
  const int64_t n_total = static_cast<int64_t>(target.element_count());
  const int64_t n_state = static_cast<int64_t>(u.element_count());
  const bool per_synapse = n_state == n_pre * k && k != 1;
  if (!(n_state == n_pre || n_state == n_pre * k) || x.element_count() != static_cast<size_t>(n_state) ||
      last.element_count() != static_cast<size_t>(n_state) ||
      (model == 0 && y.element_count() != static_cast<size_t>(n_state))) {
    return ffi::Error::InvalidArgument("neurodyn_deliver_stp: the state arrays must all have n_pre = " +
                                       std::to_string(n_pre) + " or n_pre * K entries, got " +
                                       std::to_string(n_state));
  }
  const int64_t n_weight = static_cast<int64_t>(weight.element_count());
  if (n_weight != 1 && n_weight != n_pre * k) {
    return ffi::Error::InvalidArgument("neurodyn_deliver_stp: weight must be a scalar or [n_pre, K]");
  }
  if (pre_start < 0 || pre_start + n_pre > static_cast<int64_t>(spikes.element_count()) || post_start < 0 ||
      n_post < 0 || post_start + n_post > n_total || n_post > UINT32_MAX) {
    return ffi::Error::InvalidArgument("neurodyn_deliver_stp: pre_start/post_start do not fit the spikes/target");
  }
  const ffi::AnyBuffer* params[4] = {&p_U, &p_rec, &p_fac, &p_psc};
  const T* pdata[4];
  int64_t psize[4];
  for (int q = 0; q < 4; ++q) {
    psize[q] = static_cast<int64_t>(params[q]->element_count());
    if (psize[q] != 1 && psize[q] != n_pre && psize[q] != n_pre * k) {
      return ffi::Error::InvalidArgument("neurodyn_deliver_stp: each parameter must be a scalar, [n_pre] or [n_pre, K]");
    }
    pdata[q] = static_cast<const T*>(params[q]->untyped_data());
  }
  // Copy the inputs to the outputs unless XLA aliased them (then the update is in place).
  auto copy = [](void* dst, const void* src, size_t bytes) {
    if (dst != src && bytes) std::memcpy(dst, src, bytes);
  };
  copy(out->untyped_data(), target.untyped_data(), sizeof(T) * n_total);
  copy(u_out->untyped_data(), u.untyped_data(), sizeof(T) * n_state);
  copy(x_out->untyped_data(), x.untyped_data(), sizeof(T) * n_state);
  if (model == 0) copy(y_out->untyped_data(), y.untyped_data(), sizeof(T) * n_state);
  copy(last_out->untyped_data(), last.untyped_data(), sizeof(int32_t) * n_state);
  T* o = static_cast<T*>(out->untyped_data()) + post_start;
  T* us = static_cast<T*>(u_out->untyped_data());
  T* xs = static_cast<T*>(x_out->untyped_data());
  T* ys = model == 0 ? static_cast<T*>(y_out->untyped_data()) : nullptr;
  int32_t* ls = last_out->typed_data();
  const int32_t* idx = post_idx.typed_data();
  const T* w = static_cast<const T*>(weight.untyped_data());
  const bool* s = spikes.typed_data() + pre_start;
  const int32_t now = step.typed_data()[0];
  const T dt_t = static_cast<T>(dt);
  T dummy_y = T(0);
  // The value of parameter q for state entry e of neuron i.
  auto param = [&](int q, int64_t i, int64_t e) -> T {
    if (psize[q] == 1) return pdata[q][0];
    if (per_synapse && psize[q] == n_pre * k) return pdata[q][e];
    return pdata[q][i];
  };
  auto spike = [&](int64_t i, int64_t e) -> T {
    const T h = static_cast<T>(now - ls[e]) * dt_t;
    ls[e] = now;
    return Spike<T>(model, h, param(0, i, e), param(1, i, e), param(2, i, e), param(3, i, e), us + e, xs + e,
                    ys ? ys + e : &dummy_y);
  };
  const uint32_t np = static_cast<uint32_t>(n_post);
  ForEachSpike(s, n_pre, [&](int64_t i) {
    const int32_t* row = idx + i * k;
    if (per_synapse) {
      for (int64_t j = 0; j < k; ++j) {  // padding entries advance too, as in the JAX path
        const int64_t e = i * k + j;
        const T released = spike(i, e);
        const uint32_t p = static_cast<uint32_t>(row[j]);
        if (p < np) o[p] += (n_weight == 1 ? w[0] : w[e]) * released;
      }
    } else if (n_weight == 1) {  // one weight: one value for the whole row
      const T value = w[0] * spike(i, i);
      for (int64_t j = 0; j < k; ++j) {
        const uint32_t p = static_cast<uint32_t>(row[j]);
        if (p < np) o[p] += value;
      }
    } else {
      const T released = spike(i, i);
      const T* w_row = w + i * k;
      for (int64_t j = 0; j < k; ++j) {
        const uint32_t p = static_cast<uint32_t>(row[j]);
        if (p < np) o[p] += w_row[j] * released;
      }
    }
  });
  return ffi::Error::Success();
}

ffi::Error DeliverStp(ffi::AnyBuffer target, ffi::Buffer<ffi::S32> post_idx, ffi::AnyBuffer weight,
                      ffi::Buffer<ffi::PRED> spikes, ffi::AnyBuffer u, ffi::AnyBuffer x, ffi::AnyBuffer y,
                      ffi::Buffer<ffi::S32> last, ffi::Buffer<ffi::S32> step, ffi::AnyBuffer p_U,
                      ffi::AnyBuffer p_rec, ffi::AnyBuffer p_fac, ffi::AnyBuffer p_psc,
                      ffi::Result<ffi::AnyBuffer> out, ffi::Result<ffi::AnyBuffer> u_out,
                      ffi::Result<ffi::AnyBuffer> x_out, ffi::Result<ffi::AnyBuffer> y_out,
                      ffi::Result<ffi::Buffer<ffi::S32>> last_out, int64_t post_start, int64_t n_post,
                      int64_t pre_start, int64_t model, double dt) {
  using DT = ffi::DataType;
  const DT t = target.element_type();
  for (const ffi::AnyBuffer* b : {&weight, &u, &x, &y, &p_U, &p_rec, &p_fac, &p_psc}) {
    if (b->element_type() != t) {
      return ffi::Error::InvalidArgument("neurodyn_deliver_stp: weight, state and parameters must have the target's dtype");
    }
  }
  if (model != 0 && model != 1) return ffi::Error::InvalidArgument("neurodyn_deliver_stp: model must be 0 or 1");
  if (t == DT::F32) {
    return DeliverStpTyped<float>(target, post_idx, weight, spikes, u, x, y, last, step, p_U, p_rec, p_fac, p_psc,
                                  out, u_out, x_out, y_out, last_out, post_start, n_post, pre_start, model, dt);
  }
  if (t == DT::F64) {
    return DeliverStpTyped<double>(target, post_idx, weight, spikes, u, x, y, last, step, p_U, p_rec, p_fac, p_psc,
                                   out, u_out, x_out, y_out, last_out, post_start, n_post, pre_start, model, dt);
  }
  return ffi::Error::InvalidArgument("neurodyn_deliver_stp: target must be float32 or float64");
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(NeurodynDeliverStp, DeliverStp,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()           // target
                                  .Arg<ffi::Buffer<ffi::S32>>()    // post_idx
                                  .Arg<ffi::AnyBuffer>()           // weight
                                  .Arg<ffi::Buffer<ffi::PRED>>()   // spikes
                                  .Arg<ffi::AnyBuffer>()           // u
                                  .Arg<ffi::AnyBuffer>()           // x
                                  .Arg<ffi::AnyBuffer>()           // y
                                  .Arg<ffi::Buffer<ffi::S32>>()    // last
                                  .Arg<ffi::Buffer<ffi::S32>>()    // step
                                  .Arg<ffi::AnyBuffer>()           // U
                                  .Arg<ffi::AnyBuffer>()           // tau_rec
                                  .Arg<ffi::AnyBuffer>()           // tau_fac
                                  .Arg<ffi::AnyBuffer>()           // tau_psc
                                  .Ret<ffi::AnyBuffer>()           // out
                                  .Ret<ffi::AnyBuffer>()           // u
                                  .Ret<ffi::AnyBuffer>()           // x
                                  .Ret<ffi::AnyBuffer>()           // y
                                  .Ret<ffi::Buffer<ffi::S32>>()    // last
                                  .Attr<int64_t>("post_start")
                                  .Attr<int64_t>("n_post")
                                  .Attr<int64_t>("pre_start")
                                  .Attr<int64_t>("model")
                                  .Attr<double>("dt"));
