// Common.cuh - what every kernel file shares: bf16 conversion, grid loops, block sums.
#ifndef EERT_CUDA_KERNELS_COMMON_CUH
#define EERT_CUDA_KERNELS_COMMON_CUH

#include "cuda/Fault.h"

#include <cstdint>

/// The launch's dynamic shared memory as `type *name`. A macro, so that the CPU emulator
/// (runtime/cuda/emulator/Shim.h) can supply it: C++ has no `extern __shared__` array.
#ifndef EERT_DYNAMIC_SHARED
#define EERT_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

// bf16 values travel as their 16 bits (uint16_t), as in the CPU runtime; the
// conversions are written out so they round exactly as runtime/cpu/BF16.h
// does (to nearest even, NaN kept quiet), independent of cuda_bf16.h.
__device__ __forceinline__ float bf16ToFloat(uint16_t bits) {
  return __uint_as_float(static_cast<uint32_t>(bits) << 16);
}

__device__ __forceinline__ uint16_t floatToBf16(float value) {
  uint32_t bits = __float_as_uint(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

/// Reads a float or a bf16 value as float; stores a float as either.
__device__ __forceinline__ float load(const float *p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const uint16_t *p, int64_t i) { return bf16ToFloat(p[i]); }
__device__ __forceinline__ void store(float *p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(uint16_t *p, int64_t i, float v) { p[i] = floatToBf16(v); }

/// i over [0, n) across the whole grid.
#define EERT_GRID_LOOP(i, n)                                                                   \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n);      \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

__device__ __forceinline__ float warpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warpMax(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

/// `warpReduce` of `v` over the block, in every thread: each warp's result,
/// then the warps' (`identity` past the last). `scratch` holds 32 floats of
/// shared memory; blockDim.x is a multiple of 32.
template <float (*warpReduce)(float)>
__device__ __forceinline__ float blockReduce(float v, float identity, float *scratch) {
  v = warpReduce(v);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  int warps = blockDim.x >> 5;
  return warpReduce(lane < warps ? scratch[lane] : identity);
}

__device__ __forceinline__ float blockSum(float v, float *scratch) {
  return blockReduce<warpSum>(v, 0.0f, scratch);
}

__device__ __forceinline__ float blockMax(float v, float *scratch) {
  return blockReduce<warpMax>(v, -INFINITY, scratch);
}

/// The sum over the block of each thread's `v` in a fixed tree (the same
/// bits every run), in thread 0; `sums` holds blockDim.x doubles (a power of two).
__device__ __forceinline__ double blockSumInOrder(double v, double *sums) {
  sums[threadIdx.x] = v;
  __syncthreads();
  for (unsigned width = blockDim.x / 2; width > 0; width >>= 1) {
    if (threadIdx.x < width)
      sums[threadIdx.x] += sums[threadIdx.x + width];
    __syncthreads();
  }
  double sum = sums[0];
  __syncthreads(); // a later call may overwrite sums[0]
  return sum;
}

/// Keeps the first fault of any kernel (the host reads and clears it).
__device__ __forceinline__ void recordFault(eert::cuda::Fault *fault, eert::cuda::FaultKind kind,
                                            eert::cuda::FaultSource source, int64_t index,
                                            int64_t value, int64_t limit) {
  if (atomicCAS(&fault->kind, 0, static_cast<int32_t>(kind)) == 0) {
    fault->source = static_cast<int32_t>(source);
    fault->index = index;
    fault->value = value;
    fault->limit = limit;
  }
}

#endif // EERT_CUDA_KERNELS_COMMON_CUH
