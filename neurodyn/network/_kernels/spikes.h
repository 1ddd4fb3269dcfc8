// Shared by the kernels compiled into neurodyn's one library (delivery.cc, stp.cc,
// plasticity.cc): the loop over the neurons that spiked this step, and the operand checks
// their handlers have in common (each returns an InvalidArgument error naming the kernel,
// the operand and the shapes, or Success).
#ifndef NEURODYN_KERNELS_SPIKES_H_
#define NEURODYN_KERNELS_SPIKES_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace neurodyn {

// Calls f(i) for every i < n with mask[i] != 0, skipping eight silent neurons at a time.
template <typename F>
inline void ForEachSpike(const bool* mask, int64_t n, F&& f) {
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(mask);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    if (word == 0) continue;
    for (int64_t b = 0; b < 8; ++b) {
      if (bytes[i + b]) f(i + b);
    }
  }
  for (; i < n; ++i) {
    if (bytes[i]) f(i);
  }
}

// "(d0, d1, ...)": a shape for an error message.
inline std::string Shape(xla::ffi::Span<const int64_t> dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + ")";
}

// Element strides of an operand over the m leading batch dimensions of `batch` (0 where
// the operand has size 1 there and is broadcast); false if a dimension neither matches nor is 1.
inline bool BatchStrides(xla::ffi::Span<const int64_t> dims, int64_t m, xla::ffi::Span<const int64_t> batch,
                         int64_t core_size, std::vector<int64_t>* strides) {
  strides->assign(m, 0);
  int64_t stride = core_size;
  for (int64_t d = m - 1; d >= 0; --d) {
    if (dims[d] == batch[d]) {
      (*strides)[d] = batch[d] == 1 ? 0 : stride;
    } else if (dims[d] != 1) {
      return false;
    }
    stride *= dims[d];
  }
  return true;
}

// The presynaptic rows [pre_start, pre_start + n_pre) lie in the n_spikes spikes and the
// postsynaptic columns [post_start, post_start + n_post) in the n_total targets (n_post < 2^32:
// the kernels compare post indices as uint32, so padding and negative indices are skipped).
inline xla::ffi::Error CheckPrePost(const std::string& kernel, int64_t pre_start, int64_t n_pre, int64_t n_spikes,
                                    int64_t post_start, int64_t n_post, int64_t n_total) {
  if (pre_start < 0 || n_pre < 0 || pre_start + n_pre > n_spikes) {
    return xla::ffi::Error::InvalidArgument(kernel + ": spikes (" + std::to_string(n_spikes) +
                                            ") have no room for pre_start + n_pre = " + std::to_string(pre_start) +
                                            " + " + std::to_string(n_pre));
  }
  if (post_start < 0 || n_post < 0 || post_start + n_post > n_total || n_post > UINT32_MAX) {
    return xla::ffi::Error::InvalidArgument(kernel + ": post_start + n_post = " + std::to_string(post_start) +
                                            " + " + std::to_string(n_post) + " exceeds the target size " +
                                            std::to_string(n_total));
  }
  return xla::ffi::Error::Success();
}

}  // namespace neurodyn

#endif  // NEURODYN_KERNELS_SPIKES_H_
