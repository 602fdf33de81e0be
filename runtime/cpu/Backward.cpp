// Backward.cpp - CPU vector-Jacobian products of the primitive kernels (fp32; the linear products and the norm also with bf16 factors or weight).
#include "comm/Progress.h"
#include "cpu/Error.h"
#include "cpu/FewRows.h"
#include "cpu/Gemm.h"
#include "cpu/Rotary.h"
#include "cpu/Softmax.h"
#include "eert/eert.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace {

/// C = op(A) B into fp32 for a backward product of `rows` x `in` -> `out`
/// features: fp32 factors by the library gemm::libraryFor picks, bf16 ones
/// through oneDNN (fp32 accumulation).
void backwardProduct(bool transA, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                     const float *b, int64_t ldb, float *c, int64_t ldc, int64_t rows, int64_t in,
                     int64_t out) {
  eert::gemm::multiply(eert::gemm::libraryFor(rows, in, out, false), transA, false, m, n, k, a, lda,
                       b, ldb, c, ldc);
}
void backwardProduct(bool transA, int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda,
                     const uint16_t *b, int64_t ldb, float *c, int64_t ldc, int64_t, int64_t,
                     int64_t) {
  eert::gemm::multiplyBF16(transA, false, m, n, k, a, lda, b, ldb, c, ldc, /*bf16Output=*/false);
}

template <typename Factor>
void linearBackwardInput(const Factor *doutput, const Factor *weight, float *dinput, int64_t rows,
                         int64_t in, int64_t out) {
  eert::comm::progress();
  if (rows == 0)
    return;
  backwardProduct(false, rows, in, out, doutput, out, weight, in, dinput, in, rows, in, out);
}

template <typename Factor>
void linearBackwardWeight(const Factor *doutput, const Factor *input, float *dweight, int64_t rows,
                          int64_t in, int64_t out) {
  eert::comm::progress();
  if (rows == 0) {
    std::memset(dweight, 0, sizeof(float) * in * out);
    return;
  }
  backwardProduct(true, out, in, rows, doutput, out, input, in, dweight, in, rows, in, out);
}

} // namespace

extern "C" void eert_linear_backward_input(const float *doutput, const float *weight,
                                           float *dinput, int64_t rows, int64_t inFeatures,
                                           int64_t outFeatures) {
  linearBackwardInput(doutput, weight, dinput, rows, inFeatures, outFeatures);
}

extern "C" void eert_linear_backward_weight(const float *doutput, const float *input,
                                            float *dweight, int64_t rows, int64_t inFeatures,
                                            int64_t outFeatures) {
  linearBackwardWeight(doutput, input, dweight, rows, inFeatures, outFeatures);
}

extern "C" void eert_linear_backward_input_bf16(const uint16_t *doutput, const uint16_t *weight,
                                                float *dinput, int64_t rows, int64_t inFeatures,
                                                int64_t outFeatures) {
  linearBackwardInput(doutput, weight, dinput, rows, inFeatures, outFeatures);
}

extern "C" void eert_linear_backward_weight_bf16(const uint16_t *doutput, const uint16_t *input,
                                                 float *dweight, int64_t rows, int64_t inFeatures,
                                                 int64_t outFeatures) {
  linearBackwardWeight(doutput, input, dweight, rows, inFeatures, outFeatures);
}

namespace {
template <typename Weight>
void rmsNormBackward(const float *input, const Weight *weightValues, const float *doutput,
                     float *dinput, float *dweight, int64_t rows, int64_t cols, float eps) {
  // A bf16 weight widened once.
  std::vector<float> widened;
  const float *weight;
  if constexpr (std::is_same_v<Weight, float>) {
    weight = weightValues;
  } else {
    widened.resize(cols);
    for (int64_t c = 0; c < cols; ++c)
      widened[c] = eert::value(weightValues[c]);
    weight = widened.data();
  }
  // Weight gradients of fixed row blocks, combined in block order: the same
  // bits for any thread count.
  constexpr int64_t block = 64;
  int64_t blocks = (rows + block - 1) / block;
  std::vector<double> partial(blocks * cols, 0.0);
#pragma omp parallel for
  for (int64_t blk = 0; blk < blocks; ++blk) {
    double *local = partial.data() + blk * cols;
    for (int64_t r = blk * block; r < std::min(rows, (blk + 1) * block); ++r) {
      const float *x = input + r * cols, *dy = doutput + r * cols;
      double sumSquares = 0.0, dot = 0.0;
      for (int64_t c = 0; c < cols; ++c) {
        sumSquares += static_cast<double>(x[c]) * x[c];
        dot += static_cast<double>(dy[c]) * weight[c] * x[c];
      }
      double inv = 1.0 / std::sqrt(sumSquares / cols + eps);
      double correction = inv * inv * inv * dot / cols;
      for (int64_t c = 0; c < cols; ++c) {
        dinput[r * cols + c] = static_cast<float>(inv * dy[c] * weight[c] - correction * x[c]);
        local[c] += static_cast<double>(dy[c]) * x[c] * inv;
      }
    }
  }
  for (int64_t c = 0; c < cols; ++c) {
    double sum = 0.0;
    for (int64_t blk = 0; blk < blocks; ++blk)
      sum += partial[blk * cols + c];
    dweight[c] = static_cast<float>(sum);
  }
}
} // namespace

extern "C" void eert_rms_norm_backward(const float *input, const float *weight,
                                       const float *doutput, float *dinput, float *dweight,
                                       int64_t rows, int64_t cols, float eps) {
  rmsNormBackward(input, weight, doutput, dinput, dweight, rows, cols, eps);
}

extern "C" void eert_rms_norm_backward_bf16(const float *input, const uint16_t *weight,
                                            const float *doutput, float *dinput, float *dweight,
                                            int64_t rows, int64_t cols, float eps) {
  rmsNormBackward(input, weight, doutput, dinput, dweight, rows, cols, eps);
}

extern "C" void eert_rotary_backward(const float *doutput, const int32_t *positions,
                                     float *dinput, int64_t tokens, int64_t heads,
                                     int64_t headDim, float theta) {
  int64_t half = headDim / 2;
  const float *frequencies = eert::rotaryFrequencies(theta, headDim);
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      // The forward angle, computed as there; the transpose of a rotation is
      // the rotation by the opposite angle.
      float angle = static_cast<float>(positions[t]) * frequencies[i];
      float cosA = std::cos(angle), sinA = std::sin(angle);
      for (int64_t h = 0; h < heads; ++h) {
        int64_t base = (t * heads + h) * headDim;
        float d1 = doutput[base + i], d2 = doutput[base + i + half];
        dinput[base + i] = d1 * cosA + d2 * sinA;
        dinput[base + i + half] = d2 * cosA - d1 * sinA;
      }
    }
  }
}

// Per (sequence, KV head), for each query head of its group: recompute
// P = causal_softmax(Q K^T / sqrt(d)); dV += P^T dO; dP = dO V^T;
// dS = P * (dP - rowsum(P * dP)) / sqrt(d); dQ = dS K; dK += dS^T Q. The
// products are GEMMs over strided head slices; dK and dV of a group are
// accumulated by one task, so the result does not depend on the threads.
extern "C" void eert_attention_backward(const float *query, const float *key, const float *value,
                                        const float *doutput, float *dquery, float *dkey,
                                        float *dvalue, int64_t batch, int64_t seq, int64_t heads,
                                        int64_t kvHeads, int64_t headDim) {
  int64_t group = heads / kvHeads;
  int64_t qStride = heads * headDim, kvStride = kvHeads * headDim;
  float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim)));
#pragma omp parallel
  {
    std::vector<float> probs(seq * seq), dprobs(seq * seq);
#pragma omp for collapse(2)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t g = 0; g < kvHeads; ++g) {
        const float *k = key + b * seq * kvStride + g * headDim;
        const float *v = value + b * seq * kvStride + g * headDim;
        float *dk = dkey + b * seq * kvStride + g * headDim;
        float *dv = dvalue + b * seq * kvStride + g * headDim;
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          const float *q = query + b * seq * qStride + h * headDim;
          const float *dout = doutput + b * seq * qStride + h * headDim;
          float *dq = dquery + b * seq * qStride + h * headDim;
          float beta = h == g * group ? 0.0f : 1.0f; // the group's first head initialises dK, dV
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq, seq, headDim, scale, q,
                      qStride, k, kvStride, 0.0f, probs.data(), seq);
          eert::causalSoftmax(probs.data(), seq);
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, seq, headDim, seq, 1.0f,
                      probs.data(), seq, dout, qStride, beta, dv, kvStride);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq, seq, headDim, 1.0f, dout,
                      qStride, v, kvStride, 0.0f, dprobs.data(), seq);
          for (int64_t s = 0; s < seq; ++s) {
            const float *p = probs.data() + s * seq;
            float *dp = dprobs.data() + s * seq;
            double weighted = 0.0;
            for (int64_t j = 0; j <= s; ++j)
              weighted += static_cast<double>(p[j]) * dp[j];
            for (int64_t j = 0; j < seq; ++j)
              dp[j] = j <= s ? p[j] * (dp[j] - static_cast<float>(weighted)) * scale : 0.0f;
          }
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, seq, headDim, seq, 1.0f,
                      dprobs.data(), seq, k, kvStride, 0.0f, dq, qStride);
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, seq, headDim, seq, 1.0f,
                      dprobs.data(), seq, q, qStride, beta, dk, kvStride);
        }
      }
  }
}

extern "C" void eert_swiglu_backward(const float *gate, const float *up, const float *doutput,
                                     float *dgate, float *dup, int64_t n) {
  // The forward's sigmoid, 16 values at a time.
  int64_t blocks = (n + 15) / 16;
#pragma omp parallel for
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t i = 16 * b, lanes = std::min<int64_t>(16, n - i);
    eert::Floats16 g, u, dy;
    eert::loadFloats(g, gate + i, lanes);
    eert::loadFloats(u, up + i, lanes);
    eert::loadFloats(dy, doutput + i, lanes);
    eert::Floats16 sigmoid = g;
    eert::vectorSigmoid(sigmoid);
    eert::Floats16 dg = dy * u * sigmoid * (1.0f + g * (1.0f - sigmoid)), du = dy * g * sigmoid;
    std::memcpy(dgate + i, &dg, lanes * sizeof(float));
    std::memcpy(dup + i, &du, lanes * sizeof(float));
  }
}

extern "C" int32_t eert_embedding_backward(const int32_t *ids, const float *doutput,
                                           float *dtable, int64_t tokens, int64_t vocab,
                                           int64_t hidden) {
  for (int64_t t = 0; t < tokens; ++t)
    if (ids[t] < 0 || ids[t] >= vocab)
      return eert::fail("token id " + std::to_string(ids[t]) + " at position " +
                        std::to_string(t) + " is outside the vocabulary [0, " +
                        std::to_string(vocab) + ")");
  std::memset(dtable, 0, sizeof(float) * vocab * hidden);
  // Columns split over threads: each thread owns a slice of every row.
#pragma omp parallel for
  for (int64_t c = 0; c < hidden; ++c)
    for (int64_t t = 0; t < tokens; ++t)
      dtable[static_cast<int64_t>(ids[t]) * hidden + c] += doutput[t * hidden + c];
  return 0;
}

extern "C" int32_t eert_cross_entropy_backward(const float *logits, const int32_t *labels,
                                               float *dlogits, int64_t tokens, int64_t vocab,
                                               float temperature, float dloss) {
  for (int64_t t = 0; t < tokens; ++t)
    if (labels[t] < 0 || labels[t] >= vocab)
      return eert::fail("label " + std::to_string(labels[t]) + " at position " +
                        std::to_string(t) + " is outside the vocabulary [0, " +
                        std::to_string(vocab) + ")");
  double invTemperature = 1.0 / temperature;
  double factor = static_cast<double>(dloss) * invTemperature / static_cast<double>(tokens);
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    const float *row = logits + t * vocab;
    float *out = dlogits + t * vocab;
    float lse = static_cast<float>(eert::logSumExp(row, vocab, invTemperature));
    float scale = static_cast<float>(invTemperature), weight = static_cast<float>(factor);
    eert::expScaled(row, out, vocab, scale, lse);
    for (int64_t v = 0; v < vocab; ++v)
      out[v] *= weight;
    out[labels[t]] -= static_cast<float>(factor);
  }
  return 0;
}
