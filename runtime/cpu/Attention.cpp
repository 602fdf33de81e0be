// Attention.cpp - causal grouped-query attention, within a sequence and over a KV cache.
#include "cpu/Error.h"
#include "cpu/Softmax.h"
#include "eert/eert.h"

#include <cblas.h>

#include <algorithm>

#include <cmath>
#include <string>
#include <vector>

namespace {

/// One query head against `count` keys/values (rows `stride` floats apart):
/// out = softmax(q . k_j / sqrt(d)) v. Decode runs this once per head and
/// token, so its loops are written to vectorise (omp simd) in float.
void attendOne(const float *q, const float *keys, const float *values, int64_t count,
               int64_t stride, int64_t headDim, float *out, std::vector<float> &scores) {
  float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim)));
  scores.resize(count);
  float maximum = -INFINITY;
  for (int64_t j = 0; j < count; ++j) {
    const float *k = keys + j * stride;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < headDim; ++i)
      dot += q[i] * k[i];
    scores[j] = dot * scale;
    maximum = std::max(maximum, scores[j]);
  }
  float sum = 0.0f;
  for (int64_t j = 0; j < count; ++j)
    sum += scores[j] = std::exp(scores[j] - maximum);
  float inverse = 1.0f / sum;
  std::fill(out, out + headDim, 0.0f);
  for (int64_t j = 0; j < count; ++j) {
    const float *v = values + j * stride;
    float weight = scores[j] * inverse;
#pragma omp simd
    for (int64_t i = 0; i < headDim; ++i)
      out[i] += weight * v[i];
  }
}

} // namespace

// Per (sequence, head): P = causal_softmax(Q K^T / sqrt(d)), O = P V, with the
// two products as GEMMs over the strided head slices (OpenBLAS runs them on
// one thread inside the OpenMP loop).
extern "C" void eert_attention(const float *query, const float *key, const float *value,
                               float *output, int64_t batch, int64_t seq, int64_t heads,
                               int64_t kvHeads, int64_t headDim) {
  int64_t group = heads / kvHeads;
  int64_t qStride = heads * headDim, kvStride = kvHeads * headDim;
  float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim)));
#pragma omp parallel
  {
    std::vector<float> scores(seq * seq);
#pragma omp for collapse(2)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h) {
        const float *q = query + b * seq * qStride + h * headDim;
        const float *k = key + b * seq * kvStride + (h / group) * headDim;
        const float *v = value + b * seq * kvStride + (h / group) * headDim;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq, seq, headDim, scale, q, qStride,
                    k, kvStride, 0.0f, scores.data(), seq);
        eert::causalSoftmax(scores.data(), seq);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, seq, headDim, seq, 1.0f,
                    scores.data(), seq, v, kvStride, 0.0f,
                    output + b * seq * qStride + h * headDim, qStride);
      }
  }
}

extern "C" int32_t eert_attention_cached(const float *query, const float *key,
                                         const float *value, float *kCache, float *vCache,
                                         const int32_t *positions, const int32_t *rows,
                                         float *output, int64_t batch, int64_t seq,
                                         int64_t cacheRows, int64_t maxPositions, int64_t heads,
                                         int64_t kvHeads, int64_t headDim) {
  int64_t group = heads / kvHeads;
  int64_t qStride = heads * headDim, kvStride = kvHeads * headDim;
  int64_t tokens = batch * seq;
  auto rowOf = [&](int64_t token) -> int64_t { return rows ? rows[token] : token / seq; };
  for (int64_t token = 0; token < tokens; ++token) {
    if (positions[token] < 0 || positions[token] >= maxPositions)
      return eert::fail("position " + std::to_string(positions[token]) + " of token " +
                        std::to_string(token) + " is outside the KV cache [0, " +
                        std::to_string(maxPositions) + ")");
    int64_t row = rowOf(token);
    if (row < 0 || (cacheRows > 0 && row >= cacheRows))
      return eert::fail("cache row " + std::to_string(row) + " of token " +
                        std::to_string(token) + " is outside the KV cache's " +
                        std::to_string(cacheRows) + " rows");
  }
  // Every new key/value is written before any query reads, so tokens of one
  // sequence given together (a prompt, or recomputed entries) see each other.
  for (int64_t token = 0; token < tokens; ++token) {
    int64_t slot = (rowOf(token) * maxPositions + positions[token]) * kvStride;
    std::copy(key + token * kvStride, key + (token + 1) * kvStride, kCache + slot);
    std::copy(value + token * kvStride, value + (token + 1) * kvStride, vCache + slot);
  }
#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t token = 0; token < tokens; ++token)
      for (int64_t h = 0; h < heads; ++h) {
        int64_t base = rowOf(token) * maxPositions * kvStride + (h / group) * headDim;
        attendOne(query + token * qStride + h * headDim, kCache + base, vCache + base,
                  positions[token] + 1, kvStride, headDim,
                  output + token * qStride + h * headDim, scores);
      }
  }
  return 0;
}
