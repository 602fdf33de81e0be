// BoundedJsonFuzz.cpp - fuzzes parseBoundedJson, the JSON entry of every runtime reader.
//
// Whatever it accepts must be safe to use the way the readers do: dumped (for
// error messages), compared and copied, all of which recurse in nlohmann-json.
#include "io/BoundedInput.h"

#include <cstdint>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  try {
    nlohmann::json value = eert::parseBoundedJson(text, "input");
    nlohmann::json copy = value;
    if (!(copy == value))
      __builtin_trap();
    (void)value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::runtime_error &) {
    // A clear refusal is the expected outcome for most inputs.
  }
  return 0;
}
