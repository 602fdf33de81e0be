// FiniteValues.h - finding the first NaN, infinity (or negative value) in a tensor, for the checks around saving and loading.
#ifndef EERT_CLI_FINITEVALUES_H
#define EERT_CLI_FINITEVALUES_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace eert {

/// The index of the first value of host memory `values[0, n)` that is NaN or
/// infinite (or, with `nonNegative`, below zero), -1 if there is none: the
/// checks of checkpoints loaded and saved. A branch-free scan of the bits per
/// chunk (exponent all ones: inf or NaN; the sign on a nonzero value:
/// negative), which the compiler vectorizes; the exact search only where it
/// found something.
inline int64_t firstBadValue(const float *values, int64_t n, bool nonNegative = false) {
  constexpr int64_t chunk = 1 << 12;
  uint32_t negativeMask = nonNegative ? 0x80000000u : 0u;
  for (int64_t begin = 0; begin < n; begin += chunk) {
    int64_t end = std::min(n, begin + chunk);
    uint32_t any = 0;
    for (int64_t j = begin; j < end; ++j) {
      uint32_t bits;
      std::memcpy(&bits, values + j, 4);
      any |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u) |
             static_cast<uint32_t>((bits & negativeMask) != 0 && (bits & 0x7fffffffu) != 0);
    }
    if (any)
      for (int64_t j = begin; j < end; ++j)
        if (!std::isfinite(values[j]) || (nonNegative && values[j] < 0.0f))
          return j;
  }
  return -1;
}

/// "holds nan at element 7": what firstBadValue found, for a message.
inline std::string badValueText(const float *values, int64_t at) {
  return "holds " + std::to_string(values[at]) + " at element " + std::to_string(at);
}

} // namespace eert

#endif // EERT_CLI_FINITEVALUES_H
