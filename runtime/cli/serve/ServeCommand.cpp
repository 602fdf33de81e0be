// ServeCommand.cpp - `BIN serve`: EE-LLM's PUT /api and OpenAI-style POST /v1/completions.
//
// Connection threads (BoundedHttpServer) read, parse and validate requests;
// the main thread alone runs generation, one request at a time, taking them
// from a bounded queue (so requests of concurrent clients never share the
// generator's caches, and under mpirun only the main thread talks to the other
// ranks, which follow rank 0's requests). SIGTERM or SIGINT: the generation
// running finishes and is answered, queued and new requests get 503, every
// thread is joined, the other ranks are told to stop, and serve returns 0.
#include "cli/serve/BoundedHttpServer.h"
#include "cli/Commands.h"
#include "cli/generate/Generation.h"
#include "cli/serve/ServeRequests.h"
#include "cli/model/Tokenizer.h"
#include "cli/train/Train.h"
#include "eert/eert.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

using json = nlohmann::json;

namespace eert {

const std::set<std::string> kServeOptions = {"load",           "port",           "host",
                                             "method",         "request-timeout", "max-connections",
                                             "max-queue",      "max-batch",       "kv-budget"};

namespace {

json tokenExits(const std::vector<TokenRecord> &records) {
  json exits = json::array();
  for (const TokenRecord &record : records)
    exits.push_back({{"exit", record.exit < 0 ? json("final") : json(record.exit)},
                     {"layer", record.layers},
                     {"confidence", record.confidence}});
  return exits;
}

std::vector<int32_t> tokenIds(const std::vector<TokenRecord> &records) {
  std::vector<int32_t> ids;
  for (const TokenRecord &record : records)
    ids.push_back(record.token);
  return ids;
}

json formatApi(const ApiRequest &api, const GenerationResult &result, const ServedModel &model,
               double seconds) {
  json text = json::array(), segments = json::array(), logprobs = json::array(),
       tokens = json::array(), exits = json::array();
  for (size_t p = 0; p < result.tokens.size(); ++p) {
    const std::vector<TokenRecord> &records = result.tokens[p];
    std::vector<int32_t> ids = tokenIds(records);
    text.push_back((api.echoPrompts ? model.tokenizer.decode(api.generation.prompts[p]) : "") +
                   model.tokenizer.decode(ids));
    json pieces = json::array(), values = json::array();
    for (const TokenRecord &record : records) {
      pieces.push_back(model.tokenizer.decode({record.token}));
      values.push_back(record.logprob);
    }
    segments.push_back(pieces);
    logprobs.push_back(values);
    tokens.push_back(ids);
    exits.push_back(tokenExits(records));
  }
  json response = {{"text", text},
                   {"segments", segments},
                   {"tokens", tokens},
                   {"exits", exits},
                   {"request_time", seconds},
                   {"summary", generationSummary(result, model.plan, api.generation)}};
  if (api.logprobs)
    response["logprobs"] = logprobs;
  return response;
}

/// Where the first of `stops` begins in `text` (npos: none there).
size_t firstStop(const std::string &text, const std::vector<std::string> &stops) {
  size_t cut = std::string::npos;
  for (const std::string &stop : stops)
    cut = std::min(cut, text.find(stop));
  return cut;
}

/// OpenAI's top_logprobs entry: {token text: log-probability}.
json topJson(const TopLogprobs &top, const Tokenizer &tokenizer) {
  json entry = json::object();
  for (auto [token, logprob] : top)
    entry[tokenizer.decode({token})] = logprob;
  return entry;
}

json formatCompletion(const CompletionRequest &completion, const GenerationResult &result,
                      const ServedModel &model, int64_t id) {
  json choices = json::array();
  int64_t promptTokens = 0, completionTokens = 0;
  const Tokenizer &tokenizer = model.tokenizer;
  for (size_t p = 0; p < result.tokens.size(); ++p) {
    std::vector<TokenRecord> records = result.tokens[p];
    const std::vector<int32_t> &prompt = completion.generation.prompts[p];
    if (p % completion.n == 0)
      promptTokens += static_cast<int64_t>(prompt.size());
    // A stop sequence ends the text before it, and the tokens with it.
    std::string text = tokenizer.decode(tokenIds(records));
    size_t cut = firstStop(text, completion.stop);
    if (cut != std::string::npos) {
      text.resize(cut);
      size_t kept = 0, offset = 0;
      while (kept < records.size() && offset < cut)
        offset += tokenizer.decode({records[kept++].token}).size();
      records.resize(kept);
    }
    completionTokens += static_cast<int64_t>(records.size());
    std::string echoed = completion.echo ? tokenizer.decode(prompt) : "";
    json choice = {{"index", p},
                   {"text", echoed + text},
                   {"finish_reason", cut != std::string::npos ? "stop" : "length"},
                   {"logprobs", nullptr},
                   {"exits", tokenExits(records)}};
    if (completion.logprobs) {
      json pieces = json::array(), values = json::array(), tops = json::array(),
           offsets = json::array();
      size_t offset = 0;
      auto add = [&](int32_t token, json logprob, json top) {
        std::string piece = tokenizer.decode({token});
        pieces.push_back(piece);
        values.push_back(std::move(logprob));
        tops.push_back(std::move(top));
        offsets.push_back(offset);
        offset += piece.size();
      };
      if (completion.echo)
        for (size_t i = 0; i < prompt.size(); ++i) {
          const PromptLogprob &scored = result.promptLogprobs.at(p).at(i);
          add(prompt[i], i == 0 ? json(nullptr) : json(scored.logprob),
              i == 0 ? json(nullptr) : topJson(scored.top, tokenizer));
        }
      for (const TokenRecord &record : records)
        add(record.token, record.logprob, topJson(record.top, tokenizer));
      choice["logprobs"] = {{"tokens", pieces},
                            {"token_logprobs", values},
                            {"top_logprobs", tops},
                            {"text_offset", offsets}};
    }
    choices.push_back(choice);
  }
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return {{"id", "cmpl-" + std::to_string(id)},
          {"object", "text_completion"},
          {"created", std::chrono::duration_cast<std::chrono::seconds>(now).count()},
          {"model", model.name},
          {"choices", choices},
          {"usage",
           {{"prompt_tokens", promptTokens},
            {"completion_tokens", completionTokens},
            {"total_tokens", promptTokens + completionTokens}}}};
}

/// A streamed completion (`"stream": true`): the generation (main thread)
/// hands each token over as it is final, the connection's thread writes it as
/// a server-sent event `data: {chunk}` (OpenAI's text_completion chunks, one
/// per token and choice), then one chunk per choice with its finish_reason and
/// `data: [DONE]`. With stop sequences, the text that could still begin one is
/// held back until it cannot; a choice that meets one ends there (and, in one
/// process, its sequence stops generating), as does every choice when the
/// client goes away.
class CompletionStream {
public:
  CompletionStream(const CompletionRequest &completion, const ServedModel &model, int64_t id)
      : completion_(completion), model_(model), id_(id),
        ended_(completion.generation.prompts.size(), false),
        texts_(ended_.size()), sent_(ended_.size(), 0), finish_(ended_.size()) {
    for (const std::string &stop : completion.stop)
      holdBack_ = std::max(holdBack_, stop.size() - 1);
  }

  /// request.onToken: queues the token; false once its choice has ended.
  bool push(size_t choice, const TokenRecord &record) {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.emplace_back(choice, record);
    ready_.notify_one();
    return !disconnected_ && !ended_[choice];
  }

  /// The content provider: writes events until the generation has ended.
  bool write(std::future<GenerationResult> &result, httplib::DataSink &sink) {
    if (completion_.echo)
      for (size_t i = 0; i < ended_.size(); ++i)
        if (!send(sink, chunk(i, model_.tokenizer.decode(completion_.generation.prompts[i]))))
          return false;
    while (true) {
      std::deque<std::pair<size_t, TokenRecord>> tokens;
      bool done = false;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait_for(lock, std::chrono::milliseconds(50), [&] { return !queued_.empty(); });
        tokens.swap(queued_);
        done = tokens.empty() &&
               result.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
      }
      for (auto &[choice, record] : tokens)
        if (!token(sink, choice, record))
          return false;
      if (!done)
        continue;
      try {
        result.get();
      } catch (const std::exception &e) {
        return send(sink, errorBody(e.what(), "server_error")) && finish(sink, false);
      }
      return finish(sink, true);
    }
  }

private:
  json chunk(size_t choice, const std::string &text, json logprobs = nullptr,
             json finishReason = nullptr, json exits = json::array()) const {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return {{"id", "cmpl-" + std::to_string(id_)},
            {"object", "text_completion"},
            {"created", std::chrono::duration_cast<std::chrono::seconds>(now).count()},
            {"model", model_.name},
            {"choices",
             {{{"index", choice},
               {"text", text},
               {"logprobs", std::move(logprobs)},
               {"finish_reason", std::move(finishReason)},
               {"exits", std::move(exits)}}}}};
  }

  bool send(httplib::DataSink &sink, const json &event) {
    return sendText(sink, "data: " + event.dump(-1, ' ', false, json::error_handler_t::replace) +
                              "\n\n");
  }

  bool sendText(httplib::DataSink &sink, const std::string &text) {
    BoundedHttpServer::restartWriteDeadline();
    if (sink.write(text.data(), text.size()))
      return true;
    std::lock_guard<std::mutex> lock(mutex_);
    disconnected_ = true;
    return false;
  }

  bool token(httplib::DataSink &sink, size_t choice, const TokenRecord &record) {
    if (!finish_[choice].empty())
      return true;
    std::string &text = texts_[choice];
    size_t offset = text.size();
    text += model_.tokenizer.decode({record.token});
    size_t cut = firstStop(text, completion_.stop);
    size_t upTo = cut != std::string::npos ? cut
                  : text.size() > holdBack_ ? text.size() - holdBack_
                                            : 0;
    upTo = std::max(upTo, sent_[choice]);
    json logprobs = nullptr;
    if (completion_.logprobs && (cut == std::string::npos || offset < cut)) {
      json top = json::object();
      for (auto [id, value] : record.top)
        top[model_.tokenizer.decode({id})] = value;
      logprobs = {{"tokens", {model_.tokenizer.decode({record.token})}},
                  {"token_logprobs", {record.logprob}},
                  {"top_logprobs", {top}},
                  {"text_offset", {offset}}};
    }
    std::string piece = text.substr(sent_[choice], upTo - sent_[choice]);
    sent_[choice] = upTo;
    bool stopped = cut != std::string::npos;
    if (stopped) {
      finish_[choice] = "stop";
      std::lock_guard<std::mutex> lock(mutex_);
      ended_[choice] = true;
    }
    if (!stopped || !piece.empty() || !logprobs.is_null())
      if (!send(sink, chunk(choice, piece, logprobs, nullptr, tokenExits({record}))))
        return false;
    return !stopped || send(sink, chunk(choice, "", nullptr, "stop"));
  }

  bool finish(httplib::DataSink &sink, bool complete) {
    for (size_t i = 0; i < ended_.size() && complete; ++i)
      if (finish_[i].empty() &&
          !send(sink, chunk(i, texts_[i].substr(sent_[i]), nullptr, "length")))
        return false;
    if (!sendText(sink, "data: [DONE]\n\n"))
      return false;
    sink.done();
    return true;
  }

  const CompletionRequest completion_;
  const ServedModel &model_;
  const int64_t id_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::pair<size_t, TokenRecord>> queued_;
  std::vector<bool> ended_; // per choice: met a stop sequence
  bool disconnected_ = false;
  // The writer's own: per choice, the text so far, how much of it was sent,
  // and its finish reason once ended.
  std::vector<std::string> texts_;
  std::vector<size_t> sent_;
  std::vector<std::string> finish_;
  size_t holdBack_ = 0;
};

/// No room for the request (full queue, shutting down): HTTP 503.
struct Unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The main thread's queue of validated requests.
class GenerationQueue {
public:
  /// `draining` says a stop was asked for: from then on pushes are refused,
  /// while the generation running finishes.
  GenerationQueue(size_t capacity, std::function<bool()> draining)
      : capacity_(capacity), draining_(std::move(draining)) {}

  /// Throws Unavailable when the queue is full or closed.
  std::future<GenerationResult> push(GenerationRequest request) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_ || draining_())
      throw Unavailable("the server is shutting down");
    if (jobs_.size() >= capacity_)
      throw Unavailable("the queue is full (" + std::to_string(capacity_) +
                        " requests waiting); retry later");
    jobs_.emplace_back(std::move(request), std::promise<GenerationResult>());
    std::future<GenerationResult> future = jobs_.back().second.get_future();
    ready_.notify_one();
    return future;
  }

  /// Runs jobs with `generate` until `stopping` returns true (checked between
  /// jobs and every 50 ms); then fails every job still queued and refuses new ones.
  template <typename Generate, typename Stopping>
  void serve(Generate generate, Stopping stopping) {
    while (!stopping()) {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!ready_.wait_for(lock, std::chrono::milliseconds(50), [&] { return !jobs_.empty(); }))
        continue;
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      run(job, generate);
    }
    close();
  }

  /// With continuous batching: between steps, admits the jobs at the head of
  /// the queue while they fit (in order: a job that must run alone, one asking
  /// for prompt scores or larger than the batch, waits until the batch has
  /// drained, then runs with `generateAlone`), then runs one step. On a stop
  /// the running sequences finish; the jobs still queued fail.
  template <typename Generate, typename Stopping>
  void serveBatched(ContinuousBatcher &batcher, Generate generateAlone, Stopping stopping) {
    while (true) {
      if (stopping() && batcher.running() == 0)
        break;
      // A job run alone takes long: the stop is checked again after it.
      while (!stopping()) {
        std::unique_lock<std::mutex> lock(mutex_);
        if (jobs_.empty())
          break;
        auto &[request, promise] = jobs_.front();
        if (!batcher.batchable(request)) {
          if (batcher.running() > 0)
            break;
          Job job = std::move(jobs_.front());
          jobs_.pop_front();
          lock.unlock();
          run(job, generateAlone);
          continue;
        }
        if (!batcher.admit(request, promise))
          break;
        jobs_.pop_front();
      }
      if (batcher.running() > 0) {
        batcher.step();
        continue;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait_for(lock, std::chrono::milliseconds(50), [&] { return !jobs_.empty(); });
    }
    close();
  }

private:
  using Job = std::pair<GenerationRequest, std::promise<GenerationResult>>;

  /// Fulfils `job` with what `generate` makes of its request, or its error.
  template <typename Generate> static void run(Job &job, Generate &generate) {
    try {
      job.second.set_value(generate(job.first));
    } catch (...) {
      job.second.set_exception(std::current_exception());
    }
  }

  /// Refuses new jobs and fails every job still queued.
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    for (auto &job : jobs_)
      job.second.set_exception(std::make_exception_ptr(Unavailable("the server is shutting down")));
    jobs_.clear();
  }

  size_t capacity_;
  std::function<bool()> draining_;
  bool closed_ = false;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> jobs_;
};

// Read by the connection threads as well as the main thread: a lock-free
// atomic, which a signal handler may also write.
std::atomic<bool> stopRequested{false};
static_assert(std::atomic<bool>::is_always_lock_free);
void onSignal(int) { stopRequested = true; }

/// SIGTERM and SIGINT only ask for a stop, on every rank: mpirun forwards them
/// to all ranks, and ranks after the first stop when rank 0 tells them to.
/// SA_RESTART keeps MPI's and httplib's blocking calls from seeing EINTR.
void catchStopSignals() {
  struct sigaction action {};
  action.sa_handler = onSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

/// A positive number of seconds from --name as milliseconds.
std::chrono::milliseconds secondsOption(const Options &options, const std::string &name,
                                        double fallback) {
  double seconds = options.number(name, fallback);
  if (!(seconds > 0 && seconds <= 86400))
    throw std::runtime_error("--" + name + " must be a number of seconds in (0, 86400]");
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(seconds * 1000)));
}

size_t countOption(const Options &options, const std::string &name, int64_t fallback,
                   int64_t max) {
  int64_t value = options.integer(name, fallback);
  if (value < 1 || value > max)
    throw std::runtime_error("--" + name + " must be an integer in [1, " + std::to_string(max) +
                             "]");
  return static_cast<size_t>(value);
}

void reply(httplib::Response &res, int status, const json &body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void replyError(httplib::Response &res, int status, const std::string &message) {
  BoundedHttpServer::replyError(res, status, message);
}

/// Requests travel from rank 0 to the other ranks (pipeline stages or
/// tensor-parallel peers) as JSON: every field of GenerationRequest.
constexpr int64_t kServeTag = 21;

json requestToJson(const GenerationRequest &request) {
  json thresholds = json::object();
  for (auto [index, value] : request.exitThresholds)
    thresholds[std::to_string(index)] = value;
  return {{"prompts", request.prompts},
          {"max_new_tokens", request.maxNewTokens},
          {"threshold", request.threshold ? json(*request.threshold) : json(nullptr)},
          {"exit_thresholds", thresholds},
          {"active_exits", request.activeExits},
          {"temperature", request.temperature},
          {"top_k", request.topK},
          {"top_p", request.topP},
          {"seed", request.seed},
          {"speculative", request.speculative},
          {"draft_exit", request.draftExit},
          {"draft_tokens", request.draftTokens},
          {"prompt_logprobs", request.promptLogprobs},
          {"top_logprobs", request.topLogprobs}};
}

GenerationRequest requestFromJson(const json &j) {
  GenerationRequest request;
  request.prompts = j.at("prompts").get<std::vector<std::vector<int32_t>>>();
  request.maxNewTokens = j.at("max_new_tokens").get<int64_t>();
  if (!j.at("threshold").is_null())
    request.threshold = j.at("threshold").get<double>();
  for (const auto &item : j.at("exit_thresholds").items())
    request.exitThresholds[std::stoll(item.key())] = item.value().get<double>();
  request.activeExits = j.at("active_exits").get<std::vector<int64_t>>();
  request.temperature = j.at("temperature").get<float>();
  request.topK = j.at("top_k").get<int64_t>();
  request.topP = j.at("top_p").get<float>();
  request.seed = j.at("seed").get<uint64_t>();
  request.speculative = j.at("speculative").get<bool>();
  request.draftExit = j.at("draft_exit").get<int64_t>();
  request.draftTokens = j.at("draft_tokens").get<int64_t>();
  request.promptLogprobs = j.at("prompt_logprobs").get<bool>();
  request.topLogprobs = j.at("top_logprobs").get<int64_t>();
  return request;
}

void sendToStages(const std::string &bytes) {
  uint64_t size = bytes.size();
  for (int32_t peer = 1; peer < eert_comm_size(); ++peer)
    if (eert_comm_send(&size, sizeof(size), peer, kServeTag) ||
        (size && eert_comm_send(bytes.data(), static_cast<int64_t>(size), peer, kServeTag)))
      throw std::runtime_error(std::string("communication failed: ") + eert_last_error());
}

/// Ranks after the first: generate what rank 0 sends until it sends nothing.
void followRequests(Generator &generator) {
  while (true) {
    uint64_t size = 0;
    // An idle server waits for its next request as long as it takes; the
    // communication timeout holds again while the request is served.
    float timeout = eert_comm_timeout();
    eert_comm_set_timeout(0);
    int32_t failed = eert_comm_recv(&size, sizeof(size), 0, kServeTag, nullptr);
    eert_comm_set_timeout(timeout);
    if (failed)
      throw std::runtime_error(std::string("communication failed: ") + eert_last_error());
    if (size == 0)
      return;
    std::string bytes(size, '\0');
    if (eert_comm_recv(bytes.data(), static_cast<int64_t>(size), 0, kServeTag, nullptr))
      throw std::runtime_error(std::string("communication failed: ") + eert_last_error());
    generator.generate(requestFromJson(json::parse(bytes)));
  }
}

/// The model's name for clients: its checkpoint directory's.
std::string modelName(std::string path) {
  while (path.size() > 1 && path.back() == '/')
    path.pop_back();
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

int serveCommand(const Manifest &manifest, const Options &options) {
  catchStopSignals();
  std::string dir = resolveCheckpoint(options.text("load"));
  HttpLimits limits;
  limits.requestTimeout = secondsOption(options, "request-timeout", 30);
  limits.writeTimeout = limits.requestTimeout;
  limits.idleTimeout = std::min(limits.idleTimeout, limits.requestTimeout);
  limits.maxConnections = countOption(options, "max-connections", 64, 4096);
  size_t maxQueue = countOption(options, "max-queue", 64, 1 << 20);
  InferencePlan plan = InferencePlan::fromManifest(manifest);
  std::string method = joinForMethod(manifest, plan, options.has("method") ? options.text("method") : "");
  Weights weights = Weights::load(manifest, dir);
  int64_t vocab = manifest.config.at("vocab_size").get<int64_t>();
  ServedModel model{std::move(plan), Tokenizer::forCheckpoint(dir, vocab),
                    modelName(options.text("load")), vocab,
                    manifest.config.at("max_position_embeddings").get<int64_t>(), method};
  std::unique_ptr<Generator> generator = makeGenerator(method, manifest, weights);
  // Continuous batching where one process generates (--max-batch 1: off).
  int64_t maxBatch = options.integer("max-batch", 16);
  if (maxBatch < 1 || maxBatch > static_cast<int64_t>(kMaxCompletionChoices))
    throw std::runtime_error("--max-batch must be an integer in [1, " +
                             std::to_string(kMaxCompletionChoices) + "]");
  int64_t kvBudget = options.integer("kv-budget", maxBatch * model.maxPositions);
  if (kvBudget < 1)
    throw std::runtime_error("--kv-budget must be a positive number of tokens");
  std::unique_ptr<ContinuousBatcher> batcher;
  if (maxBatch > 1 && eert_comm_size() == 1 && method != "pipeline")
    batcher = std::make_unique<ContinuousBatcher>(manifest, weights, maxBatch, kvBudget);
  if (eert_comm_rank() != 0) {
    followRequests(*generator);
    return 0;
  }
  int64_t port = options.integer("port");
  if (port < 0 || port > 65535)
    throw std::runtime_error("--port must be in [0, 65535] (0: any free port)");
  std::string host = options.has("host") ? options.text("host") : "127.0.0.1";

  BoundedHttpServer server(limits);
  GenerationQueue queue(maxQueue, [] { return stopRequested.load(); });
  std::mutex countMutex;
  int64_t completions = 0;

  auto nextId = [&] {
    std::lock_guard<std::mutex> lock(countMutex);
    return ++completions;
  };
  // A completion with "stream": queued with a token hand-over, answered by a
  // content provider that writes the events as the tokens come.
  auto stream = [&](const auto &parsed, httplib::Response &res) {
    if constexpr (std::is_same_v<std::decay_t<decltype(parsed)>, CompletionRequest>) {
      if (!parsed.stream)
        return false;
      auto events = std::make_shared<CompletionStream>(parsed, model, nextId());
      GenerationRequest request = parsed.generation;
      request.onToken = [events](size_t choice, const TokenRecord &record) {
        return events->push(choice, record);
      };
      auto result = std::make_shared<std::future<GenerationResult>>(queue.push(std::move(request)));
      res.set_chunked_content_provider("text/event-stream",
                                       [events, result](size_t, httplib::DataSink &sink) {
                                         return events->write(*result, sink);
                                       });
      return true;
    }
    return false;
  };

  // A completion's sequences stop generating once their text holds a stop
  // sequence (where the generation runs in one process; formatCompletion
  // cuts the text there either way).
  auto endingAtStops = [&](const auto &parsed) {
    GenerationRequest request = parsed.generation;
    if constexpr (std::is_same_v<std::decay_t<decltype(parsed)>, CompletionRequest>) {
      if (parsed.stop.empty())
        return request;
      auto texts = std::make_shared<std::vector<std::string>>(request.prompts.size());
      request.onToken = [texts, stops = parsed.stop, &model](size_t choice,
                                                             const TokenRecord &record) {
        std::string &text = (*texts)[choice];
        text += model.tokenizer.decode({record.token});
        return firstStop(text, stops) == std::string::npos;
      };
    }
    return request;
  };

  // Reads, parses, validates and queues a request; formats its result or the error.
  auto handle = [&](const httplib::Request &req, httplib::Response &res,
                    const httplib::ContentReader &reader, auto parse, auto format) {
    auto start = std::chrono::steady_clock::now();
    std::string body;
    if (!BoundedHttpServer::readBodyOrReply(req, reader, body, res))
      return;
    try {
      auto parsed = parse(body, model);
      if (stream(parsed, res))
        return;
      GenerationResult result = queue.push(endingAtStops(parsed)).get();
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      reply(res, 200, format(parsed, result, seconds));
    } catch (const BadRequest &e) {
      replyError(res, 400, e.what());
    } catch (const Unavailable &e) {
      res.set_header("Retry-After", "1");
      replyError(res, 503, e.what());
    } catch (const std::exception &e) {
      replyError(res, 500, e.what());
    }
  };
  server.Put("/api", [&](const httplib::Request &req, httplib::Response &res,
                         const httplib::ContentReader &reader) {
    handle(req, res, reader, parseApiRequest,
           [&](const ApiRequest &api, const GenerationResult &result, double seconds) {
             return formatApi(api, result, model, seconds);
           });
  });
  server.Post("/v1/completions", [&](const httplib::Request &req, httplib::Response &res,
                                     const httplib::ContentReader &reader) {
    handle(req, res, reader, parseCompletionRequest,
           [&](const CompletionRequest &completion, const GenerationResult &result, double) {
             return formatCompletion(completion, result, model, nextId());
           });
  });
  server.Get("/v1/models", [&](const httplib::Request &, httplib::Response &res) {
    reply(res, 200,
          {{"object", "list"},
           {"data", {{{"id", model.name}, {"object", "model"}, {"owned_by", "ee-compile"}}}}});
  });
  server.finishRoutes({{"/api", "PUT"}, {"/v1/completions", "POST"}, {"/v1/models", "GET"}});

  int bound = server.listenOn(host, static_cast<int>(port));
  server.start();
  std::cerr << "serving " << model.name << " (" << method << ") on http://" << host << ":" << bound
            << " (PUT /api, POST /v1/completions; pid " << ::getpid() << ")" << std::endl;
  auto generateAlone = [&](const GenerationRequest &request) {
    if (eert_comm_size() > 1)
      sendToStages(requestToJson(request).dump());
    return generator->generate(request);
  };
  auto stopping = [&] { return stopRequested.load(); };
  if (batcher)
    queue.serveBatched(*batcher, generateAlone, stopping);
  else
    queue.serve(generateAlone, stopping);
  std::cerr << "server stopping: answering the last responses" << std::endl;
  server.stop();
  if (eert_comm_size() > 1)
    sendToStages("");
  std::cerr << "server stopped" << std::endl;
  return 0;
}

} // namespace eert
