// Optimizer.cu - AdamW (fp32 parameter, or bf16 parameter with fp32 master) and inner products.
#include "Common.cuh"

namespace {

template <typename Param>
__device__ void adamw(Param *param, float *master, const float *grad, float *expAvg,
                      float *expAvgSq, int64_t n, float gradScale, float beta1, float beta2,
                      float eps, float stepSize, float root2, float shrink, int32_t *nonfinite) {
  bool any = false;
  EERT_GRID_LOOP(j, n) {
    float g = gradScale * grad[j];
    float m = beta1 * expAvg[j] + (1.0f - beta1) * g;
    float v = beta2 * expAvgSq[j] + (1.0f - beta2) * g * g;
    expAvg[j] = m;
    expAvgSq[j] = v;
    float updated = master[j] * shrink - stepSize * m / (sqrtf(v) / root2 + eps);
    master[j] = updated;
    store(param, j, updated);
    any = any || !isfinite(updated);
  }
  if (any)
    *nonfinite = 1;
}

} // namespace

extern "C" {

/// The host computes the step size, sqrt of the second bias correction and
/// the decay factor in double, as the CPU kernel; *nonfinite becomes 1 when
/// a weight became inf or NaN (this call's flag, counted by the host).
__global__ void eert_adamw_kernel(float *param, const float *grad, float *expAvg,
                                  float *expAvgSq, int64_t n, float gradScale, float beta1,
                                  float beta2, float eps, float stepSize, float root2,
                                  float shrink, int32_t *nonfinite) {
  adamw(param, param, grad, expAvg, expAvgSq, n, gradScale, beta1, beta2, eps, stepSize, root2,
        shrink, nonfinite);
}

__global__ void eert_adamw_bf16_kernel(uint16_t *param, float *master, const float *grad,
                                       float *expAvg, float *expAvgSq, int64_t n, float gradScale,
                                       float beta1, float beta2, float eps, float stepSize,
                                       float root2, float shrink, int32_t *nonfinite) {
  adamw(param, master, grad, expAvg, expAvgSq, n, gradScale, beta1, beta2, eps, stepSize, root2,
        shrink, nonfinite);
}

/// partial[block] = sum of lhs[i] rhs[i] over the block's fixed range, in
/// double and a fixed order; eert_sum_double_kernel adds the blocks.
__global__ void eert_inner_product_kernel(const float *lhs, const float *rhs, double *partial,
                                          int64_t n, int64_t perBlock) {
  __shared__ double sums[256];
  int64_t begin = blockIdx.x * perBlock, end = min(n, begin + perBlock);
  double sum = 0.0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    sum += static_cast<double>(lhs[i]) * rhs[i];
  sum = blockSumInOrder(sum, sums);
  if (threadIdx.x == 0)
    partial[blockIdx.x] = sum;
}

} // extern "C"
