// Simd.h - 16-float vectors in GCC vector extensions, for the kernels whose
// loops the compiler's vectoriser leaves scalar (reductions, exponentials),
// and when a kernel is worth splitting over threads.
#ifndef EERT_CPU_SIMD_H
#define EERT_CPU_SIMD_H

#include <cstdint>
#include <cstring>

namespace eert {

/// Elementwise and row-wise kernels split over OpenMP threads only from this
/// many elements: decode steps touch a few rows, and waking the other threads
/// for them costs more than the work (2 threads decoded the demo model 2x
/// slower than 1 with early exits).
constexpr int64_t minParallelElements = int64_t{1} << 14;

/// body(i) for i in [0, n): over the OpenMP threads when `parallel`, else in
/// a plain loop. (An OpenMP region that an `if` clause makes serial still
/// costs about 0.35 us to enter, and a decode layer calls a dozen kernels.)
template <typename Body> void parallelFor(int64_t n, bool parallel, const Body &body) {
  if (!parallel) {
    for (int64_t i = 0; i < n; ++i)
      body(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    body(i);
}

typedef float Floats16 __attribute__((vector_size(64)));
typedef int32_t Ints16 __attribute__((vector_size(64)));

/// min(`lanes`, 16) floats from p, the rest 0; 16 or more load as one vector
/// (a variable-sized copy would be a call).
inline void loadFloats(Floats16 &x, const float *p, int64_t lanes = 16) {
  if (lanes >= 16) {
    std::memcpy(&x, p, sizeof(Floats16));
    return;
  }
  x = Floats16{};
  std::memcpy(&x, p, lanes * sizeof(float));
}

typedef float Floats8 __attribute__((vector_size(32)));
typedef float Floats4 __attribute__((vector_size(16)));

// The two halves of a vector added (a macro: a function returning a 32-byte
// vector warns of its ABI in the files built without -march=native).
#define EERT_HALVES(x)                                                                             \
  (__builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7) +                                         \
   __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15))

/// The sum of the 16 lanes, halving the vector four times.
inline float sumLanes(const Floats16 &x) {
  Floats8 h = EERT_HALVES(x);
  Floats4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
  return (q[0] + q[2]) + (q[1] + q[3]);
}

inline void storeFloats4(float *p, const Floats4 &x) { std::memcpy(p, &x, sizeof(Floats4)); }

/// The lane sums of four vectors, (sum a, sum b, sum c, sum d): pairs of
/// adjacent lanes added across vectors (as hadd does), about a third of the
/// shuffles and adds of four sumLanes. Products and dot products over few
/// features (128-352 in the demo model) spent as long reducing as multiplying.
inline Floats4 sumLanes4(const Floats16 &a, const Floats16 &b, const Floats16 &c,
                         const Floats16 &d) {
#define EERT_PAIR_SUMS(x, y)                                                                       \
  (__builtin_shufflevector(x, y, 0, 2, 8, 10, 4, 6, 12, 14) +                                      \
   __builtin_shufflevector(x, y, 1, 3, 9, 11, 5, 7, 13, 15))
  Floats8 ha = EERT_HALVES(a), hb = EERT_HALVES(b), hc = EERT_HALVES(c), hd = EERT_HALVES(d);
  Floats8 ab = EERT_PAIR_SUMS(ha, hb), cd = EERT_PAIR_SUMS(hc, hd);
  // Lanes: the quarter sums of a, b, c, d for the low, then the high, halves.
  Floats8 quarters = EERT_PAIR_SUMS(ab, cd);
#undef EERT_PAIR_SUMS
  return __builtin_shufflevector(quarters, quarters, 0, 1, 2, 3) +
         __builtin_shufflevector(quarters, quarters, 4, 5, 6, 7);
}

} // namespace eert

#endif // EERT_CPU_SIMD_H
