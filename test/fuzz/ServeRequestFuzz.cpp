// ServeRequestFuzz.cpp - fuzzes the server's request parsing (parseApiRequest, parseCompletionRequest).
//
// The model is the one serve.test serves (byte-level, 256 tokens, 128
// positions, 4 layers, exits after layers 1 and 3) without its weights: the
// parsers need only its plan, vocabulary, context and tokenizer. An input's
// first byte picks the endpoint ('c': POST /v1/completions, else PUT /api),
// the rest is the body. Whatever is accepted must pass the generator's own
// checks; whatever is refused must be refused with a short message.
#include "cli/ServeRequests.h"

#include <cstdint>
#include <stdexcept>
#include <string_view>

// The command-line library's Manifest::load reads the manifest a compiled
// model links in; no model is linked here and nothing loads one.
extern "C" const char ee_manifest[] = "{}";

namespace {

eert::ServedModel makeModel() {
  eert::InferencePlan plan;
  plan.method = "recompute";
  plan.layers = 4;
  for (int64_t index : {0, 1}) {
    eert::InferencePlan::Exit exit;
    exit.index = index;
    exit.layer = index == 0 ? 1 : 3;
    plan.exits.push_back(exit);
  }
  return {std::move(plan), eert::Tokenizer::forCheckpoint("", 256), "ck", 256, 128};
}

/// Longer messages than this would mean an echoed value escaped excerpt().
constexpr size_t kMaxMessageBytes = 1024;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const eert::ServedModel model = makeModel();
  if (size == 0)
    return 0;
  bool completions = data[0] == 'c';
  std::string_view body(reinterpret_cast<const char *>(data) + 1, size - 1);
  try {
    eert::GenerationRequest request =
        completions ? eert::parseCompletionRequest(body, model).generation
                    : eert::parseApiRequest(body, model).generation;
    // The parsers validate; a second validation must agree.
    eert::validateRequest(request, model.plan, model.vocab, model.maxPositions);
  } catch (const eert::BadRequest &e) {
    std::string message = e.what();
    if (message.empty() || message.size() > kMaxMessageBytes)
      __builtin_trap();
    (void)eert::errorBody(message, "invalid_request_error").dump();
  }
  return 0;
}
