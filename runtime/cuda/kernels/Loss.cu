// Loss.cu - cross-entropy (mean over tokens) and its gradient, exit confidence, deterministic sums.
#include "Common.cuh"

using eert::cuda::Fault;
using eert::cuda::FaultKind;
using eert::cuda::FaultSource;

namespace {

/// The row's maximum and sum of exp(invT (x - max)) over the block.
struct RowStats {
  float maximum, sum;
};

__device__ RowStats rowStats(const float *row, int64_t vocab, float invTemperature,
                             float *scratch) {
  float maximum = -INFINITY;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x)
    maximum = fmaxf(maximum, row[v]);
  maximum = blockMax(maximum, scratch) * invTemperature;
  float sum = 0.0f;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x)
    sum += expf(row[v] * invTemperature - maximum);
  return {maximum, blockSum(sum, scratch)};
}

} // namespace

extern "C" {

/// One block per token: terms[t] = logsumexp(logits[t] / T) - logits[t, label] / T.
/// A label outside [0, vocab) is a fault and its term 0.
__global__ void eert_cross_entropy_terms_kernel(const float *logits, const int32_t *labels,
                                                double *terms, int64_t vocab, float temperature,
                                                Fault *fault) {
  __shared__ float scratch[32];
  int64_t t = blockIdx.x;
  const float *row = logits + t * vocab;
  float invTemperature = 1.0f / temperature;
  RowStats stats = rowStats(row, vocab, invTemperature, scratch);
  if (threadIdx.x == 0) {
    int64_t label = labels[t];
    if (label < 0 || label >= vocab) {
      recordFault(fault, FaultKind::Label, FaultSource::CrossEntropy, t, label, vocab);
      terms[t] = 0.0;
    } else {
      terms[t] = static_cast<double>(stats.maximum) + log(static_cast<double>(stats.sum)) -
                 static_cast<double>(row[label]) * invTemperature;
    }
  }
}

/// *out = sum(values[0, n)) * factor in one block, in double, in a fixed
/// order (each thread a fixed stride, then a fixed tree): the same bits every run.
__global__ void eert_sum_double_kernel(const double *values, int64_t n, double factor,
                                       float *out) {
  __shared__ double partial[1024];
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    sum += values[i];
  sum = blockSumInOrder(sum, partial);
  if (threadIdx.x == 0)
    *out = static_cast<float>(sum * factor);
}

/// One block per token: dlogits = dloss (softmax(logits / T) - onehot(label)) / (T tokens).
__global__ void eert_cross_entropy_backward_kernel(const float *logits, const int32_t *labels,
                                                   float *dlogits, int64_t tokens, int64_t vocab,
                                                   float temperature, float dloss,
                                                   Fault *fault) {
  __shared__ float scratch[32];
  int64_t t = blockIdx.x;
  const float *row = logits + t * vocab;
  float *out = dlogits + t * vocab;
  float invTemperature = 1.0f / temperature;
  RowStats stats = rowStats(row, vocab, invTemperature, scratch);
  float factor = static_cast<float>(static_cast<double>(dloss) * invTemperature / tokens);
  float shift = stats.maximum + logf(stats.sum);
  int64_t label = labels[t];
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x)
    out[v] = expf(row[v] * invTemperature - shift) * factor - (v == label ? factor : 0.0f);
  if (threadIdx.x == 0 && (label < 0 || label >= vocab))
    recordFault(fault, FaultKind::Label, FaultSource::CrossEntropyBackward, t, label, vocab);
}

/// One block per token: confidence[t] = the maximum softmax probability.
__global__ void eert_exit_confidence_kernel(const float *logits, float *confidence,
                                            int64_t vocab) {
  __shared__ float scratch[32];
  int64_t t = blockIdx.x;
  RowStats stats = rowStats(logits + t * vocab, vocab, 1.0f, scratch);
  if (threadIdx.x == 0)
    confidence[t] = 1.0f / stats.sum;
}

} // extern "C"

// The vocab-parallel forms (Megatron's): each rank of the TP group holds the
// logits of ids [first, first + vocab) of the whole vocabulary [0, total).
// The host gathers the ranks' maxima and sums the sums and label terms
// between these kernels (runtime/cuda/Parallel.cpp).
extern "C" {

/// One block per token: maxima[t] = max(this block of logits[t]) / T.
__global__ void eert_vocab_row_max_kernel(const float *logits, float *maxima, int64_t vocab,
                                          float invTemperature) {
  __shared__ float scratch[32];
  int64_t t = blockIdx.x;
  const float *row = logits + t * vocab;
  float maximum = -INFINITY;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x)
    maximum = fmaxf(maximum, row[v]);
  maximum = blockMax(maximum, scratch);
  if (threadIdx.x == 0)
    maxima[t] = maximum * invTemperature;
}

/// One block per token, with every rank's maxima gathered as [parts,
/// tokens]: maximum[t] = their maximum M, sums[t] = sum over this block of
/// exp(logits[t] / T - M), and (with labels) sums[tokens + t] = logits[t,
/// label - first] / T where this rank holds the label, else 0. A label
/// outside [0, total) is a fault of `source`.
__global__ void eert_vocab_row_sums_kernel(const float *logits, const int32_t *labels,
                                           const float *maxima, int64_t parts, int64_t tokens,
                                           float *maximum, float *sums, int64_t vocab,
                                           int64_t first, int64_t total, float invTemperature,
                                           Fault *fault, int32_t source) {
  __shared__ float scratch[32];
  int64_t t = blockIdx.x;
  const float *row = logits + t * vocab;
  float m = -INFINITY;
  for (int64_t r = 0; r < parts; ++r)
    m = fmaxf(m, maxima[r * tokens + t]);
  float sum = 0.0f;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x)
    sum += expf(row[v] * invTemperature - m);
  sum = blockSum(sum, scratch);
  if (threadIdx.x != 0)
    return;
  maximum[t] = m;
  sums[t] = sum;
  if (!labels)
    return;
  int64_t label = labels[t];
  if (label < 0 || label >= total)
    recordFault(fault, FaultKind::Label, static_cast<FaultSource>(source), t, label, total);
  int64_t local = label - first;
  sums[tokens + t] = local >= 0 && local < vocab ? row[local] * invTemperature : 0.0f;
}

/// After the sums over the group: terms[t] = M + log(sum) - label term.
__global__ void eert_vocab_terms_kernel(const float *maximum, const float *sums, double *terms,
                                        int64_t tokens) {
  EERT_GRID_LOOP(t, tokens) {
    terms[t] = static_cast<double>(maximum[t]) + log(static_cast<double>(sums[t])) -
               static_cast<double>(sums[tokens + t]);
  }
}

/// After the sums over the group: the largest probability, exp(M - M) / sum.
__global__ void eert_vocab_confidence_kernel(const float *sums, float *confidence,
                                             int64_t tokens) {
  EERT_GRID_LOOP(t, tokens) { confidence[t] = 1.0f / sums[t]; }
}

/// dlogits of this block: factor (exp(logits / T - M - log(sum)) - [v == label - first]).
__global__ void eert_vocab_cross_entropy_backward_kernel(const float *logits,
                                                         const int32_t *labels,
                                                         const float *maximum, const float *sums,
                                                         float *dlogits, int64_t tokens,
                                                         int64_t vocab, int64_t first,
                                                         float invTemperature, float factor) {
  EERT_GRID_LOOP(i, tokens * vocab) {
    int64_t t = i / vocab, v = i % vocab;
    float shift = maximum[t] + logf(sums[t]);
    dlogits[i] = factor * expf(logits[i] * invTemperature - shift) -
                 (labels[t] - first == v ? factor : 0.0f);
  }
}

} // extern "C"
