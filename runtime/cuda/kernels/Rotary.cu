// Rotary.cu - the rotary embedding (rotate_half convention) and its gradient.
#include "Common.cuh"

namespace {

/// One thread per (token, head, pair); `sign` 1 rotates forward, -1 back.
/// The angle is position * inverse frequency in fp32, as Hugging Face and
/// the CPU kernel compute it.
__device__ void rotate(const float *input, const int32_t *positions, float *output,
                       int64_t tokens, int64_t heads, int64_t headDim, float theta, float sign) {
  int64_t half = headDim / 2;
  EERT_GRID_LOOP(i, tokens * heads * half) {
    int64_t pair = i % half, token = i / (heads * half);
    int64_t base = (i / half) * headDim;
    // powf here is not correctly rounded (the CPU's is); the double power rounded is.
    float exponent = static_cast<float>(2 * pair) / headDim;
    float frequency = 1.0f / static_cast<float>(pow(static_cast<double>(theta),
                                                    static_cast<double>(exponent)));
    float angle = static_cast<float>(positions[token]) * frequency;
    float cosA = cosf(angle), sinA = sign * sinf(angle);
    float x1 = input[base + pair], x2 = input[base + pair + half];
    output[base + pair] = x1 * cosA - x2 * sinA;
    output[base + pair + half] = x2 * cosA + x1 * sinA;
  }
}

} // namespace

extern "C" {

__global__ void eert_rotary_kernel(const float *input, const int32_t *positions, float *output,
                                   int64_t tokens, int64_t heads, int64_t headDim, float theta) {
  rotate(input, positions, output, tokens, heads, headDim, theta, 1.0f);
}

__global__ void eert_rotary_backward_kernel(const float *doutput, const int32_t *positions,
                                            float *dinput, int64_t tokens, int64_t heads,
                                            int64_t headDim, float theta) {
  rotate(doutput, positions, dinput, tokens, heads, headDim, theta, -1.0f);
}

} // extern "C"
