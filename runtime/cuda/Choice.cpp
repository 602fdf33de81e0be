// Choice.cpp - token choices on the cuda backend: the exit decision's kernel, and sampling by the
// CPU's rules.
//
// Greedy choices stay on the GPU. A sampled token is drawn on the host from a
// copy of its row by SamplingRules.h, the cpu backend's rule, so that a seed
// gives the same tokens on either backend.
#include "cpu/Error.h"
#include "cpu/SamplingRules.h"
#include "cuda/Device.h"
#include "cuda/Entry.h"
#include "eert/eert.h"

#include <exception>
#include <string>
#include <vector>

using eert::cuda::Device;
using eert::cuda::guarded;
using eert::cuda::guardedStatus;

namespace {

/// A row of `vocab` values of device memory on the host.
std::vector<float> hostRow(const float *row, int64_t vocab) {
  std::vector<float> values(vocab);
  Device::get().copyToHost(values.data(), row, sizeof(float) * vocab);
  return values;
}

} // namespace

extern "C" {

int32_t eert_exit_decision(const float *logits, const float *confidence, const float *choice,
                           const uint64_t *state, int32_t *decision, int32_t *token, float *logprob,
                           uint64_t *nextState, int64_t tokens, int64_t vocab) {
  return guardedStatus("eert_exit_decision", [&] {
    if (tokens == 0)
      return;
    Device &device = Device::get();
    eert::cuda::launchGrid("eert_exit_decision_kernel", static_cast<unsigned>(tokens), 1, 1, 256, 0,
                           logits, confidence, choice, state, decision, token, logprob, nextState,
                           vocab, device.faultRecord());
    // The tokens to sample (marked -2), drawn here by the CPU's rule.
    std::vector<int32_t> chosen(tokens);
    device.copyToHost(chosen.data(), token, sizeof(int32_t) * tokens);
    std::vector<float> options;
    std::vector<uint64_t> states;
    for (int64_t t = 0; t < tokens; ++t) {
      if (chosen[t] != -2)
        continue;
      if (options.empty()) {
        options.resize(4 * tokens);
        states.resize(tokens);
        device.copyToHost(options.data(), choice, sizeof(float) * 4 * tokens);
        device.copyToHost(states.data(), state, sizeof(uint64_t) * tokens);
      }
      std::vector<float> row = hostRow(logits + t * vocab, vocab);
      uint64_t rng = states[t];
      int32_t drawn = eert::sampling::sample(row.data(), vocab, options[4 * t + 1],
                                             static_cast<int64_t>(options[4 * t + 2]),
                                             options[4 * t + 3], &rng);
      float lp = static_cast<float>(row[drawn] - eert::logSumExp(row.data(), vocab, 1.0));
      device.copyToDevice(token + t, &drawn, sizeof(drawn));
      device.copyToDevice(logprob + t, &lp, sizeof(lp));
      device.copyToDevice(nextState + t, &rng, sizeof(rng));
      device.synchronize(); // the copies read these locals
    }
  });
}

int32_t eert_sample(const float *logits, int64_t vocab, float temperature, int64_t topK, float topP,
                    uint64_t *rngState) {
  int32_t token = -1;
  if (guardedStatus("eert_sample", [&] {
        std::vector<float> row = hostRow(logits, vocab);
        token = eert::sampling::sample(row.data(), vocab, temperature, topK, topP, rngState);
      }))
    return -1;
  return token;
}

void eert_sampling_distribution(const float *logits, int64_t vocab, float temperature, int64_t topK,
                                float topP, float *probs) {
  guarded("eert_sampling_distribution", [&] {
    std::vector<float> row = hostRow(logits, vocab), distribution(vocab);
    eert::sampling::distribution(row.data(), vocab, temperature, topK, topP, distribution.data());
    Device &device = Device::get();
    device.copyToDevice(probs, distribution.data(), sizeof(float) * vocab);
    device.synchronize();
  });
}

int32_t eert_speculative_accept(const float *draftProbs, const float *fullProbs, int64_t token,
                                int64_t vocab, uint64_t *rngState) {
  int32_t kept = -1;
  // -1 also means "accepted": a failure must reach eert_backend_check.
  guarded("eert_speculative_accept", [&] {
    std::vector<float> draft = hostRow(draftProbs, vocab), full = hostRow(fullProbs, vocab);
    kept = eert::sampling::speculativeAccept(draft.data(), full.data(), token, vocab, rngState);
  });
  return kept;
}

} // extern "C"
