// FiniteValues.h - finding the first NaN, infinity (or negative value) in a tensor, for the checks around saving and loading.
#ifndef EERT_CLI_FINITEVALUES_H
#define EERT_CLI_FINITEVALUES_H

#include "eert/eert.h"

#include <cstdint>
#include <string>

namespace eert {

/// The index of the first value of `values[0, n)` that is NaN or infinite (or,
/// with `nonNegative`, below zero), -1 if there is none (the runtime's kernel:
/// weights are checked on every load and step, on the hot path of training).
inline int64_t firstBadValue(const float *values, int64_t n, bool nonNegative = false) {
  uint64_t index = 0;
  eert_first_nonfinite(values, n, nonNegative ? 1 : 0, &index);
  return index == static_cast<uint64_t>(n) ? -1 : static_cast<int64_t>(index);
}

/// "holds nan at element 7": what firstBadValue found, for a message.
inline std::string badValueText(const float *values, int64_t at) {
  return "holds " + std::to_string(values[at]) + " at element " + std::to_string(at);
}

} // namespace eert

#endif // EERT_CLI_FINITEVALUES_H
