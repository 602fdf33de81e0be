// Dataset.h - training and evaluation tokens: text files (SentencePiece or
// bytes) and Megatron indexed datasets (.bin/.idx), cut into windows.
#ifndef EERT_IO_DATASET_H
#define EERT_IO_DATASET_H

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace eert {

/// Largest data files read (each is held in memory whole): a text file, the
/// .bin and the .idx of an indexed dataset. Errors name the file and limit.
constexpr uint64_t kMaxTextDataBytes = 4ull << 30;
constexpr uint64_t kMaxIndexedDataBytes = 64ull << 30;
constexpr uint64_t kMaxIndexBytes = 16ull << 30;

/// Reads the token stream of `path`: a Megatron indexed dataset when `path`.idx
/// and `path`.bin (or `path` minus its extension) exist, else a UTF-8 text file
/// encoded with `encode`. Documents of an indexed dataset are concatenated in
/// order. Only regular files are read, up to the limits above. Throws
/// std::runtime_error naming the file and the defect.
std::vector<int32_t> readTokenStream(const std::string &path,
                                     const std::function<std::vector<int32_t>(const std::string &)> &encode,
                                     int64_t vocabSize);

/// The tokens of an indexed dataset whose .idx and .bin bytes are `idx` and
/// `bin` (named `idxName`, `binName` in errors). Validates the whole index
/// before allocating: counts against the .idx size, every sequence inside the
/// .bin, the dtype code, the document index rising from 0 to the sequence
/// count, every token id below `vocabSize`.
std::vector<int32_t> decodeIndexedDataset(std::string_view idx, std::string_view bin,
                                          const std::string &idxName, const std::string &binName,
                                          int64_t vocabSize);

/// Writes documents as a Megatron indexed dataset `prefix`.bin / `prefix`.idx
/// (MMIDIDX version 1; uint16 tokens when the vocabulary fits, else int32).
void writeIndexedDataset(const std::string &prefix, const std::vector<std::vector<int32_t>> &documents,
                         int64_t vocabSize);

/// Non-overlapping windows of seq_len + 1 tokens, visited in a seeded random
/// order, epoch after epoch (a new permutation per epoch).
class WindowSampler {
public:
  WindowSampler(const std::vector<int32_t> &tokens, int64_t seqLen, uint64_t seed);
  int64_t numWindows() const { return numWindows_; }
  /// The window of global sample `index` (samples are numbered across epochs).
  const int32_t *sample(int64_t index);

private:
  const std::vector<int32_t> &tokens_;
  int64_t seqLen_, numWindows_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;
};

} // namespace eert

#endif // EERT_IO_DATASET_H
