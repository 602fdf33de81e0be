// PipelineGeneration.cpp - the pipeline-based early-exit method: one MPI rank per stage.
//
// Stage 0 embeds each token and runs its layers; every stage evaluates the
// active exits among its segments and either decides the token there or hands
// the hidden state on. A token decided on stage s is still handed on (marked
// decided) so the later stages fill their KV caches, while stage 0, told the
// token, already starts the next one: the deeper stages finish exited tokens
// in parallel with the shallow stages' work on the next token. Each stage
// receives its tokens in order from the previous one, so its caches are filled
// position by position exactly as at full depth.
#include "cli/Generation.h"
#include "cli/GenerationEngine.h"

#include "eert/eert.h"

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace eert {

namespace {

/// Message tags: tokens flowing down the pipeline, decisions going back to
/// stage 0, KV caches gathered on rank 0.
enum Tag : int64_t { kTokens = 11, kDecision = 12, kCaches = 13 };

/// What precedes a batch of tokens sent to the next stage.
struct StageHeader {
  int32_t stop = 0;    // 1: the request is over, no payload follows
  int32_t count = 0;   // tokens in the payload (positions, cache rows, hidden states)
  int32_t decided = 0; // the last token's successor is already chosen upstream
  int32_t padding = 0;
  uint64_t rng = 0;    // sampling state of the sequence, for the stage that decides
};

/// A token chosen by some stage, sent to stage 0.
struct Decision {
  int32_t token = 0, exit = 0, layers = 0;
  float confidence = 0, logprob = 0;
  int32_t padding = 0;
  uint64_t rng = 0;
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

/// Sends to the next stage without waiting; the buffers are kept until the
/// next message, which first waits for this one.
class Downstream {
public:
  explicit Downstream(int64_t peer) : peer_(peer) {}
  ~Downstream() { wait(); }

  void post(const StageHeader &header, const TokenBatch &batch) {
    wait();
    header_ = header;
    size_t indices = batch.size() * sizeof(int32_t);
    payload_.resize(2 * indices + batch.hidden.size() * sizeof(float));
    std::memcpy(payload_.data(), batch.positions.data(), indices);
    std::memcpy(payload_.data() + indices, batch.rows.data(), indices);
    std::memcpy(payload_.data() + 2 * indices, batch.hidden.data(),
                batch.hidden.size() * sizeof(float));
    check(eert_comm_isend(&header_, sizeof(header_), peer_, kTokens, &requests_[0]));
    if (!header.stop)
      check(eert_comm_isend(payload_.data(), static_cast<int64_t>(payload_.size()), peer_, kTokens,
                            &requests_[1]));
  }

  void wait() {
    for (uint64_t &request : requests_)
      if (request && eert_comm_wait(&request))
        throw std::runtime_error(std::string("communication failed: ") + eert_last_error());
  }

private:
  int64_t peer_;
  StageHeader header_;
  std::vector<char> payload_;
  uint64_t requests_[2] = {0, 0};
};

} // namespace

struct PipelineGenerator::Impl : Engine {
  int64_t rank, stages;
  std::vector<size_t> segments; // this stage's, in order
  std::unique_ptr<Downstream> downstream;

  Impl(const Manifest &m, const Weights &weights) : Engine(m, weights) {
    if (plan.stages < 2)
      throw std::runtime_error("the pipeline method needs a binary compiled with --pp P (P >= 2); "
                               "this one has one pipeline stage (use --method recompute)");
    rank = eert_comm_rank();
    stages = eert_comm_size();
    if (stages != plan.stages)
      throw std::runtime_error("the binary has " + std::to_string(plan.stages) +
                               " pipeline stages: run it with mpirun -np " +
                               std::to_string(plan.stages) + " (the world has " +
                               std::to_string(stages) + " ranks)");
    for (size_t s = 0; s < plan.segments.size(); ++s)
      if (plan.segments[s].stage == rank)
        segments.push_back(s);
    if (rank + 1 < stages)
      downstream = std::make_unique<Downstream>(rank + 1);
  }

  bool lastStage() const { return rank + 1 == stages; }

  /// Runs this stage's segments on `batch` (token ids on stage 0, else hidden
  /// states), deciding the last token at the first active exit whose
  /// confidence reaches its threshold unless `decided`; on the last stage an
  /// undecided token takes the final head.
  std::optional<TokenRecord> runStage(const std::vector<int32_t> &ids, TokenBatch &batch,
                                      bool decided, uint64_t &rng) {
    std::optional<TokenRecord> decision;
    for (size_t s : segments) {
      const void *x = s == 0 ? static_cast<const void *>(ids.data()) : batch.hidden.data();
      std::vector<std::vector<float>> exitInputs = runSegment(s, x, batch);
      const InferencePlan::Segment &segment = plan.segments[s];
      for (size_t k = 0; k < segment.exits.size(); ++k) {
        const InferencePlan::Exit &exit = plan.exits[segment.exits[k]];
        std::optional<double> threshold = exitThreshold(request, exit.index);
        if (!threshold)
          continue;
        bool deciding = !decided && !decision;
        size_t last = batch.size() - 1;
        std::vector<size_t> passing;
        for (size_t i = 0; i < batch.size(); ++i)
          if (!deciding || i != last)
            passing.push_back(i);
        // Tokens passing a block exit fill its KV cache (they come before the decider).
        if (exit.kvEntry && !passing.empty()) {
          TokenBatch fill = select(batch, passing, exitInputs[k].data());
          call(*exit.kvEntry, fill.hidden.data(), fill, exit.caches);
        }
        if (!deciding)
          continue;
        TokenBatch head = select(batch, {last}, exitInputs[k].data());
        std::vector<void *> outputs = call(*exit.entry, head.hidden.data(), head, exit.caches);
        float confidence = *static_cast<const float *>(outputs[1]);
        if (confidence >= *threshold)
          decision = takeToken(static_cast<const float *>(outputs[0]), vocab, request, rng,
                               exit.index, exit.boundary, confidence);
      }
    }
    if (lastStage() && !decided && !decision)
      decision = finalToken(batch, rng);
    return decision;
  }

  /// Stage 0: generates every sequence of the request, one after another.
  GenerationResult lead() {
    int64_t sequences = static_cast<int64_t>(request.prompts.size());
    GenerationResult result;
    result.tokens.assign(sequences, {});
    auto clock = [] { return std::chrono::steady_clock::now(); };
    for (int64_t row = 0; row < sequences; ++row) {
      uint64_t rng = request.seed;
      std::vector<int32_t> feed = request.prompts[row];
      auto start = clock();
      for (int64_t n = 0; n < request.maxNewTokens; ++n) {
        TokenBatch batch;
        for (size_t i = 0; i < feed.size(); ++i) {
          batch.positions.push_back(static_cast<int32_t>(lengths[row]++));
          batch.rows.push_back(static_cast<int32_t>(row));
        }
        std::optional<TokenRecord> decision = runStage(feed, batch, false, rng);
        StageHeader header{0, static_cast<int32_t>(batch.size()), decision ? 1 : 0, 0, rng};
        downstream->post(header, batch);
        if (!decision) {
          Decision d;
          receive(&d, sizeof(d), -1, kDecision);
          decision = TokenRecord{d.token, d.exit, d.layers, d.confidence, d.logprob};
          rng = d.rng;
        }
        result.tokens[row].push_back(*decision);
        feed.assign(1, decision->token);
        double elapsed = std::chrono::duration<double>(clock() - start).count();
        if (n == 0)
          result.prefillSeconds += elapsed;
        else
          result.decodeSeconds += elapsed;
        start = clock();
      }
    }
    downstream->post(StageHeader{1}, TokenBatch{});
    downstream->wait();
    result.decodeTokens = sequences * std::max<int64_t>(request.maxNewTokens - 1, 0);
    return result;
  }

  /// Stages after the first: runs what arrives until the request is over.
  /// Tokens that queued up while this stage was busy (exited upstream) run
  /// together, with the newest, the only one that may be undecided, last.
  void follow() {
    bool stopping = false;
    while (!stopping) {
      TokenBatch batch;
      StageHeader newest;
      bool first = true;
      while (first || waiting()) {
        first = false;
        StageHeader header;
        receive(&header, sizeof(header), rank - 1, kTokens);
        if (header.stop) {
          stopping = true;
          break;
        }
        appendPayload(header.count, batch);
        newest = header;
        if (!header.decided)
          break;
      }
      if (batch.size() == 0)
        continue;
      uint64_t rng = newest.rng;
      std::optional<TokenRecord> decision = runStage({}, batch, newest.decided, rng);
      if (decision) {
        Decision d{decision->token, static_cast<int32_t>(decision->exit),
                   static_cast<int32_t>(decision->layers), decision->confidence,
                   decision->logprob, 0, rng};
        send(&d, sizeof(d), 0, kDecision);
      }
      if (downstream)
        downstream->post({0, static_cast<int32_t>(batch.size()),
                          newest.decided || decision ? 1 : 0, 0, rng},
                         batch);
    }
    if (downstream) {
      downstream->post(StageHeader{1}, TokenBatch{});
      downstream->wait();
    }
  }

  /// Whether the previous stage has sent more.
  bool waiting() {
    uint64_t flag = 0;
    check(eert_comm_probe(rank - 1, kTokens, &flag));
    return flag != 0;
  }

  /// Receives `count` tokens' positions, rows and hidden states onto `batch`.
  void appendPayload(int32_t count, TokenBatch &batch) {
    size_t indices = count * sizeof(int32_t);
    std::vector<char> payload(2 * indices + count * hidden * sizeof(float));
    receive(payload.data(), payload.size(), rank - 1, kTokens);
    size_t at = batch.size();
    batch.positions.resize(at + count);
    batch.rows.resize(at + count);
    batch.hidden.resize((at + count) * hidden);
    std::memcpy(batch.positions.data() + at, payload.data(), indices);
    std::memcpy(batch.rows.data() + at, payload.data() + indices, indices);
    std::memcpy(batch.hidden.data() + at * hidden, payload.data() + 2 * indices,
                count * hidden * sizeof(float));
  }
};

PipelineGenerator::PipelineGenerator(const Manifest &manifest, const Weights &weights)
    : impl_(std::make_shared<Impl>(manifest, weights)) {}

GenerationResult PipelineGenerator::generate(const GenerationRequest &request) {
  Impl &g = *impl_;
  validateRequest(request, g.plan, g.vocab, g.maxPositions);
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
      auto &[key, value] = g.caches->buffers(name);
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
      auto &[key, value] = g.caches->buffers(name, static_cast<int64_t>(features));
      take(key.data(), key.size() * sizeof(float));
      take(value.data(), value.size() * sizeof(float));
    }
  }
  g.caches->save(path, *std::max_element(g.lengths.begin(), g.lengths.end()));
}

} // namespace eert
