// FiniteValues.h - finding the first NaN, infinity (or negative value) in a tensor, for the checks around saving and loading.
#ifndef EERT_CLI_FINITEVALUES_H
#define EERT_CLI_FINITEVALUES_H

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace eert {

/// The index of the first value of `values[0, n)` that is NaN or infinite (or,
/// with `nonNegative`, below zero), -1 if there is none.
inline int64_t firstBadValue(const float *values, int64_t n, bool nonNegative = false) {
  // A branch-free scan of the bits that the compiler vectorizes (exponent all
  // ones: inf or NaN; sign set on a nonzero value: negative); the slow search
  // runs only when something was found. Weights are checked on every load and
  // step, so this is on the hot path of training.
  uint32_t negativeMask = nonNegative ? 0x80000000u : 0u, any = 0;
  for (int64_t j = 0; j < n; ++j) {
    uint32_t bits;
    std::memcpy(&bits, values + j, 4);
    any |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u) |
           static_cast<uint32_t>((bits & negativeMask) != 0 && (bits & 0x7fffffffu) != 0);
  }
  if (!any)
    return -1;
  for (int64_t j = 0; j < n; ++j)
    if (!std::isfinite(values[j]) || (nonNegative && values[j] < 0.0f))
      return j;
  return -1;
}

/// "holds nan at element 7": what firstBadValue found, for a message.
inline std::string badValueText(const float *values, int64_t at) {
  return "holds " + std::to_string(values[at]) + " at element " + std::to_string(at);
}

} // namespace eert

#endif // EERT_CLI_FINITEVALUES_H
