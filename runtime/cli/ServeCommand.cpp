// ServeCommand.cpp - `BIN serve`: EE-LLM's PUT /api and OpenAI-style POST /v1/completions.
//
// cpp-httplib (Debian) answers on its own threads; the main thread alone runs
// generation, one request at a time, taking them from a queue (so requests of
// concurrent clients never share the generator's caches, and under mpirun only
// the main thread talks to the other ranks, which follow rank 0's requests).
#include "cli/Commands.h"
#include "cli/Generation.h"
#include "cli/Tokenizer.h"
#include "cli/Train.h"
#include "eert/eert.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <csignal>
#include <condition_variable>
#include <deque>
#include <future>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

using json = nlohmann::json;

namespace eert {

const std::set<std::string> kServeOptions = {"load", "port", "host", "method"};

namespace {

/// A request the client got wrong: HTTP 400 with the message.
struct BadRequest : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// Typed access to a request body's fields; every field must be known.
class Fields {
public:
  Fields(const json &body, std::set<std::string> known) : body_(body), known_(std::move(known)) {
    if (!body.is_object())
      throw BadRequest("the request body must be a JSON object");
    for (const auto &item : body.items())
      if (!known_.count(item.key()))
        throw BadRequest("unknown field '" + item.key() + "'");
  }
  bool has(const std::string &name) const { return body_.contains(name) && !body_[name].is_null(); }
  const json &at(const std::string &name) const { return body_.at(name); }

  std::optional<int64_t> integer(const std::string &name, int64_t min, int64_t max) const {
    if (!has(name))
      return std::nullopt;
    const json &value = body_[name];
    if (!value.is_number_integer() || value.get<int64_t>() < min || value.get<int64_t>() > max)
      throw BadRequest("'" + name + "' must be an integer in [" + std::to_string(min) + ", " +
                       std::to_string(max) + "], got " + value.dump());
    return value.get<int64_t>();
  }
  std::optional<double> number(const std::string &name, double min, double max) const {
    if (!has(name))
      return std::nullopt;
    const json &value = body_[name];
    if (!value.is_number() || !(value.get<double>() >= min && value.get<double>() <= max)) {
      auto text = [](double x) {
        std::ostringstream out;
        out << x;
        return out.str();
      };
      throw BadRequest("'" + name + "' must be a number " +
                       (std::isinf(max) ? ">= " + text(min)
                                        : "in [" + text(min) + ", " + text(max) + "]") +
                       ", got " + value.dump());
    }
    return value.get<double>();
  }
  std::optional<bool> boolean(const std::string &name) const {
    if (!has(name))
      return std::nullopt;
    if (!body_[name].is_boolean())
      throw BadRequest("'" + name + "' must be true or false, got " + body_[name].dump());
    return body_[name].get<bool>();
  }
  /// A string or a list of strings, as a list.
  std::vector<std::string> strings(const std::string &name) const {
    const json &value = body_[name];
    if (value.is_string())
      return {value.get<std::string>()};
    if (!value.is_array() || value.empty())
      throw BadRequest("'" + name + "' must be a string or a non-empty list of strings");
    std::vector<std::string> result;
    for (const json &item : value) {
      if (!item.is_string())
        throw BadRequest("'" + name + "' must be a string or a non-empty list of strings");
      result.push_back(item.get<std::string>());
    }
    return result;
  }
  std::vector<double> numbers(const std::string &name) const {
    const json &value = body_[name];
    std::vector<double> result;
    if (value.is_array())
      for (const json &item : value)
        if (item.is_number())
          result.push_back(item.get<double>());
    if (!value.is_array() || result.size() != value.size())
      throw BadRequest("'" + name + "' must be a list of numbers");
    return result;
  }

private:
  const json &body_;
  std::set<std::string> known_;
};

constexpr size_t kMaxPrompts = 128;

/// What the server knows about its model.
struct Model {
  const Manifest &manifest;
  InferencePlan plan;
  Tokenizer tokenizer;
  std::string name;
  int64_t vocab, maxPositions;
};

/// The early-exit fields both endpoints take: early_exit_thres, use_early_exit,
/// exit_layers and (ours) exit_thresholds, one per exit.
void readEarlyExit(const Fields &fields, const Model &model, GenerationRequest &request) {
  std::optional<double> threshold = fields.number("early_exit_thres", 0.0, INFINITY);
  bool use = fields.boolean("use_early_exit").value_or(true);
  if (use && threshold)
    request.threshold = threshold;
  if (fields.has("exit_thresholds")) {
    std::vector<double> values = fields.numbers("exit_thresholds");
    if (values.size() != model.plan.exits.size())
      throw BadRequest("'exit_thresholds' needs one threshold per exit (" +
                       std::to_string(model.plan.exits.size()) + ")");
    if (use)
      for (size_t k = 0; k < values.size(); ++k)
        request.exitThresholds[k] = values[k];
  }
  if (fields.has("exit_layers")) {
    std::vector<double> layers = fields.numbers("exit_layers");
    try {
      request.activeExits = exitsAtLayers(model.plan, layers);
    } catch (const std::invalid_argument &e) {
      throw BadRequest(std::string("'exit_layers': ") + e.what());
    }
  }
}

std::vector<std::vector<int32_t>> encodePrompts(const Model &model,
                                                const std::vector<std::string> &prompts) {
  if (prompts.size() > kMaxPrompts)
    throw BadRequest("at most " + std::to_string(kMaxPrompts) + " prompts per request");
  std::vector<std::vector<int32_t>> ids;
  for (const std::string &prompt : prompts)
    ids.push_back(model.tokenizer.encode(prompt));
  return ids;
}

/// PUT /api as EE-LLM's server takes it.
struct ApiRequest {
  GenerationRequest generation;
  bool logprobs = false, echoPrompts = false;
};

ApiRequest parseApi(const json &body, const Model &model) {
  Fields fields(body, {"prompts", "tokens_to_generate", "early_exit_thres", "use_early_exit",
                       "exit_layers", "exit_thresholds", "top_k", "top_p", "temperature",
                       "random_seed", "logprobs", "echo_prompts", "no_log", "print_max_prob"});
  if (!fields.has("prompts"))
    throw BadRequest("prompts argument required");
  ApiRequest api;
  GenerationRequest &request = api.generation;
  std::vector<std::string> prompts = fields.strings("prompts");
  request.prompts = encodePrompts(model, prompts);
  request.maxNewTokens = fields.integer("tokens_to_generate", 0, model.maxPositions).value_or(64);
  readEarlyExit(fields, model, request);
  request.topK = fields.integer("top_k", 0, model.vocab).value_or(0);
  // EE-LLM: top_p 0 means no nucleus filtering; temperature 0 means greedy.
  double topP = fields.number("top_p", 0.0, 1.0).value_or(0.0);
  request.topP = topP > 0 ? static_cast<float>(topP) : 1.0f;
  request.temperature = static_cast<float>(fields.number("temperature", 0.0, 100.0).value_or(0.0));
  request.seed = static_cast<uint64_t>(fields.integer("random_seed", 0, INT64_MAX).value_or(1234));
  api.logprobs = fields.boolean("logprobs").value_or(false);
  api.echoPrompts = fields.boolean("echo_prompts").value_or(false);
  fields.boolean("no_log");
  fields.boolean("print_max_prob");
  return api;
}

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

json formatApi(const ApiRequest &api, const GenerationResult &result, const Model &model,
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
                   {"summary", generationSummary(result, model.plan, api.generation.prompts)}};
  if (api.logprobs)
    response["logprobs"] = logprobs;
  return response;
}

/// POST /v1/completions, OpenAI style, with the early-exit fields as extensions.
struct CompletionRequest {
  GenerationRequest generation;
  bool echo = false;
  bool logprobs = false;
};

CompletionRequest parseCompletion(const json &body, const Model &model) {
  Fields fields(body, {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "n",
                       "seed", "logprobs", "echo", "stream", "stop", "user", "early_exit_thres",
                       "use_early_exit", "exit_layers", "exit_thresholds"});
  if (!fields.has("prompt"))
    throw BadRequest("'prompt' is required");
  if (fields.has("model") && !fields.at("model").is_string())
    throw BadRequest("'model' must be a string");
  if (fields.has("model") && fields.at("model").get<std::string>() != model.name)
    throw BadRequest("unknown model '" + fields.at("model").get<std::string>() + "' (this server has '" +
                     model.name + "')");
  if (fields.integer("n", 1, 1).value_or(1) != 1)
    throw BadRequest("'n' must be 1");
  if (fields.boolean("stream").value_or(false))
    throw BadRequest("streaming is not supported ('stream' must be false)");
  if (fields.has("stop"))
    throw BadRequest("'stop' sequences are not supported");
  if (fields.has("user") && !fields.at("user").is_string())
    throw BadRequest("'user' must be a string");
  CompletionRequest completion;
  GenerationRequest &request = completion.generation;
  request.prompts = encodePrompts(model, fields.strings("prompt"));
  request.maxNewTokens = fields.integer("max_tokens", 0, model.maxPositions).value_or(16);
  readEarlyExit(fields, model, request);
  request.temperature = static_cast<float>(fields.number("temperature", 0.0, 2.0).value_or(1.0));
  request.topP = static_cast<float>(fields.number("top_p", 1e-9, 1.0).value_or(1.0));
  request.topK = fields.integer("top_k", 0, model.vocab).value_or(0);
  request.seed = static_cast<uint64_t>(fields.integer("seed", 0, INT64_MAX).value_or(0));
  completion.logprobs = fields.integer("logprobs", 0, 5).has_value();
  completion.echo = fields.boolean("echo").value_or(false);
  return completion;
}

json formatCompletion(const CompletionRequest &completion, const GenerationResult &result,
                      const Model &model, int64_t id) {
  json choices = json::array();
  int64_t promptTokens = 0, completionTokens = 0;
  for (size_t p = 0; p < result.tokens.size(); ++p) {
    const std::vector<TokenRecord> &records = result.tokens[p];
    std::vector<int32_t> ids = tokenIds(records);
    promptTokens += static_cast<int64_t>(completion.generation.prompts[p].size());
    completionTokens += static_cast<int64_t>(ids.size());
    json choice = {
        {"index", p},
        {"text", (completion.echo ? model.tokenizer.decode(completion.generation.prompts[p]) : "") +
                     model.tokenizer.decode(ids)},
        {"finish_reason", "length"},
        {"logprobs", nullptr},
        {"exits", tokenExits(records)}};
    if (completion.logprobs) {
      json pieces = json::array(), values = json::array();
      for (const TokenRecord &record : records) {
        pieces.push_back(model.tokenizer.decode({record.token}));
        values.push_back(record.logprob);
      }
      choice["logprobs"] = {{"tokens", pieces}, {"token_logprobs", values}};
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

/// The main thread's queue of validated requests.
class GenerationQueue {
public:
  std::future<GenerationResult> push(GenerationRequest request) {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.emplace_back(std::move(request), std::promise<GenerationResult>());
    std::future<GenerationResult> future = jobs_.back().second.get_future();
    ready_.notify_one();
    return future;
  }

  /// Runs jobs with `generate` until `stopping` returns true (checked often).
  template <typename Generate, typename Stopping>
  void serve(Generate generate, Stopping stopping) {
    while (!stopping()) {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!ready_.wait_for(lock, std::chrono::milliseconds(100), [&] { return !jobs_.empty(); }))
        continue;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      try {
        job.second.set_value(generate(job.first));
      } catch (...) {
        job.second.set_exception(std::current_exception());
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto &job : jobs_)
      job.second.set_exception(
          std::make_exception_ptr(std::runtime_error("the server is shutting down")));
    jobs_.clear();
  }

private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::pair<GenerationRequest, std::promise<GenerationResult>>> jobs_;
};

volatile std::sig_atomic_t stopRequested = 0;
void onSignal(int) { stopRequested = 1; }

/// Requests travel from rank 0 to the other pipeline stages as JSON.
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
          {"seed", request.seed}};
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
  std::string dir = resolveCheckpoint(options.text("load"));
  InferencePlan plan = InferencePlan::fromManifest(manifest);
  std::string method = joinForMethod(manifest, plan, options.has("method") ? options.text("method") : "");
  Weights weights = Weights::load(manifest, dir);
  Model model{manifest,
              std::move(plan),
              Tokenizer::forCheckpoint(dir, manifest.config.at("vocab_size").get<int64_t>()),
              modelName(options.text("load")),
              manifest.config.at("vocab_size").get<int64_t>(),
              manifest.config.at("max_position_embeddings").get<int64_t>()};
  std::unique_ptr<Generator> generator = makeGenerator(method, manifest, weights);
  if (eert_comm_rank() != 0) {
    followRequests(*generator);
    return 0;
  }
  int64_t port = options.integer("port");
  if (port < 0 || port > 65535)
    throw std::runtime_error("--port must be in [0, 65535] (0: any free port)");
  std::string host = options.has("host") ? options.text("host") : "127.0.0.1";

  httplib::Server server;
  server.set_payload_max_length(1 << 20);
  GenerationQueue queue;
  std::mutex countMutex;
  int64_t completions = 0;

  auto reply = [](httplib::Response &res, int status, const json &body) {
    res.status = status;
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  };
  // Parses, validates and queues a request; formats its result or the error.
  auto handle = [&](const httplib::Request &req, httplib::Response &res, auto parse, auto format) {
    auto start = std::chrono::steady_clock::now();
    try {
      json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (body.is_discarded())
        throw BadRequest("malformed JSON in the request body");
      auto parsed = parse(body, model);
      try {
        validateRequest(parsed.generation, model.plan, model.vocab, model.maxPositions);
      } catch (const std::invalid_argument &e) {
        throw BadRequest(e.what());
      }
      GenerationResult result = queue.push(parsed.generation).get();
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      reply(res, 200, format(parsed, result, seconds));
    } catch (const BadRequest &e) {
      reply(res, 400, {{"error", {{"message", e.what()}, {"type", "invalid_request_error"}}}});
    } catch (const std::exception &e) {
      reply(res, 500, {{"error", {{"message", e.what()}, {"type", "server_error"}}}});
    }
  };
  server.Put("/api", [&](const httplib::Request &req, httplib::Response &res) {
    handle(req, res, parseApi, [&](const ApiRequest &api, const GenerationResult &result,
                                   double seconds) { return formatApi(api, result, model, seconds); });
  });
  server.Post("/v1/completions", [&](const httplib::Request &req, httplib::Response &res) {
    handle(req, res, parseCompletion,
           [&](const CompletionRequest &completion, const GenerationResult &result, double) {
             std::lock_guard<std::mutex> lock(countMutex);
             return formatCompletion(completion, result, model, ++completions);
           });
  });
  server.Get("/v1/models", [&](const httplib::Request &, httplib::Response &res) {
    reply(res, 200,
          {{"object", "list"},
           {"data", {{{"id", model.name}, {"object", "model"}, {"owned_by", "ee-compile"}}}}});
  });

  int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0)
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port));
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  std::thread listener([&] { server.listen_after_bind(); });
  std::cerr << "serving " << model.name << " (" << method << ") on http://" << host << ":" << bound
            << " (PUT /api, POST /v1/completions)" << std::endl;
  queue.serve(
      [&](const GenerationRequest &request) {
        if (eert_comm_size() > 1)
          sendToStages(requestToJson(request).dump());
        return generator->generate(request);
      },
      [&] { return stopRequested != 0; });
  server.stop();
  listener.join();
  if (eert_comm_size() > 1)
    sendToStages("");
  std::cerr << "server stopped" << std::endl;
  return 0;
}

} // namespace eert
