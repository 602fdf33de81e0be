// FiniteValues.h - finding the first NaN, infinity (or negative value) in a tensor, for the checks around saving and loading.
#ifndef EERT_CLI_FINITEVALUES_H
#define EERT_CLI_FINITEVALUES_H

#include <cmath>
#include <cstdint>
#include <string>

namespace eert {

/// The index of the first value of `values[0, n)` that is NaN or infinite (or,
/// with `nonNegative`, below zero), -1 if there is none.
inline int64_t firstBadValue(const float *values, int64_t n, bool nonNegative = false) {
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
