// Shim.h - CUDA's device language as plain C++, so kernels/*.cu compile for the emulator.
//
// Each kernel source is compiled with `-x c++ -include Shim.h`. Threads are fibers of one OS
// thread (Scheduler.cpp): the builtin indices read the running fiber's state, barriers and
// shuffles switch fibers, atomics need no atomicity. Under EERT_EMULATOR_SCAN (the
// preprocessing pass of RegisterKernels.py) __global__ and __launch_bounds__ stay as tokens, so
// that the kernels can be found in the preprocessed text.
#ifndef EERT_CUDA_EMULATOR_SHIM_H
#define EERT_CUDA_EMULATOR_SHIM_H

#include "cuda/emulator/Emulator.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <math.h>

#ifndef EERT_EMULATOR_SCAN
#define __global__
#define __launch_bounds__(...)
#endif
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
// Static storage shared by the block's fibers (blocks run one at a time), in one section that
// the scheduler fills with NaN bytes at each block's start. `used` keeps the compiler from
// assuming that a barrier (an opaque call) leaves a variable whose address never escapes alone.
#define __shared__ static __attribute__((used, section("eert_shared")))
// The launch's dynamic shared memory (sized by cuLaunchKernel's sharedMemBytes), NaN-filled too.
#define EERT_DYNAMIC_SHARED(type, name)                                                            \
  type *name = static_cast<type *>(::eert::cuda::emulator::currentBlock.dynamicShared)

#define threadIdx (::eert::cuda::emulator::currentThread->threadIdx)
#define blockIdx (::eert::cuda::emulator::currentBlock.blockIdx)
#define blockDim (::eert::cuda::emulator::currentBlock.blockDim)
#define gridDim (::eert::cuda::emulator::currentBlock.gridDim)
constexpr int warpSize = 32;

inline void __syncthreads() { ::eert::cuda::emulator::syncThreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::eert::cuda::emulator::shuffle(::eert::cuda::emulator::ShuffleKind::Index, mask, 0, 1,
                                  static_cast<int>(threadIdx.x & 31), warpSize);
}
inline void __threadfence() { asm volatile("" ::: "memory"); }
inline void __threadfence_block() { asm volatile("" ::: "memory"); }

namespace eert::cuda::emulator {
template <typename T> T shuffled(ShuffleKind kind, unsigned mask, T value, int operand, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "a shuffle moves 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = shuffle(kind, mask, bits, sizeof(T), operand, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
} // namespace eert::cuda::emulator

template <typename T> T __shfl_sync(unsigned mask, T value, int lane, int width = warpSize) {
  return ::eert::cuda::emulator::shuffled(::eert::cuda::emulator::ShuffleKind::Index, mask, value,
                                          lane, width);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
  return ::eert::cuda::emulator::shuffled(::eert::cuda::emulator::ShuffleKind::Up, mask, value,
                                          static_cast<int>(delta), width);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
  return ::eert::cuda::emulator::shuffled(::eert::cuda::emulator::ShuffleKind::Down, mask, value,
                                          static_cast<int>(delta), width);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int laneMask, int width = warpSize) {
  return ::eert::cuda::emulator::shuffled(::eert::cuda::emulator::ShuffleKind::Xor, mask, value,
                                          laneMask, width);
}

// Bit casts.
inline unsigned __float_as_uint(float v) {
  unsigned u;
  std::memcpy(&u, &v, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float v;
  std::memcpy(&v, &u, 4);
  return v;
}
inline int __float_as_int(float v) { return static_cast<int>(__float_as_uint(v)); }
inline float __int_as_float(int i) { return __uint_as_float(static_cast<unsigned>(i)); }
inline long long __double_as_longlong(double v) {
  long long i;
  std::memcpy(&i, &v, 8);
  return i;
}
inline double __longlong_as_double(long long i) {
  double v;
  std::memcpy(&v, &i, 8);
  return v;
}

// The math library: <cmath>'s functions (the GPU's are within a few ulp of them), and the fast
// intrinsics as the same.
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
template <typename T> T __ldg(const T *p) { return *p; }

// min and max as CUDA overloads them (same-type arguments).
#define EERT_EMULATOR_MIN_MAX(T)                                                                   \
  inline T min(T a, T b) { return a < b ? a : b; }                                                 \
  inline T max(T a, T b) { return a > b ? a : b; }
EERT_EMULATOR_MIN_MAX(int)
EERT_EMULATOR_MIN_MAX(unsigned)
EERT_EMULATOR_MIN_MAX(long)
EERT_EMULATOR_MIN_MAX(unsigned long)
EERT_EMULATOR_MIN_MAX(long long)
EERT_EMULATOR_MIN_MAX(unsigned long long)
#undef EERT_EMULATOR_MIN_MAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// Atomics, on the types CUDA has them for: one fiber runs at a time, so plain updates are
// atomic (a fiber switches only at a barrier or shuffle).
#define EERT_EMULATOR_ATOMIC(name, T, update)                                                      \
  inline T name(T *address, T value) {                                                             \
    T old = *address;                                                                              \
    *address = (update);                                                                           \
    return old;                                                                                    \
  }
#define EERT_EMULATOR_INTEGER_ATOMICS(T)                                                           \
  EERT_EMULATOR_ATOMIC(atomicAdd, T, old + value)                                                  \
  EERT_EMULATOR_ATOMIC(atomicSub, T, old - value)                                                  \
  EERT_EMULATOR_ATOMIC(atomicExch, T, value)                                                       \
  EERT_EMULATOR_ATOMIC(atomicMin, T, value < old ? value : old)                                    \
  EERT_EMULATOR_ATOMIC(atomicMax, T, value > old ? value : old)                                    \
  EERT_EMULATOR_ATOMIC(atomicAnd, T, old &value)                                                   \
  EERT_EMULATOR_ATOMIC(atomicOr, T, old | value)                                                   \
  EERT_EMULATOR_ATOMIC(atomicXor, T, old ^ value)                                                  \
  inline T atomicCAS(T *address, T compare, T value) {                                             \
    T old = *address;                                                                              \
    if (old == compare)                                                                            \
      *address = value;                                                                            \
    return old;                                                                                    \
  }
EERT_EMULATOR_INTEGER_ATOMICS(int)
EERT_EMULATOR_INTEGER_ATOMICS(unsigned)
EERT_EMULATOR_INTEGER_ATOMICS(unsigned long long)
EERT_EMULATOR_ATOMIC(atomicAdd, float, old + value)
EERT_EMULATOR_ATOMIC(atomicAdd, double, old + value)
EERT_EMULATOR_ATOMIC(atomicExch, float, value)
EERT_EMULATOR_ATOMIC(atomicMin, long long, value < old ? value : old)
EERT_EMULATOR_ATOMIC(atomicMax, long long, value > old ? value : old)
#undef EERT_EMULATOR_INTEGER_ATOMICS
#undef EERT_EMULATOR_ATOMIC

#endif // EERT_CUDA_EMULATOR_SHIM_H
