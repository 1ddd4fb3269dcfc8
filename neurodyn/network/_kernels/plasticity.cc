// Plastic spike delivery (trace-based STDP) as an XLA FFI handler for the CPU.
//
// One step of a plastic projection, in place (every output aliases its input):
//   1. traces decay:  pre_trace[i, p] *= c[7 + p],  post_trace[j, p] *= c[9 + p]
//   2. every presynaptic i with pre_spikes[i]:
//        target[post_start + post_idx[i, k]] += weight[i, k]        (the weight before the update)
//        weight[i, k] = clip(w - A * (post_trace[j, 0] * f_minus(w)), 0, w_max), j = post_idx[i, k]
//          A = c[1] (pair rule) or c[1] + c[3] * pre_trace[i, 1] (triplet)
//        then pre_trace[i, :] += 1 (all-to-all) or = 1 (nearest)
//   3. every postsynaptic j with post_spikes[j], for each synapse s = i*K + k in reverse[j, :]:
//        weight[s] = clip(w + A * (pre_trace[i, 0] * f_plus(w)), 0, w_max)
//          A = c[0] (pair rule) or c[0] + c[2] * post_trace[j, 1] (triplet)
//        then post_trace[j, :] += 1 (or = 1)
// with f_minus(w) = (w / w_max)^mu_minus, f_plus(w) = (1 - w / w_max)^mu_plus (exactly 1 for
// mu = 0, 0 where the base is <= 0). c = [A+, A-, A3+, A3-, w_max, mu+, mu-, pre decays (2),
// post decays (2)]. The update w +/- A * (trace * f) is one fused multiply-add (std::fma):
// XLA's CPU compiler contracts the same expression of the JAX path into an FMA (measured: the
// two agree to the bit only this way). The loops run over the neurons that spiked only: O(n_pre + n_post) for
// the decay plus O(spikes x degree); the arithmetic is written in the order of the pure-JAX
// path (neurodyn/network/plasticity.py) so the two give the same numbers.
//
// Operands (no batch dimension; jax.vmap calls the handler once per batch member):
//   target [n_total] T, weight [n_pre, K] T, pre_trace [n_pre, P] T, post_trace [n_post, P] T,
//   post_idx [n_pre, K] int32 (padding >= n_post), reverse [n_post, Kin] int32 (padding
//   >= n_pre * K), pre_spikes [n_pre] bool, post_spikes [n_post] bool, coef [11] T;
//   T = float32 or float64, P = 1 (pair) or 2 (triplet).
// Attributes: post_start, n_post, nearest, deliver (int64; deliver = 0: the weights and traces
// only, the caller delivers, e.g. with short-term plasticity scaling each spike's weights).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "spikes.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using neurodyn::ForEachSpike;

template <typename T>
inline T Power(T base, T mu) {
  if (mu == T(0)) return T(1);
  if (!(base > T(0))) return T(0);
  return std::pow(base, mu);
}

template <typename T>
inline T Clip(T w, T w_max) {
  w = std::max(w, T(0));
  return std::min(w, w_max);
}

// Row index i of the flat synapse index s = i * K + k without an integer division (a 64-bit
// division costs ~40 cycles on this path, once per potentiated synapse): (s + 0.5) / K is at
// least 0.5 / K away from an integer, far more than the double rounding error (s < 2^31).
inline int64_t RowOf(uint64_t s, double inv_k) { return static_cast<int64_t>((static_cast<double>(s) + 0.5) * inv_k); }

// Calls f(j) for every j < n with a[j] != 0 (0/1 spike rows stored as floats), skipping eight
// zeros at a time by their bit patterns.
template <typename T, typename F>
inline void ForEachNonzero(const T* a, int64_t n, F&& f) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    uint64_t words[sizeof(T)];
    std::memcpy(words, a + j, 8 * sizeof(T));
    uint64_t any = 0;
    for (size_t b = 0; b < sizeof(T); ++b) any |= words[b];
    if (any == 0) continue;
    for (int64_t b = 0; b < 8; ++b) {
      if (a[j + b] != T(0)) f(j + b);
    }
  }
  for (; j < n; ++j) {
    if (a[j] != T(0)) f(j);
  }
}

// Calls run(triplet, dependent) with both as compile-time std::bool_constant values, so each
// rule (pair/triplet × additive/weight-dependent) runs its own specialised loop. The rule is
// weight-dependent when mu+ or mu- (coefficients 5 and 6) is non-zero.
template <typename T, typename F>
inline void DispatchRule(int64_t n_traces, const T* c, F&& run) {
  using Yes = std::true_type;
  using No = std::false_type;
  const bool dependent = c[5] != T(0) || c[6] != T(0);
  if (n_traces == 2) {
    dependent ? run(Yes{}, Yes{}) : run(Yes{}, No{});
  } else {
    dependent ? run(No{}, Yes{}) : run(No{}, No{});
  }
}

// The update loops, specialised at compile time: kTriplet (two traces per side), kDependent
// (a weight dependence mu+ or mu- != 0; the additive rule skips the power and its division).
template <typename T, bool kTriplet, bool kDependent>
void StdpLoops(T* g, T* w, T* x, T* y, const int32_t* idx, const int32_t* rev, const bool* pre_spikes,
               const bool* post_spikes, const T* c, int64_t n_pre, int64_t k, int64_t kin, int64_t n_post,
               bool nearest, bool deliver) {
  constexpr int64_t P = kTriplet ? 2 : 1;
  const T w_max = c[4];
  // 1. decay (contiguous loops over the trace arrays, vectorised by the compiler)
  if (kTriplet) {
    for (int64_t i = 0; i < n_pre; ++i) { x[2 * i] *= c[7]; x[2 * i + 1] *= c[8]; }
    for (int64_t j = 0; j < n_post; ++j) { y[2 * j] *= c[9]; y[2 * j + 1] *= c[10]; }
  } else {
    const T a = c[7], b = c[9];
    for (int64_t i = 0; i < n_pre; ++i) x[i] *= a;
    for (int64_t j = 0; j < n_post; ++j) y[j] *= b;
  }
  auto bump = [&](T* tr) {
    for (int64_t p = 0; p < P; ++p) tr[p] = nearest ? T(1) : tr[p] + T(1);
  };
  const uint32_t np = static_cast<uint32_t>(n_post);
  // 2. presynaptic spikes: deliver with the step's starting weight, then depress
  ForEachSpike(pre_spikes, n_pre, [&](int64_t i) {
    const int32_t* row = idx + i * k;
    T* w_row = w + i * k;
    const T amp = kTriplet ? std::fma(c[3], x[i * P + 1], c[1]) : c[1];
    for (int64_t kk = 0; kk < k; ++kk) {
      const uint32_t p = static_cast<uint32_t>(row[kk]);
      if (p >= np) continue;
      const T wv = w_row[kk];
      if (deliver) g[p] += wv;
      const T f = kDependent ? Power(wv / w_max, c[6]) : T(1);
      w_row[kk] = Clip(std::fma(-amp, y[p * P] * f, wv), w_max);
    }
    bump(x + i * P);
  });
  // 3. postsynaptic spikes: potentiate the in-row (through the reverse index)
  const uint64_t n_syn = static_cast<uint64_t>(n_pre * k);
  const double inv_k = 1.0 / static_cast<double>(k);
  ForEachSpike(post_spikes, n_post, [&](int64_t j) {
    const int32_t* in_row = rev + j * kin;
    const T amp = kTriplet ? std::fma(c[2], y[j * P + 1], c[0]) : c[0];
    for (int64_t r = 0; r < kin; ++r) {
      const uint64_t s = static_cast<uint32_t>(in_row[r]);
      if (s >= n_syn) break;  // the row's padding (n_pre * K) is at its end
      if (r + 8 < kin) __builtin_prefetch(w + static_cast<uint32_t>(in_row[r + 8]));
      const T wv = w[s];
      const T f = kDependent ? Power(T(1) - wv / w_max, c[5]) : T(1);
      w[s] = Clip(std::fma(amp, x[RowOf(s, inv_k) * P] * f, wv), w_max);
    }
    bump(y + j * P);
  });
}

template <typename T>
ffi::Error StdpTyped(ffi::AnyBuffer target, ffi::AnyBuffer weight, ffi::AnyBuffer pre_trace,
                     ffi::AnyBuffer post_trace, ffi::Buffer<ffi::S32> post_idx,
                     ffi::Buffer<ffi::S32> reverse, ffi::Buffer<ffi::PRED> pre_spikes,
                     ffi::Buffer<ffi::PRED> post_spikes, ffi::AnyBuffer coef,
                     ffi::Result<ffi::AnyBuffer> target_out, ffi::Result<ffi::AnyBuffer> weight_out,
                     ffi::Result<ffi::AnyBuffer> pre_out, ffi::Result<ffi::AnyBuffer> post_out,
                     int64_t post_start, int64_t n_post, int64_t nearest, int64_t deliver) {
  const auto w_dims = weight.dimensions();
  const auto p_dims = post_idx.dimensions();
  const auto r_dims = reverse.dimensions();
  const auto x_dims = pre_trace.dimensions();
  const auto y_dims = post_trace.dimensions();
  if (w_dims.size() != 2 || p_dims.size() != 2 || r_dims.size() != 2 || x_dims.size() != 2 ||
      y_dims.size() != 2 || target.dimensions().size() != 1) {
    return ffi::Error::InvalidArgument("neurodyn_stdp: unexpected operand ranks (no batch dimension)");
  }
  const int64_t n_pre = w_dims[0], k = w_dims[1], kin = r_dims[1];
  const int64_t n_tr = x_dims[1];
  const int64_t n_total = target.dimensions()[0];
  if (p_dims[0] != n_pre || p_dims[1] != k || x_dims[0] != n_pre || y_dims[0] != n_post ||
      y_dims[1] != n_tr || r_dims[0] != n_post || (n_tr != 1 && n_tr != 2) ||
      post_start < 0 || post_start + n_post > n_total ||
      pre_spikes.dimensions()[0] != n_pre || post_spikes.dimensions()[0] != n_post ||
      coef.element_count() != 11) {
    return ffi::Error::InvalidArgument("neurodyn_stdp: operand shapes do not match");
  }
  T* g = static_cast<T*>(target_out->untyped_data());
  T* w = static_cast<T*>(weight_out->untyped_data());
  T* x = static_cast<T*>(pre_out->untyped_data());
  T* y = static_cast<T*>(post_out->untyped_data());
  // XLA aliases every output with its input (input_output_aliases), so these copies run only
  // where it could not (they would cost a pass over the weights per step)
  if (g != target.untyped_data()) std::memcpy(g, target.untyped_data(), sizeof(T) * n_total);
  if (w != weight.untyped_data()) std::memcpy(w, weight.untyped_data(), sizeof(T) * n_pre * k);
  if (x != pre_trace.untyped_data()) std::memcpy(x, pre_trace.untyped_data(), sizeof(T) * n_pre * n_tr);
  if (y != post_trace.untyped_data()) std::memcpy(y, post_trace.untyped_data(), sizeof(T) * n_post * n_tr);
  const T* c = static_cast<const T*>(coef.untyped_data());
  auto run = [&](auto triplet, auto dep) {
    StdpLoops<T, decltype(triplet)::value, decltype(dep)::value>(
        g + post_start, w, x, y, post_idx.typed_data(), reverse.typed_data(), pre_spikes.typed_data(),
        post_spikes.typed_data(), c, n_pre, k, kin, n_post, nearest != 0, deliver != 0);
  };
  DispatchRule(n_tr, c, run);
  return ffi::Error::Success();
}

// ---------------------------------------------------------------------------------------------
// Per-synapse dendritic delays (NEST: the synapse's delay d_ik is dendritic). The presynaptic
// spike is at the synapse at t_pre; the postsynaptic spike of step s0 reaches synapse (i, k) in
// step s0 + d_ik. Delivery is the delivery kernel's (deliver_delayed); this handler updates the
// weights and traces only, one step s, in place:
//   1. traces decay (as above; post_trace is the undelayed trace of the post neuron)
//   2. every presynaptic i with pre_spikes[i], for each synapse k (j = post_idx[i, k], d = delay[i, k]):
//        y_d = post_hist[(s - 1 - d) mod R, j, 0] * c[9]   (the trace d steps ago: what the synapse sees)
//        weight[i, k] = clip(w - A * (y_d * f_minus(w)), 0, w_max),   then pre_trace[i] += 1 (or = 1)
//   3. spike_hist[s mod R, :] = post_spikes; for e = 0 .. R - 1, every j with spike_hist[(s - e) mod R, j]
//      potentiates its synapses of delay e (reverse[j, offsets[j, e] : offsets[j, e + 1]]):
//        weight[s'] = clip(w + A * (pre_trace[i, 0] * f_plus(w)), 0, w_max)
//          A = c[0] (pair) or c[0] + c[2] * post_hist[(s - e - 1) mod R, j, 1] * c[10] (triplet)
//   4. post_trace[j] += 1 (or = 1) where post_spikes[j]; post_hist[s mod R] = post_trace
// R = largest delay + 1; reverse rows sorted by delay. `after` (unread) is the output of the call
// that delivered this step's spikes with the same weights: the data dependence orders that read
// before this in-place update, so XLA need not copy the weights each step (measured: without it,
// two 1.1 MB copies per step for COBA 4k's E->E table).

template <typename T, bool kTriplet, bool kDependent>
void StdpDelayedLoops(T* w, T* x, T* y, T* hist, T* spk, const int32_t* idx, const int32_t* delay,
                      const int32_t* rev, const int32_t* off, const bool* pre_spikes,
                      const bool* post_spikes, const T* c, int64_t n_pre, int64_t k, int64_t kin, int64_t n_post,
                      int64_t rows, int64_t step, bool nearest) {
  constexpr int64_t P = kTriplet ? 2 : 1;
  const T w_max = c[4];
  for (int64_t i = 0; i < n_pre; ++i) {
    x[i * P] *= c[7];
    if (kTriplet) x[i * P + 1] *= c[8];
  }
  for (int64_t j = 0; j < n_post; ++j) {
    y[j * P] *= c[9];
    if (kTriplet) y[j * P + 1] *= c[10];
  }
  // ring row of step (step - back), back = 0 .. rows (no integer division per synapse)
  std::vector<int64_t> slots(rows + 1);
  for (int64_t back = 0; back <= rows; ++back) slots[back] = ((step - back) % rows + rows) % rows;
  auto bump = [&](T* tr) {
    for (int64_t p = 0; p < P; ++p) tr[p] = nearest ? T(1) : tr[p] + T(1);
  };
  const uint32_t np = static_cast<uint32_t>(n_post);
  ForEachSpike(pre_spikes, n_pre, [&](int64_t i) {
    const int32_t* row = idx + i * k;
    const int32_t* d_row = delay + i * k;
    T* w_row = w + i * k;
    const T amp = kTriplet ? std::fma(c[3], x[i * P + 1], c[1]) : c[1];
    for (int64_t kk = 0; kk < k; ++kk) {
      const uint32_t p = static_cast<uint32_t>(row[kk]);
      if (p >= np) continue;
      const int64_t d = d_row[kk];
      const T yd = hist[(slots[1 + d] * n_post + p) * P] * c[9];
      const T wv = w_row[kk];
      const T f = kDependent ? Power(wv / w_max, c[6]) : T(1);
      w_row[kk] = Clip(std::fma(-amp, yd * f, wv), w_max);
    }
    bump(x + i * P);
  });
  T* now = spk + slots[0] * n_post;
  for (int64_t j = 0; j < n_post; ++j) now[j] = post_spikes[j] ? T(1) : T(0);
  const double inv_k = 1.0 / static_cast<double>(k);
  const int64_t n_off = rows + 1;
  for (int64_t e = 0; e < rows; ++e) {
    const T* arrived = spk + slots[e] * n_post;
    const T* o_hist = hist + slots[e + 1] * n_post * P;
    ForEachNonzero(arrived, n_post, [&](int64_t j) {
      const int32_t* in_row = rev + j * kin;
      const T amp = kTriplet ? std::fma(c[2], o_hist[j * P + 1] * c[10], c[0]) : c[0];
      for (int64_t r = off[j * n_off + e]; r < off[j * n_off + e + 1]; ++r) {
        const uint64_t s = static_cast<uint32_t>(in_row[r]);
        const T wv = w[s];
        const T f = kDependent ? Power(T(1) - wv / w_max, c[5]) : T(1);
        w[s] = Clip(std::fma(amp, x[RowOf(s, inv_k) * P] * f, wv), w_max);
      }
    });
  }
  ForEachSpike(post_spikes, n_post, [&](int64_t j) { bump(y + j * P); });
  std::memcpy(hist + slots[0] * n_post * P, y, sizeof(T) * n_post * P);
}

template <typename T>
ffi::Error StdpDelayedTyped(ffi::AnyBuffer weight, ffi::AnyBuffer pre_trace, ffi::AnyBuffer post_trace,
                            ffi::AnyBuffer post_hist, ffi::AnyBuffer spike_hist, ffi::Buffer<ffi::S32> post_idx,
                            ffi::Buffer<ffi::S32> delay, ffi::Buffer<ffi::S32> reverse,
                            ffi::Buffer<ffi::S32> offsets, ffi::Buffer<ffi::PRED> pre_spikes,
                            ffi::Buffer<ffi::PRED> post_spikes, ffi::AnyBuffer coef, ffi::Buffer<ffi::S32> step,
                            ffi::Result<ffi::AnyBuffer> weight_out, ffi::Result<ffi::AnyBuffer> pre_out,
                            ffi::Result<ffi::AnyBuffer> post_out, ffi::Result<ffi::AnyBuffer> hist_out,
                            ffi::Result<ffi::AnyBuffer> spike_out, int64_t nearest) {
  const auto w_dims = weight.dimensions();
  const auto r_dims = reverse.dimensions();
  const auto x_dims = pre_trace.dimensions();
  const auto y_dims = post_trace.dimensions();
  const auto h_dims = post_hist.dimensions();
  const auto s_dims = spike_hist.dimensions();
  if (w_dims.size() != 2 || r_dims.size() != 2 || x_dims.size() != 2 || y_dims.size() != 2 || h_dims.size() != 3 ||
      s_dims.size() != 2 || post_idx.dimensions().size() != 2 || delay.dimensions().size() != 2 ||
      offsets.dimensions().size() != 2) {
    return ffi::Error::InvalidArgument("neurodyn_stdp_delayed: unexpected operand ranks (no batch dimension)");
  }
  const int64_t n_pre = w_dims[0], k = w_dims[1], kin = r_dims[1], n_post = y_dims[0], n_tr = x_dims[1];
  const int64_t rows = h_dims[0];
  if (post_idx.dimensions()[0] != n_pre || post_idx.dimensions()[1] != k || delay.dimensions()[0] != n_pre ||
      delay.dimensions()[1] != k || x_dims[0] != n_pre || y_dims[1] != n_tr || (n_tr != 1 && n_tr != 2) ||
      r_dims[0] != n_post || h_dims[1] != n_post || h_dims[2] != n_tr || s_dims[0] != rows || s_dims[1] != n_post ||
      offsets.dimensions()[0] != n_post || offsets.dimensions()[1] != rows + 1 ||
      pre_spikes.dimensions()[0] != n_pre || post_spikes.dimensions()[0] != n_post ||
      coef.element_count() != 11 || step.element_count() != 1 || rows < 1) {
    return ffi::Error::InvalidArgument("neurodyn_stdp_delayed: operand shapes do not match");
  }
  T* w = static_cast<T*>(weight_out->untyped_data());
  T* x = static_cast<T*>(pre_out->untyped_data());
  T* y = static_cast<T*>(post_out->untyped_data());
  T* hist = static_cast<T*>(hist_out->untyped_data());
  T* spk = static_cast<T*>(spike_out->untyped_data());
  // aliased by XLA (input_output_aliases): the copies run only where it could not alias
  if (w != weight.untyped_data()) std::memcpy(w, weight.untyped_data(), sizeof(T) * n_pre * k);
  if (x != pre_trace.untyped_data()) std::memcpy(x, pre_trace.untyped_data(), sizeof(T) * n_pre * n_tr);
  if (y != post_trace.untyped_data()) std::memcpy(y, post_trace.untyped_data(), sizeof(T) * n_post * n_tr);
  if (hist != post_hist.untyped_data()) std::memcpy(hist, post_hist.untyped_data(), sizeof(T) * rows * n_post * n_tr);
  if (spk != spike_hist.untyped_data()) std::memcpy(spk, spike_hist.untyped_data(), sizeof(T) * rows * n_post);
  const T* c = static_cast<const T*>(coef.untyped_data());
  const int64_t s = step.typed_data()[0];
  auto run = [&](auto triplet, auto dep) {
    StdpDelayedLoops<T, decltype(triplet)::value, decltype(dep)::value>(
        w, x, y, hist, spk, post_idx.typed_data(), delay.typed_data(), reverse.typed_data(), offsets.typed_data(),
        pre_spikes.typed_data(), post_spikes.typed_data(), c, n_pre, k,
        kin, n_post, rows, s, nearest != 0);
  };
  DispatchRule(n_tr, c, run);
  return ffi::Error::Success();
}

ffi::Error StdpDelayed(ffi::AnyBuffer weight, ffi::AnyBuffer pre_trace, ffi::AnyBuffer post_trace,
                       ffi::AnyBuffer post_hist, ffi::AnyBuffer spike_hist, ffi::Buffer<ffi::S32> post_idx,
                       ffi::Buffer<ffi::S32> delay, ffi::Buffer<ffi::S32> reverse, ffi::Buffer<ffi::S32> offsets,
                       ffi::Buffer<ffi::PRED> pre_spikes, ffi::Buffer<ffi::PRED> post_spikes,
                       ffi::AnyBuffer coef, ffi::Buffer<ffi::S32> step, ffi::AnyBuffer /*after*/,
                       ffi::Result<ffi::AnyBuffer> weight_out, ffi::Result<ffi::AnyBuffer> pre_out,
                       ffi::Result<ffi::AnyBuffer> post_out, ffi::Result<ffi::AnyBuffer> hist_out,
                       ffi::Result<ffi::AnyBuffer> spike_out, int64_t nearest) {
  using DT = ffi::DataType;
  const DT t = weight.element_type();
  for (DT other : {pre_trace.element_type(), post_trace.element_type(), post_hist.element_type(),
                   spike_hist.element_type(), coef.element_type()}) {
    if (other != t) return ffi::Error::InvalidArgument("neurodyn_stdp_delayed: float operands must share one dtype");
  }
  if (t == DT::F32) {
    return StdpDelayedTyped<float>(weight, pre_trace, post_trace, post_hist, spike_hist, post_idx, delay, reverse,
                                   offsets, pre_spikes, post_spikes, coef, step, weight_out, pre_out, post_out,
                                   hist_out, spike_out, nearest);
  }
  if (t == DT::F64) {
    return StdpDelayedTyped<double>(weight, pre_trace, post_trace, post_hist, spike_hist, post_idx, delay, reverse,
                                    offsets, pre_spikes, post_spikes, coef, step, weight_out, pre_out, post_out,
                                    hist_out, spike_out, nearest);
  }
  return ffi::Error::InvalidArgument("neurodyn_stdp_delayed: weights must be float32 or float64");
}

ffi::Error Stdp(ffi::AnyBuffer target, ffi::AnyBuffer weight, ffi::AnyBuffer pre_trace,
                ffi::AnyBuffer post_trace, ffi::Buffer<ffi::S32> post_idx, ffi::Buffer<ffi::S32> reverse,
                ffi::Buffer<ffi::PRED> pre_spikes, ffi::Buffer<ffi::PRED> post_spikes, ffi::AnyBuffer coef,
                ffi::Result<ffi::AnyBuffer> target_out, ffi::Result<ffi::AnyBuffer> weight_out,
                ffi::Result<ffi::AnyBuffer> pre_out, ffi::Result<ffi::AnyBuffer> post_out, int64_t post_start,
                int64_t n_post, int64_t nearest, int64_t deliver) {
  using DT = ffi::DataType;
  const DT t = target.element_type();
  for (DT other : {weight.element_type(), pre_trace.element_type(), post_trace.element_type(),
                   coef.element_type()}) {
    if (other != t) return ffi::Error::InvalidArgument("neurodyn_stdp: float operands must share one dtype");
  }
  if (t == DT::F32) {
    return StdpTyped<float>(target, weight, pre_trace, post_trace, post_idx, reverse, pre_spikes, post_spikes,
                            coef, target_out, weight_out, pre_out, post_out, post_start, n_post, nearest, deliver);
  }
  if (t == DT::F64) {
    return StdpTyped<double>(target, weight, pre_trace, post_trace, post_idx, reverse, pre_spikes, post_spikes,
                             coef, target_out, weight_out, pre_out, post_out, post_start, n_post, nearest, deliver);
  }
  return ffi::Error::InvalidArgument("neurodyn_stdp: target must be float32 or float64");
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(NeurodynStdp, Stdp,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()          // target
                                  .Arg<ffi::AnyBuffer>()          // weight
                                  .Arg<ffi::AnyBuffer>()          // pre_trace
                                  .Arg<ffi::AnyBuffer>()          // post_trace
                                  .Arg<ffi::Buffer<ffi::S32>>()   // post_idx
                                  .Arg<ffi::Buffer<ffi::S32>>()   // reverse
                                  .Arg<ffi::Buffer<ffi::PRED>>()  // pre_spikes
                                  .Arg<ffi::Buffer<ffi::PRED>>()  // post_spikes
                                  .Arg<ffi::AnyBuffer>()          // coef
                                  .Ret<ffi::AnyBuffer>()          // target_out
                                  .Ret<ffi::AnyBuffer>()          // weight_out
                                  .Ret<ffi::AnyBuffer>()          // pre_out
                                  .Ret<ffi::AnyBuffer>()          // post_out
                                  .Attr<int64_t>("post_start")
                                  .Attr<int64_t>("n_post")
                                  .Attr<int64_t>("nearest")
                                  .Attr<int64_t>("deliver"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(NeurodynStdpDelayed, StdpDelayed,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()          // weight
                                  .Arg<ffi::AnyBuffer>()          // pre_trace
                                  .Arg<ffi::AnyBuffer>()          // post_trace
                                  .Arg<ffi::AnyBuffer>()          // post_hist
                                  .Arg<ffi::AnyBuffer>()          // spike_hist
                                  .Arg<ffi::Buffer<ffi::S32>>()   // post_idx
                                  .Arg<ffi::Buffer<ffi::S32>>()   // delay
                                  .Arg<ffi::Buffer<ffi::S32>>()   // reverse (rows sorted by delay)
                                  .Arg<ffi::Buffer<ffi::S32>>()   // offsets
                                  .Arg<ffi::Buffer<ffi::PRED>>()  // pre_spikes
                                  .Arg<ffi::Buffer<ffi::PRED>>()  // post_spikes
                                  .Arg<ffi::AnyBuffer>()          // coef
                                  .Arg<ffi::Buffer<ffi::S32>>()   // step
                                  .Arg<ffi::AnyBuffer>()          // after: the delivery's output (ordering only)
                                  .Ret<ffi::AnyBuffer>()          // weight_out
                                  .Ret<ffi::AnyBuffer>()          // pre_out
                                  .Ret<ffi::AnyBuffer>()          // post_out
                                  .Ret<ffi::AnyBuffer>()          // hist_out
                                  .Ret<ffi::AnyBuffer>()          // spike_out
                                  .Attr<int64_t>("nearest"));
