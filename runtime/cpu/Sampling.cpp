// Sampling.cpp - next-token choice (greedy, temperature, top-k, top-p, seeded)
// and speculative sampling's acceptance rule, as the cpu backend's kernels
// (the rules themselves: SamplingRules.h).
#include "cpu/Error.h"
#include "cpu/SamplingRules.h"
#include "eert/eert.h"

#include <cmath>
#include <string>

extern "C" int32_t eert_sample(const float *logits, int64_t vocab, float temperature,
                               int64_t topK, float topP, uint64_t *rngState) {
  return eert::sampling::sample(logits, vocab, temperature, topK, topP, rngState);
}

extern "C" int32_t eert_exit_decision(const float *logits, const float *confidence,
                                      const float *choice, const uint64_t *state, int32_t *decision,
                                      int32_t *token, float *logprob, uint64_t *nextState,
                                      int64_t tokens, int64_t vocab) {
  for (int64_t t = 0; t < tokens; ++t) {
    const float *options = choice + 4 * t;
    float threshold = options[0], temperature = options[1], topP = options[3];
    // top_k arrives as a float: exactly representable up to 2^24.
    double topK = options[2];
    if (!(temperature >= 0.0f) || !(topK >= 0.0 && topK <= double(vocab)) ||
        topK != std::floor(topK) || !(topP > 0.0f && topP <= 1.0f))
      return eert::fail("eert_exit_decision: token " + std::to_string(t) +
                        " needs temperature >= 0, top_k in [0, vocab] and 0 < top_p <= 1");
    nextState[t] = state[t];
    decision[t] = confidence[t] >= threshold ? 1 : 0;
    token[t] = -1;
    logprob[t] = 0.0f;
    if (!decision[t])
      continue;
    const float *row = logits + t * vocab;
    token[t] = eert::sampling::sample(row, vocab, temperature, static_cast<int64_t>(topK), topP,
                           &nextState[t]);
    logprob[t] = static_cast<float>(row[token[t]] - eert::logSumExp(row, vocab, 1.0));
  }
  return 0;
}

extern "C" void eert_sampling_distribution(const float *logits, int64_t vocab, float temperature,
                                           int64_t topK, float topP, float *probs) {
  eert::sampling::distribution(logits, vocab, temperature, topK, topP, probs);
}

extern "C" int32_t eert_speculative_accept(const float *draftProbs, const float *fullProbs,
                                           int64_t token, int64_t vocab, uint64_t *rngState) {
  return eert::sampling::speculativeAccept(draftProbs, fullProbs, token, vocab, rngState);
}
