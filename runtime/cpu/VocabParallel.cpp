// VocabParallel.cpp - kernels over one tensor-parallel rank's block of the
// vocabulary (Megatron's vocab-parallel embedding and cross-entropy): rank r
// of the group holds ids [r * vocab, (r + 1) * vocab) for a local `vocab`.
#include "cpu/Error.h"
#include "cpu/FewRows.h"
#include "cpu/Softmax.h"
#include "eert/eert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

using eert::fail;

namespace {

/// The first id of this rank's block, after checking every id against the
/// whole vocabulary (vocab * group size).
int32_t shardStart(const int32_t *ids, int64_t tokens, int64_t vocab, int64_t group,
                   const char *what, int64_t &start) {
  int64_t parts = eert_comm_group_size(group);
  for (int64_t t = 0; t < tokens; ++t)
    if (ids[t] < 0 || ids[t] >= vocab * parts)
      return fail(std::string(what) + " " + std::to_string(ids[t]) + " at position " +
                  std::to_string(t) + " is outside the vocabulary [0, " +
                  std::to_string(vocab * parts) + ")");
  start = eert_comm_group_rank(group) * vocab;
  return 0;
}

/// Per token over the whole vocabulary: the maximum of logits / T and the
/// log of the sum of exp(logits / T - maximum) (collectives over `group`).
int32_t globalLogSumExp(const float *logits, int64_t tokens, int64_t vocab, double invTemperature,
                        int64_t group, std::vector<float> &maximum, std::vector<float> &logSum) {
  int64_t parts = eert_comm_group_size(group);
  std::vector<float> local(tokens), all(tokens * parts);
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    local[t] = static_cast<float>(eert::rowMaximum(logits + t * vocab, vocab) * invTemperature);
  }
  if (eert_comm_all_gather(local.data(), all.data(), tokens, group))
    return 1;
  maximum.assign(tokens, -INFINITY);
  for (int64_t r = 0; r < parts; ++r)
    for (int64_t t = 0; t < tokens; ++t)
      maximum[t] = std::max(maximum[t], all[r * tokens + t]);
  logSum.assign(tokens, 0.0f);
  float scale = static_cast<float>(invTemperature);
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    logSum[t] = static_cast<float>(
        eert::expScaled(logits + t * vocab, nullptr, vocab, scale, maximum[t]));
  }
  if (eert_comm_all_reduce(logSum.data(), tokens, group))
    return 1;
  for (float &s : logSum)
    s = std::log(s);
  return 0;
}

} // namespace

extern "C" int32_t eert_exit_confidence_parallel(const float *logits, float *confidence,
                                                 int64_t tokens, int64_t vocab, int64_t group) {
  // The largest probability is exp(max - max) / sum = 1 / sum.
  std::vector<float> maximum, logSum;
  if (globalLogSumExp(logits, tokens, vocab, 1.0, group, maximum, logSum))
    return 1;
  for (int64_t t = 0; t < tokens; ++t)
    confidence[t] = std::exp(-logSum[t]);
  return 0;
}

extern "C" int32_t eert_gather_columns(const float *input, float *output, int64_t rows,
                                       int64_t cols, int64_t group) {
  int64_t parts = eert_comm_group_size(group);
  std::vector<float> blocks(rows * cols * parts);
  if (eert_comm_all_gather(input, blocks.data(), rows * cols, group))
    return 1;
#pragma omp parallel for
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t r = 0; r < parts; ++r)
      std::copy_n(blocks.data() + (r * rows + t) * cols, cols, output + (t * parts + r) * cols);
  return 0;
}

namespace {
template <typename Table>
int32_t embeddingLookupParallel(const Table *table, const int32_t *ids, float *output,
                                int64_t tokens, int64_t vocab, int64_t hidden, int64_t group) {
  int64_t start = 0;
  if (shardStart(ids, tokens, vocab, group, "token id", start))
    return 1;
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    int64_t row = ids[t] - start;
    for (int64_t c = 0; c < hidden; ++c)
      output[t * hidden + c] = row >= 0 && row < vocab ? eert::value(table[row * hidden + c]) : 0.0f;
  }
  return 0;
}
} // namespace

extern "C" int32_t eert_embedding_lookup_parallel(const float *table, const int32_t *ids,
                                                  float *output, int64_t tokens, int64_t vocab,
                                                  int64_t hidden, int64_t group) {
  return embeddingLookupParallel(table, ids, output, tokens, vocab, hidden, group);
}

extern "C" int32_t eert_embedding_lookup_parallel_bf16(const uint16_t *table, const int32_t *ids,
                                                       float *output, int64_t tokens,
                                                       int64_t vocab, int64_t hidden,
                                                       int64_t group) {
  return embeddingLookupParallel(table, ids, output, tokens, vocab, hidden, group);
}

extern "C" int32_t eert_embedding_backward_parallel(const int32_t *ids, const float *doutput,
                                                    float *dtable, int64_t tokens, int64_t vocab,
                                                    int64_t hidden, int64_t group) {
  int64_t start = 0;
  if (shardStart(ids, tokens, vocab, group, "token id", start))
    return 1;
  std::memset(dtable, 0, sizeof(float) * vocab * hidden);
#pragma omp parallel for
  for (int64_t c = 0; c < hidden; ++c)
    for (int64_t t = 0; t < tokens; ++t) {
      int64_t row = ids[t] - start;
      if (row >= 0 && row < vocab)
        dtable[row * hidden + c] += doutput[t * hidden + c];
    }
  return 0;
}

extern "C" int32_t eert_cross_entropy_parallel(const float *logits, const int32_t *labels,
                                               float *loss, int64_t tokens, int64_t vocab,
                                               float temperature, int64_t group) {
  int64_t start = 0;
  if (shardStart(labels, tokens, vocab, group, "label", start))
    return 1;
  if (tokens == 0)
    return fail("cross-entropy over zero tokens");
  double invTemperature = 1.0 / temperature;
  std::vector<float> maximum, logSum, target(tokens, 0.0f);
  if (globalLogSumExp(logits, tokens, vocab, invTemperature, group, maximum, logSum))
    return 1;
  for (int64_t t = 0; t < tokens; ++t) {
    int64_t v = labels[t] - start;
    if (v >= 0 && v < vocab)
      target[t] = static_cast<float>(logits[t * vocab + v] * invTemperature);
  }
  if (eert_comm_all_reduce(target.data(), tokens, group))
    return 1;
  double total = 0.0;
  for (int64_t t = 0; t < tokens; ++t)
    total += static_cast<double>(maximum[t]) + logSum[t] - target[t];
  *loss = static_cast<float>(total / tokens);
  return 0;
}

extern "C" int32_t eert_cross_entropy_backward_parallel(const float *logits, const int32_t *labels,
                                                        float *dlogits, int64_t tokens,
                                                        int64_t vocab, float temperature,
                                                        float dloss, int64_t group) {
  int64_t start = 0;
  if (shardStart(labels, tokens, vocab, group, "label", start))
    return 1;
  double invTemperature = 1.0 / temperature;
  std::vector<float> maximum, logSum;
  if (globalLogSumExp(logits, tokens, vocab, invTemperature, group, maximum, logSum))
    return 1;
  float factor = static_cast<float>(static_cast<double>(dloss) * invTemperature / tokens);
  float scale = static_cast<float>(invTemperature);
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    float shift = maximum[t] + logSum[t];
    for (int64_t v = 0; v < vocab; ++v)
      dlogits[t * vocab + v] = factor * std::exp(logits[t * vocab + v] * scale - shift);
    int64_t v = labels[t] - start;
    if (v >= 0 && v < vocab)
      dlogits[t * vocab + v] -= factor;
  }
  return 0;
}
