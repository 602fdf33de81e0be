// ServeRequests.cpp - PUT /api and POST /v1/completions bodies into checked GenerationRequests.
#include "cli/serve/ServeRequests.h"

#include "cli/Commands.h"
#include "io/BoundedInput.h"

#include <cmath>
#include <optional>
#include <set>
#include <sstream>

using json = nlohmann::json;

namespace eert {

std::string excerpt(std::string_view text, size_t limit) {
  if (text.size() <= limit)
    return std::string(text);
  size_t end = limit;
  // Never cut inside a UTF-8 sequence: the message goes back as JSON text.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return std::string(text.substr(0, end)) + "... (" + std::to_string(text.size()) + " bytes)";
}

json errorBody(const std::string &message, const std::string &type) {
  return {{"error", {{"message", message}, {"type", type}}}};
}

namespace {

/// A client's value as an error message may show it: bounded, whatever its size.
std::string shown(const json &value) {
  return excerpt(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

/// Typed access to a request body's fields; every field must be known.
class Fields {
public:
  Fields(const json &body, std::set<std::string> known) : body_(body), known_(std::move(known)) {
    if (!body.is_object())
      throw BadRequest("the request body must be a JSON object");
    for (const auto &item : body.items())
      if (!known_.count(item.key()))
        throw BadRequest("unknown field '" + excerpt(item.key()) + "'");
  }
  bool has(const std::string &name) const { return body_.contains(name) && !body_[name].is_null(); }
  const json &at(const std::string &name) const { return body_.at(name); }

  std::optional<int64_t> integer(const std::string &name, int64_t min, int64_t max) const {
    if (!has(name))
      return std::nullopt;
    const json &value = body_[name];
    // Unsigned values past INT64_MAX would wrap in get<int64_t>().
    bool fits = value.is_number_integer() &&
                !(value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(INT64_MAX));
    if (!fits || value.get<int64_t>() < min || value.get<int64_t>() > max)
      throw BadRequest("'" + name + "' must be an integer in [" + std::to_string(min) + ", " +
                       std::to_string(max) + "], got " + shown(value));
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
                       ", got " + shown(value));
    }
    return value.get<double>();
  }
  std::optional<bool> boolean(const std::string &name) const {
    if (!has(name))
      return std::nullopt;
    if (!body_[name].is_boolean())
      throw BadRequest("'" + name + "' must be true or false, got " + shown(body_[name]));
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

json parseBody(std::string_view body) {
  try {
    return parseBoundedJson(body, "the request body");
  } catch (const std::runtime_error &e) {
    throw BadRequest(std::string("malformed JSON in ") + e.what());
  }
}

/// The early-exit fields both endpoints take: early_exit_thres, use_early_exit,
/// exit_layers and (ours) exit_thresholds, one per exit.
void readEarlyExit(const Fields &fields, const ServedModel &model, GenerationRequest &request) {
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
        request.exitThresholds[static_cast<int64_t>(k)] = values[k];
  }
  if (fields.has("exit_layers")) {
    std::vector<double> layers = fields.numbers("exit_layers");
    // exitsAtLayers names a missing layer as an integer: only whole layer
    // numbers of this model reach it (a 1e300 would not convert).
    for (double layer : layers)
      if (!(layer >= 1 && layer <= static_cast<double>(model.plan.layers)) ||
          layer != std::floor(layer))
        throw BadRequest("'exit_layers' must list layer numbers in [1, " +
                         std::to_string(model.plan.layers) + "], got " + shown(json(layer)));
    try {
      request.activeExits = exitsAtLayers(model.plan, layers);
    } catch (const std::invalid_argument &e) {
      throw BadRequest(std::string("'exit_layers': ") + e.what());
    }
  }
}

/// The method fields both endpoints take (ours): "method" (recompute,
/// pipeline or speculative; the server's by default), "draft_exit" (the
/// draft exit's layer) and "draft_tokens" (0: adaptive).
void readMethod(const Fields &fields, const ServedModel &model, GenerationRequest &request) {
  std::string method = model.method;
  if (fields.has("method")) {
    if (!fields.at("method").is_string())
      throw BadRequest("'method' must be a string");
    method = fields.at("method").get<std::string>();
  }
  // One process runs recompute and speculative requests alike; pipeline
  // stages run only the pipeline method.
  bool oneProcess = model.method != "pipeline";
  if (method != "recompute" && method != "pipeline" && method != "speculative")
    throw BadRequest("'method' must be recompute, pipeline or speculative, got '" + excerpt(method) +
                     "'");
  if ((method == "pipeline") == oneProcess)
    throw BadRequest("this server runs " +
                     std::string(oneProcess ? "in one process (recompute and speculative requests)"
                                            : "the pipeline method over its stages") +
                     ": 'method' " + method + " is not available");
  request.speculative = method == "speculative";
  if (!request.speculative && (fields.has("draft_exit") || fields.has("draft_tokens")))
    throw BadRequest("'draft_exit' and 'draft_tokens' need \"method\": \"speculative\"");
  if (std::optional<int64_t> layer = fields.integer("draft_exit", 1, model.plan.layers)) {
    try {
      request.draftExit = exitsAtLayers(model.plan, {static_cast<double>(*layer)}).at(0);
    } catch (const std::invalid_argument &e) {
      throw BadRequest(std::string("'draft_exit': ") + e.what());
    }
  }
  request.draftTokens = fields.integer("draft_tokens", 0, kMaxDraftTokens).value_or(0);
}

std::vector<std::vector<int32_t>> encodePrompts(const ServedModel &model,
                                                const std::vector<std::string> &prompts) {
  if (prompts.size() > kMaxPrompts)
    throw BadRequest("at most " + std::to_string(kMaxPrompts) + " prompts per request");
  std::vector<std::vector<int32_t>> ids;
  for (const std::string &prompt : prompts)
    ids.push_back(model.tokenizer.encode(prompt));
  return ids;
}

void validate(const GenerationRequest &request, const ServedModel &model) {
  try {
    validateRequest(request, model.plan, model.vocab, model.maxPositions);
  } catch (const std::invalid_argument &e) {
    throw BadRequest(e.what());
  }
}

} // namespace

ApiRequest parseApiRequest(std::string_view text, const ServedModel &model) {
  json body = parseBody(text);
  Fields fields(body, {"prompts", "tokens_to_generate", "early_exit_thres", "use_early_exit",
                       "exit_layers", "exit_thresholds", "top_k", "top_p", "temperature",
                       "random_seed", "logprobs", "echo_prompts", "no_log", "print_max_prob",
                       "method", "draft_exit", "draft_tokens"});
  if (!fields.has("prompts"))
    throw BadRequest("prompts argument required");
  ApiRequest api;
  GenerationRequest &request = api.generation;
  request.prompts = encodePrompts(model, fields.strings("prompts"));
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
  readMethod(fields, model, request);
  fields.boolean("no_log");
  fields.boolean("print_max_prob");
  validate(request, model);
  return api;
}

CompletionRequest parseCompletionRequest(std::string_view text, const ServedModel &model) {
  json body = parseBody(text);
  Fields fields(body, {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "n",
                       "seed", "logprobs", "echo", "stream", "stop", "user", "early_exit_thres",
                       "use_early_exit", "exit_layers", "exit_thresholds", "method", "draft_exit",
                       "draft_tokens"});
  if (!fields.has("prompt"))
    throw BadRequest("'prompt' is required");
  if (fields.has("model") && !fields.at("model").is_string())
    throw BadRequest("'model' must be a string");
  if (fields.has("model") && fields.at("model").get<std::string>() != model.name)
    throw BadRequest("unknown model '" + excerpt(fields.at("model").get<std::string>()) +
                     "' (this server has '" + model.name + "')");
  if (fields.has("user") && !fields.at("user").is_string())
    throw BadRequest("'user' must be a string");
  CompletionRequest completion;
  if (fields.has("stop")) {
    completion.stop = fields.strings("stop");
    if (completion.stop.size() > kMaxStopSequences)
      throw BadRequest("at most " + std::to_string(kMaxStopSequences) + " 'stop' sequences");
    for (const std::string &stop : completion.stop)
      if (stop.empty() || stop.size() > kMaxStopBytes)
        throw BadRequest("each 'stop' sequence must have 1 to " + std::to_string(kMaxStopBytes) +
                         " bytes");
  }
  GenerationRequest &request = completion.generation;
  std::vector<std::vector<int32_t>> prompts = encodePrompts(model, fields.strings("prompt"));
  completion.n = fields.integer("n", 1, kMaxCompletionChoices).value_or(1);
  if (static_cast<int64_t>(prompts.size()) * completion.n > kMaxCompletionChoices)
    throw BadRequest("prompts x n must be at most " + std::to_string(kMaxCompletionChoices) +
                     " completions");
  for (const std::vector<int32_t> &prompt : prompts)
    for (int64_t i = 0; i < completion.n; ++i)
      request.prompts.push_back(prompt);
  request.maxNewTokens = fields.integer("max_tokens", 0, model.maxPositions).value_or(16);
  readEarlyExit(fields, model, request);
  request.temperature = static_cast<float>(fields.number("temperature", 0.0, 2.0).value_or(1.0));
  request.topP = static_cast<float>(fields.number("top_p", 1e-9, 1.0).value_or(1.0));
  request.topK = fields.integer("top_k", 0, model.vocab).value_or(0);
  request.seed = static_cast<uint64_t>(fields.integer("seed", 0, INT64_MAX).value_or(0));
  std::optional<int64_t> top = fields.integer("logprobs", 0, 5);
  completion.logprobs = top.has_value();
  request.topLogprobs = top.value_or(0);
  completion.echo = fields.boolean("echo").value_or(false);
  request.promptLogprobs = completion.echo && completion.logprobs;
  completion.stream = fields.boolean("stream").value_or(false);
  if (completion.stream && request.promptLogprobs)
    throw BadRequest("'stream' cannot carry prompt log-probabilities ('echo' with 'logprobs'): "
                     "ask without 'stream'");
  if (request.promptLogprobs && model.method == "pipeline")
    throw BadRequest("prompt log-probabilities (echo with logprobs) are computed in one process; "
                     "this server runs the pipeline method over its stages");
  readMethod(fields, model, request);
  validate(request, model);
  return completion;
}

} // namespace eert
