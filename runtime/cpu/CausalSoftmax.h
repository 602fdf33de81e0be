// CausalSoftmax.h - the row-wise causal softmax shared by attention forward and backward.
#ifndef EERT_CPU_CAUSALSOFTMAX_H
#define EERT_CPU_CAUSALSOFTMAX_H

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


} // namespace eert

#endif // EERT_CPU_CAUSALSOFTMAX_H
