// Norm.cu - RMSNorm and its gradient (fp32 or bf16 weight; fp32 or bf16 result).
#include "Common.cuh"

namespace {

/// One block per row; fp32 statistics as the CPU kernel (which sums in double).
template <typename Weight, typename Out>
__device__ void rmsNorm(const float *input, const Weight *weight, Out *output, int64_t cols,
                        float eps) {
  __shared__ float scratch[32];
  int64_t row = blockIdx.x;
  const float *x = input + row * cols;
  float sumSquares = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    sumSquares += x[c] * x[c];
  sumSquares = blockSum(sumSquares, scratch);
  float scale = 1.0f / sqrtf(sumSquares / cols + eps); // rsqrtf is 2 ulp off
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    store(output + row * cols, c, x[c] * scale * load(weight, c));
}

/// One block per row: dinput, and the row's dweight terms dy x inv into
/// partial[row, :] (summed over rows by eert_rms_norm_dweight_kernel).
template <typename Weight>
__device__ void rmsNormBackward(const float *input, const Weight *weight, const float *doutput,
                                float *dinput, float *partial, int64_t cols, float eps) {
  __shared__ float scratch[32];
  int64_t row = blockIdx.x;
  const float *x = input + row * cols, *dy = doutput + row * cols;
  float sumSquares = 0.0f, dot = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    sumSquares += x[c] * x[c];
    dot += dy[c] * load(weight, c) * x[c];
  }
  sumSquares = blockSum(sumSquares, scratch);
  dot = blockSum(dot, scratch);
  float inv = 1.0f / sqrtf(sumSquares / cols + eps);
  float correction = inv * inv * inv * dot / cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    dinput[row * cols + c] = inv * dy[c] * load(weight, c) - correction * x[c];
    partial[row * cols + c] = dy[c] * x[c] * inv;
  }
}

} // namespace

extern "C" {

__global__ void eert_rms_norm_kernel(const float *input, const float *weight, float *output,
                                     int64_t cols, float eps) {
  rmsNorm(input, weight, output, cols, eps);
}
__global__ void eert_rms_norm_bf16_kernel(const float *input, const uint16_t *weight,
                                          uint16_t *output, int64_t cols, float eps) {
  rmsNorm(input, weight, output, cols, eps);
}
__global__ void eert_rms_norm_bf16_f32_kernel(const float *input, const uint16_t *weight,
                                              float *output, int64_t cols, float eps) {
  rmsNorm(input, weight, output, cols, eps);
}

__global__ void eert_rms_norm_backward_kernel(const float *input, const float *weight,
                                              const float *doutput, float *dinput,
                                              float *partial, int64_t cols, float eps) {
  rmsNormBackward(input, weight, doutput, dinput, partial, cols, eps);
}
__global__ void eert_rms_norm_backward_bf16_kernel(const float *input, const uint16_t *weight,
                                                   const float *doutput, float *dinput,
                                                   float *partial, int64_t cols, float eps) {
  rmsNormBackward(input, weight, doutput, dinput, partial, cols, eps);
}

/// out[c] = sum over rows of values[r, c], in row order (the same bits every
/// run): one thread per column, consecutive threads on consecutive columns.
__global__ void eert_column_sums_kernel(const float *values, float *out, int64_t rows,
                                        int64_t cols) {
  EERT_GRID_LOOP(c, cols) {
    double sum = 0.0; // as the CPU: tens of thousands of rows in training
    for (int64_t r = 0; r < rows; ++r)
      sum += values[r * cols + c];
    out[c] = static_cast<float>(sum);
  }
}

} // extern "C"
