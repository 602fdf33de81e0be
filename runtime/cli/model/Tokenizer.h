// Tokenizer.h - text <-> token ids: SentencePiece when the checkpoint has a
// tokenizer.model, otherwise bytes (token id = byte value).
#ifndef EERT_CLI_TOKENIZER_H
#define EERT_CLI_TOKENIZER_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace eert {

class Tokenizer {
public:
  /// SentencePiece from `directory`/tokenizer.model if it exists, else bytes.
  /// Throws when the model file is unreadable or byte-level text needs a
  /// vocabulary under 256.
  static Tokenizer forCheckpoint(const std::string &directory, int64_t vocabSize);
  /// SentencePiece from the bytes of a tokenizer.model (`source` names it in
  /// errors); throws when they are not a model or it has more pieces than
  /// `vocabSize`.
  static Tokenizer fromModelBytes(const std::string &bytes, const std::string &source,
                                  int64_t vocabSize);
  ~Tokenizer();
  Tokenizer(Tokenizer &&) noexcept;

  std::vector<int32_t> encode(const std::string &text) const;
  std::string decode(const std::vector<int32_t> &ids) const;
  bool isByteLevel() const { return !processor_; }

private:
  Tokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

} // namespace eert

#endif // EERT_CLI_TOKENIZER_H
