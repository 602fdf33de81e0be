// Softmax.h - softmax pieces shared by the forward and backward kernels.
#ifndef EERT_CPU_SOFTMAX_H
#define EERT_CPU_SOFTMAX_H

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace eert {

/// Causal softmax of each row of scores [seq, seq] (already scaled), in place:
/// row s keeps columns 0..s, the rest become 0.
inline void causalSoftmax(float *scores, int64_t seq) {
  for (int64_t s = 0; s < seq; ++s) {
    float *row = scores + s * seq;
    float maximum = -INFINITY;
    for (int64_t j = 0; j <= s; ++j)
      maximum = std::max(maximum, row[j]);
    double sum = 0.0;
    for (int64_t j = 0; j <= s; ++j)
      sum += row[j] = std::exp(row[j] - maximum);
    float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j <= s; ++j)
      row[j] *= inv;
    std::fill(row + s + 1, row + seq, 0.0f);
  }
}

/// log(sum(exp(row / temperature))), in double with the maximum factored out;
/// the maximum goes to *maxOut when given.
inline double logSumExp(const float *row, int64_t vocab, double invTemperature,
                        double *maxOut = nullptr) {
  double maximum = -INFINITY;
  for (int64_t v = 0; v < vocab; ++v)
    maximum = std::max(maximum, row[v] * invTemperature);
  // Single-precision exponentials (vectorised by the compiler), summed in double.
  float scale = static_cast<float>(invTemperature), shift = static_cast<float>(maximum);
  double sum = 0.0;
  for (int64_t v = 0; v < vocab; ++v)
    sum += std::exp(row[v] * scale - shift);
  if (maxOut)
    *maxOut = maximum;
  return maximum + std::log(sum);
}

} // namespace eert

#endif // EERT_CPU_SOFTMAX_H
