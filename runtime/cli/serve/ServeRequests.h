// ServeRequests.h - the server's request bodies parsed and checked without a loaded model.
//
// `serve` and the serve-request fuzz target call exactly these: the body's
// bytes go in, a validated GenerationRequest (or a BadRequest naming the
// field and its limit) comes out.
#ifndef EERT_CLI_SERVEREQUESTS_H
#define EERT_CLI_SERVEREQUESTS_H

#include "cli/generate/Generation.h"
#include "cli/model/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace eert {

/// A request the client got wrong: HTTP 400 with the message.
struct BadRequest : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// What request parsing needs of the model: its exits (plan.exits: index and
/// layer), vocabulary, context, tokenizer, the name clients address it by and
/// the server's method (`serve --method`: what a request without "method" gets).
struct ServedModel {
  InferencePlan plan;
  Tokenizer tokenizer;
  std::string name;
  int64_t vocab = 0, maxPositions = 0;
  std::string method = "recompute";
};

/// Prompts one request may carry.
constexpr size_t kMaxPrompts = 128;

/// PUT /api as EE-LLM's server takes it.
struct ApiRequest {
  GenerationRequest generation;
  bool logprobs = false, echoPrompts = false;
};

/// POST /v1/completions, OpenAI style, with the early-exit fields as extensions.
/// generation.prompts holds every prompt `n` times in a row (choice i is
/// prompt i / n); with echo and logprobs the prompt tokens are scored too.
struct CompletionRequest {
  GenerationRequest generation;
  bool echo = false, logprobs = false;
  int64_t n = 1;
  std::vector<std::string> stop; // the text of a choice ends before the first of these
  bool stream = false;           // server-sent events, one per token
};

/// Completions one request may ask for (prompts x n) and stop sequences it may give.
constexpr int64_t kMaxCompletionChoices = 128;
constexpr size_t kMaxStopSequences = 4, kMaxStopBytes = 256;

/// Parses (depth-bounded) and validates a PUT /api body; throws BadRequest.
ApiRequest parseApiRequest(std::string_view body, const ServedModel &model);

/// Parses (depth-bounded) and validates a POST /v1/completions body; throws BadRequest.
CompletionRequest parseCompletionRequest(std::string_view body, const ServedModel &model);

/// At most `limit` bytes of `text` (cut at a UTF-8 boundary, "..." appended):
/// what an error message may echo of a client's input.
std::string excerpt(std::string_view text, size_t limit = 64);

/// The JSON of every error response: {"error": {"message", "type"}}.
nlohmann::json errorBody(const std::string &message, const std::string &type);

} // namespace eert

#endif // EERT_CLI_SERVEREQUESTS_H
