// Tokenizer.cpp - SentencePiece (Debian's libsentencepiece) or byte-level text.
#include "cli/model/Tokenizer.h"
#include "io/BoundedInput.h"

#include <sentencepiece_processor.h>

#include <filesystem>
#include <stdexcept>

namespace eert {
namespace {
/// Real SentencePiece models are a few megabytes (a 256k-piece model ~ 5 MB).
constexpr uint64_t kMaxTokenizerBytes = 256ull << 20;
} // namespace

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer &&) noexcept = default;

Tokenizer Tokenizer::fromModelBytes(const std::string &bytes, const std::string &source,
                                    int64_t vocabSize) {
  Tokenizer tokenizer;
  tokenizer.processor_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status status;
  try {
    status = tokenizer.processor_->LoadFromSerializedProto(bytes);
  } catch (const std::exception &e) {
    // SentencePiece's trie builder (darts-clone) throws on some malformed
    // models, e.g. an empty piece, instead of returning a status.
    throw std::runtime_error(source + ": not a valid SentencePiece model: " + e.what());
  }
  if (!status.ok())
    throw std::runtime_error(source + ": " + status.ToString());
  if (tokenizer.processor_->GetPieceSize() > vocabSize)
    throw std::runtime_error(source + ": " + std::to_string(tokenizer.processor_->GetPieceSize()) +
                             " pieces do not fit the model's vocabulary of " +
                             std::to_string(vocabSize));
  return tokenizer;
}

Tokenizer Tokenizer::forCheckpoint(const std::string &directory, int64_t vocabSize) {
  std::string path = directory + "/tokenizer.model";
  std::error_code ignored;
  // symlink_status: a dangling link is reported, not taken for "no tokenizer".
  if (!directory.empty() && std::filesystem::exists(std::filesystem::symlink_status(path, ignored)))
    // Read here (a regular file, bounded) and parsed from memory: SentencePiece's
    // own Load would block on a FIFO and read a device without end.
    return fromModelBytes(readRegularFile(path, kMaxTokenizerBytes), path, vocabSize);
  if (vocabSize < 256)
    throw std::runtime_error("byte-level text needs a vocabulary of at least 256, the model has " +
                             std::to_string(vocabSize) + " (add a tokenizer.model)");
  return Tokenizer();
}

std::vector<int32_t> Tokenizer::encode(const std::string &text) const {
  if (processor_) {
    std::vector<int> ids;
    processor_->Encode(text, &ids);
    return {ids.begin(), ids.end()};
  }
  return {reinterpret_cast<const uint8_t *>(text.data()),
          reinterpret_cast<const uint8_t *>(text.data()) + text.size()};
}

std::string Tokenizer::decode(const std::vector<int32_t> &ids) const {
  if (processor_) {
    std::string text;
    processor_->Decode(std::vector<int>(ids.begin(), ids.end()), &text);
    return text;
  }
  std::string text;
  for (int32_t id : ids)
    if (id >= 0 && id < 256) // ids past the bytes have no text of their own
      text.push_back(static_cast<char>(id));
  return text;
}

} // namespace eert
