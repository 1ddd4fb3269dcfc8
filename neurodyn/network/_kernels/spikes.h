// Shared by the kernels compiled into neurodyn's one library (delivery.cc, stp.cc,
// plasticity.cc): the loop over the neurons that spiked this step.
#ifndef NEURODYN_KERNELS_SPIKES_H_
#define NEURODYN_KERNELS_SPIKES_H_

#include <cstdint>
#include <cstring>

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

}  // namespace neurodyn

#endif  // NEURODYN_KERNELS_SPIKES_H_
