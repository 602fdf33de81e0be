// SamplingRules.h - next-token choice (greedy, temperature, top-k, top-p, seeded) and
// speculative sampling's acceptance rule on host memory: the cpu backend's
// kernels (Sampling.cpp) and the command line's host-side choices share them.
#ifndef EERT_CPU_SAMPLINGRULES_H
#define EERT_CPU_SAMPLINGRULES_H

#include "cpu/Softmax.h"
#include "cpu/SplitMix64.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace eert::sampling {

inline int32_t argmax(const float *logits, int64_t vocab) {
  return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
}

inline bool greedy(float temperature, int64_t topK) { return temperature <= 0.0f || topK == 1; }

/// The tokens a sampled choice draws from, by decreasing logit (ties: lower id
/// first), with their unnormalised probabilities and their sum.
struct Candidates {
  std::vector<int32_t> order;
  std::vector<double> probs;
  double sum = 0.0;
};

inline Candidates candidates(const float *logits, int64_t vocab, float temperature, int64_t topK,
                             float topP) {
  Candidates c;
  c.order.resize(vocab);
  std::iota(c.order.begin(), c.order.end(), 0);
  int64_t keep = topK > 0 ? std::min(topK, vocab) : vocab;
  auto byLogit = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::partial_sort(c.order.begin(), c.order.begin() + keep, c.order.end(), byLogit);
  c.order.resize(keep);
  c.probs.resize(keep);
  double maximum = logits[c.order[0]] / static_cast<double>(temperature);
  for (int64_t i = 0; i < keep; ++i)
    c.sum += c.probs[i] = std::exp(logits[c.order[i]] / static_cast<double>(temperature) - maximum);
  // Nucleus: the smallest prefix whose probability reaches top_p.
  if (topP < 1.0f) {
    double cumulative = 0.0;
    for (int64_t i = 0; i < keep; ++i) {
      cumulative += c.probs[i] / c.sum;
      if (cumulative >= topP) {
        c.order.resize(i + 1);
        c.probs.resize(i + 1);
        c.sum = std::accumulate(c.probs.begin(), c.probs.end(), 0.0);
        break;
      }
    }
  }
  return c;
}

/// eert_sample (abi.def) on host memory.
inline int32_t sample(const float *logits, int64_t vocab, float temperature, int64_t topK,
                      float topP, uint64_t *rngState) {
  if (greedy(temperature, topK))
    return argmax(logits, vocab);
  Candidates c = candidates(logits, vocab, temperature, topK, topP);
  double target = eert::uniform01(*rngState) * c.sum;
  for (size_t i = 0; i < c.order.size(); ++i) {
    target -= c.probs[i];
    if (target < 0.0)
      return c.order[i];
  }
  return c.order.back();
}

/// eert_sampling_distribution on host memory.
inline void distribution(const float *logits, int64_t vocab, float temperature, int64_t topK,
                         float topP, float *probs) {
  std::fill(probs, probs + vocab, 0.0f);
  if (greedy(temperature, topK)) {
    probs[argmax(logits, vocab)] = 1.0f;
    return;
  }
  Candidates c = candidates(logits, vocab, temperature, topK, topP);
  for (size_t i = 0; i < c.order.size(); ++i)
    probs[c.order[i]] = static_cast<float>(c.probs[i] / c.sum);
}

/// eert_speculative_accept on host memory.
inline int32_t speculativeAccept(const float *draftProbs, const float *fullProbs, int64_t token,
                                 int64_t vocab, uint64_t *rngState) {
  double q = draftProbs[token], p = fullProbs[token];
  if (p >= q || eert::uniform01(*rngState) * q < p)
    return -1;
  // Rejected: a token from the residual max(p - q, 0), renormalised.
  double sum = 0.0;
  for (int64_t i = 0; i < vocab; ++i)
    sum += std::max(0.0, double(fullProbs[i]) - double(draftProbs[i]));
  double target = eert::uniform01(*rngState) * sum;
  int32_t last = static_cast<int32_t>(token);
  for (int64_t i = 0; i < vocab; ++i) {
    double residual = std::max(0.0, double(fullProbs[i]) - double(draftProbs[i]));
    if (residual <= 0.0)
      continue;
    last = static_cast<int32_t>(i);
    target -= residual;
    if (target < 0.0)
      return last;
  }
  return last;
}

/// The maximum softmax probability of a row (eert_exit_confidence's value).
inline float confidence(const float *logits, int64_t vocab) {
  double maximum;
  double lse = eert::logSumExp(logits, vocab, 1.0, &maximum);
  return static_cast<float>(std::exp(maximum - lse));
}

} // namespace eert::sampling

#endif // EERT_CPU_SAMPLINGRULES_H
