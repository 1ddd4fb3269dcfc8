// Event-driven spike delivery as an XLA FFI handler for the CPU.
//
//   out = target;  out[post_start + post_idx[i, j]] += s_i * weight[i, j]
//   for every presynaptic neuron i with s_i = spikes[pre_start + i] != 0 and every valid
//   j (0 <= post_idx < n_post).
//
// s is the spike vector: bool (then s_i = 1) or the target's float type. It may be the
// whole network's (pre_start = the presynaptic population's first index), which saves
// XLA a slice per projection and step. The loop runs
// only over neurons that spiked, so a step costs O(n_pre / 8) to find them (the bool mask
// is scanned eight bytes at a time) plus O(spiking x out-degree) for the adds: the cost
// of Brian2's or NEST's C++ delivery, without XLA's per-element scatter overhead.
//
// Operands (row-major, each with the same number m of leading batch dimensions; under
// jax.vmap(..., vmap_method="expand_dims") an unbatched operand has size 1 there and is
// shared by the whole batch, so a batch of networks is one call):
//   target    [*batch, n_total]       float32 or float64
//   post_idx  [*batch, n_pre, K]      int32, padding >= n_post (or < 0) is skipped
//   weight    [*batch] or [*batch, n_pre, K]  float32 or float64 (scalar or per synapse)
//   spikes    [*batch, n_spikes]      bool, or the target's float type (n_spikes >= pre_start + n_pre)
//   out       [*batch, n_total]       the target's type; may alias target (then no copy)
// Attributes: post_start, n_post, pre_start (int64).
//
// A second handler, NeurodynDeliverDelayed, delivers with per-synapse delays through a
// ring buffer of R rows x n_post (R >= the largest delay in steps, >= 1):
//   slot = step mod R
//   out[post_start + p] += ring[slot, p];  ring[slot, p] = 0       (what arrives now)
//   then for every spiking i and valid j, with p = post_idx[i, j], d = delay[i, j]:
//     d == 0: out[post_start + p] += s_i * weight[i, j]             (this step)
//     d >= 1: ring[(slot + d) mod R, p] += s_i * weight[i, j]        (read d steps later)
// so a spike of step s reaches synapse (i, j) in the delivery of step s + d exactly.
// Extra operands: ring [*batch, R, n_post] (the target's type), delay [*batch, n_pre, K]
// or [*batch] (uint8, int16 or int32: per synapse, or one delay d for every synapse, whose
// rows then go straight into the one destination row, as in the no-delay handler), step
// [*batch] (int32); outputs (out, ring_out), both aliasable.
// Attributes threads and min_events: up to `threads` threads split the targets of a call
// with at least `min_events` synaptic events per thread (per-synapse delays, rows sorted by
// target; the same result bit for bit: see "parallel delivery" below).
//
// Built on first use by neurodyn/network/delivery.py with the FFI headers of the jaxlib
// it runs with (jax.ffi.include_dir()).

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "spikes.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

// Delayed-delivery calls that ran on several threads, since the library was loaded (for
// tests and benchmarks: NeurodynThreadedDeliveries() below).
static std::atomic<int64_t> threaded_deliveries{0};

namespace {

using neurodyn::BatchStrides;
using neurodyn::CheckPrePost;
using neurodyn::ForEachSpike;
using neurodyn::Shape;

template <typename T, typename W>
inline void AddRow(T* base, const int32_t* row, const W* weight_row, T scale, int64_t k,
                   uint32_t n_post) {
  for (int64_t j = 0; j < k; ++j) {
    const uint32_t p = static_cast<uint32_t>(row[j]);  // negative -> huge -> skipped
    if (p < n_post) base[p] += scale * static_cast<T>(weight_row[j]);
  }
}

template <typename T, typename W>
inline void AddRowScalar(T* base, const int32_t* row, T value, int64_t k, uint32_t n_post) {
  for (int64_t j = 0; j < k; ++j) {
    const uint32_t p = static_cast<uint32_t>(row[j]);
    if (p < n_post) base[p] += value;
  }
}

// One network: the adds of every spiking row into out (already holding the target).
template <typename T, typename W, typename S>
void DeliverOne(T* out, const int32_t* post_idx, const W* weight, bool per_synapse,
                const S* spikes, int64_t n_pre, int64_t k, uint32_t n_post, int64_t post_start) {
  T* base = out + post_start;
  if constexpr (std::is_same_v<S, bool>) {
    if (per_synapse) {
      ForEachSpike(spikes, n_pre, [&](int64_t i) {
        AddRow<T, W>(base, post_idx + i * k, weight + i * k, T(1), k, n_post);
      });
    } else {
      const T w = static_cast<T>(weight[0]);
      ForEachSpike(spikes, n_pre, [&](int64_t i) {
        AddRowScalar<T, W>(base, post_idx + i * k, w, k, n_post);
      });
    }
  } else {
    for (int64_t i = 0; i < n_pre; ++i) {
      const T s = spikes[i];
      if (s == T(0)) continue;
      if (per_synapse) {
        AddRow<T, W>(base, post_idx + i * k, weight + i * k, s, k, n_post);
      } else {
        AddRowScalar<T, W>(base, post_idx + i * k, s * static_cast<T>(weight[0]), k, n_post);
      }
    }
  }
}

template <typename T, typename W, typename S>
ffi::Error DeliverTyped(ffi::AnyBuffer target, ffi::Buffer<ffi::S32> post_idx,
                        ffi::AnyBuffer weight, ffi::AnyBuffer spikes,
                        ffi::Result<ffi::AnyBuffer> out, int64_t post_start, int64_t n_post,
                        int64_t pre_start) {
  const auto out_dims = out->dimensions();
  const int64_t m = static_cast<int64_t>(out_dims.size()) - 1;
  const auto batch = out_dims.first(static_cast<size_t>(m));
  const int64_t n_total = out_dims[m];
  const auto t_dims = target.dimensions();
  const auto p_dims = post_idx.dimensions();
  const auto w_dims = weight.dimensions();
  const auto s_dims = spikes.dimensions();
  if (static_cast<int64_t>(t_dims.size()) != m + 1 || t_dims[m] != n_total ||
      static_cast<int64_t>(p_dims.size()) != m + 2 ||
      static_cast<int64_t>(s_dims.size()) != m + 1) {
    return ffi::Error::InvalidArgument(
        "neurodyn_deliver: inconsistent ranks: out " + Shape(out_dims) + ", target " +
        Shape(t_dims) + ", post_idx " + Shape(p_dims) + ", spikes " + Shape(s_dims));
  }
  const int64_t n_pre = p_dims[m], k = p_dims[m + 1];
  const bool per_synapse = static_cast<int64_t>(w_dims.size()) == m + 2;
  if (!per_synapse && static_cast<int64_t>(w_dims.size()) != m) {
    return ffi::Error::InvalidArgument("neurodyn_deliver: weight must be a scalar or [n_pre, K], got " +
                                       Shape(w_dims));
  }
  if (per_synapse && (w_dims[m] != n_pre || w_dims[m + 1] != k)) {
    return ffi::Error::InvalidArgument("neurodyn_deliver: weight " + Shape(w_dims) +
                                       " does not match post_idx " + Shape(p_dims));
  }
  const int64_t n_spikes = s_dims[m];
  if (auto error = CheckPrePost("neurodyn_deliver", pre_start, n_pre, n_spikes, post_start, n_post, n_total);
      error.failure()) {
    return error;
  }
  std::vector<int64_t> st, sp, sw, ss;
  if (!BatchStrides(t_dims, m, batch, n_total, &st) ||
      !BatchStrides(p_dims, m, batch, n_pre * k, &sp) ||
      !BatchStrides(w_dims, m, batch, per_synapse ? n_pre * k : 1, &sw) ||
      !BatchStrides(s_dims, m, batch, n_spikes, &ss)) {
    return ffi::Error::InvalidArgument("neurodyn_deliver: batch dimensions do not broadcast to " +
                                       Shape(out_dims));
  }
  const T* t_data = static_cast<const T*>(target.untyped_data());
  const int32_t* p_data = post_idx.typed_data();
  const W* w_data = static_cast<const W*>(weight.untyped_data());
  const S* s_data = static_cast<const S*>(spikes.untyped_data());
  T* o_data = static_cast<T*>(out->untyped_data());
  int64_t n_batch = 1;
  for (int64_t d = 0; d < m; ++d) n_batch *= batch[d];
  std::vector<int64_t> index(m, 0);
  for (int64_t b = 0; b < n_batch; ++b) {
    int64_t ot = 0, op = 0, ow = 0, os = 0;
    for (int64_t d = 0; d < m; ++d) {
      ot += index[d] * st[d];
      op += index[d] * sp[d];
      ow += index[d] * sw[d];
      os += index[d] * ss[d];
    }
    T* o = o_data + b * n_total;
    if (o != t_data + ot) std::memcpy(o, t_data + ot, sizeof(T) * n_total);
    DeliverOne<T, W, S>(o, p_data + op, w_data + ow, per_synapse, s_data + os + pre_start, n_pre, k,
                        static_cast<uint32_t>(n_post), post_start);
    for (int64_t d = m - 1; d >= 0; --d) {  // next multi-index, last dimension fastest
      if (++index[d] < batch[d]) break;
      index[d] = 0;
    }
  }
  return ffi::Error::Success();
}

ffi::Error Deliver(ffi::AnyBuffer target, ffi::Buffer<ffi::S32> post_idx, ffi::AnyBuffer weight,
                   ffi::AnyBuffer spikes, ffi::Result<ffi::AnyBuffer> out, int64_t post_start,
                   int64_t n_post, int64_t pre_start) {
  using DT = ffi::DataType;
  const DT t = target.element_type(), w = weight.element_type(), s = spikes.element_type();
  if (out->element_type() != t) {
    return ffi::Error::InvalidArgument("neurodyn_deliver: out and target dtypes differ");
  }
  if (s != DT::PRED && s != t) {
    return ffi::Error::InvalidArgument("neurodyn_deliver: spikes must be bool or the target's dtype");
  }
  const bool sb = s == DT::PRED;
#define NEURODYN_CASE(TT, CT, WT, CW)                                                   \
  if (t == DT::TT && w == DT::WT) {                                                  \
    return sb ? DeliverTyped<CT, CW, bool>(target, post_idx, weight, spikes, out,       \
                                           post_start, n_post, pre_start)               \
              : DeliverTyped<CT, CW, CT>(target, post_idx, weight, spikes, out,         \
                                         post_start, n_post, pre_start);                \
  }
  NEURODYN_CASE(F32, float, F32, float)
  NEURODYN_CASE(F32, float, F64, double)
  NEURODYN_CASE(F64, double, F32, float)
  NEURODYN_CASE(F64, double, F64, double)
#undef NEURODYN_CASE
  return ffi::Error::InvalidArgument("neurodyn_deliver: target and weight must be float32 or float64");
}

// ------------------------------------------------------------------ per-synapse delays

// base += arriving; arriving = 0, in one pass over the row (an add pass then a memset pass
// cost ~0.2 us more per call for n = 4000: the row is read cold from L2/L3 and the second
// pass touched it again). The two never overlap (target and ring are separate buffers).
// Kept out of line with __restrict__ so that the loop is vectorised: inlined into the
// handler, GCC -O3 left it a scalar loop that reloaded n from the stack, and it cost
// ~4 us per call for n = 4000 (COBA 4k: a third of the per-synapse-delay step; perf).
template <typename T>
__attribute__((noinline)) void AddAndClear(T* __restrict__ base, T* __restrict__ arriving, uint32_t n) {
  for (uint32_t p = 0; p < n; ++p) {
    base[p] += arriving[p];
    arriving[p] = T(0);
  }
}

// Synapses ahead of the one being added whose destination is prefetched: the ring writes
// are random (post index x delay) and, at the scale of the Potjans-Diesmann microcircuit
// (tens of MB of ring), mostly miss the caches; issuing them early overlaps the misses.
// Worth it only where the ring does not fit in the caches: at full scale (17 MB of ring,
// rows sorted by target) it saved 14 % of the CPU time of the timed second (two alternated
// pairs, 12.4 and 12.0 s vs 14.1 and 14.2 s); a COBA 4k ring (0.8 MB) does not prefetch.
constexpr int64_t kPrefetch = 16;
constexpr int64_t kPrefetchRingBytes = int64_t(4) << 20;

// Rings up to this many rows keep their row-pointer table on the stack.
constexpr int64_t kStackRows = 256;

// The synapses of presynaptic neuron i (table row i), each adding scale * weight to
// dst[delay][post]. dst[0] is the target, dst[d] the ring row (slot + d) mod R. Returns the
// number of synapses with a delay outside [0, max_delay] (skipped: the ring is too short).
// PerSynapse (one weight per synapse, else w_row[0] for all) is a template argument so that
// the loop carries no branch on it.
template <bool PerSynapse, typename T, typename W, typename D, bool Prefetch = false>
inline int64_t AddDelayedRow(T* const* __restrict__ dst, const int32_t* __restrict__ row,
                             const D* __restrict__ d_row, const W* __restrict__ w_row, T scale, int64_t k,
                             uint32_t n_post, uint64_t max_delay) {
  int64_t bad = 0;
  const T w0 = scale * static_cast<T>(w_row[0]);
  for (int64_t j = 0; j < k; ++j) {
    if (Prefetch && j + kPrefetch < k) {  // padding or a bad delay prefetches a harmless address: prefetches never fault
      const uint64_t dq = static_cast<uint64_t>(static_cast<int64_t>(d_row[j + kPrefetch]));
      __builtin_prefetch(dst[dq < max_delay ? dq : max_delay] + static_cast<uint32_t>(row[j + kPrefetch]), 1, 1);
    }
    const uint32_t p = static_cast<uint32_t>(row[j]);  // negative -> huge -> skipped
    if (p >= n_post) continue;
    const uint64_t d = static_cast<uint64_t>(static_cast<int64_t>(d_row[j]));  // negative -> huge
    if (d > max_delay) {
      ++bad;
      continue;
    }
    dst[d][p] += PerSynapse ? scale * static_cast<T>(w_row[j]) : w0;
  }
  return bad;
}

// AddDelayedRow with its two compile-time switches picked at run time.
template <typename T, typename W, typename D>
inline int64_t AddDelayedRowDispatch(T* const* dst, const int32_t* row, const D* d_row, const W* w_row,
                                     bool per_synapse, bool prefetch, T scale, int64_t k, uint32_t n_post,
                                     uint64_t max_delay) {
  if (per_synapse) {
    return prefetch ? AddDelayedRow<true, T, W, D, true>(dst, row, d_row, w_row, scale, k, n_post, max_delay)
                    : AddDelayedRow<true, T, W, D>(dst, row, d_row, w_row, scale, k, n_post, max_delay);
  }
  return prefetch ? AddDelayedRow<false, T, W, D, true>(dst, row, d_row, w_row, scale, k, n_post, max_delay)
                  : AddDelayedRow<false, T, W, D>(dst, row, d_row, w_row, scale, k, n_post, max_delay);
}

// Calls f(i, s_i) for every presynaptic row i that spiked (bool spikes: s_i = 1).
template <typename T, typename S, typename F>
inline void ForEachSpiking(const S* spikes, int64_t n_pre, F&& f) {
  if constexpr (std::is_same_v<S, bool>) {
    ForEachSpike(spikes, n_pre, [&](int64_t i) { f(i, T(1)); });
  } else {
    for (int64_t i = 0; i < n_pre; ++i) {
      if (spikes[i] != S(0)) f(i, static_cast<T>(spikes[i]));
    }
  }
}

// The ring row that arrives at `step` (step mod R, for any sign of step).
inline int64_t RingSlot(int64_t step, int64_t n_rows) {
  const int64_t slot = step % n_rows;
  return slot < 0 ? slot + n_rows : slot;
}

// Where a synapse of delay d adds, for d = 0 ... R: dst[0] = target (the projection's
// column 0), dst[d] = ring row (slot + d) mod R at the same column: one table lookup per
// synapse instead of a modulo, a multiply and a branch on d == 0.
template <typename T>
inline void FillDestinations(T** dst, T* target, T* ring_base, int64_t slot, int64_t n_rows, int64_t n_cols) {
  dst[0] = target;
  for (int64_t d = 1, r = slot + 1; d <= n_rows; ++d, ++r) {
    if (r >= n_rows) r -= n_rows;
    dst[d] = ring_base + r * n_cols;
  }
}

// Whether a ring is beyond the caches, where the destinations are prefetched (kPrefetch).
template <typename T>
inline bool PrefetchRing(int64_t n_rows, int64_t n_cols) {
  return n_rows * n_cols * int64_t(sizeof(T)) > kPrefetchRingBytes;
}

// One network's delivery with delays: arrival (with `arrive`), then every spiking row. With
// per_synapse_delay false, `delay` holds one delay d for all synapses: every row goes to the
// one destination dst[d] (the ring row d steps ahead, or the target for d = 0) with the
// no-delay loop (AddRow), so a projection with one delay costs what one without does.
template <typename T, typename W, typename S, typename D>
int64_t DeliverDelayedOne(T* out, T* ring, int64_t n_rows, int64_t n_cols, int64_t step,
                          const int32_t* post_idx, const W* weight, bool per_synapse, const D* delay,
                          bool per_synapse_delay, const S* spikes, int64_t n_pre, int64_t k, uint32_t n_post,
                          int64_t post_start, int64_t ring_start, bool arrive) {
  const int64_t slot = RingSlot(step, n_rows);
  // Row `slot` covers target entries [post_start - ring_start, ... + n_cols).
  if (arrive) AddAndClear(out + post_start - ring_start, ring + slot * n_cols, static_cast<uint32_t>(n_cols));
  T* ring_base = ring + ring_start;  // column of postsynaptic neuron 0
  int64_t bad = 0;
  if (!per_synapse_delay) {
    const uint64_t d = static_cast<uint64_t>(static_cast<int64_t>(delay[0]));  // negative -> huge
    T* base = nullptr;
    if (d == 0) {
      base = out + post_start;
    } else if (d <= static_cast<uint64_t>(n_rows)) {
      base = ring_base + ((slot + static_cast<int64_t>(d)) % n_rows) * n_cols;
    }
    ForEachSpiking<T>(spikes, n_pre, [&](int64_t i, T s) {
      if (base == nullptr) {
        ++bad;
      } else if (per_synapse) {
        AddRow<T, W>(base, post_idx + i * k, weight + i * k, s, k, n_post);
      } else {
        AddRowScalar<T, W>(base, post_idx + i * k, s * static_cast<T>(weight[0]), k, n_post);
      }
    });
    return bad;
  }
  T* stack_rows[kStackRows + 1];
  std::vector<T*> heap_rows;
  T** dst = stack_rows;
  if (n_rows > kStackRows) {
    heap_rows.resize(n_rows + 1);
    dst = heap_rows.data();
  }
  FillDestinations(dst, out + post_start, ring_base, slot, n_rows, n_cols);
  const uint64_t max_delay = static_cast<uint64_t>(n_rows);
  const bool prefetch = PrefetchRing<T>(n_rows, n_cols);
  ForEachSpiking<T>(spikes, n_pre, [&](int64_t i, T s) {
    bad += AddDelayedRowDispatch<T, W, D>(dst, post_idx + i * k, delay + i * k, per_synapse ? weight + i * k : weight,
                                          per_synapse, prefetch, s, k, n_post, max_delay);
  });
  return bad;
}

// ------------------------------------------------------------------ parallel delivery
//
// A step of the full-scale Potjans-Diesmann microcircuit delivers ~10^5 synaptic events,
// each a random read-modify-write in a ~17 MB ring: latency-bound, so a second core
// doubles the misses in flight. The postsynaptic targets are split into T contiguous
// ranges [v_t, v_t+1); thread t performs the arrival (AddAndClear) of its range's ring
// columns and, for every spiking row in ascending order, the synapses onto its range. The
// threads write disjoint cells, and each cell receives its adds in the same order as with
// one thread (rows ascending, then table order within a row), so the result is bit for bit
// the single-threaded one. Thread t finds its slice of a row by binary search, which needs
// the row sorted by target (`fixed_total_number_blocks(sort_targets=True)`): a call whose
// spiking rows are not all sorted, or that has fewer than `min_events` events per thread,
// runs single-threaded (DeliverDelayedOne, unchanged).

// A process-wide pool of worker threads, created on first use and kept (not per call).
// A call is cut into chunks (target ranges) that the calling thread and the workers take
// from one atomic counter, so the caller never waits for a worker that the OS has not
// scheduled yet (on a loaded machine it does the chunks itself); it waits only for chunks
// already being worked on. A worker spins (yielding the core to other runnable threads)
// while a call is in flight and until kSpinNs after the last call ended (the next
// projection's call of the same step comes within microseconds), then sleeps on a condition variable (futex), so it does not keep
// a core from XLA's neuron update between steps.
class DeliveryPool {
 public:
  static constexpr int64_t kSpinNs = 200000;

  // The pool of this process (a forked child gets a new one: it has no threads of its parent).
  static DeliveryPool& Get() {
    static std::mutex mu;
    static DeliveryPool* pool = nullptr;
    std::lock_guard<std::mutex> lock(mu);
    if (pool == nullptr || pool->pid_ != getpid()) pool = new DeliveryPool();  // never freed: workers live on
    return *pool;
  }

  // Runs fn(c) once for every chunk c = 0 ... n_chunks - 1 on the calling thread and up to
  // n_threads - 1 workers, and returns true once all have run; returns false without
  // running anything if the pool is busy (another call in flight).
  bool Run(int n_threads, int n_chunks, const std::function<void(int)>& fn) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock() || n_chunks >= (1 << 16)) return false;
    while (static_cast<int>(workers_.size()) < n_threads - 1) {
      workers_.emplace_back([this] { Work(); });
    }
    task_ = &fn;
    done_.store(0, std::memory_order_relaxed);
    last_chunks_.store(n_chunks, std::memory_order_relaxed);
    // One word: call number (bits 40+), chunk count (bits 24-39), next chunk (bits 0-23), so
    // that a worker taking a chunk gets the call's count with it and never mixes two calls.
    const uint64_t call = (next_.load(std::memory_order_relaxed) >> 40) + 1;
    next_.store(call << 40 | static_cast<uint64_t>(n_chunks) << 24, std::memory_order_seq_cst);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    TakeChunks();
    for (int spins = 0; done_.load(std::memory_order_acquire) != n_chunks; ++spins) {
      if (spins < 64) {
        __builtin_ia32_pause();
      } else {
        sched_yield();  // a worker holds a chunk but has lost its core: let it run
      }
    }
    last_end_ns_.store(NowNs(), std::memory_order_release);
    return true;
  }

 private:
  DeliveryPool() : pid_(getpid()) {}

  static int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void TakeChunks() {
    for (;;) {
      const uint64_t word = next_.fetch_add(1, std::memory_order_acq_rel);
      const int chunk = static_cast<int>(word & 0xffffff), n_chunks = static_cast<int>((word >> 24) & 0xffff);
      if (chunk >= n_chunks) return;
      (*task_)(chunk);  // stable: the call cannot end before this chunk is done
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void Work() {
    uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      TakeChunks();
      // Spin while a call is in flight and until kSpinNs after the last one ended (counted
      // from the call, not from this worker's wake-up: a worker that started its spin on
      // waking late slept again before the next call and took 3 % of the chunks).
      for (int spins = 0; generation_.load(std::memory_order_acquire) == seen; ++spins) {
        if (spins < 64) {
          __builtin_ia32_pause();
          continue;
        }
        const bool in_flight = done_.load(std::memory_order_acquire) != last_chunks_.load(std::memory_order_acquire);
        if (in_flight || NowNs() - last_end_ns_.load(std::memory_order_acquire) < kSpinNs) {
          sched_yield();
          continue;
        }
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
      seen = generation_.load(std::memory_order_acquire);
    }
  }

  const pid_t pid_;
  std::mutex run_mu_;  // one call at a time
  std::vector<std::thread> workers_;
  const std::function<void(int)>* task_ = nullptr;
  std::atomic<uint64_t> next_{0};
  std::atomic<int> done_{0};
  std::atomic<int> last_chunks_{-1};     // chunks of the latest call (done_ reaches it at its end)
  std::atomic<int64_t> last_end_ns_{0};  // when the latest call ended (steady clock)
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

// The length of the sorted row's valid prefix (entries < n_post, padding after), or -1 if
// the row is not sorted by target.
inline int64_t SortedValidLength(const int32_t* __restrict__ row, int64_t k, int32_t n_post) {
  int32_t unsorted = 0;
  for (int64_t j = 1; j < k; ++j) unsorted |= row[j] < row[j - 1];
  if (unsorted) return -1;
  return std::lower_bound(row, row + k, n_post) - row;
}

// Target ranges per thread: more chunks balance better (and let the caller take over a
// descheduled worker's share) but cost a binary search per spiking row each.
constexpr int64_t kChunksPerThread = 4;

// DeliverDelayedOne with the targets split over up to `threads` threads (see above).
template <typename T, typename W, typename S, typename D>
int64_t DeliverDelayedParallel(T* out, T* ring, int64_t n_rows, int64_t n_cols, int64_t step,
                               const int32_t* post_idx, const W* weight, bool per_synapse, const D* delay,
                               bool per_synapse_delay, const S* spikes, int64_t n_pre, int64_t k, uint32_t n_post,
                               int64_t post_start, int64_t ring_start, bool arrive, int64_t threads,
                               int64_t min_events) {
  auto one = [&] {
    return DeliverDelayedOne<T, W, S, D>(out, ring, n_rows, n_cols, step, post_idx, weight, per_synapse, delay,
                                         per_synapse_delay, spikes, n_pre, k, n_post, post_start, ring_start,
                                         arrive);
  };
  if (threads <= 1 || !per_synapse_delay) return one();  // one delay: the no-delay loop, single-threaded
  // The spiking rows (ascending) and their scales, in buffers kept between calls (no
  // allocation per call: a small network's calls must not pay for the threads they never use).
  // (Bound to references here: in the workers, the names would mean their own buffers.)
  static thread_local std::vector<int64_t> rows_buffer, valid_buffer;
  static thread_local std::vector<T> scales_buffer;
  std::vector<int64_t>& rows = rows_buffer;
  std::vector<int64_t>& valid = valid_buffer;
  std::vector<T>& scales = scales_buffer;
  rows.clear();
  valid.clear();
  scales.clear();
  ForEachSpiking<T>(spikes, n_pre, [&](int64_t i, T scale) {
    rows.push_back(i);
    scales.push_back(scale);
  });
  min_events = std::max<int64_t>(min_events, 1);
  if (static_cast<int64_t>(rows.size()) * k < 2 * min_events) return one();  // too little work even unpadded
  // Each row's valid length; any unsorted row: one thread.
  int64_t events = 0;
  for (int64_t i : rows) {
    const int64_t n = SortedValidLength(post_idx + i * k, k, static_cast<int32_t>(n_post));
    if (n < 0) return one();
    valid.push_back(n);
    events += n;
  }
  const int64_t n_threads = std::min<int64_t>(threads, events / min_events);
  if (n_threads <= 1) return one();
  // Chunk boundaries v_1 <= ... <= v_{C-1} (targets [v_c, v_c+1) are chunk c): the
  // event-weighted mean of the spiking rows' c/C quantiles, so that each chunk gets about
  // events / C synapses.
  const int64_t n_chunks = kChunksPerThread * n_threads;
  std::vector<int64_t> split(n_chunks + 1);
  split[0] = 0;
  split[n_chunks] = n_post;
  for (int64_t c = 1; c < n_chunks; ++c) {
    double sum = 0.0;
    for (size_t r = 0; r < rows.size(); ++r) {
      if (valid[r]) sum += double(valid[r]) * post_idx[rows[r] * k + valid[r] * c / n_chunks];
    }
    split[c] = std::clamp<int64_t>(static_cast<int64_t>(sum / double(events) + 0.5), split[c - 1], n_post);
  }
  const int64_t slot = RingSlot(step, n_rows);
  std::vector<T*> dst(n_rows + 1);
  FillDestinations(dst.data(), out + post_start, ring + ring_start, slot, n_rows, n_cols);
  const uint64_t max_delay = static_cast<uint64_t>(n_rows);
  const bool prefetch = PrefetchRing<T>(n_rows, n_cols);
  std::vector<int64_t> bad(n_chunks, 0);
  const std::function<void(int)> work = [&](int t) {
    const int32_t lo = static_cast<int32_t>(split[t]), hi = static_cast<int32_t>(split[t + 1]);
    if (arrive) {  // ring columns of targets [lo, hi); the first and last chunk also those outside the projection
      const int64_t c0 = t == 0 ? 0 : ring_start + lo;
      const int64_t c1 = t == n_chunks - 1 ? n_cols : ring_start + hi;
      if (c1 > c0) {
        AddAndClear(out + post_start - ring_start + c0, ring + slot * n_cols + c0, static_cast<uint32_t>(c1 - c0));
      }
    }
    int64_t my_bad = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      const int64_t i = rows[r];
      const int32_t* row = post_idx + i * k;
      const int64_t j0 = t == 0 ? 0 : std::lower_bound(row, row + valid[r], lo) - row;
      const int64_t j1 = t == n_chunks - 1 ? valid[r] : std::lower_bound(row + j0, row + valid[r], hi) - row;
      if (j1 <= j0) continue;
      const W* w_row = per_synapse ? weight + i * k + j0 : weight;
      my_bad += AddDelayedRowDispatch<T, W, D>(dst.data(), row + j0, delay + i * k + j0, w_row, per_synapse,
                                               prefetch, scales[r], j1 - j0, n_post, max_delay);
    }
    bad[t] = my_bad;
  };
  if (!DeliveryPool::Get().Run(static_cast<int>(n_threads), static_cast<int>(n_chunks), work)) return one();
  threaded_deliveries.fetch_add(1, std::memory_order_relaxed);
  int64_t total = 0;
  for (int64_t b : bad) total += b;
  return total;
}

template <typename T, typename W, typename S, typename D>
ffi::Error DeliverDelayedTyped(ffi::AnyBuffer target, ffi::AnyBuffer ring, ffi::Buffer<ffi::S32> post_idx,
                               ffi::AnyBuffer weight, ffi::AnyBuffer delay, ffi::AnyBuffer spikes,
                               ffi::Buffer<ffi::S32> step, ffi::Result<ffi::AnyBuffer> out,
                               ffi::Result<ffi::AnyBuffer> ring_out, int64_t post_start, int64_t n_post,
                               int64_t pre_start, int64_t ring_start, int64_t arrive, int64_t threads,
                               int64_t min_events) {
  const auto out_dims = out->dimensions();
  const int64_t m = static_cast<int64_t>(out_dims.size()) - 1;
  const auto batch = out_dims.first(static_cast<size_t>(m));
  const int64_t n_total = out_dims[m];
  const auto t_dims = target.dimensions();
  const auto r_dims = ring.dimensions();
  const auto ro_dims = ring_out->dimensions();
  const auto p_dims = post_idx.dimensions();
  const auto w_dims = weight.dimensions();
  const auto d_dims = delay.dimensions();
  const auto s_dims = spikes.dimensions();
  const auto k_dims = step.dimensions();
  if (static_cast<int64_t>(t_dims.size()) != m + 1 || t_dims[m] != n_total ||
      static_cast<int64_t>(r_dims.size()) != m + 2 || static_cast<int64_t>(ro_dims.size()) != m + 2 ||
      static_cast<int64_t>(p_dims.size()) != m + 2 ||
      (static_cast<int64_t>(d_dims.size()) != m + 2 && static_cast<int64_t>(d_dims.size()) != m) ||
      static_cast<int64_t>(s_dims.size()) != m + 1 || static_cast<int64_t>(k_dims.size()) != m) {
    return ffi::Error::InvalidArgument(
        "neurodyn_deliver_delayed: inconsistent ranks: out " + Shape(out_dims) + ", target " +
        Shape(t_dims) + ", ring " + Shape(r_dims) + ", post_idx " + Shape(p_dims) + ", delay " +
        Shape(d_dims) + ", spikes " + Shape(s_dims) + ", step " + Shape(k_dims));
  }
  const int64_t n_pre = p_dims[m], k = p_dims[m + 1];
  const int64_t n_rows = r_dims[m];
  const bool per_synapse = static_cast<int64_t>(w_dims.size()) == m + 2;
  if (!per_synapse && static_cast<int64_t>(w_dims.size()) != m) {
    return ffi::Error::InvalidArgument("neurodyn_deliver_delayed: weight must be a scalar or [n_pre, K], got " +
                                       Shape(w_dims));
  }
  const bool per_synapse_delay = static_cast<int64_t>(d_dims.size()) == m + 2;
  if ((per_synapse && (w_dims[m] != n_pre || w_dims[m + 1] != k)) ||
      (per_synapse_delay && (d_dims[m] != n_pre || d_dims[m + 1] != k))) {
    return ffi::Error::InvalidArgument("neurodyn_deliver_delayed: weight " + Shape(w_dims) + " or delay " +
                                       Shape(d_dims) + " does not match post_idx " + Shape(p_dims));
  }
  const int64_t n_cols = r_dims[m + 1];
  if (n_rows < 1 || ro_dims[m] != n_rows || ro_dims[m + 1] != n_cols || ring_start < 0 ||
      ring_start + n_post > n_cols || post_start - ring_start < 0 || post_start - ring_start + n_cols > n_total) {
    return ffi::Error::InvalidArgument(
        "neurodyn_deliver_delayed: ring " + Shape(r_dims) + " must be [R >= 1, C] with the projection's " +
        std::to_string(n_post) + " columns at ring_start = " + std::to_string(ring_start) +
        " and its C columns inside the target of " + std::to_string(n_total) + " from post_start - ring_start = " +
        std::to_string(post_start - ring_start));
  }
  const int64_t n_spikes = s_dims[m];
  if (auto error = CheckPrePost("neurodyn_deliver_delayed", pre_start, n_pre, n_spikes, post_start, n_post, n_total);
      error.failure()) {
    return error;
  }
  const int64_t ring_size = n_rows * n_cols;
  std::vector<int64_t> st, sr, sp, sw, sd, ss, sk;
  if (!BatchStrides(t_dims, m, batch, n_total, &st) || !BatchStrides(r_dims, m, batch, ring_size, &sr) ||
      !BatchStrides(p_dims, m, batch, n_pre * k, &sp) ||
      !BatchStrides(w_dims, m, batch, per_synapse ? n_pre * k : 1, &sw) ||
      !BatchStrides(d_dims, m, batch, per_synapse_delay ? n_pre * k : 1, &sd) || !BatchStrides(s_dims, m, batch, n_spikes, &ss) ||
      !BatchStrides(k_dims, m, batch, 1, &sk)) {
    return ffi::Error::InvalidArgument("neurodyn_deliver_delayed: batch dimensions do not broadcast to " +
                                       Shape(out_dims));
  }
  const T* t_data = static_cast<const T*>(target.untyped_data());
  const T* r_data = static_cast<const T*>(ring.untyped_data());
  const int32_t* p_data = post_idx.typed_data();
  const W* w_data = static_cast<const W*>(weight.untyped_data());
  const D* d_data = static_cast<const D*>(delay.untyped_data());
  const S* s_data = static_cast<const S*>(spikes.untyped_data());
  const int32_t* k_data = step.typed_data();
  T* o_data = static_cast<T*>(out->untyped_data());
  T* ro_data = static_cast<T*>(ring_out->untyped_data());
  int64_t n_batch = 1;
  for (int64_t d = 0; d < m; ++d) n_batch *= batch[d];
  std::vector<int64_t> index(m, 0);
  int64_t bad = 0;
  for (int64_t b = 0; b < n_batch; ++b) {
    int64_t ot = 0, orr = 0, op = 0, ow = 0, od = 0, os = 0, ok = 0;
    for (int64_t d = 0; d < m; ++d) {
      ot += index[d] * st[d];
      orr += index[d] * sr[d];
      op += index[d] * sp[d];
      ow += index[d] * sw[d];
      od += index[d] * sd[d];
      os += index[d] * ss[d];
      ok += index[d] * sk[d];
    }
    T* o = o_data + b * n_total;
    if (o != t_data + ot) std::memcpy(o, t_data + ot, sizeof(T) * n_total);
    T* ro = ro_data + b * ring_size;
    if (ro != r_data + orr) std::memcpy(ro, r_data + orr, sizeof(T) * ring_size);
    bad += DeliverDelayedParallel<T, W, S, D>(o, ro, n_rows, n_cols, k_data[ok], p_data + op, w_data + ow,
                                              per_synapse, d_data + od, per_synapse_delay, s_data + os + pre_start, n_pre, k,
                                              static_cast<uint32_t>(n_post), post_start, ring_start, arrive != 0,
                                              threads, min_events);
    for (int64_t d = m - 1; d >= 0; --d) {
      if (++index[d] < batch[d]) break;
      index[d] = 0;
    }
  }
  if (bad) {
    return ffi::Error::InvalidArgument("neurodyn_deliver_delayed: " + std::to_string(bad) +
                                       " spike(s) met a delay outside [0, R = " + std::to_string(n_rows) +
                                       "] steps (the ring buffer is too short)");
  }
  return ffi::Error::Success();
}

template <typename T, typename W, typename S>
ffi::Error DeliverDelayedByDelay(ffi::AnyBuffer target, ffi::AnyBuffer ring, ffi::Buffer<ffi::S32> post_idx,
                                 ffi::AnyBuffer weight, ffi::AnyBuffer delay, ffi::AnyBuffer spikes,
                                 ffi::Buffer<ffi::S32> step, ffi::Result<ffi::AnyBuffer> out,
                                 ffi::Result<ffi::AnyBuffer> ring_out, int64_t post_start, int64_t n_post,
                                 int64_t pre_start, int64_t ring_start, int64_t arrive, int64_t threads,
                                 int64_t min_events) {
  using DT = ffi::DataType;
  switch (delay.element_type()) {
    case DT::U8:
      return DeliverDelayedTyped<T, W, S, uint8_t>(target, ring, post_idx, weight, delay, spikes, step, out,
                                                   ring_out, post_start, n_post, pre_start, ring_start, arrive,
                                                   threads, min_events);
    case DT::S16:
      return DeliverDelayedTyped<T, W, S, int16_t>(target, ring, post_idx, weight, delay, spikes, step, out,
                                                   ring_out, post_start, n_post, pre_start, ring_start, arrive,
                                                   threads, min_events);
    case DT::S32:
      return DeliverDelayedTyped<T, W, S, int32_t>(target, ring, post_idx, weight, delay, spikes, step, out,
                                                   ring_out, post_start, n_post, pre_start, ring_start, arrive,
                                                   threads, min_events);
    default:
      return ffi::Error::InvalidArgument("neurodyn_deliver_delayed: delay must be uint8, int16 or int32");
  }
}

ffi::Error DeliverDelayed(ffi::AnyBuffer target, ffi::AnyBuffer ring, ffi::Buffer<ffi::S32> post_idx,
                          ffi::AnyBuffer weight, ffi::AnyBuffer delay, ffi::AnyBuffer spikes,
                          ffi::Buffer<ffi::S32> step, ffi::Result<ffi::AnyBuffer> out,
                          ffi::Result<ffi::AnyBuffer> ring_out, int64_t post_start, int64_t n_post,
                          int64_t pre_start, int64_t ring_start, int64_t arrive, int64_t threads,
                          int64_t min_events) {
  using DT = ffi::DataType;
  const DT t = target.element_type(), w = weight.element_type(), s = spikes.element_type();
  if (out->element_type() != t || ring.element_type() != t || ring_out->element_type() != t) {
    return ffi::Error::InvalidArgument("neurodyn_deliver_delayed: out, ring and target dtypes differ");
  }
  if (s != DT::PRED && s != t) {
    return ffi::Error::InvalidArgument("neurodyn_deliver_delayed: spikes must be bool or the target's dtype");
  }
  const bool sb = s == DT::PRED;
#define NEURODYN_CASE(TT, CT, WT, CW)                                                                     \
  if (t == DT::TT && w == DT::WT) {                                                                    \
    return sb ? DeliverDelayedByDelay<CT, CW, bool>(target, ring, post_idx, weight, delay, spikes, step,  \
                                                    out, ring_out, post_start, n_post, pre_start,         \
                                                    ring_start, arrive, threads, min_events)              \
              : DeliverDelayedByDelay<CT, CW, CT>(target, ring, post_idx, weight, delay, spikes, step,    \
                                                  out, ring_out, post_start, n_post, pre_start,           \
                                                  ring_start, arrive, threads, min_events);               \
  }
  NEURODYN_CASE(F32, float, F32, float)
  NEURODYN_CASE(F32, float, F64, double)
  NEURODYN_CASE(F64, double, F32, float)
  NEURODYN_CASE(F64, double, F64, double)
#undef NEURODYN_CASE
  return ffi::Error::InvalidArgument("neurodyn_deliver_delayed: target and weight must be float32 or float64");
}

}  // namespace

extern "C" int64_t NeurodynThreadedDeliveries() { return threaded_deliveries.load(std::memory_order_relaxed); }

XLA_FFI_DEFINE_HANDLER_SYMBOL(NeurodynDeliver, Deliver,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()           // target
                                  .Arg<ffi::Buffer<ffi::S32>>()    // post_idx
                                  .Arg<ffi::AnyBuffer>()           // weight
                                  .Arg<ffi::AnyBuffer>()           // spikes
                                  .Ret<ffi::AnyBuffer>()           // out
                                  .Attr<int64_t>("post_start")
                                  .Attr<int64_t>("n_post")
                                  .Attr<int64_t>("pre_start"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(NeurodynDeliverDelayed, DeliverDelayed,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()           // target
                                  .Arg<ffi::AnyBuffer>()           // ring
                                  .Arg<ffi::Buffer<ffi::S32>>()    // post_idx
                                  .Arg<ffi::AnyBuffer>()           // weight
                                  .Arg<ffi::AnyBuffer>()           // delay
                                  .Arg<ffi::AnyBuffer>()           // spikes
                                  .Arg<ffi::Buffer<ffi::S32>>()    // step
                                  .Ret<ffi::AnyBuffer>()           // out
                                  .Ret<ffi::AnyBuffer>()           // ring_out
                                  .Attr<int64_t>("post_start")
                                  .Attr<int64_t>("n_post")
                                  .Attr<int64_t>("pre_start")
                                  .Attr<int64_t>("ring_start")
                                  .Attr<int64_t>("arrive")
                                  .Attr<int64_t>("threads")
                                  .Attr<int64_t>("min_events"));
