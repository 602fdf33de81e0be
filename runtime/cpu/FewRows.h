// FewRows.h - the few-row linear kernel's loop (decode steps, recomputed KV entries) over fp32 or bf16 operands on fp32 lanes.
#ifndef EERT_CPU_FEWROWS_H
#define EERT_CPU_FEWROWS_H

#include "cpu/BF16.h"
#include "cpu/Simd.h"

#include <omp.h>

#include <cstring>

namespace eert {

typedef uint16_t Halves16 __attribute__((vector_size(32)));

/// 16 operands as fp32 lanes: floats as they are, bf16 values widened
/// (exactly: a shift of their bits).
inline Floats16 lanes(const float *p) {
  Floats16 x;
  loadFloats(x, p);
  return x;
}
inline Floats16 lanes(const uint16_t *p) {
  Halves16 halves;
  std::memcpy(&halves, p, sizeof(halves));
  Ints16 bits = __builtin_convertvector(halves, Ints16) << 16;
  Floats16 x;
  std::memcpy(&x, &bits, sizeof(x));
  return x;
}
inline float value(float x) { return x; }
inline float value(uint16_t x) { return bf16::toFloat(x); }
inline void store(float *y, float x) { *y = x; }
inline void store(uint16_t *y, float x) { *y = bf16::fromFloat(x); }

/// y[r] = W x[r] for R (1-8) rows and the output pairs [begin, end). Each
/// pair of weight rows is read once for all R inputs, so the cost stays that
/// of reading W (decode is bound by it) rather than growing with R.
/// Hand-written because OpenBLAS 0.3.21 packs its operands for such thin
/// products (3-8 rows cost 1.2-1.9x one row on the demo model, here about
/// 1.1x) and its sgemv reads W more slowly than this loop.
template <int R, typename In, typename Out>
void linearPairs(const In *x, const In *w, Out *y, int64_t in, int64_t out, int64_t begin,
                 int64_t end) {
  int64_t whole = in / 16 * 16;
  for (int64_t pair = begin; pair < end; ++pair) {
    int64_t o = 2 * pair;
    bool two = o + 1 < out;
    const In *w0 = w + o * in, *w1 = two ? w0 + in : w0;
    Floats16 a0[R] = {}, a1[R] = {};
    for (int64_t k = 0; k < whole; k += 16) {
      Floats16 p = lanes(w0 + k), q = lanes(w1 + k);
      for (int r = 0; r < R; ++r) {
        Floats16 v = lanes(x + r * in + k);
        a0[r] += p * v;
        a1[r] += q * v;
      }
    }
    for (int r = 0; r < R; ++r) {
      float s0 = sumLanes(a0[r]), s1 = sumLanes(a1[r]);
      for (int64_t k = whole; k < in; ++k) {
        float v = value(x[r * in + k]);
        s0 += value(w0[k]) * v;
        s1 += value(w1[k]) * v;
      }
      store(y + r * out + o, s0);
      if (two)
        store(y + r * out + o + 1, s1);
    }
  }
}

/// A kernel over the output pairs [begin, end) of some rows (linearPairs).
template <typename In, typename Out>
using PairsKernel = void (*)(const In *, const In *, Out *, int64_t, int64_t, int64_t, int64_t);

/// `kernel` for R rows over every output pair, split into one contiguous
/// range per thread when the weight is large (each range a plain loop:
/// through a per-pair closure the threaded case ran 25-35% slower).
template <int R, typename In, typename Out>
void overOutputPairs(PairsKernel<In, Out> kernel, const In *x, const In *w, Out *y, int64_t in,
                     int64_t out) {
  int64_t pairs = (out + 1) / 2;
  if (R * out * in < 4 * minParallelElements) {
    kernel(x, w, y, in, out, 0, pairs);
    return;
  }
#pragma omp parallel
  {
    int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
    kernel(x, w, y, in, out, pairs * thread / threads, pairs * (thread + 1) / threads);
  }
}

/// The few-row product for R = 1-8 rows, kernels[R - 1].
template <typename In, typename Out>
using FewRowsKernel = void (*)(const In *, const In *, Out *, int64_t, int64_t);

/// 1-16 rows: up to 8 at once; 9-16 as two halves, each reading the weights
/// once (a decode step with many recomputed entries ran 1.3-3x faster so
/// than through OpenBLAS).
template <typename In, typename Out>
void fewRows(const FewRowsKernel<In, Out> (&kernels)[8], const In *x, const In *w, Out *y,
             int64_t rows, int64_t in, int64_t out) {
  int64_t first = rows <= 8 ? rows : (rows + 1) / 2;
  kernels[first - 1](x, w, y, in, out);
  if (rows > first)
    kernels[rows - first - 1](x + first * in, w, y + first * out, in, out);
}

} // namespace eert

#endif // EERT_CPU_FEWROWS_H
