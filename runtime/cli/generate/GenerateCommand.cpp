// GenerateCommand.cpp - `BIN generate`: early-exit generation on the command line.
#include "cli/Commands.h"
#include "cli/generate/Generation.h"
#include "cli/model/Tokenizer.h"
#include "cli/train/Train.h"
#include "eert/eert.h"

#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>

using json = nlohmann::json;

namespace eert {

const std::set<std::string> kGenerateOptions = {
    "load",         "prompt",          "prompt-ids",  "max-new-tokens", "early-exit-thres",
    "exit-layers",  "exit-thresholds", "method",      "temperature",    "top-k",
    "top-p",        "seed",            "save-kv",     "draft-exit",     "draft-tokens"};
const std::set<std::string> kGenerateFlags = {"json", "no-baseline"};

namespace {

/// Comma-separated numbers of option --name (`what` describes them in errors).
std::vector<double> parseNumbers(const std::string &text, const std::string &name,
                                 const std::string &what = "numbers") {
  std::vector<double> values;
  size_t start = 0;
  while (true) {
    size_t end = text.find(',', start);
    std::string item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    size_t used = 0;
    double value = 0;
    try {
      value = std::stod(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used != item.size() || item.empty() || !std::isfinite(value))
      throw std::runtime_error("--" + name + " needs comma-separated " + what + ", got '" + item +
                               "'");
    values.push_back(value);
    if (end == std::string::npos)
      return values;
    start = end + 1;
  }
}

std::vector<int32_t> parseIds(const std::string &text) {
  std::vector<int32_t> ids;
  const char *what = "non-negative integers";
  for (double value : parseNumbers(text, "prompt-ids", what)) {
    if (value < 0 || value > INT32_MAX || value != std::floor(value))
      throw std::runtime_error("--prompt-ids needs comma-separated " + std::string(what) +
                               ", got " + std::to_string(value));
    ids.push_back(static_cast<int32_t>(value));
  }
  return ids;
}

std::string jsonText(const json &value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace

/// Exit indices of EE-LLM style exit layer numbers.
std::vector<int64_t> exitsAtLayers(const InferencePlan &plan, const std::vector<double> &layers) {
  std::vector<int64_t> exits;
  for (double layer : layers) {
    auto it = std::find_if(plan.exits.begin(), plan.exits.end(),
                           [&](const InferencePlan::Exit &e) { return e.layer == layer; });
    if (it == plan.exits.end()) {
      std::ostringstream text; // not an integer cast: 1e300 or nan is named as given
      text << "no exit at layer " << layer;
      throw std::invalid_argument(text.str());
    }
    exits.push_back(it->index);
  }
  return exits;
}

json generationSummary(const GenerationResult &result, const InferencePlan &plan,
                       const GenerationRequest &request) {
  int64_t generated = 0, layers = 0, promptTokens = 0;
  std::vector<int64_t> perExit(plan.exits.size() + 1, 0);
  for (const auto &sequence : result.tokens)
    for (const TokenRecord &record : sequence) {
      ++generated;
      layers += record.layers;
      ++perExit[record.exit < 0 ? plan.exits.size() : record.exit];
    }
  for (const auto &prompt : request.prompts)
    promptTokens += static_cast<int64_t>(prompt.size());
  json exits = json::array();
  for (const InferencePlan::Exit &exit : plan.exits)
    exits.push_back({{"exit", exit.index},
                     {"layer", exit.layer},
                     {"tokens", perExit[exit.index]},
                     {"fraction", generated ? double(perExit[exit.index]) / generated : 0.0}});
  exits.push_back({{"exit", "final"},
                   {"layer", plan.layers},
                   {"tokens", perExit.back()},
                   {"fraction", generated ? double(perExit.back()) / generated : 0.0}});
  json summary = {{"sequences", result.tokens.size()},
          {"prompt_tokens", promptTokens},
          {"generated_tokens", generated},
          {"prefill_tokens_per_second",
           result.prefillSeconds > 0 ? promptTokens / result.prefillSeconds : 0.0},
          {"tokens_per_second",
           result.decodeSeconds > 0 ? result.decodeTokens / result.decodeSeconds : 0.0},
          {"mean_layers", generated ? double(layers) / generated : double(plan.layers)},
          {"exits", exits}};
  if (result.verifyPasses > 0) {
    // Tokens per verification pass (accepted drafts + 1) is what bounds the gain.
    summary["speculative"] = {
        {"draft_exit_layer", plan.exits.at(request.draftExit).layer},
        {"drafted_tokens", result.draftedTokens},
        {"accepted_tokens", result.acceptedTokens},
        {"verify_passes", result.verifyPasses},
        {"acceptance_rate", result.draftedTokens ? double(result.acceptedTokens) / result.draftedTokens : 0.0},
        {"tokens_per_pass", double(result.acceptedTokens + result.verifyPasses) / result.verifyPasses}};
  }
  return summary;
}

int generateCommand(const Manifest &manifest, const Options &options) {
  std::string dir = resolveCheckpoint(options.text("load"));
  int64_t vocab = manifest.config.at("vocab_size").get<int64_t>();
  InferencePlan plan = InferencePlan::fromManifest(manifest);
  std::string method = joinForMethod(manifest, plan, options.has("method") ? options.text("method") : "");
  Weights weights = Weights::load(manifest, dir);
  Tokenizer tokenizer = Tokenizer::forCheckpoint(dir, options.has("prompt") ? vocab : INT64_MAX);

  GenerationRequest request;
  if (options.has("prompt") == options.has("prompt-ids"))
    throw std::runtime_error("give --prompt or --prompt-ids (either may repeat), not both");
  for (const std::string &text : options.texts("prompt"))
    request.prompts.push_back(tokenizer.encode(text));
  for (const std::string &text : options.texts("prompt-ids"))
    request.prompts.push_back(parseIds(text));
  request.maxNewTokens = options.integer("max-new-tokens");
  if (options.has("early-exit-thres"))
    request.threshold = options.number("early-exit-thres", 1.0);
  if (options.has("exit-thresholds")) {
    std::vector<double> values = parseNumbers(options.text("exit-thresholds"), "exit-thresholds");
    if (values.size() != plan.exits.size())
      throw std::runtime_error("--exit-thresholds needs one threshold per exit (" +
                               std::to_string(plan.exits.size()) + ")");
    for (size_t k = 0; k < values.size(); ++k)
      request.exitThresholds[k] = values[k];
  }
  if (options.has("exit-layers"))
    request.activeExits =
        exitsAtLayers(plan, parseNumbers(options.text("exit-layers"), "exit-layers"));
  request.temperature = static_cast<float>(options.number("temperature", 0.0));
  request.topK = options.integer("top-k", 0);
  request.topP = static_cast<float>(options.number("top-p", 1.0));
  request.seed = static_cast<uint64_t>(options.integer("seed", 0));
  request.speculative = method == "speculative";
  if (!request.speculative && (options.has("draft-exit") || options.has("draft-tokens")))
    throw std::runtime_error("--draft-exit and --draft-tokens are options of --method speculative");
  if (options.has("draft-exit"))
    request.draftExit =
        exitsAtLayers(plan, parseNumbers(options.text("draft-exit"), "draft-exit")).at(0);
  request.draftTokens = options.integer("draft-tokens", 0);
  validateRequest(request, plan, vocab, manifest.config.at("max_position_embeddings").get<int64_t>());

  if (options.has("save-kv") && manifest.tensorParallel > 1)
    throw std::runtime_error("--save-kv writes whole caches; each tensor-parallel rank holds its heads' only");
  std::unique_ptr<Generator> generator = makeGenerator(method, manifest, weights);
  bool earlyExits = request.threshold || !request.exitThresholds.empty() || request.speculative;
  bool baselineRun = earlyExits && !options.has("no-baseline");
  // The same prompts and token counts at full depth, for the measured speedup.
  GenerationRequest full = request;
  full.threshold.reset();
  full.exitThresholds.clear();
  full.speculative = false;
  // The full-depth baseline runs before and after the timed run (their
  // combined rate cancels a drift of the machine's speed), all three after a
  // short untimed run of each, so that none pays for the first touches of the
  // arena and caches.
  GenerationResult before, after;
  if (baselineRun) {
    for (GenerationRequest warmUp : {full, request}) {
      warmUp.maxNewTokens = std::min<int64_t>(full.maxNewTokens, 4);
      warmUp.onToken = nullptr;
      generator->generate(warmUp);
    }
    before = generator->generate(full);
  }
  GenerationResult result = generator->generate(request);
  if (options.has("save-kv"))
    generator->saveCaches(options.text("save-kv"));
  double fullRate = 0;
  if (baselineRun) {
    after = generator->generate(full);
    double seconds = before.decodeSeconds + after.decodeSeconds;
    fullRate = seconds > 0 ? (before.decodeTokens + after.decodeTokens) / seconds : 0;
  }
  if (eert_comm_rank() != 0)
    return 0; // the results are on stage 0
  json summary = generationSummary(result, plan, request);
  summary["method"] = method;
  if (fullRate > 0) {
    summary["full_depth_tokens_per_second"] = fullRate;
    summary["speedup"] = summary["tokens_per_second"].get<double>() / fullRate;
  } else if (!earlyExits) {
    summary["speedup"] = 1.0;
  }

  if (options.has("json")) {
    for (size_t p = 0; p < result.tokens.size(); ++p)
      for (const TokenRecord &record : result.tokens[p]) {
        json line = {{"token_id", record.token},
                     {"text", tokenizer.decode({record.token})},
                     {"exit", record.exit < 0 ? json("final") : json(record.exit)},
                     {"layer", record.layers},
                     {"confidence", record.confidence}};
        if (result.tokens.size() > 1)
          line["sequence"] = p;
        std::cout << jsonText(line) << "\n";
      }
    std::vector<std::string> texts;
    for (const auto &sequence : result.tokens) {
      std::vector<int32_t> ids;
      for (const TokenRecord &record : sequence)
        ids.push_back(record.token);
      texts.push_back(tokenizer.decode(ids));
    }
    summary["text"] = texts.size() == 1 ? json(texts[0]) : json(texts);
    std::cout << jsonText({{"summary", summary}}) << "\n";
    return 0;
  }
  for (size_t p = 0; p < result.tokens.size(); ++p) {
    std::vector<int32_t> ids;
    for (const TokenRecord &record : result.tokens[p])
      ids.push_back(record.token);
    std::cout << tokenizer.decode(request.prompts[p]) << tokenizer.decode(ids) << "\n";
  }
  if (summary.contains("speculative")) {
    const json &s = summary["speculative"];
    std::cerr << std::fixed << std::setprecision(2) << "speculative decoding (drafts from the exit at layer "
              << s["draft_exit_layer"] << "): " << s["accepted_tokens"] << " of " << s["drafted_tokens"]
              << " drafts accepted (" << s["acceptance_rate"].get<double>()
              << "), " << s["tokens_per_pass"].get<double>() << " tokens per verification pass\n";
  } else if (earlyExits) {
    std::cerr << std::fixed << std::setprecision(2) << "early exits (" << method
              << "): mean layers " << summary["mean_layers"].get<double>() << " of " << plan.layers;
    for (const json &exit : summary["exits"])
      std::cerr << "; " << (exit["exit"].is_string() ? std::string("final")
                                                     : "exit " + exit["exit"].dump())
                << " (layer " << exit["layer"] << "): " << exit["tokens"] << " tokens";
    std::cerr << "\n";
  }
  if (earlyExits && summary.contains("full_depth_tokens_per_second"))
    std::cerr << std::fixed << std::setprecision(0) << "decode "
              << summary["tokens_per_second"].get<double>() << " tokens/s, full depth "
              << summary["full_depth_tokens_per_second"].get<double>() << " tokens/s, speedup "
              << std::setprecision(2) << summary["speedup"].get<double>() << "x\n";
  return 0;
}

} // namespace eert
