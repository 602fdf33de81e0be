// Attention.cpp - causal grouped-query attention, within a sequence and over a KV cache.
#include "cpu/Error.h"
#include "cpu/Simd.h"
#include "cpu/Softmax.h"
#include "eert/eert.h"

#include <cblas.h>

#include <algorithm>

#include <cmath>
#include <string>
#include <vector>

namespace {

/// The `group` query heads that share one KV head (rows `qStride` floats
/// apart) against `count` cached keys/values (rows `stride` floats apart):
/// out = softmax(q . k_j / sqrt(d)) v. Decode runs this for every KV head of
/// every token, so both products are GEMMs over the heads of the group (the
/// keys are read once for the group) and the exponentials are vectorised.
void attendGroup(const float *q, int64_t qStride, int64_t group, const float *keys,
                 const float *values, int64_t count, int64_t stride, int64_t headDim, float *out,
                 std::vector<float> &scores) {
  float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim)));
  scores.resize(group * count);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, group, count, headDim, scale, q, qStride,
              keys, stride, 0.0f, scores.data(), count);
  for (int64_t g = 0; g < group; ++g) {
    float *row = scores.data() + g * count;
    float inverse =
        static_cast<float>(1.0 / eert::expScaled(row, row, count, 1.0f, eert::rowMaximum(row, count)));
#pragma omp simd
    for (int64_t j = 0; j < count; ++j)
      row[j] *= inverse;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, group, headDim, count, 1.0f,
              scores.data(), count, values, stride, 0.0f, out, qStride);
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
  int64_t tokens = batch * seq, attended = 0;
  auto rowOf = [&](int64_t token) -> int64_t { return rows ? rows[token] : token / seq; };
  for (int64_t token = 0; token < tokens; ++token) {
    attended += positions[token] + 1;
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
  // Threads only for more than a decode step's few heads and positions.
#pragma omp parallel if (attended * qStride >= 8 * eert::minParallelElements)
  {
    std::vector<float> scores;
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t token = 0; token < tokens; ++token)
      for (int64_t kv = 0; kv < kvHeads; ++kv) {
        int64_t base = rowOf(token) * maxPositions * kvStride + kv * headDim;
        int64_t first = token * qStride + kv * group * headDim;
        attendGroup(query + first, headDim, group, kCache + base, vCache + base,
                    positions[token] + 1, kvStride, headDim, output + first, scores);
      }
  }
  return 0;
}
