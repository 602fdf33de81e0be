// TokenizerModelFuzz.cpp - fuzzes Tokenizer::fromModelBytes (a checkpoint's tokenizer.model) and its use.
//
// A model that loads must encode and decode without crashing, including ids
// past its pieces: a model's vocabulary may be larger than the tokenizer's,
// so generation can produce them.
#include "cli/model/Tokenizer.h"

#include <cstdint>
#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string bytes(reinterpret_cast<const char *>(data), size);
  try {
    eert::Tokenizer tokenizer = eert::Tokenizer::fromModelBytes(bytes, "input", INT64_MAX);
    std::vector<int32_t> ids = tokenizer.encode("In the beginning God created the heaven\n\xff");
    (void)tokenizer.decode(ids);
    std::vector<int32_t> every;
    for (int32_t id = -2; id < 300; ++id)
      every.push_back(id);
    (void)tokenizer.decode(every);
  } catch (const std::runtime_error &e) {
    if (std::string(e.what()).rfind("input: ", 0) != 0)
      __builtin_trap();
  }
  return 0;
}
