// ServeRequestFuzz.cpp - fuzzes the server's request parsing (parseApiRequest, parseCompletionRequest).
//
// The model is FuzzServedModel.h's (serve.test's, without weights). An input's
// first byte picks the endpoint ('c': POST /v1/completions, else PUT /api),
// the rest is the body. Whatever is accepted must pass the generator's own
// checks; whatever is refused must be refused with a short message.
#include "FuzzServedModel.h"

#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace {

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
