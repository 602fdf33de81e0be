// Generation.cpp - the inference plan, KV caches and the KV-recomputation method.
#include "cli/generate/Generation.h"
#include "cli/generate/GenerationEngine.h"
#include "cli/model/MemoryBudget.h"

#include "cpu/Softmax.h"
#include "eert/eert.h"
#include "io/Safetensors.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>

using json = nlohmann::json;

namespace eert {

InferencePlan InferencePlan::fromManifest(const Manifest &manifest) {
  if (!manifest.inference.is_object())
    throw std::runtime_error("the binary has no early-exit inference plan (ee-generate-inference)");
  const json &plan = manifest.inference;
  auto entry = [&](const std::string &name) {
    const Entry *found = manifest.entry(name);
    if (!found)
      throw std::runtime_error("the inference plan names a missing entry point '" + name + "'");
    return found;
  };
  InferencePlan result;
  result.method = plan.at("method").get<std::string>();
  result.layers = plan.at("layers").get<int64_t>();
  result.stages = static_cast<int64_t>(plan.at("stages").size());
  for (const json &s : plan.at("segments")) {
    Segment segment;
    segment.entry = entry(s.at("function").get<std::string>());
    segment.beginLayer = s.at("begin_layer").get<int64_t>();
    segment.endLayer = s.at("end_layer").get<int64_t>();
    segment.stage = s.at("stage").get<int64_t>();
    segment.caches = s.at("caches").get<std::vector<std::string>>();
    segment.exits = s.at("exits").get<std::vector<int64_t>>();
    result.segments.push_back(std::move(segment));
  }
  for (const json &e : plan.at("exits")) {
    Exit exit;
    exit.index = e.at("exit").get<int64_t>();
    exit.layer = e.at("layer").get<int64_t>();
    exit.boundary = e.at("boundary").get<int64_t>();
    exit.entry = entry(e.at("function").get<std::string>());
    if (e.contains("kv_function"))
      exit.kvEntry = entry(e.at("kv_function").get<std::string>());
    exit.caches = e.at("caches").get<std::vector<std::string>>();
    result.exits.push_back(std::move(exit));
  }
  std::sort(result.exits.begin(), result.exits.end(),
            [](const Exit &a, const Exit &b) { return a.index < b.index; });
  for (size_t s = 0; s < result.segments.size(); ++s)
    for (int64_t index : result.segments[s].exits)
      result.exits.at(index).segment = static_cast<int64_t>(s);
  result.finalHead = entry(plan.at("final").get<std::string>());
  return result;
}

bool keepGoing(const GenerationRequest &request, size_t row, const TokenRecord &record) {
  if (!request.onToken)
    return true;
  return request.onToken(row, record) || eert_comm_size() > 1;
}

std::vector<uint64_t> sequenceSeeds(const GenerationRequest &request) {
  std::vector<uint64_t> seeds;
  for (size_t i = 0; i < request.prompts.size(); ++i)
    seeds.push_back(request.seed + i);
  return seeds;
}

std::optional<double> exitThreshold(const GenerationRequest &request, int64_t index) {
  if (!request.activeExits.empty() &&
      std::find(request.activeExits.begin(), request.activeExits.end(), index) ==
          request.activeExits.end())
    return std::nullopt;
  if (auto it = request.exitThresholds.find(index); it != request.exitThresholds.end())
    return it->second;
  return request.threshold;
}

void validateRequest(const GenerationRequest &request, const InferencePlan &plan, int64_t vocab,
                     int64_t maxPositions) {
  auto fail = [](const std::string &message) { throw std::invalid_argument(message); };
  if (request.prompts.empty())
    fail("no prompts");
  if (request.maxNewTokens < 0)
    fail("the number of tokens to generate must be non-negative");
  for (size_t p = 0; p < request.prompts.size(); ++p) {
    const std::vector<int32_t> &prompt = request.prompts[p];
    std::string which = request.prompts.size() > 1 ? "prompt " + std::to_string(p) : "the prompt";
    if (prompt.empty())
      fail(which + " is empty");
    for (int32_t id : prompt)
      if (id < 0 || id >= vocab)
        fail(which + " has token " + std::to_string(id) + " outside the vocabulary of " +
             std::to_string(vocab));
    if (static_cast<int64_t>(prompt.size()) + request.maxNewTokens > maxPositions)
      fail(which + " (" + std::to_string(prompt.size()) + " tokens) plus " +
           std::to_string(request.maxNewTokens) + " new tokens exceed the context of " +
           std::to_string(maxPositions) + " positions (max_position_embeddings)");
  }
  auto checkThreshold = [&](double value, const std::string &what) {
    if (!(value >= 0.0) || !std::isfinite(value))
      fail(what + " must be a number >= 0, got " + std::to_string(value));
  };
  if (request.threshold)
    checkThreshold(*request.threshold, "the early-exit threshold");
  int64_t exits = static_cast<int64_t>(plan.exits.size());
  for (auto [index, value] : request.exitThresholds) {
    if (index < 0 || index >= exits)
      fail("exit " + std::to_string(index) + " does not exist (the model has " +
           std::to_string(exits) + " exits)");
    checkThreshold(value, "the threshold of exit " + std::to_string(index));
  }
  for (int64_t index : request.activeExits)
    if (index < 0 || index >= exits)
      fail("exit " + std::to_string(index) + " does not exist (the model has " +
           std::to_string(exits) + " exits)");
  if (request.temperature < 0 || request.topK < 0 || !(request.topP > 0 && request.topP <= 1))
    fail("sampling needs temperature >= 0, top_k >= 0 and 0 < top_p <= 1");
  if (!request.speculative)
    return;
  if (request.threshold || !request.exitThresholds.empty() || !request.activeExits.empty())
    fail("speculative decoding gives the full model's tokens: it takes no early-exit thresholds or "
         "exit layers (the draft exit is chosen with the draft exit's layer)");
  if (request.draftExit < 0 || request.draftExit >= exits)
    fail("the draft exit " + std::to_string(request.draftExit) + " does not exist (the model has " +
         std::to_string(exits) + " exits)");
  if (request.draftTokens < 0 || request.draftTokens > kMaxDraftTokens)
    fail("the number of draft tokens must be in [0, " + std::to_string(kMaxDraftTokens) +
         "] (0: adaptive), got " + std::to_string(request.draftTokens));
}

TopLogprobs topLogprobs(const float *logits, int64_t vocab, int64_t count) {
  count = std::min(count, vocab);
  if (count <= 0)
    return {};
  std::vector<int32_t> order(vocab);
  for (int64_t i = 0; i < vocab; ++i)
    order[i] = static_cast<int32_t>(i);
  std::partial_sort(order.begin(), order.begin() + count, order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  double normaliser = logSumExp(logits, vocab, 1.0);
  TopLogprobs top;
  for (int64_t i = 0; i < count; ++i)
    top.emplace_back(order[i], static_cast<float>(logits[order[i]] - normaliser));
  return top;
}

KVCaches::KVCaches(const Manifest &manifest, const InferencePlan &plan, int64_t rows,
                   std::optional<int64_t> stage)
    : rows_(rows), maxPositions_(manifest.config.at("max_position_embeddings").get<int64_t>()) {
  // The caches' features first, then one memory check, then the buffers: a
  // batch of thousands of prompts is refused before anything is allocated.
  std::map<std::string, int64_t> wanted;
  auto add = [&](const Entry &entry, const std::vector<std::string> &names) {
    size_t next = 0;
    for (const json &input : entry.inputs)
      if (input.at("kind") == "kv_cache") {
        if (next / 2 >= names.size())
          throw std::runtime_error("entry point '" + entry.name +
                                   "' has more KV caches than its plan names");
        wanted.emplace(names[next / 2], input.at("features").get<int64_t>());
        ++next;
      }
    if (next != 2 * names.size())
      throw std::runtime_error("entry point '" + entry.name + "' does not match its plan's caches");
  };
  auto held = [&](int64_t segment) { return !stage || plan.segments[segment].stage == *stage; };
  for (size_t s = 0; s < plan.segments.size(); ++s)
    if (held(s))
      add(*plan.segments[s].entry, plan.segments[s].caches);
  for (const InferencePlan::Exit &exit : plan.exits) {
    if (!held(exit.segment))
      continue;
    add(*exit.entry, exit.caches);
    if (exit.kvEntry)
      add(*exit.kvEntry, exit.caches);
  }
  uint64_t bytes = 0;
  for (const auto &[name, features] : wanted) {
    uint64_t cache = bytesProduct({2, rows, maxPositions_, features, 4});
    bytes = bytes + cache < bytes ? UINT64_MAX : bytes + cache;
  }
  checkMemory(std::to_string(rows) + " sequences (a KV cache row of " +
                  std::to_string(maxPositions_) + " positions each)",
              {{"KV caches", bytes}});
  for (const auto &[name, features] : wanted)
    create(name, features);
}

void KVCaches::erase(int64_t row, int64_t from, int64_t to) {
  to = std::min(to, maxPositions_);
  if (from >= to)
    return;
  for (auto &[name, cache] : caches_) {
    int64_t features = cache.features;
    for (BackendBuffer *buffer : {&cache.keys, &cache.values})
      eert_memory_zero(buffer->as<float>() + (row * maxPositions_ + from) * features,
                       (to - from) * features * static_cast<int64_t>(sizeof(float)));
  }
}

std::vector<std::string> KVCaches::names() const {
  std::vector<std::string> result;
  for (const auto &entry : caches_)
    result.push_back(entry.first);
  return result;
}

KVCaches::Cache &KVCaches::create(const std::string &name, int64_t features) {
  auto it = caches_.find(name);
  if (it != caches_.end())
    return it->second;
  if (features <= 0)
    throw std::runtime_error("no KV cache '" + name + "'");
  Cache &created = caches_[name];
  size_t bytes = static_cast<size_t>(rows_ * maxPositions_ * features) * sizeof(float);
  created.keys = BackendBuffer(bytes);
  created.values = BackendBuffer(bytes);
  created.features = features;
  return created;
}

int64_t KVCaches::features(const std::string &name) const {
  auto it = caches_.find(name);
  if (it == caches_.end())
    throw std::runtime_error("no KV cache '" + name + "'");
  return it->second.features;
}

std::pair<std::vector<float>, std::vector<float>> KVCaches::download(const std::string &name) const {
  size_t count = static_cast<size_t>(rows_ * maxPositions_ * features(name));
  const Cache &cache = caches_.at(name);
  return {cache.keys.toHost<float>(count), cache.values.toHost<float>(count)};
}

void KVCaches::upload(const std::string &name, int64_t features, const std::vector<float> &keys,
                      const std::vector<float> &values) {
  Cache &cache = create(name, features);
  size_t bytes = static_cast<size_t>(rows_ * maxPositions_ * cache.features) * sizeof(float);
  if (keys.size() * sizeof(float) != bytes || values.size() * sizeof(float) != bytes)
    throw std::runtime_error("KV cache '" + name + "': " + std::to_string(keys.size()) +
                             " values for a cache of " + std::to_string(bytes / sizeof(float)));
  cache.keys.upload(keys.data(), bytes);
  cache.values.upload(values.data(), bytes);
}

void KVCaches::bind(const Entry &entry, const std::vector<std::string> &names,
                    std::vector<void *> &inputs) {
  for (const std::string &name : names) {
    Cache &cache = caches_.at(name);
    inputs.push_back(cache.keys.data());
    inputs.push_back(cache.values.data());
  }
  if (inputs.size() != entry.inputs.size())
    throw std::runtime_error("entry point '" + entry.name + "' takes " +
                             std::to_string(entry.inputs.size()) + " inputs");
}

void KVCaches::save(const std::string &path, int64_t positions) const {
  positions = std::min(positions, maxPositions_);
  std::vector<std::vector<float>> sliced;
  std::vector<TensorToWrite> tensors;
  sliced.reserve(2 * caches_.size());
  for (const auto &[name, cache] : caches_) {
    int64_t features = cache.features;
    auto [keys, values] = download(name);
    for (const auto &[suffix, buffer] : {std::pair{".key", &keys}, std::pair{".value", &values}}) {
      std::vector<float> &out = sliced.emplace_back();
      for (int64_t r = 0; r < rows_; ++r)
        out.insert(out.end(), buffer->begin() + r * maxPositions_ * features,
                   buffer->begin() + (r * maxPositions_ + positions) * features);
      tensors.push_back({name + suffix, {rows_, positions, features}, out.data()});
    }
  }
  std::string error;
  if (!writeSafetensors(path, tensors, {}, error))
    throw std::runtime_error(error);
}

namespace {

/// A token whose KV entries stop at the end of segment `next - 1`.
struct PendingToken {
  int32_t position;
  size_t next;
  std::vector<float> hidden;
};

} // namespace

struct RecomputeGenerator::Impl : Engine {
  using Engine::Engine;
  std::vector<std::vector<PendingToken>> pending; // per sequence (cache row)

  /// One step for every sequence with new tokens: `ids` per row of `batch`
  /// (the last of each sequence decides the next token), each sequence with
  /// the options of `requests[row]`; appends the records to out[row].
  void step(const std::vector<int32_t> &ids, TokenBatch batch, const std::vector<size_t> &deciders,
            const std::vector<const GenerationRequest *> &requests, std::vector<uint64_t> &rng,
            std::vector<std::vector<TokenRecord>> &out) {
    // Which rows decide, and which sequences are still running.
    std::vector<bool> decider(batch.size(), false);
    for (size_t d : deciders)
      decider[d] = true;
    for (size_t s = 0; s < plan.segments.size(); ++s) {
      const InferencePlan::Segment &segment = plan.segments[s];
      if (s > 0) {
        // Recomputed entries join: exited tokens of the running sequences
        // whose KV stops before this segment.
        std::set<int32_t> running;
        for (size_t i = 0; i < batch.size(); ++i)
          if (decider[i])
            running.insert(batch.rows[i]);
        for (int32_t row : running) {
          auto &waiting = pending[row];
          for (auto it = waiting.begin(); it != waiting.end();) {
            if (it->next != s) {
              ++it;
              continue;
            }
            batch.hidden.appendHost(it->hidden.data(), 1, hidden);
            batch.positions.push_back(it->position);
            batch.rows.push_back(row);
            decider.push_back(false);
            it = waiting.erase(it);
          }
        }
      }
      std::vector<BackendRows> exitInputs = runSegment(s, batch, &ids);

      for (size_t k = 0; k < segment.exits.size(); ++k) {
        const InferencePlan::Exit &exit = plan.exits[segment.exits[k]];
        // The tokens of sequences that may take this exit: deciding, or
        // passing it (they fill a block exit's cache).
        std::vector<size_t> deciding, passing;
        for (size_t i = 0; i < batch.size(); ++i)
          if (exitThreshold(*requests[batch.rows[i]], exit.index))
            (decider[i] ? deciding : passing).push_back(i);
        // Passing tokens fill a block exit's KV cache first: they are earlier
        // positions than the deciding tokens of their sequences.
        if (exit.kvEntry && !passing.empty()) {
          TokenBatch fill = select(batch, passing, &exitInputs[k]);
          call(*exit.kvEntry, fill, exit.caches);
        }
        if (deciding.empty())
          continue;
        // The compiled head decides and chooses the token of each sequence.
        TokenBatch heads = select(batch, deciding, &exitInputs[k]);
        HeadChoices choices;
        bool logits = false;
        for (size_t i : deciding) {
          const GenerationRequest &options = *requests[batch.rows[i]];
          choices.add(*exitThreshold(options, exit.index), options, rng[batch.rows[i]]);
          logits |= options.topLogprobs > 0;
        }
        HeadOutputs outputs = callHead(*exit.entry, heads, choices, exit.caches, logits);
        std::set<int32_t> exited;
        for (size_t j = 0; j < deciding.size(); ++j) {
          if (!outputs.decision[j])
            continue;
          int32_t row = batch.rows[deciding[j]];
          out[row].push_back(
              headRecord(outputs, j, exit.index, exit.boundary, requests[row]->topLogprobs));
          rng[row] = outputs.nextState[j];
          exited.insert(row);
        }
        if (exited.empty())
          continue;
        // The exited sequences' tokens wait with their state at this exit.
        std::vector<size_t> keep;
        for (size_t i = 0; i < batch.size(); ++i) {
          if (!exited.count(batch.rows[i])) {
            keep.push_back(i);
            continue;
          }
          // Parked on the host until a later token of its sequence goes deeper.
          pending[batch.rows[i]].push_back({batch.positions[i], s + 1, batch.hidden.toHost(i, 1)});
        }
        std::vector<bool> keptDecider;
        for (size_t i : keep)
          keptDecider.push_back(decider[i]);
        for (auto &input : exitInputs)
          input = input.select(keep);
        batch = select(batch, keep);
        decider = std::move(keptDecider);
      }
      if (batch.size() == 0)
        return;
    }
    // Full depth: the final head for the deciding tokens.
    std::vector<size_t> deciding;
    for (size_t i = 0; i < batch.size(); ++i)
      if (decider[i])
        deciding.push_back(i);
    if (deciding.empty())
      return;
    std::vector<uint64_t *> rngs;
    std::vector<const GenerationRequest *> options;
    for (size_t i : deciding) {
      rngs.push_back(&rng[batch.rows[i]]);
      options.push_back(requests[batch.rows[i]]);
    }
    std::vector<TokenRecord> records = finalTokens(batch, deciding, rngs, options);
    for (size_t j = 0; j < deciding.size(); ++j)
      out[batch.rows[deciding[j]]].push_back(records[j]);
  }

  /// Runs every pending token through the rest of the model (no decisions).
  void flush(const GenerationRequest &request) {
    TokenBatch batch;
    for (size_t s = 1; s < plan.segments.size(); ++s) {
      for (size_t row = 0; row < pending.size(); ++row)
        for (auto it = pending[row].begin(); it != pending[row].end();)
          if (it->next == s) {
            batch.hidden.appendHost(it->hidden.data(), 1, hidden);
            batch.positions.push_back(it->position);
            batch.rows.push_back(static_cast<int32_t>(row));
            it = pending[row].erase(it);
          } else {
            ++it;
          }
      if (batch.size() == 0)
        continue;
      std::vector<BackendRows> exitInputs = runSegment(s, batch);
      for (size_t k = 0; k < plan.segments[s].exits.size(); ++k) {
        const InferencePlan::Exit &exit = plan.exits[plan.segments[s].exits[k]];
        if (exit.kvEntry && exitThreshold(request, exit.index)) {
          TokenBatch fill{std::move(exitInputs[k]), batch.positions, batch.rows};
          call(*exit.kvEntry, fill, exit.caches);
        }
      }
    }
  }

};

RecomputeGenerator::RecomputeGenerator(const Manifest &manifest, const Weights &weights)
    : impl_(std::make_shared<Impl>(manifest, weights)) {}

GenerationResult RecomputeGenerator::generate(const GenerationRequest &request) {
  Impl &g = *impl_;
  validateRequest(request, g.plan, g.vocab, g.maxPositions);
  g.request = request;
  int64_t sequences = static_cast<int64_t>(request.prompts.size());
  g.caches = std::make_unique<KVCaches>(g.manifest, g.plan, sequences);
  g.pending.assign(sequences, {});
  g.lengths.assign(sequences, 0);
  std::vector<std::vector<PromptLogprob>> scored;
  if (request.promptLogprobs)
    scored = g.scorePrompts(request);
  if (request.speculative) {
    GenerationResult result = generateSpeculative(g, request);
    result.promptLogprobs = std::move(scored);
    return result;
  }
  std::vector<uint64_t> rng = sequenceSeeds(request);
  std::vector<const GenerationRequest *> options(sequences, &request);
  GenerationResult result;
  result.tokens.assign(sequences, {});
  auto clock = [] { return std::chrono::steady_clock::now(); };
  auto start = clock();
  // The prompts are the first step's tokens; then one token per running sequence.
  std::vector<std::vector<int32_t>> feed = request.prompts;
  std::vector<bool> ended(sequences, false);
  int64_t running = sequences;
  for (int64_t n = 0; n < request.maxNewTokens && running > 0; ++n) {
    std::vector<int32_t> ids;
    TokenBatch batch;
    std::vector<size_t> deciders;
    for (int64_t row = 0; row < sequences; ++row) {
      if (ended[row])
        continue;
      for (int32_t id : feed[row]) {
        ids.push_back(id);
        batch.positions.push_back(static_cast<int32_t>(g.lengths[row]++));
        batch.rows.push_back(static_cast<int32_t>(row));
      }
      deciders.push_back(ids.size() - 1);
    }
    g.step(ids, std::move(batch), deciders, options, rng, result.tokens);
    for (int64_t row = 0; row < sequences; ++row) {
      if (ended[row])
        continue;
      feed[row].assign(1, result.tokens[row].back().token);
      if (!keepGoing(request, row, result.tokens[row].back())) {
        ended[row] = true;
        --running;
      }
    }
    auto now = clock();
    if (n == 0)
      result.prefillSeconds = std::chrono::duration<double>(now - start).count();
    else
      result.decodeSeconds = std::chrono::duration<double>(now - start).count() -
                             result.prefillSeconds;
  }
  result.decodeTokens = decodedTokens(result);
  result.promptLogprobs = std::move(scored);
  return result;
}

void RecomputeGenerator::saveCaches(const std::string &path) {
  Impl &g = *impl_;
  if (!g.caches)
    throw std::runtime_error("no generation to save the KV caches of");
  g.flush(g.request);
  g.caches->save(path, *std::max_element(g.lengths.begin(), g.lengths.end()));
}

struct ContinuousBatcher::State {
  /// A request in the batch: its result so far and how many sequences run.
  struct Job {
    GenerationRequest request;
    std::promise<GenerationResult> result;
    GenerationResult tokens;
    int64_t running = 0, tokenCost = 0;
    std::chrono::steady_clock::time_point start;
  };
  RecomputeGenerator generator;
  int64_t rows, tokenBudget, tokensHeld = 0, sequences = 0;
  // Per cache row: its job (none: free), sequence index there, options,
  // random state and the tokens to feed next.
  std::vector<std::shared_ptr<Job>> job;
  std::vector<size_t> sequence;
  std::vector<const GenerationRequest *> options;
  std::vector<uint64_t> rng;
  std::vector<std::vector<int32_t>> feed;
  std::vector<std::vector<TokenRecord>> out;
  // The rows of speculative requests: their sequences, advanced by rounds.
  std::vector<std::unique_ptr<SpeculativeSequence>> speculative;

  State(const Manifest &manifest, const Weights &weights, int64_t rows, int64_t tokenBudget)
      : generator(manifest, weights), rows(rows), tokenBudget(tokenBudget), job(rows),
        sequence(rows), options(rows, nullptr), rng(rows), feed(rows), out(rows),
        speculative(rows) {
    RecomputeGenerator::Impl &g = *generator.impl_;
    g.caches = std::make_unique<KVCaches>(manifest, g.plan, rows);
    g.pending.assign(rows, {});
    g.lengths.assign(rows, 0);
  }

  static int64_t cost(const GenerationRequest &request) {
    int64_t tokens = 0;
    for (const auto &prompt : request.prompts)
      tokens += static_cast<int64_t>(prompt.size()) + request.maxNewTokens;
    return tokens;
  }

  /// Frees cache row `row`; returns the job its sequence belonged to.
  std::shared_ptr<Job> release(int64_t row) {
    std::shared_ptr<Job> owner = std::move(job[row]);
    options[row] = nullptr;
    speculative[row].reset();
    generator.impl_->pending[row].clear();
    --sequences;
    return owner;
  }

  /// Ends every sequence of `failed` and hands it `error`.
  void fail(const std::shared_ptr<Job> &failed, std::exception_ptr error) {
    for (int64_t row = 0; row < rows; ++row)
      if (job[row] == failed)
        release(row);
    tokensHeld -= failed->tokenCost;
    failed->result.set_exception(error);
  }

  /// Ends the sequence in `row`; its job's result goes out with its last one.
  void retire(int64_t row) {
    std::shared_ptr<Job> ending = release(row);
    if (--ending->running > 0)
      return;
    tokensHeld -= ending->tokenCost;
    GenerationResult &result = ending->tokens;
    result.decodeSeconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - ending->start).count() -
        result.prefillSeconds;
    result.decodeTokens = decodedTokens(result);
    ending->result.set_value(std::move(result));
  }
};

ContinuousBatcher::ContinuousBatcher(const Manifest &manifest, const Weights &weights,
                                     int64_t rows, int64_t tokenBudget)
    : state_(std::make_shared<State>(manifest, weights, rows, tokenBudget)) {}

int64_t ContinuousBatcher::running() const { return state_->sequences; }

bool ContinuousBatcher::batchable(const GenerationRequest &request) const {
  return !request.promptLogprobs && static_cast<int64_t>(request.prompts.size()) <= state_->rows &&
         State::cost(request) <= state_->tokenBudget;
}

bool ContinuousBatcher::admit(const GenerationRequest &request,
                              std::promise<GenerationResult> &result) {
  State &s = *state_;
  int64_t cost = State::cost(request);
  std::vector<int64_t> free;
  for (int64_t row = 0; row < s.rows && free.size() < request.prompts.size(); ++row)
    if (!s.job[row])
      free.push_back(row);
  if (free.size() < request.prompts.size() || s.tokensHeld + cost > s.tokenBudget)
    return false;
  auto job = std::make_shared<State::Job>();
  job->request = request;
  job->result = std::move(result);
  job->tokens.tokens.assign(request.prompts.size(), {});
  job->running = static_cast<int64_t>(request.prompts.size());
  job->tokenCost = cost;
  job->start = std::chrono::steady_clock::now();
  if (request.maxNewTokens == 0) {
    job->result.set_value(std::move(job->tokens));
    return true;
  }
  s.tokensHeld += cost;
  std::vector<uint64_t> seeds = sequenceSeeds(request);
  RecomputeGenerator::Impl &g = *s.generator.impl_;
  std::vector<SpeculativeSequence *> drafting;
  std::vector<const std::vector<int32_t> *> prompts;
  for (size_t i = 0; i < free.size(); ++i) {
    int64_t row = free[i];
    s.job[row] = job;
    s.sequence[row] = i;
    s.rng[row] = seeds[i];
    s.out[row].clear();
    g.lengths[row] = 0;
    g.pending[row].clear();
    ++s.sequences;
    if (request.speculative) {
      auto sequence = std::make_unique<SpeculativeSequence>();
      sequence->row = static_cast<int32_t>(row);
      sequence->index = i;
      sequence->request = &job->request;
      sequence->out = &job->tokens.tokens[i];
      sequence->stats = &job->tokens;
      sequence->rng = seeds[i];
      drafting.push_back(sequence.get());
      prompts.push_back(&job->request.prompts[i]);
      s.speculative[row] = std::move(sequence);
    } else {
      s.options[row] = &job->request;
      s.feed[row] = request.prompts[i];
    }
  }
  if (drafting.empty())
    return true;
  // A speculative request's prompts run at once (full depth, then its first
  // tokens); its sequences then advance a round per step.
  try {
    speculativePrefill(g, drafting, prompts);
  } catch (...) {
    s.fail(job, std::current_exception());
    return true;
  }
  job->tokens.prefillSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - job->start).count();
  for (int64_t row : free)
    if (s.speculative[row]->remaining == 0)
      s.retire(row);
  return true;
}

void ContinuousBatcher::step() {
  State &s = *state_;
  RecomputeGenerator::Impl &g = *s.generator.impl_;
  std::vector<int32_t> ids;
  TokenBatch batch;
  std::vector<size_t> deciders;
  std::vector<SpeculativeSequence *> drafting;
  for (int64_t row = 0; row < s.rows; ++row) {
    if (!s.job[row])
      continue;
    if (s.speculative[row]) {
      drafting.push_back(s.speculative[row].get());
      continue;
    }
    for (int32_t id : s.feed[row]) {
      ids.push_back(id);
      batch.positions.push_back(static_cast<int32_t>(g.lengths[row]++));
      batch.rows.push_back(static_cast<int32_t>(row));
    }
    deciders.push_back(ids.size() - 1);
  }
  try {
    if (!deciders.empty())
      g.step(ids, std::move(batch), deciders, s.options, s.rng, s.out);
    speculativeRound(g, drafting);
  } catch (...) {
    std::exception_ptr error = std::current_exception();
    for (int64_t row = 0; row < s.rows; ++row)
      if (std::shared_ptr<State::Job> failed = s.job[row])
        s.fail(failed, error);
    return;
  }
  auto now = std::chrono::steady_clock::now();
  for (int64_t row = 0; row < s.rows; ++row) {
    if (!s.job[row])
      continue;
    if (s.speculative[row]) {
      if (s.speculative[row]->remaining == 0)
        s.retire(row);
      continue;
    }
    State::Job &job = *s.job[row];
    std::vector<TokenRecord> &tokens = job.tokens.tokens[s.sequence[row]];
    const TokenRecord &record = s.out[row].back();
    tokens.push_back(record);
    if (tokens.size() == 1 && job.tokens.prefillSeconds == 0)
      job.tokens.prefillSeconds = std::chrono::duration<double>(now - job.start).count();
    s.out[row].clear();
    bool going = keepGoing(job.request, s.sequence[row], record);
    if (!going || static_cast<int64_t>(tokens.size()) == job.request.maxNewTokens) {
      s.retire(row);
      continue;
    }
    s.feed[row].assign(1, record.token);
  }
}

std::string joinForMethod(const Manifest &manifest, const InferencePlan &plan,
                          const std::string &given) {
  std::string method = !given.empty() ? given : (plan.stages > 1 ? "pipeline" : "recompute");
  if (method != "recompute" && method != "pipeline" && method != "speculative")
    throw std::runtime_error("--method must be recompute, pipeline or speculative, got '" + method +
                             "'");
  if (method == "speculative" && plan.exits.empty())
    throw std::runtime_error("speculative decoding drafts with an exit; this model has none");
  joinTensorParallelGroup(manifest, method == "pipeline" ? plan.stages : 1);
  return method;
}

std::unique_ptr<Generator> makeGenerator(const std::string &method, const Manifest &manifest,
                                         const Weights &weights) {
  if (method == "pipeline")
    return std::make_unique<PipelineGenerator>(manifest, weights);
  if (method != "recompute" && method != "speculative")
    throw std::invalid_argument("the method must be recompute, pipeline or speculative, got '" +
                                method + "'");
  // Tensor-parallel ranks run every step together (joinTensorParallelGroup).
  if (eert_comm_size() != manifest.tensorParallel)
    throw std::runtime_error("the " + method + " method runs in one process (the world has " +
                             std::to_string(eert_comm_size()) + " ranks)" +
                             (method == "recompute" ? "; use --method pipeline" : ""));
  return std::make_unique<RecomputeGenerator>(manifest, weights);
}

} // namespace eert
