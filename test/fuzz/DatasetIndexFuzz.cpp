// DatasetIndexFuzz.cpp - fuzzes the Megatron .idx reader (decodeIndexedDataset) beside a valid .bin.
//
// The .bin is fixed, 2048 uint16 tokens, so that inputs derived from the seed
// indexes (written by `preprocess`) reach the token loop; whatever is
// accepted must yield at most as many tokens as the .bin holds, all in the
// vocabulary.
#include "io/Dataset.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {
constexpr int64_t kVocab = 256;

const std::string &validBin() {
  static const std::string bin = [] {
    std::string bytes;
    for (int i = 0; i < 2048; ++i) {
      uint16_t token = static_cast<uint16_t>((i * 7) % kVocab);
      bytes.append(reinterpret_cast<const char *>(&token), 2);
    }
    return bytes;
  }();
  return bin;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view idx(reinterpret_cast<const char *>(data), size);
  try {
    std::vector<int32_t> tokens =
        eert::decodeIndexedDataset(idx, validBin(), "input.idx", "input.bin", kVocab);
    if (tokens.size() > validBin().size())
      __builtin_trap();
    for (int32_t token : tokens)
      if (token < 0 || token >= kVocab)
        __builtin_trap();
  } catch (const std::runtime_error &) {
    // A clear refusal is the expected outcome for most inputs.
  }
  return 0;
}
