// Speculative.cpp - self-speculative decoding: an exit drafts tokens, the layers after it verify them in one pass.
//
// A round, per sequence: the token to feed (x, not yet in the caches) and k
// drafts d_1..d_k run the layers up to the draft exit one position at a time
// (the exit's head proposes d_{j+1} from x or d_j); those layers' KV entries
// are the full model's, so they are kept. Then the layers after the exit and
// the final head run x, d_1..d_k in one call, giving the full model's
// prediction f_1..f_{k+1} at every position. The longest prefix of drafts the
// full model agrees with is accepted, plus one token of the full model's (the
// correction at the first rejection, or f_{k+1}); the KV entries of rejected
// positions are erased from every cache. Greedy: d_j is accepted when it equals
// arg-max f_j, so the output is full-depth greedy decoding. Sampling: d_j is
// drawn from the exit's distribution q and kept by speculative sampling's rule
// (eert_speculative_accept), so every token has the full model's distribution.
// The sequences of a batch draft in lock step and verify in one call.
#include "cli/generate/GenerationEngine.h"

#include "cpu/Softmax.h"
#include "eert/eert.h"

#include <algorithm>
#include <chrono>

namespace eert {

namespace {

/// The adaptive draft length starts at 2, grows by one while a round's drafts
/// are all accepted and shrinks by one at a rejection, within [1, 8]. Hugging
/// Face's assisted generation starts at 4 and grows by two: on the demo model
/// that settled at 4-6 drafts and ran 0.81-0.83x of full depth, where 1-2
/// drafts gave 1.03-1.05x (bench/README.md).
constexpr int64_t kInitialDraftTokens = 2, kMaxAdaptiveDraftTokens = 8;

int64_t nextDraftLength(int64_t current, int64_t drafted, int64_t accepted) {
  if (accepted == drafted)
    return std::min(current + 1, kMaxAdaptiveDraftTokens);
  return std::max<int64_t>(1, current - 1);
}

/// One sequence of a speculative generation, and its current round.
struct Sequence {
  int32_t row = 0;
  int32_t next = 0;      // the token to feed, not yet in the caches
  int32_t position = 0;  // its position
  int64_t remaining = 0; // tokens still to generate
  int64_t draftLength = 0;
  uint64_t rng = 0;
  int64_t drafts = 0;            // k, this round
  std::vector<int32_t> drafted;  // d_1..d_k
  std::vector<float> draftProbs; // k x vocab, when sampling
  std::vector<float> states;     // (k + 1) x hidden after the draft exit's segment
};

} // namespace

GenerationResult generateSpeculative(Engine &g, const GenerationRequest &request) {
  const InferencePlan &plan = g.plan;
  const InferencePlan::Exit &draft = plan.exits.at(request.draftExit);
  size_t draftSegment = static_cast<size_t>(draft.segment);
  const std::vector<int64_t> &segmentExits = plan.segments[draftSegment].exits;
  size_t draftSlot = std::find(segmentExits.begin(), segmentExits.end(), draft.index) -
                     segmentExits.begin();
  const int64_t vocab = g.vocab, hidden = g.hidden;
  const bool sampling = !(request.temperature <= 0.0f || request.topK == 1);
  int64_t sequences = static_cast<int64_t>(request.prompts.size());
  GenerationResult result;
  result.tokens.assign(sequences, {});
  if (request.maxNewTokens == 0)
    return result;
  auto clock = [] { return std::chrono::steady_clock::now(); };
  auto start = clock();

  std::vector<Sequence> all(sequences);
  std::vector<uint64_t> seeds = sequenceSeeds(request);
  // Records a token; false when its sequence is to end here (request.onToken).
  auto emit = [&](Sequence &s, int32_t token, const float *logits, bool drafted) {
    TokenRecord record;
    record.token = token;
    record.layers = plan.layers;
    eert_exit_confidence(logits, &record.confidence, 1, vocab);
    record.logprob = static_cast<float>(logits[token] - logSumExp(logits, vocab, 1.0));
    record.drafted = drafted;
    record.top = topLogprobs(logits, vocab, request.topLogprobs);
    result.tokens[s.row].push_back(record);
    s.next = token;
    --s.remaining;
    if (keepGoing(request, s.row, record))
      return true;
    s.remaining = 0;
    return false;
  };

  // The prompts at full depth; the final head gives every first token. A
  // block draft exit's cache gets the prompt's entries too.
  {
    std::vector<int32_t> ids;
    TokenBatch batch;
    std::vector<size_t> last;
    for (int64_t row = 0; row < sequences; ++row) {
      for (int32_t id : request.prompts[row]) {
        ids.push_back(id);
        batch.positions.push_back(static_cast<int32_t>(g.lengths[row]++));
        batch.rows.push_back(static_cast<int32_t>(row));
      }
      last.push_back(ids.size() - 1);
    }
    for (size_t s = 0; s < plan.segments.size(); ++s) {
      auto exitInputs = g.runSegment(
          s, s == 0 ? static_cast<const void *>(ids.data()) : batch.hidden.data(), batch);
      if (draft.kvEntry && s == draftSegment)
        g.call(*draft.kvEntry, exitInputs[draftSlot].data(), batch, draft.caches);
    }
    std::vector<uint64_t *> rngs;
    for (int64_t row = 0; row < sequences; ++row) {
      all[row].row = static_cast<int32_t>(row);
      all[row].rng = seeds[row];
      rngs.push_back(&all[row].rng);
    }
    std::vector<TokenRecord> first = g.finalTokens(batch, last, rngs);
    for (int64_t row = 0; row < sequences; ++row) {
      Sequence &s = all[row];
      s.position = static_cast<int32_t>(g.lengths[row]);
      s.remaining = request.maxNewTokens - 1;
      s.next = first[row].token;
      s.draftLength = request.draftTokens > 0 ? request.draftTokens : kInitialDraftTokens;
      result.tokens[row].push_back(first[row]);
      if (!keepGoing(request, row, first[row]))
        s.remaining = 0;
    }
  }
  result.prefillSeconds = std::chrono::duration<double>(clock() - start).count();

  std::vector<float> fullProbs(sampling ? vocab : 0);
  while (true) {
    std::vector<Sequence *> live;
    int64_t steps = 0;
    for (Sequence &s : all)
      if (s.remaining > 0) {
        // k drafts give at most k + 1 tokens.
        s.drafts = std::min(s.draftLength, s.remaining - 1);
        s.drafted.clear();
        s.draftProbs.clear();
        s.states.clear();
        steps = std::max(steps, s.drafts + 1);
        live.push_back(&s);
      }
    if (live.empty())
      break;

    // Drafting: step j feeds x (j = 0) or d_j through the layers up to the
    // draft exit; its head proposes d_{j+1} while j < k.
    for (int64_t j = 0; j < steps; ++j) {
      std::vector<Sequence *> step;
      std::vector<int32_t> ids;
      TokenBatch batch;
      for (Sequence *s : live)
        if (j <= s->drafts) {
          ids.push_back(j == 0 ? s->next : s->drafted[j - 1]);
          batch.positions.push_back(static_cast<int32_t>(s->position + j));
          batch.rows.push_back(s->row);
          step.push_back(s);
        }
      std::vector<float> exitInput;
      for (size_t seg = 0; seg <= draftSegment; ++seg) {
        auto exitInputs = g.runSegment(
            seg, seg == 0 ? static_cast<const void *>(ids.data()) : batch.hidden.data(), batch);
        if (seg == draftSegment)
          exitInput = std::move(exitInputs[draftSlot]);
      }
      std::vector<size_t> heads, fills;
      for (size_t i = 0; i < step.size(); ++i) {
        const float *state = batch.hidden.data() + i * hidden;
        step[i]->states.insert(step[i]->states.end(), state, state + hidden);
        (j < step[i]->drafts ? heads : fills).push_back(i);
      }
      if (draft.kvEntry && !fills.empty()) {
        TokenBatch fill = g.select(batch, fills, exitInput.data());
        g.call(*draft.kvEntry, fill.hidden.data(), fill, draft.caches);
      }
      if (heads.empty())
        continue;
      // The exit's compiled choice drafts (threshold 0: always taken).
      TokenBatch proposing = g.select(batch, heads, exitInput.data());
      HeadChoices choices;
      for (size_t i : heads)
        choices.add(0.0, request, step[i]->rng);
      HeadOutputs outputs =
          g.callHead(*draft.entry, proposing.hidden.data(), proposing, choices, draft.caches);
      for (size_t h = 0; h < heads.size(); ++h) {
        Sequence &s = *step[heads[h]];
        const float *row = outputs.logits + h * vocab;
        s.drafted.push_back(outputs.token[h]);
        s.rng = outputs.nextState[h];
        if (sampling) {
          s.draftProbs.resize(s.draftProbs.size() + vocab);
          eert_sampling_distribution(row, vocab, request.temperature, request.topK, request.topP,
                                     s.draftProbs.data() + s.draftProbs.size() - vocab);
        }
      }
    }

    // Verification: the layers after the exit and the final head over
    // x, d_1..d_k of every live sequence, in one call.
    TokenBatch verify;
    for (Sequence *s : live) {
      verify.hidden.insert(verify.hidden.end(), s->states.begin(), s->states.end());
      for (int64_t j = 0; j <= s->drafts; ++j) {
        verify.positions.push_back(static_cast<int32_t>(s->position + j));
        verify.rows.push_back(s->row);
      }
    }
    for (size_t seg = draftSegment + 1; seg < plan.segments.size(); ++seg)
      g.runSegment(seg, verify.hidden.data(), verify);
    // Greedy choices: the arg-max at every position (sampling draws below).
    HeadChoices greedy;
    for (size_t t = 0; t < verify.size(); ++t)
      greedy.addGreedy();
    HeadOutputs full = g.callHead(*plan.finalHead, verify.hidden.data(), verify, greedy);
    const float *logits = full.logits;
    size_t offset = 0;
    for (Sequence *s : live) {
      int64_t accepted = 0;
      bool corrected = false, alive = true;
      for (int64_t j = 0; j < s->drafts && !corrected && alive; ++j) {
        const float *position = logits + (offset + j) * vocab;
        int32_t proposed = s->drafted[j];
        int32_t replacement;
        if (!sampling) {
          int32_t best = full.token[offset + j];
          replacement = best == proposed ? -1 : best;
        } else {
          eert_sampling_distribution(position, vocab, request.temperature, request.topK,
                                     request.topP, fullProbs.data());
          replacement = eert_speculative_accept(s->draftProbs.data() + j * vocab, fullProbs.data(),
                                                proposed, vocab, &s->rng);
        }
        corrected = replacement >= 0;
        accepted += !corrected;
        alive = emit(*s, corrected ? replacement : proposed, position, !corrected);
      }
      if (!corrected && alive) {
        const float *position = logits + (offset + s->drafts) * vocab;
        int32_t next = sampling ? eert_sample(position, vocab, request.temperature, request.topK,
                                              request.topP, &s->rng)
                                : full.token[offset + s->drafts];
        emit(*s, next, position, false);
      }
      offset += s->drafts + 1;
      // The caches keep x and the accepted drafts; the rest is rolled back.
      int64_t kept = accepted + 1;
      g.caches->erase(s->row, s->position + kept, s->position + s->drafts + 1);
      s->position += static_cast<int32_t>(kept);
      g.lengths[s->row] = s->position;
      result.draftedTokens += s->drafts;
      result.acceptedTokens += accepted;
      ++result.verifyPasses;
      if (request.draftTokens == 0)
        s->draftLength = nextDraftLength(s->draftLength, s->drafts, accepted);
    }
  }
  result.decodeSeconds =
      std::chrono::duration<double>(clock() - start).count() - result.prefillSeconds;
  for (const auto &tokens : result.tokens)
    result.decodeTokens += static_cast<int64_t>(tokens.size()) - 1;
  return result;
}

} // namespace eert
