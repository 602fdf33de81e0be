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

#include "cpu/SamplingRules.h"
#include "eert/eert.h"

#include <algorithm>
#include <chrono>
#include <map>

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

bool isSampling(const GenerationRequest &request) {
  return !(request.temperature <= 0.0f || request.topK == 1);
}

/// Where exit `index` reads: its segment and its slot among that segment's exit values.
std::pair<size_t, size_t> exitSlot(const InferencePlan &plan, int64_t index) {
  size_t segment = static_cast<size_t>(plan.exits.at(index).segment);
  const std::vector<int64_t> &exits = plan.segments[segment].exits;
  return {segment, static_cast<size_t>(std::find(exits.begin(), exits.end(), index) - exits.begin())};
}

/// Records a token of `s`; false when its sequence is to end here (onToken).
bool emit(Engine &g, SpeculativeSequence &s, int32_t token, const float *logits, bool drafted) {
  TokenRecord record;
  record.token = token;
  record.layers = g.plan.layers;
  record.confidence = sampling::confidence(logits, g.vocab);
  record.logprob = static_cast<float>(logits[token] - logSumExp(logits, g.vocab, 1.0));
  record.drafted = drafted;
  record.top = topLogprobs(logits, g.vocab, s.request->topLogprobs);
  s.out->push_back(record);
  s.next = token;
  --s.remaining;
  if (keepGoing(*s.request, s.index, record))
    return true;
  s.remaining = 0;
  return false;
}

/// One round for `live`, sequences that share a draft exit.
void roundOfOneExit(Engine &g, const std::vector<SpeculativeSequence *> &live) {
  const InferencePlan &plan = g.plan;
  const InferencePlan::Exit &draft = plan.exits.at(live.front()->request->draftExit);
  auto [draftSegment, draftSlot] = exitSlot(plan, draft.index);
  const int64_t vocab = g.vocab, hidden = g.hidden;
  int64_t steps = 0;
  for (SpeculativeSequence *s : live) {
    // k drafts give at most k + 1 tokens.
    s->drafts = std::min(s->draftLength, s->remaining - 1);
    s->drafted.clear();
    s->draftProbs.clear();
    s->states.clear();
    steps = std::max(steps, s->drafts + 1);
  }

  // Drafting: step j feeds x (j = 0) or d_j through the layers up to the
  // draft exit; its head proposes d_{j+1} while j < k.
  for (int64_t j = 0; j < steps; ++j) {
    std::vector<SpeculativeSequence *> step;
    std::vector<int32_t> ids;
    TokenBatch batch;
    for (SpeculativeSequence *s : live)
      if (j <= s->drafts) {
        ids.push_back(j == 0 ? s->next : s->drafted[j - 1]);
        batch.positions.push_back(static_cast<int32_t>(s->position + j));
        batch.rows.push_back(s->row);
        step.push_back(s);
      }
    BackendRows exitInput;
    for (size_t seg = 0; seg <= draftSegment; ++seg) {
      auto exitInputs = g.runSegment(seg, batch, &ids);
      if (seg == draftSegment)
        exitInput = std::move(exitInputs[draftSlot]);
    }
    std::vector<size_t> heads, fills;
    bool sampled = false;
    for (size_t i = 0; i < step.size(); ++i) {
      step[i]->states.append(batch.hidden.data() + i * hidden, 1, hidden);
      (j < step[i]->drafts ? heads : fills).push_back(i);
    }
    if (draft.kvEntry && !fills.empty()) {
      TokenBatch fill = g.select(batch, fills, &exitInput);
      g.call(*draft.kvEntry, fill, draft.caches);
    }
    if (heads.empty())
      continue;
    // The exit's compiled choice drafts (threshold 0: always taken).
    TokenBatch proposing = g.select(batch, heads, &exitInput);
    HeadChoices choices;
    for (size_t i : heads) {
      choices.add(0.0, *step[i]->request, step[i]->rng);
      sampled |= isSampling(*step[i]->request);
    }
    // Sampled drafts keep their distributions: the head's logits come back.
    HeadOutputs outputs = g.callHead(*draft.entry, proposing, choices, draft.caches, sampled);
    for (size_t h = 0; h < heads.size(); ++h) {
      SpeculativeSequence &s = *step[heads[h]];
      const GenerationRequest &r = *s.request;
      s.drafted.push_back(outputs.token[h]);
      s.rng = outputs.nextState[h];
      if (isSampling(r)) {
        s.draftProbs.resize(s.draftProbs.size() + vocab);
        sampling::distribution(outputs.logits + h * vocab, vocab, r.temperature, r.topK, r.topP,
                                   s.draftProbs.data() + s.draftProbs.size() - vocab);
      }
    }
  }

  // Verification: the layers after the exit and the final head over
  // x, d_1..d_k of every live sequence, in one call.
  TokenBatch verify;
  for (SpeculativeSequence *s : live) {
    verify.hidden.append(s->states);
    for (int64_t j = 0; j <= s->drafts; ++j) {
      verify.positions.push_back(static_cast<int32_t>(s->position + j));
      verify.rows.push_back(s->row);
    }
  }
  for (size_t seg = draftSegment + 1; seg < plan.segments.size(); ++seg)
    g.runSegment(seg, verify);
  // Greedy choices: the arg-max at every position (sampling draws below).
  HeadChoices greedy;
  for (size_t t = 0; t < verify.size(); ++t)
    greedy.addGreedy();
  // Acceptance reads every position's logits on the host.
  HeadOutputs full = g.callHead(*plan.finalHead, verify, greedy, {}, true);
  const float *logits = full.logits;
  std::vector<float> fullProbs;
  size_t offset = 0;
  for (SpeculativeSequence *s : live) {
    const GenerationRequest &r = *s->request;
    bool sampling = isSampling(r);
    fullProbs.resize(sampling ? vocab : 0);
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
        sampling::distribution(position, vocab, r.temperature, r.topK, r.topP,
                                   fullProbs.data());
        replacement = sampling::speculativeAccept(s->draftProbs.data() + j * vocab, fullProbs.data(),
                                              proposed, vocab, &s->rng);
      }
      corrected = replacement >= 0;
      accepted += !corrected;
      alive = emit(g, *s, corrected ? replacement : proposed, position, !corrected);
    }
    if (!corrected && alive) {
      const float *position = logits + (offset + s->drafts) * vocab;
      int32_t next = sampling ? sampling::sample(position, vocab, r.temperature, r.topK, r.topP, &s->rng)
                              : full.token[offset + s->drafts];
      emit(g, *s, next, position, false);
    }
    offset += s->drafts + 1;
    // The caches keep x and the accepted drafts; the rest is rolled back.
    int64_t kept = accepted + 1;
    g.caches->erase(s->row, s->position + kept, s->position + s->drafts + 1);
    s->position += static_cast<int32_t>(kept);
    g.lengths[s->row] = s->position;
    s->stats->draftedTokens += s->drafts;
    s->stats->acceptedTokens += accepted;
    ++s->stats->verifyPasses;
    if (r.draftTokens == 0)
      s->draftLength = nextDraftLength(s->draftLength, s->drafts, accepted);
  }
}

} // namespace

void speculativePrefill(Engine &g, const std::vector<SpeculativeSequence *> &sequences,
                        const std::vector<const std::vector<int32_t> *> &prompts) {
  if (sequences.empty())
    return;
  const InferencePlan &plan = g.plan;
  const InferencePlan::Exit &draft = plan.exits.at(sequences.front()->request->draftExit);
  auto [draftSegment, draftSlot] = exitSlot(plan, draft.index);
  // The prompts at full depth; the final head gives every first token. A
  // block draft exit's cache gets the prompt's entries too.
  std::vector<int32_t> ids;
  TokenBatch batch;
  std::vector<size_t> last;
  for (size_t i = 0; i < sequences.size(); ++i) {
    SpeculativeSequence &s = *sequences[i];
    g.lengths[s.row] = 0;
    for (int32_t id : *prompts[i]) {
      ids.push_back(id);
      batch.positions.push_back(static_cast<int32_t>(g.lengths[s.row]++));
      batch.rows.push_back(s.row);
    }
    last.push_back(ids.size() - 1);
  }
  for (size_t seg = 0; seg < plan.segments.size(); ++seg) {
    auto exitInputs = g.runSegment(seg, batch, &ids);
    if (draft.kvEntry && seg == draftSegment) {
      TokenBatch fill{std::move(exitInputs[draftSlot]), batch.positions, batch.rows};
      g.call(*draft.kvEntry, fill, draft.caches);
    }
  }
  std::vector<uint64_t *> rngs;
  std::vector<const GenerationRequest *> requests;
  for (SpeculativeSequence *s : sequences) {
    rngs.push_back(&s->rng);
    requests.push_back(s->request);
  }
  std::vector<TokenRecord> first = g.finalTokens(batch, last, rngs, requests);
  for (size_t i = 0; i < sequences.size(); ++i) {
    SpeculativeSequence &s = *sequences[i];
    s.position = static_cast<int32_t>(g.lengths[s.row]);
    s.remaining = s.request->maxNewTokens - 1;
    s.next = first[i].token;
    s.draftLength = s.request->draftTokens > 0 ? s.request->draftTokens : kInitialDraftTokens;
    s.out->push_back(first[i]);
    if (!keepGoing(*s.request, s.index, first[i]))
      s.remaining = 0;
  }
}

void speculativeRound(Engine &g, const std::vector<SpeculativeSequence *> &sequences) {
  // Sequences drafting from different exits run different layers: a round each.
  std::map<int64_t, std::vector<SpeculativeSequence *>> byExit;
  for (SpeculativeSequence *s : sequences)
    if (s->remaining > 0)
      byExit[s->request->draftExit].push_back(s);
  for (auto &[exit, live] : byExit)
    roundOfOneExit(g, live);
}

GenerationResult generateSpeculative(Engine &g, const GenerationRequest &request) {
  int64_t count = static_cast<int64_t>(request.prompts.size());
  GenerationResult result;
  result.tokens.assign(count, {});
  if (request.maxNewTokens == 0)
    return result;
  auto clock = [] { return std::chrono::steady_clock::now(); };
  auto start = clock();
  std::vector<SpeculativeSequence> all(count);
  std::vector<SpeculativeSequence *> sequences;
  std::vector<const std::vector<int32_t> *> prompts;
  std::vector<uint64_t> seeds = sequenceSeeds(request);
  for (int64_t i = 0; i < count; ++i) {
    SpeculativeSequence &s = all[i];
    s.row = static_cast<int32_t>(i);
    s.index = static_cast<size_t>(i);
    s.request = &request;
    s.out = &result.tokens[i];
    s.stats = &result;
    s.rng = seeds[i];
    sequences.push_back(&s);
    prompts.push_back(&request.prompts[i]);
  }
  speculativePrefill(g, sequences, prompts);
  result.prefillSeconds = std::chrono::duration<double>(clock() - start).count();
  while (std::any_of(all.begin(), all.end(), [](const auto &s) { return s.remaining > 0; }))
    speculativeRound(g, sequences);
  result.decodeSeconds =
      std::chrono::duration<double>(clock() - start).count() - result.prefillSeconds;
  result.decodeTokens = decodedTokens(result);
  return result;
}

} // namespace eert
