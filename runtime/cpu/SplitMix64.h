// SplitMix64.h - the one random generator of the runtime (sampling, init, data order).
#ifndef EERT_CPU_SPLITMIX64_H
#define EERT_CPU_SPLITMIX64_H

#include <cstdint>

namespace eert {

/// SplitMix64: tiny and fully specified, so a seed gives the same numbers on
/// every platform and standard library.
inline uint64_t splitMix64(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// A uniform double in [0, 1) from the top 53 bits.
inline double uniform01(uint64_t &state) { return (splitMix64(state) >> 11) * 0x1.0p-53; }

} // namespace eert

#endif // EERT_CPU_SPLITMIX64_H
