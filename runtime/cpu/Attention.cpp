// Attention.cpp - causal grouped-query attention, within a sequence and over a KV cache.
#include "cpu/Error.h"
#include "cpu/Simd.h"
#include "cpu/Softmax.h"
#include "eert/eert.h"

#include <cblas.h>

#include <algorithm>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

/// Tokens of one cache row attended together: a decode step's token with the
/// recomputed entries that joined it, or a stretch of a prompt.
struct TokenBlock {
  int64_t row = 0, count = 0; // cache row; keys the latest token attends to
  std::vector<int64_t> tokens;
};
constexpr size_t maxBlockTokens = 32; // bounds the scores: tokens x group x count

/// A decode step's few (token, head) pairs: the two products as loops, since
/// OpenBLAS's call and packing cost more than the work there (one token's
/// attention over ~125 positions of the demo model: 5.3 -> 3.1 us per layer;
/// from 8 pairs the GEMMs are faster again).
constexpr int64_t maxLoopPairs = 4;

void attendByLoops(const TokenBlock &block, int64_t pairs, int64_t group, int64_t count,
                   int64_t headDim, int64_t kvStride, float scale, const int32_t *positions,
                   const float *queries, const float *keys, const float *values, float *scores,
                   float *out) {
  for (int64_t pair = 0; pair < pairs; ++pair) {
    const float *q = queries + pair * headDim;
    float *row = scores + pair * count, *o = out + pair * headDim;
    int64_t seen = positions[block.tokens[pair / group]] + 1;
    // Four positions at a time, each with its own sums: the chains of
    // dependent additions overlap.
    int64_t j = 0;
    for (; j + 4 <= seen; j += 4) {
      eert::Floats16 sums[4] = {}, a, b;
      for (int64_t d = 0; d < headDim; d += 16) {
        eert::loadFloats(a, q + d, headDim - d);
        for (int u = 0; u < 4; ++u) {
          eert::loadFloats(b, keys + (j + u) * kvStride + d, headDim - d);
          sums[u] += a * b;
        }
      }
      eert::Floats4 dots = eert::sumLanes4(sums[0], sums[1], sums[2], sums[3]);
      for (int u = 0; u < 4; ++u)
        row[j + u] = scale * dots[u];
    }
    for (; j < seen; ++j) {
      eert::Floats16 sum = {}, a, b;
      for (int64_t d = 0; d < headDim; d += 16) {
        eert::loadFloats(a, q + d, headDim - d);
        eert::loadFloats(b, keys + j * kvStride + d, headDim - d);
        sum += a * b;
      }
      row[j] = scale * eert::sumLanes(sum);
    }
    eert::prefixSoftmax(row, seen, count);
    // 16 output lanes at a time, summed in registers over the positions.
    for (int64_t d = 0; d < headDim; d += 16) {
      int64_t lanes = std::min<int64_t>(16, headDim - d);
      eert::Floats16 sums[4] = {}, v;
      int64_t p = 0;
      for (; p + 4 <= seen; p += 4)
        for (int u = 0; u < 4; ++u) {
          eert::loadFloats(v, values + (p + u) * kvStride + d, lanes);
          sums[u] += row[p + u] * v;
        }
      for (; p < seen; ++p) {
        eert::loadFloats(v, values + p * kvStride + d, lanes);
        sums[0] += row[p] * v;
      }
      eert::Floats16 sum = (sums[0] + sums[1]) + (sums[2] + sums[3]);
      std::memcpy(o + d, &sum, lanes * sizeof(float));
    }
  }
}

void attendByGemms(const TokenBlock &block, int64_t pairs, int64_t group, int64_t count,
                   int64_t headDim, int64_t kvStride, float scale, const int32_t *positions,
                   const float *queries, const float *keys, const float *values, float *scores,
                   float *out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, pairs, count, headDim, scale, queries,
              headDim, keys, kvStride, 0.0f, scores, count);
  for (int64_t pair = 0; pair < pairs; ++pair)
    eert::prefixSoftmax(scores + pair * count, positions[block.tokens[pair / group]] + 1, count);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, pairs, headDim, count, 1.0f, scores,
              count, values, kvStride, 0.0f, out, headDim);
}

/// The block's query heads that share KV head `kv` against its cached keys
/// and values: out = causal softmax(q . k_j / sqrt(d)) v. Both products run
/// over every (token, head) pair of the block at once (as loops for a decode
/// step's few, else as GEMMs with rows enough to run fast), so the keys are
/// read once for all of them; each token's softmax covers its own positions
/// only.
void attendBlock(const TokenBlock &block, int64_t kv, const float *query, const float *kCache,
                 const float *vCache, const int32_t *positions, float *output, int64_t group,
                 int64_t qStride, int64_t kvStride, int64_t maxPositions, int64_t headDim,
                 std::vector<float> &queries, std::vector<float> &scores, std::vector<float> &out) {
  int64_t pairs = static_cast<int64_t>(block.tokens.size()) * group, count = block.count;
  float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim)));
  queries.resize(pairs * headDim);
  scores.resize(pairs * count);
  out.resize(pairs * headDim);
  for (size_t i = 0; i < block.tokens.size(); ++i) {
    const float *q = query + block.tokens[i] * qStride + kv * group * headDim;
    std::copy(q, q + group * headDim, queries.data() + i * group * headDim);
  }
  const float *keys = kCache + block.row * maxPositions * kvStride + kv * headDim;
  const float *values = vCache + block.row * maxPositions * kvStride + kv * headDim;
  (pairs <= maxLoopPairs ? attendByLoops : attendByGemms)(
      block, pairs, group, count, headDim, kvStride, scale, positions, queries.data(), keys,
      values, scores.data(), out.data());
  for (size_t i = 0; i < block.tokens.size(); ++i)
    std::copy(out.data() + i * group * headDim, out.data() + (i + 1) * group * headDim,
              output + block.tokens[i] * qStride + kv * group * headDim);
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
  // Tokens grouped by cache row, in order, at most maxBlockTokens a block.
  std::vector<int64_t> order(tokens);
  for (int64_t token = 0; token < tokens; ++token)
    order[token] = token;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return rowOf(a) < rowOf(b); });
  std::vector<TokenBlock> blocks;
  for (int64_t token : order) {
    if (blocks.empty() || blocks.back().row != rowOf(token) ||
        blocks.back().tokens.size() == maxBlockTokens)
      blocks.push_back({rowOf(token), 0, {}});
    blocks.back().tokens.push_back(token);
    blocks.back().count = std::max<int64_t>(blocks.back().count, positions[token] + 1);
  }
  int64_t work = static_cast<int64_t>(blocks.size()) * kvHeads;
  auto attend = [&](int64_t item) {
    thread_local std::vector<float> queries, scores, out; // scratch, kept between calls
    attendBlock(blocks[item / kvHeads], item % kvHeads, query, kCache, vCache, positions, output,
                group, qStride, kvStride, maxPositions, headDim, queries, scores, out);
  };
  // Threads only for more than a decode step's few heads and positions (and
  // no OpenMP region at all below that: entering even a serial one costs).
  if (attended * qStride < 8 * eert::minParallelElements) {
    for (int64_t item = 0; item < work; ++item)
      attend(item);
    return 0;
  }
#pragma omp parallel for schedule(dynamic)
  for (int64_t item = 0; item < work; ++item)
    attend(item);
  return 0;
}
