// Elementwise.cu - add, scale, SwiGLU and its gradient, bf16 conversions, finite checks.
#include "Common.cuh"

template <typename Out>
__device__ void swiglu(const float *gate, const float *up, Out *output, int64_t n) {
  EERT_GRID_LOOP(i, n) {
    float g = gate[i];
    store(output, i, g / (1.0f + expf(-g)) * up[i]);
  }
}

extern "C" {

__global__ void eert_add_kernel(const float *lhs, const float *rhs, float *output, int64_t n) {
  EERT_GRID_LOOP(i, n) output[i] = lhs[i] + rhs[i];
}

__global__ void eert_scale_kernel(const float *input, float factor, float *output, int64_t n) {
  EERT_GRID_LOOP(i, n) output[i] = factor * input[i];
}

__global__ void eert_swiglu_kernel(const float *gate, const float *up, float *output, int64_t n) {
  swiglu(gate, up, output, n);
}

__global__ void eert_swiglu_bf16_kernel(const float *gate, const float *up, uint16_t *output,
                                        int64_t n) {
  swiglu(gate, up, output, n);
}

/// d/dg [silu(g) u] = u sigmoid(g) (1 + g (1 - sigmoid(g))); d/du = silu(g).
__global__ void eert_swiglu_backward_kernel(const float *gate, const float *up,
                                            const float *doutput, float *dgate, float *dup,
                                            int64_t n) {
  EERT_GRID_LOOP(i, n) {
    float g = gate[i], sigmoid = 1.0f / (1.0f + expf(-g)), dy = doutput[i];
    dgate[i] = dy * up[i] * sigmoid * (1.0f + g * (1.0f - sigmoid));
    dup[i] = dy * g * sigmoid;
  }
}

__global__ void eert_to_bf16_kernel(const float *input, uint16_t *output, int64_t n) {
  EERT_GRID_LOOP(i, n) output[i] = floatToBf16(input[i]);
}

__global__ void eert_from_bf16_kernel(const uint16_t *input, float *output, int64_t n) {
  EERT_GRID_LOOP(i, n) output[i] = bf16ToFloat(input[i]);
}

/// *index = min(*index, the first i with values[i] NaN, infinite or (when
/// nonNegative) below zero); the host sets *index = n first.
__global__ void eert_first_nonfinite_kernel(const float *values, int64_t n, int64_t nonNegative,
                                            unsigned long long *index) {
  EERT_GRID_LOOP(i, n) {
    float v = values[i];
    if (!isfinite(v) || (nonNegative && v < 0.0f))
      atomicMin(index, static_cast<unsigned long long>(i));
  }
}

/// output[t, r * cols + c] = blocks[r, t, c]: the TP group's column blocks
/// (gathered rank after rank) side by side.
__global__ void eert_gather_columns_kernel(const float *blocks, float *output, int64_t rows,
                                           int64_t cols, int64_t parts) {
  EERT_GRID_LOOP(i, rows * cols * parts) {
    int64_t c = i % cols, r = (i / cols) % parts, t = i / (cols * parts);
    output[i] = blocks[(r * rows + t) * cols + c];
  }
}

} // extern "C"
