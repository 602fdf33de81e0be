// Rotary.h - the rotary embedding's inverse frequencies, shared by its forward and backward kernels.
#ifndef EERT_CPU_ROTARY_H
#define EERT_CPU_ROTARY_H

#include <cmath>
#include <cstdint>
#include <vector>

namespace eert {

/// 1 / theta^(2i / headDim) for i < headDim / 2, in fp32 as Hugging Face
/// computes them: once per (theta, headDim) rather than per token and call
/// (a decode step rotates each layer's queries and keys). The table belongs
/// to the calling thread and stays valid until its next call.
inline const float *rotaryFrequencies(float theta, int64_t headDim) {
  thread_local std::vector<float> table;
  thread_local float tableTheta = 0.0f;
  thread_local int64_t tableHeadDim = 0;
  if (theta != tableTheta || headDim != tableHeadDim) {
    table.resize(headDim / 2);
    for (int64_t i = 0; i < headDim / 2; ++i)
      table[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / headDim);
    tableTheta = theta;
    tableHeadDim = headDim;
  }
  return table.data();
}

} // namespace eert

#endif // EERT_CPU_ROTARY_H
