// Sampling.cpp - next-token choice: greedy, temperature, top-k, top-p, seeded.
#include "cpu/SplitMix64.h"
#include "eert/eert.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace {

int32_t argmax(const float *logits, int64_t vocab) {
  return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
}

} // namespace

extern "C" int32_t eert_sample(const float *logits, int64_t vocab, float temperature,
                               int64_t topK, float topP, uint64_t *rngState) {
  if (temperature <= 0.0f || topK == 1)
    return argmax(logits, vocab);
  // Candidates by decreasing logit (ties: lower id first, as a stable sort).
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  int64_t keep = topK > 0 ? std::min(topK, vocab) : vocab;
  auto byLogit = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + keep, order.end(), byLogit);
  order.resize(keep);

  std::vector<double> probs(keep);
  double maximum = logits[order[0]] / static_cast<double>(temperature), sum = 0.0;
  for (int64_t i = 0; i < keep; ++i)
    sum += probs[i] = std::exp(logits[order[i]] / static_cast<double>(temperature) - maximum);
  // Nucleus: the smallest prefix whose probability reaches top_p.
  if (topP < 1.0f) {
    double cumulative = 0.0;
    int64_t cut = keep;
    for (int64_t i = 0; i < keep; ++i) {
      cumulative += probs[i] / sum;
      if (cumulative >= topP) {
        cut = i + 1;
        break;
      }
    }
    sum = std::accumulate(probs.begin(), probs.begin() + cut, 0.0);
    keep = cut;
  }
  double target = eert::uniform01(*rngState) * sum;
  for (int64_t i = 0; i < keep; ++i) {
    target -= probs[i];
    if (target < 0.0)
      return order[i];
  }
  return order[keep - 1];
}
