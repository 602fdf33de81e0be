// GenerationEngine.h - what both generation methods share: the plan's step
// functions called over batches of tokens (internal to the command line).
#ifndef EERT_CLI_GENERATIONENGINE_H
#define EERT_CLI_GENERATIONENGINE_H

#include "cli/generate/Generation.h"

#include "cpu/Softmax.h"
#include "eert/eert.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <stdexcept>

namespace eert {

/// Tokens run together by one call: their hidden states [count, hidden] in
/// backend memory (none before the embedding, which takes ids), positions
/// and cache rows.
struct TokenBatch {
  BackendRows hidden;
  std::vector<int32_t> positions, rows;
  size_t size() const { return positions.size(); }
};

/// The inputs of a head's compiled token choice (ee.exit_decision), per
/// token: (threshold, temperature, top_k, top_p) and a random state.
struct HeadChoices {
  std::vector<float> options;
  std::vector<uint64_t> states;

  /// A token deciding at `threshold` (0: always, as at the final head) with
  /// `request`'s sampling options and `state`.
  void add(double threshold, const GenerationRequest &request, uint64_t state) {
    options.insert(options.end(), {static_cast<float>(threshold), request.temperature,
                                   static_cast<float>(request.topK), request.topP});
    states.push_back(state);
  }
  /// A token taking the arg-max (the state is not used).
  void addGreedy() {
    options.insert(options.end(), {0.0f, 0.0f, 0.0f, 1.0f});
    states.push_back(0);
  }
};

/// What a head's step function returns (host pointers, valid until the next
/// call): per token its logits (only when asked for: they stay in backend
/// memory otherwise, and this is null), confidence, decision, chosen token,
/// that token's log-probability and the random state after the choice.
struct HeadOutputs {
  const float *logits, *confidence;
  const int32_t *decision, *token;
  const float *logprob;
  const uint64_t *nextState;
};

/// What both methods need: the plan's step functions called over token batches.
struct Engine {
  const Manifest &manifest;
  InferencePlan plan;
  Runner runner;
  int64_t vocab, hidden, maxPositions;
  std::unique_ptr<KVCaches> caches;
  std::vector<int64_t> lengths; // tokens fed per sequence (cache row)
  GenerationRequest request;    // the latest one

  Engine(const Manifest &m, const Weights &weights)
      : manifest(m), plan(InferencePlan::fromManifest(m)), runner(m, weights),
        vocab(m.config.at("vocab_size").get<int64_t>()),
        hidden(m.config.at("hidden_size").get<int64_t>()),
        maxPositions(m.config.at("max_position_embeddings").get<int64_t>()) {}

  /// Runs `entry` (x, positions, rows, extra..., caches...) on `tokens`, x
  /// their hidden states (or, `ids` given, their ids); returns its outputs,
  /// those marked in `backendOutputs` left in backend memory.
  std::vector<void *> call(const Entry &entry, const TokenBatch &tokens,
                           const std::vector<std::string> &cacheNames,
                           std::vector<void *> extra = {}, const int32_t *ids = nullptr,
                           std::vector<bool> backendOutputs = {}) {
    const void *x = ids ? static_cast<const void *>(ids) : tokens.hidden.data();
    std::vector<void *> inputs{const_cast<void *>(x),
                               const_cast<int32_t *>(tokens.positions.data()),
                               const_cast<int32_t *>(tokens.rows.data())};
    inputs.insert(inputs.end(), extra.begin(), extra.end());
    caches->bind(entry, cacheNames, inputs);
    Runner::Placement placement{{ids == nullptr}, std::move(backendOutputs)};
    return runner.run(entry, 1, static_cast<int64_t>(tokens.size()), inputs, placement);
  }

  /// Runs a head (an exit's function or the final head) on `tokens`, each
  /// with its entry of `choices`; its logits come to the host if `logits`.
  HeadOutputs callHead(const Entry &entry, const TokenBatch &tokens, HeadChoices &choices,
                       const std::vector<std::string> &cacheNames = {}, bool logits = false) {
    std::vector<void *> out = call(entry, tokens, cacheNames,
                                   {choices.options.data(), choices.states.data()}, nullptr,
                                   {!logits});
    return {logits ? static_cast<const float *>(out[0]) : nullptr,
            static_cast<const float *>(out[1]),
            static_cast<const int32_t *>(out[2]),
            static_cast<const int32_t *>(out[3]),
            static_cast<const float *>(out[4]),
            static_cast<const uint64_t *>(out[5])};
  }

  /// The record of token j of a head's outputs (it decided), with `top`
  /// alternatives (default: the request's).
  TokenRecord headRecord(const HeadOutputs &out, size_t j, int64_t exit, int64_t layers,
                         std::optional<int64_t> top = std::nullopt) const {
    TokenRecord record;
    record.token = out.token[j];
    record.exit = exit;
    record.layers = layers;
    record.confidence = out.confidence[j];
    record.logprob = out.logprob[j];
    int64_t count = top.value_or(request.topLogprobs);
    if (count > 0) {
      if (!out.logits)
        throw std::logic_error("a token's top log-probabilities need its head's logits");
      record.top = topLogprobs(out.logits + j * vocab, vocab, count);
    }
    return record;
  }

  /// The rows `which` of `batch` (the hidden states of `from`, default
  /// batch's own, and the indices) as a new batch.
  TokenBatch select(const TokenBatch &batch, const std::vector<size_t> &which,
                    const BackendRows *from = nullptr) const {
    TokenBatch out;
    out.hidden = (from ? *from : batch.hidden).select(which);
    for (size_t i : which) {
      out.positions.push_back(batch.positions[i]);
      out.rows.push_back(batch.rows[i]);
    }
    return out;
  }

  /// Runs segment `s` for `batch` on its hidden states (segment 0: on `ids`):
  /// its output replaces batch.hidden; returns the values its exits read.
  /// Both stay in backend memory.
  std::vector<BackendRows> runSegment(size_t s, TokenBatch &batch,
                                      const std::vector<int32_t> *ids = nullptr) {
    const InferencePlan::Segment &segment = plan.segments[s];
    std::vector<void *> outputs =
        call(*segment.entry, batch, segment.caches, {}, s == 0 ? ids->data() : nullptr,
             std::vector<bool>(1 + segment.exits.size(), true));
    std::vector<BackendRows> exitInputs(segment.exits.size());
    for (size_t k = 0; k < segment.exits.size(); ++k)
      exitInputs[k].append(static_cast<const float *>(outputs[1 + k]), batch.size(), hidden);
    batch.hidden.clear();
    batch.hidden.append(static_cast<const float *>(outputs[0]), batch.size(), hidden);
    return exitInputs;
  }

  /// The full model's log-probability of every prompt token after the first,
  /// by a teacher-forced pass over the prompts (which writes their decoder
  /// layers' KV entries, as the generation's prefill does again); the final
  /// head runs over at most kScoreChunk positions at a time.
  std::vector<std::vector<PromptLogprob>> scorePrompts(const GenerationRequest &request) {
    constexpr size_t kScoreChunk = 256;
    std::vector<int32_t> ids;
    TokenBatch batch;
    for (size_t row = 0; row < request.prompts.size(); ++row)
      for (size_t i = 0; i < request.prompts[row].size(); ++i) {
        ids.push_back(request.prompts[row][i]);
        batch.positions.push_back(static_cast<int32_t>(i));
        batch.rows.push_back(static_cast<int32_t>(row));
      }
    for (size_t s = 0; s < plan.segments.size(); ++s)
      runSegment(s, batch, &ids);
    std::vector<std::vector<PromptLogprob>> scored(request.prompts.size());
    for (size_t first = 0; first < batch.size(); first += kScoreChunk) {
      std::vector<size_t> chunk;
      for (size_t t = first; t < std::min(batch.size(), first + kScoreChunk); ++t)
        chunk.push_back(t);
      TokenBatch heads = select(batch, chunk);
      HeadChoices greedy;
      for (size_t j = 0; j < chunk.size(); ++j)
        greedy.addGreedy();
      const float *logits = callHead(*plan.finalHead, heads, greedy, {}, true).logits;
      for (size_t j = 0; j < chunk.size(); ++j) {
        size_t t = chunk[j];
        // Position i's logits score token i + 1 of the same prompt.
        std::vector<PromptLogprob> &row = scored[batch.rows[t]];
        if (row.empty())
          row.push_back({std::nanf(""), {}});
        if (t + 1 < batch.size() && batch.rows[t + 1] == batch.rows[t]) {
          const float *l = logits + j * vocab;
          int32_t next = ids[t + 1];
          row.push_back({static_cast<float>(l[next] - logSumExp(l, vocab, 1.0)),
                         topLogprobs(l, vocab, request.topLogprobs)});
        }
      }
    }
    return scored;
  }

  /// The final head's tokens for the rows `which` of `batch` (full depth),
  /// each sampled with its own state `rngs[j]` (advanced) and the options of
  /// `requests[j]` (none given: the request's).
  std::vector<TokenRecord> finalTokens(const TokenBatch &batch, const std::vector<size_t> &which,
                                       const std::vector<uint64_t *> &rngs,
                                       const std::vector<const GenerationRequest *> &requests = {}) {
    std::vector<TokenRecord> records;
    if (which.empty())
      return records;
    auto options = [&](size_t j) -> const GenerationRequest & {
      return requests.empty() ? request : *requests[j];
    };
    TokenBatch heads = select(batch, which);
    HeadChoices choices;
    bool logits = false;
    for (size_t j = 0; j < which.size(); ++j) {
      choices.add(0.0, options(j), *rngs[j]);
      logits |= options(j).topLogprobs > 0;
    }
    HeadOutputs out = callHead(*plan.finalHead, heads, choices, {}, logits);
    for (size_t j = 0; j < which.size(); ++j) {
      records.push_back(headRecord(out, j, -1, plan.layers, options(j).topLogprobs));
      *rngs[j] = out.nextState[j];
    }
    return records;
  }
};

/// The tokens of `result` that decode steps made: all but each sequence's first.
inline int64_t decodedTokens(const GenerationResult &result) {
  int64_t count = 0;
  for (const auto &tokens : result.tokens)
    count += std::max<int64_t>(static_cast<int64_t>(tokens.size()) - 1, 0);
  return count;
}

/// A sequence of self-speculative decoding (Speculative.cpp) in cache row
/// `row`: sequence `index` of `request`, its tokens appended to `out` and its
/// drafts counted in `stats`.
struct SpeculativeSequence {
  int32_t row = 0;
  size_t index = 0;
  const GenerationRequest *request = nullptr;
  std::vector<TokenRecord> *out = nullptr;
  GenerationResult *stats = nullptr;
  uint64_t rng = 0;
  int32_t next = 0;      // the token to feed, not yet in the caches
  int32_t position = 0;  // its position
  int64_t remaining = 0; // tokens still to generate (0: ended)
  int64_t draftLength = 0;
  // The current round: k drafts d_1..d_k, their draft distributions (k x
  // vocab, when sampling) and the hidden states after the draft exit's
  // segment ((k + 1) x hidden).
  int64_t drafts = 0;
  std::vector<int32_t> drafted;
  std::vector<float> draftProbs;
  BackendRows states;
};

/// Runs the prompts of `sequences` (one each, a shared draft exit) at full
/// depth and gives each its first token.
void speculativePrefill(Engine &engine, const std::vector<SpeculativeSequence *> &sequences,
                        const std::vector<const std::vector<int32_t> *> &prompts);

/// One round (drafts, one verification pass, acceptance, rollback) for every
/// sequence of `sequences` still generating.
void speculativeRound(Engine &engine, const std::vector<SpeculativeSequence *> &sequences);

/// Self-speculative decoding of `request` (speculative) on `engine`, whose
/// caches are set up for the request's sequences.
GenerationResult generateSpeculative(Engine &engine, const GenerationRequest &request);

} // namespace eert

#endif // EERT_CLI_GENERATIONENGINE_H
