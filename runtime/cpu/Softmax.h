// Softmax.h - softmax pieces shared by the forward and backward kernels.
#ifndef EERT_CPU_SOFTMAX_H
#define EERT_CPU_SOFTMAX_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/Simd.h"

namespace eert {

/// x = exp(x) for 16 floats at once, in GCC vector extensions so that it
/// compiles to SIMD whatever the compiler's loop vectoriser decides: glibc's
/// vector expf is only declared under -ffast-math, whose other effects (no
/// infinities, reassociation) the kernels cannot take. Range reduction
/// x = n ln 2 + r and Cephes' degree-6 polynomial for exp(r): relative error
/// below 1e-7 over [-87, 88]; inputs are clamped to [-87.3, 88.3] (exp(-inf)
/// gives about 1e-38), NaN stays NaN. In place, because a 64-byte vector
/// returned by value would change the ABI between files built with and
/// without AVX-512.
inline void vectorExp(Floats16 &x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  // Round to nearest by adding and subtracting 1.5 * 2^23.
  Floats16 n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
  Floats16 r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  Floats16 p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n from its exponent bits.
  Ints16 bits = (__builtin_convertvector(n, Ints16) + 127) << 23;
  x = p * reinterpret_cast<Floats16 &>(bits);
}

/// 1 / (1 + exp(-x)) in each lane, through vectorExp.
inline void vectorSigmoid(Floats16 &x) {
  Floats16 e = -x;
  vectorExp(e);
  x = 1.0f / (1.0f + e);
}

/// The largest of row[0..count), 16 lanes at a time (count >= 1).
inline float rowMaximum(const float *row, int64_t count) {
  Floats16 best = Floats16{} + row[0];
  int64_t j = 0;
  for (; j + 16 <= count; j += 16) {
    Floats16 x;
    loadFloats(x, row + j);
    best = x > best ? x : best;
  }
  float maximum = best[0];
  for (int i = 1; i < 16; ++i)
    maximum = std::max(maximum, best[i]);
  for (; j < count; ++j)
    maximum = std::max(maximum, row[j]);
  return maximum;
}

/// out[j] = exp(in[j] * scale - shift) for j < count (out may be null, or
/// in); returns their sum, accumulated in double lanes.
inline double expScaled(const float *in, float *out, int64_t count, float scale, float shift) {
  typedef double Doubles8 __attribute__((vector_size(64)));
  Doubles8 sums = {};
  auto block = [&](int64_t j, int64_t lanes) {
    Floats16 x;
    loadFloats(x, in + j, lanes);
    x = x * scale - shift;
    vectorExp(x);
    for (int64_t i = lanes; i < 16; ++i)
      x[i] = 0.0f;
    if (out)
      std::memcpy(out + j, &x, lanes * sizeof(float));
    sums += __builtin_convertvector(__builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7), Doubles8) +
            __builtin_convertvector(__builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15),
                                    Doubles8);
  };
  int64_t j = 0;
  for (; j + 16 <= count; j += 16)
    block(j, 16);
  if (j < count)
    block(j, count - j);
  double sum = 0.0;
  for (int i = 0; i < 8; ++i)
    sum += sums[i];
  return sum;
}

/// Softmax of row[0..seen) in place (already scaled); row[seen..count) become 0.
inline void prefixSoftmax(float *row, int64_t seen, int64_t count) {
  float inverse = static_cast<float>(1.0 / expScaled(row, row, seen, 1.0f, rowMaximum(row, seen)));
  for (int64_t j = 0; j < seen; ++j)
    row[j] *= inverse;
  std::fill(row + seen, row + count, 0.0f);
}

/// Causal softmax of each row of scores [seq, seq] (already scaled), in place:
/// row s keeps columns 0..s, the rest become 0.
inline void causalSoftmax(float *scores, int64_t seq) {
  for (int64_t s = 0; s < seq; ++s)
    prefixSoftmax(scores + s * seq, s + 1, seq);
}

/// log(sum(exp(row / temperature))), in double with the maximum factored out;
/// the maximum goes to *maxOut when given.
inline double logSumExp(const float *row, int64_t vocab, double invTemperature,
                        double *maxOut = nullptr) {
  double maximum = static_cast<double>(rowMaximum(row, vocab)) * invTemperature;
  // Single-precision exponentials, summed in double.
  double sum = expScaled(row, nullptr, vocab, static_cast<float>(invTemperature),
                         static_cast<float>(maximum));
  if (maxOut)
    *maxOut = maximum;
  return maximum + std::log(sum);
}

} // namespace eert

#endif // EERT_CPU_SOFTMAX_H
