// PipelineGeneration.cpp - the pipeline-based early-exit method: one MPI rank per stage.
//
// Stage 0 embeds each token and runs its layers; every stage evaluates the
// active exits among its segments and either decides the token there or hands
// the hidden state on. A token decided on stage s is still handed on (marked
// decided) so the later stages fill their KV caches, while stage 0, told the
// token, already starts the next one: the deeper stages finish exited tokens
// in parallel with the shallow stages' work on the next token. Each stage
// receives its tokens in order from the previous one, so its caches are filled
// position by position exactly as at full depth. The sequences of a batch
// interleave: while one sequence's token is on a deeper stage, stage 0 works on
// the others; each sequence has at most one undecided token in flight.
//
// With tensor parallelism each stage is a group of ranks that run every step
// together, each talking to the rank of the same tensor-parallel index on the
// neighbouring stages. What depends on timing (which decision arrives first,
// how many queued batches to take) is chosen by the group's rank 0 and
// broadcast, so the ranks of a stage call the compiled functions alike.
#include "cli/generate/Generation.h"
#include "cli/generate/GenerationEngine.h"

#include "eert/eert.h"

#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <stdexcept>

namespace eert {

namespace {

/// Message tags: tokens flowing down the pipeline, decisions going back to
/// stage 0, KV caches gathered on rank 0.
enum Tag : int64_t { kTokens = 11, kDecision = 12, kCaches = 13 };
/// Runtime groups (abi.def: eert_comm_grid).
constexpr int64_t kTensorGroup = 1, kPipelineGroup = 2;

/// What precedes a batch of tokens sent to the next stage.
struct StageHeader {
  int32_t stop = 0;  // 1: the request is over, no payload follows
  int32_t count = 0; // tokens in the payload
};

/// A token chosen by some stage for sequence `row`, sent to stage 0 with the
/// sequence's sampling state after it.
struct Decision {
  int32_t token = 0, exit = 0, layers = 0, row = 0;
  float confidence = 0, logprob = 0;
  uint64_t rng = 0;
};

/// Tokens travelling down the pipeline: per token its position, cache row,
/// whether it still decides its sequence's next token, and that sequence's
/// sampling state; and the hidden states.
struct StageTokens {
  TokenBatch batch;
  std::vector<int32_t> deciding;
  std::vector<uint64_t> rngs;

  void append(const TokenBatch &more, const std::vector<int32_t> &moreDeciding,
              const std::vector<uint64_t> &moreRngs) {
    batch.positions.insert(batch.positions.end(), more.positions.begin(), more.positions.end());
    batch.rows.insert(batch.rows.end(), more.rows.begin(), more.rows.end());
    batch.hidden.append(more.hidden);
    deciding.insert(deciding.end(), moreDeciding.begin(), moreDeciding.end());
    rngs.insert(rngs.end(), moreRngs.begin(), moreRngs.end());
  }
};

void check(int32_t status) {
  if (status)
    throw std::runtime_error(std::string("communication failed: ") + eert_last_error());
}

void send(const void *data, size_t bytes, int64_t peer, Tag tag) {
  check(eert_comm_send(data, static_cast<int64_t>(bytes), peer, tag));
}

void receive(void *data, size_t bytes, int64_t peer, Tag tag, uint64_t *source = nullptr) {
  check(eert_comm_recv(data, static_cast<int64_t>(bytes), peer, tag, source));
}

/// Sends to the next stage without waiting: a stage runs ahead of a slower
/// next one, whose messages then queue up and run there as one batch. Each
/// message's buffers are kept until its sends complete.
class Downstream {
public:
  explicit Downstream(int64_t peer) : peer_(peer) {}
  ~Downstream() {
    try {
      wait();
    } catch (const std::exception &) {
      // Unwinding already; the error that started it is reported.
    }
  }

  void post(const StageTokens &tokens) { post(false, tokens); }
  void stop() { post(true, StageTokens{}); }

  void post(bool stop, const StageTokens &tokens) {
    reap();
    while (inFlight_.size() >= maxInFlight) {
      finish(inFlight_.front());
      inFlight_.pop_front();
    }
    Message &message = inFlight_.emplace_back();
    const TokenBatch &batch = tokens.batch;
    message.header = {stop ? 1 : 0, static_cast<int32_t>(batch.size())};
    size_t indices = batch.size() * sizeof(int32_t);
    // The hidden states cross to the next stage through the host.
    std::vector<float> hidden = batch.hidden.toHost();
    message.payload.resize(payloadBytes(batch.size(), batch.hidden.width()));
    char *at = message.payload.data();
    for (auto [data, bytes] : {std::pair{static_cast<const void *>(batch.positions.data()), indices},
                               {batch.rows.data(), indices},
                               {tokens.deciding.data(), indices},
                               {tokens.rngs.data(), batch.size() * sizeof(uint64_t)},
                               {hidden.data(), hidden.size() * sizeof(float)}}) {
      std::memcpy(at, data, bytes);
      at += bytes;
    }
    check(eert_comm_isend(&message.header, sizeof(message.header), peer_, kTokens,
                          &message.requests[0]));
    if (!stop)
      check(eert_comm_isend(message.payload.data(), static_cast<int64_t>(message.payload.size()),
                            peer_, kTokens, &message.requests[1]));
  }

  /// Waits until every message has been sent.
  void wait() {
    for (Message &message : inFlight_)
      finish(message);
    inFlight_.clear();
  }

  static size_t payloadBytes(size_t count, size_t hidden) {
    return count * (3 * sizeof(int32_t) + sizeof(uint64_t) + hidden * sizeof(float));
  }

private:
  struct Message {
    StageHeader header;
    std::vector<char> payload;
    uint64_t requests[2] = {0, 0};
  };
  /// Messages in flight before post waits for the oldest: the next stage
  /// takes every queued one at once, so this bounds its batches' memory only.
  static constexpr size_t maxInFlight = 256;

  void finish(Message &message) {
    for (uint64_t &request : message.requests)
      check(eert_comm_wait(&request));
  }

  /// Drops the messages at the front whose sends have completed.
  void reap() {
    while (!inFlight_.empty()) {
      Message &oldest = inFlight_.front();
      uint64_t done = 1;
      for (uint64_t &request : oldest.requests) {
        uint64_t sent = 0;
        check(eert_comm_test(&request, &sent));
        done &= sent;
      }
      if (!done)
        return;
      inFlight_.pop_front();
    }
  }

  int64_t peer_;
  std::deque<Message> inFlight_; // a deque keeps the buffers where MPI holds them
};

} // namespace

struct PipelineGenerator::Impl : Engine {
  int64_t rank, stages; // this rank's stage, and their count
  // Tensor parallelism: this rank's index in its stage's group, and the
  // distance in world ranks to the neighbouring stages.
  int64_t tensorRank = 0, stride = 1;
  std::vector<size_t> segments; // this stage's, in order
  std::unique_ptr<Downstream> downstream;

  Impl(const Manifest &m, const Weights &weights) : Engine(m, weights) {
    if (plan.stages < 2)
      throw std::runtime_error("the pipeline method needs a binary compiled with --pp P (P >= 2); "
                               "this one has one pipeline stage (use --method recompute)");
    if (m.tensorParallel > 1) { // joinTensorParallelGroup built the grid
      rank = eert_comm_group_rank(kPipelineGroup);
      stages = eert_comm_group_size(kPipelineGroup);
      tensorRank = eert_comm_group_rank(kTensorGroup);
      stride = m.tensorParallel;
    } else {
      rank = eert_comm_rank();
      stages = eert_comm_size();
    }
    if (stages != plan.stages)
      throw std::runtime_error("the binary has " + std::to_string(plan.stages) +
                               " pipeline stages: run it with mpirun -np " +
                               std::to_string(plan.stages) + " (the world has " +
                               std::to_string(stages) + " ranks)");
    for (size_t s = 0; s < plan.segments.size(); ++s)
      if (plan.segments[s].stage == rank)
        segments.push_back(s);
    if (rank + 1 < stages)
      downstream = std::make_unique<Downstream>(eert_comm_rank() + stride);
  }

  int64_t previousRank() const { return eert_comm_rank() - stride; }

  /// The tensor-parallel group's rank 0's `bytes` of `data` on every rank of it.
  void shareInStage(void *data, size_t bytes) const {
    if (stride > 1)
      check(eert_comm_broadcast(data, static_cast<int64_t>(bytes), 0, kTensorGroup));
  }

  bool lastStage() const { return rank + 1 == stages; }

  using Decisions = std::vector<std::pair<size_t, TokenRecord>>;

  /// Runs this stage's segments on `tokens` (ids on stage 0, else hidden
  /// states). Each deciding token takes the first active exit whose confidence
  /// reaches its threshold (its flag is cleared); on the last stage the rest
  /// take the final head. `decided` gets each exit's decisions (by token
  /// index) as soon as they are made, before the later segments fill their
  /// caches, so that stage 0 can go on meanwhile; returns all of them.
  Decisions runStage(const std::vector<int32_t> &ids, StageTokens &tokens,
                     const std::function<void(const Decisions &)> &decided = {}) {
    TokenBatch &batch = tokens.batch;
    Decisions decisions;
    auto report = [&](const Decisions &made) {
      if (decided && !made.empty())
        decided(made);
      decisions.insert(decisions.end(), made.begin(), made.end());
    };
    auto indices = [&](bool deciding) {
      std::vector<size_t> which;
      for (size_t i = 0; i < batch.size(); ++i)
        if ((tokens.deciding[i] != 0) == deciding)
          which.push_back(i);
      return which;
    };
    for (size_t s : segments) {
      std::vector<BackendRows> exitInputs = runSegment(s, batch, &ids);
      const InferencePlan::Segment &segment = plan.segments[s];
      for (size_t k = 0; k < segment.exits.size(); ++k) {
        const InferencePlan::Exit &exit = plan.exits[segment.exits[k]];
        std::optional<double> threshold = exitThreshold(request, exit.index);
        if (!threshold)
          continue;
        // Tokens passing a block exit fill its KV cache (within a sequence they
        // come before its deciding token).
        std::vector<size_t> passing = indices(false), deciders = indices(true);
        if (exit.kvEntry && !passing.empty()) {
          TokenBatch fill = select(batch, passing, &exitInputs[k]);
          call(*exit.kvEntry, fill, exit.caches);
        }
        if (deciders.empty())
          continue;
        TokenBatch heads = select(batch, deciders, &exitInputs[k]);
        HeadChoices choices;
        for (size_t i : deciders)
          choices.add(*threshold, request, tokens.rngs[i]);
        HeadOutputs outputs =
            callHead(*exit.entry, heads, choices, exit.caches, request.topLogprobs > 0);
        Decisions atExit;
        for (size_t j = 0; j < deciders.size(); ++j) {
          if (!outputs.decision[j])
            continue;
          size_t i = deciders[j];
          atExit.push_back({i, headRecord(outputs, j, exit.index, exit.boundary)});
          tokens.rngs[i] = outputs.nextState[j];
          tokens.deciding[i] = 0;
        }
        report(atExit);
      }
    }
    if (lastStage()) {
      std::vector<size_t> deciders = indices(true);
      std::vector<uint64_t *> rngs;
      for (size_t i : deciders)
        rngs.push_back(&tokens.rngs[i]);
      std::vector<TokenRecord> records = finalTokens(batch, deciders, rngs);
      Decisions atFinal;
      for (size_t j = 0; j < deciders.size(); ++j) {
        atFinal.push_back({deciders[j], records[j]});
        tokens.deciding[deciders[j]] = 0;
      }
      report(atFinal);
    }
    return decisions;
  }

  /// Stage 0: generates the sequences of the request, interleaved.
  GenerationResult lead() {
    int64_t sequences = static_cast<int64_t>(request.prompts.size());
    GenerationResult result;
    result.tokens.assign(sequences, {});
    std::vector<std::vector<int32_t>> feed = request.prompts;
    std::vector<uint64_t> rng = sequenceSeeds(request);
    std::vector<bool> inFlight(sequences, false);
    int64_t unfinished = request.maxNewTokens > 0 ? sequences : 0, firstTokens = 0;
    auto clock = [] { return std::chrono::steady_clock::now(); };
    auto start = clock();
    auto record = [&](int64_t row, const TokenRecord &token) {
      result.tokens[row].push_back(token);
      keepGoing(request, row, token); // streams; a pipeline runs each sequence to the end
      feed[row].assign(1, token.token);
      if (result.tokens[row].size() == 1 && ++firstTokens == sequences)
        result.prefillSeconds = std::chrono::duration<double>(clock() - start).count();
      if (static_cast<int64_t>(result.tokens[row].size()) == request.maxNewTokens)
        --unfinished;
    };
    while (unfinished > 0) {
      bool progressed = false;
      for (int64_t row = 0; row < sequences; ++row) {
        if (inFlight[row] || static_cast<int64_t>(result.tokens[row].size()) == request.maxNewTokens)
          continue;
        StageTokens tokens;
        for (size_t i = 0; i < feed[row].size(); ++i) {
          tokens.batch.positions.push_back(static_cast<int32_t>(lengths[row]++));
          tokens.batch.rows.push_back(static_cast<int32_t>(row));
          tokens.deciding.push_back(i + 1 == feed[row].size() ? 1 : 0);
          tokens.rngs.push_back(rng[row]);
        }
        auto decisions = runStage(feed[row], tokens);
        downstream->post(tokens);
        if (decisions.empty()) {
          inFlight[row] = true;
        } else {
          rng[row] = tokens.rngs[decisions.front().first];
          record(row, decisions.front().second);
        }
        progressed = true;
      }
      if (progressed)
        continue;
      Decision d;
      if (tensorRank == 0)
        receive(&d, sizeof(d), -1, kDecision);
      shareInStage(&d, sizeof(d));
      if (d.row < 0 || d.row >= sequences || !inFlight[d.row])
        throw std::runtime_error("a pipeline stage decided a token nobody waits for");
      inFlight[d.row] = false;
      rng[d.row] = d.rng;
      record(d.row, TokenRecord{d.token, d.exit, d.layers, d.confidence, d.logprob});
    }
    downstream->stop();
    downstream->wait();
    result.decodeSeconds = std::chrono::duration<double>(clock() - start).count() -
                           result.prefillSeconds;
    result.decodeTokens = sequences * std::max<int64_t>(request.maxNewTokens - 1, 0);
    return result;
  }

  /// Stages after the first: runs what arrives until the request is over.
  /// Tokens that queued up while this stage was busy run together.
  void follow() {
    bool stopping = false;
    while (!stopping) {
      StageTokens tokens;
      bool first = true;
      while (first || waiting()) {
        first = false;
        StageHeader header;
        receive(&header, sizeof(header), previousRank(), kTokens);
        if (header.stop) {
          stopping = true;
          break;
        }
        appendPayload(header.count, tokens);
      }
      if (tokens.batch.size() == 0)
        continue;
      // Decisions go to stage 0 as soon as an exit takes them.
      runStage({}, tokens, [&](const Decisions &decisions) {
        if (tensorRank != 0)
          return; // the group's rank 0 reports its stage's decisions
        for (auto &[i, token] : decisions) {
          Decision d{token.token,          static_cast<int32_t>(token.exit),
                     static_cast<int32_t>(token.layers), tokens.batch.rows[i],
                     token.confidence,     token.logprob,
                     tokens.rngs[i]};
          send(&d, sizeof(d), 0, kDecision);
        }
      });
      if (downstream)
        downstream->post(tokens);
    }
    if (downstream) {
      downstream->stop();
      downstream->wait();
    }
  }

  /// Whether the previous stage has sent more.
  bool waiting() {
    uint64_t flag = 0;
    if (tensorRank == 0)
      check(eert_comm_probe(previousRank(), kTokens, &flag));
    shareInStage(&flag, sizeof(flag));
    return flag != 0;
  }

  /// Receives `count` tokens (see StageTokens) onto `tokens`.
  void appendPayload(int32_t count, StageTokens &tokens) {
    std::vector<char> payload(Downstream::payloadBytes(count, hidden));
    receive(payload.data(), payload.size(), previousRank(), kTokens);
    StageTokens more;
    more.batch.positions.resize(count);
    more.batch.rows.resize(count);
    more.deciding.resize(count);
    more.rngs.resize(count);
    std::vector<float> states(count * hidden);
    const char *at = payload.data();
    for (auto [data, bytes] : {std::pair{static_cast<void *>(more.batch.positions.data()), count * sizeof(int32_t)},
                               {more.batch.rows.data(), count * sizeof(int32_t)},
                               {more.deciding.data(), count * sizeof(int32_t)},
                               {more.rngs.data(), count * sizeof(uint64_t)},
                               {states.data(), count * hidden * sizeof(float)}}) {
      std::memcpy(data, at, bytes);
      at += bytes;
    }
    more.batch.hidden.appendHost(states.data(), count, hidden);
    tokens.append(more.batch, more.deciding, more.rngs);
  }
};

PipelineGenerator::PipelineGenerator(const Manifest &manifest, const Weights &weights)
    : impl_(std::make_shared<Impl>(manifest, weights)) {}

GenerationResult PipelineGenerator::generate(const GenerationRequest &request) {
  Impl &g = *impl_;
  validateRequest(request, g.plan, g.vocab, g.maxPositions);
  if (request.promptLogprobs)
    throw std::invalid_argument("prompt log-probabilities (echo with logprobs) are computed in one "
                                "process, not over pipeline stages");
  if (request.speculative)
    throw std::invalid_argument(
        "speculative decoding runs in one process, not over pipeline stages (its verification "
        "is one batched pass through every layer after the draft exit): run the binary without "
        "mpirun, or use the pipeline or recompute method");
  g.request = request;
  int64_t sequences = static_cast<int64_t>(request.prompts.size());
  g.caches = std::make_unique<KVCaches>(g.manifest, g.plan, sequences, g.rank);
  g.lengths.assign(sequences, 0);
  if (g.rank == 0)
    return g.lead();
  g.follow();
  return GenerationResult{};
}

void PipelineGenerator::saveCaches(const std::string &path) {
  Impl &g = *impl_;
  if (!g.caches)
    throw std::runtime_error("no generation to save the KV caches of");
  int64_t rows = static_cast<int64_t>(g.request.prompts.size());
  int64_t perRow = rows * g.maxPositions;
  if (g.rank != 0) {
    // name length, name, key values, value values per cache, after the total size.
    std::vector<char> bytes;
    auto append = [&](const void *data, size_t size) {
      const char *p = static_cast<const char *>(data);
      bytes.insert(bytes.end(), p, p + size);
    };
    for (const std::string &name : g.caches->names()) {
      auto [key, value] = g.caches->download(name);
      uint64_t nameBytes = name.size(), features = key.size() / perRow;
      append(&nameBytes, sizeof(nameBytes));
      append(name.data(), name.size());
      append(&features, sizeof(features));
      append(key.data(), key.size() * sizeof(float));
      append(value.data(), value.size() * sizeof(float));
    }
    uint64_t size = bytes.size();
    send(&size, sizeof(size), 0, kCaches);
    send(bytes.data(), bytes.size(), 0, kCaches);
    return;
  }
  for (int64_t peer = 1; peer < g.stages; ++peer) {
    uint64_t size = 0;
    receive(&size, sizeof(size), peer, kCaches);
    std::vector<char> bytes(size);
    receive(bytes.data(), bytes.size(), peer, kCaches);
    size_t at = 0;
    auto take = [&](void *data, size_t count) {
      if (at + count > bytes.size())
        throw std::runtime_error("rank " + std::to_string(peer) + " sent truncated KV caches");
      std::memcpy(data, bytes.data() + at, count);
      at += count;
    };
    while (at < bytes.size()) {
      uint64_t nameBytes = 0, features = 0;
      take(&nameBytes, sizeof(nameBytes));
      std::string name(nameBytes, '\0');
      take(name.data(), nameBytes);
      take(&features, sizeof(features));
      std::vector<float> key(perRow * features), value(perRow * features);
      take(key.data(), key.size() * sizeof(float));
      take(value.data(), value.size() * sizeof(float));
      g.caches->upload(name, static_cast<int64_t>(features), key, value);
    }
  }
  g.caches->save(path, *std::max_element(g.lengths.begin(), g.lengths.end()));
}

} // namespace eert
