// Dataset.cpp - text files and Megatron indexed datasets as token windows.
//
// The indexed format is Megatron-LM's MMapIndexedDataset (tools/preprocess_data.py):
// .idx = "MMIDIDX\0\0", u64 version 1, u8 dtype code, u64 sequence count,
// u64 document count, i32 sizes[sequences], i64 byte pointers[sequences],
// i64 document index[documents]; .bin = the tokens back to back.
#include "io/Dataset.h"
#include "io/BoundedInput.h"
#include "cpu/SplitMix64.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <numeric>
#include <stdexcept>

namespace fs = std::filesystem;

namespace eert {
namespace {

const char kMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
/// Magic, version, dtype code, sequence count, document index count.
constexpr uint64_t kIndexHeaderBytes = 9 + 8 + 1 + 8 + 8;

/// The .idx/.bin prefix of `path`, if it names an indexed dataset.
std::string indexedPrefix(const std::string &path) {
  for (std::string prefix : {path, fs::path(path).replace_extension("").string()})
    if (fs::exists(prefix + ".idx") && fs::exists(prefix + ".bin"))
      return prefix;
  return "";
}

template <typename T> T at(std::string_view data, uint64_t offset) {
  T value;
  std::memcpy(&value, data.data() + offset, sizeof(T));
  return value;
}

} // namespace

std::vector<int32_t> decodeIndexedDataset(std::string_view idx, std::string_view bin,
                                          const std::string &idxName, const std::string &binName,
                                          int64_t vocabSize) {
  auto fail = [](const std::string &name, const std::string &message) {
    return std::runtime_error(name + ": " + message);
  };
  if (idx.size() < 9 || std::memcmp(idx.data(), kMagic, 9) != 0)
    throw fail(idxName, "not a Megatron indexed dataset (bad magic)");
  if (idx.size() < kIndexHeaderBytes)
    throw fail(idxName, "truncated index: " + std::to_string(idx.size()) +
                            " bytes, less than the " + std::to_string(kIndexHeaderBytes) +
                            "-byte header");
  uint64_t version = at<uint64_t>(idx, 9);
  if (version != 1)
    throw fail(idxName, "unsupported version " + std::to_string(version));
  uint8_t code = at<uint8_t>(idx, 17);
  uint64_t width;
  switch (code) {
  case 1: case 2: width = 1; break; // uint8, int8
  case 3: case 8: width = 2; break; // int16, uint16
  case 4: width = 4; break;          // int32
  case 5: width = 8; break;          // int64
  default:
    throw fail(idxName, "token dtype code " + std::to_string(code) +
                            " is not an integer type (1-5 or 8)");
  }
  uint64_t sequences = at<uint64_t>(idx, 18), documents = at<uint64_t>(idx, 26);
  // The counts come from the file: check them against its size before any
  // allocation, without overflow (12 and 8 bytes per entry).
  uint64_t room = idx.size() - kIndexHeaderBytes;
  if (sequences > room / 12 || documents > (room - 12 * sequences) / 8 ||
      room != 12 * sequences + 8 * documents)
    throw fail(idxName, std::to_string(idx.size()) + " bytes, but its counts (" +
                            std::to_string(sequences) + " sequences, " +
                            std::to_string(documents) + " document index entries) need " +
                            std::to_string(kIndexHeaderBytes) +
                            " + 12 per sequence + 8 per entry");
  uint64_t sizesAt = kIndexHeaderBytes, pointersAt = sizesAt + 4 * sequences,
           documentsAt = pointersAt + 8 * sequences;
  // Megatron's document index starts at 0, never decreases and ends at the
  // sequence count; anything else is a damaged or foreign file.
  if (documents == 0)
    throw fail(idxName, "the document index is empty (it starts with 0)");
  int64_t previous = 0;
  for (uint64_t d = 0; d < documents; ++d) {
    int64_t entry = at<int64_t>(idx, documentsAt + 8 * d);
    if ((d == 0 && entry != 0) || entry < previous || static_cast<uint64_t>(entry) > sequences ||
        (d + 1 == documents && static_cast<uint64_t>(entry) != sequences))
      throw fail(idxName, "document index entry " + std::to_string(d) + " is " +
                              std::to_string(entry) + "; entries must rise from 0 to the " +
                              std::to_string(sequences) + " sequences");
    previous = entry;
  }
  uint64_t totalTokens = 0;
  for (uint64_t i = 0; i < sequences; ++i) {
    int32_t size = at<int32_t>(idx, sizesAt + 4 * i);
    int64_t pointer = at<int64_t>(idx, pointersAt + 8 * i);
    if (size < 0 || pointer < 0 || static_cast<uint64_t>(pointer) > bin.size() ||
        static_cast<uint64_t>(size) * width > bin.size() - static_cast<uint64_t>(pointer))
      throw fail(binName, "sequence " + std::to_string(i) + " (" + std::to_string(size) +
                              " tokens at byte " + std::to_string(pointer) +
                              ") lies outside the " + std::to_string(bin.size()) + "-byte file");
    totalTokens += static_cast<uint64_t>(size);
  }
  // Overlapping sequences could otherwise multiply a small .bin into an
  // unbounded token stream.
  if (totalTokens > bin.size() / width)
    throw fail(idxName, "its sequences hold " + std::to_string(totalTokens) +
                            " tokens, more than the " + std::to_string(bin.size() / width) +
                            " in " + binName);
  std::vector<int32_t> tokens;
  tokens.reserve(totalTokens);
  for (uint64_t i = 0; i < sequences; ++i) {
    int32_t size = at<int32_t>(idx, sizesAt + 4 * i);
    const char *start = bin.data() + at<int64_t>(idx, pointersAt + 8 * i);
    for (int32_t t = 0; t < size; ++t) {
      int64_t value = 0;
      switch (code) {
      case 1: value = static_cast<uint8_t>(start[t]); break;
      case 2: value = static_cast<int8_t>(start[t]); break;
      case 3: { int16_t v; std::memcpy(&v, start + 2 * t, 2); value = v; break; }
      case 8: { uint16_t v; std::memcpy(&v, start + 2 * t, 2); value = v; break; }
      case 4: { int32_t v; std::memcpy(&v, start + 4 * t, 4); value = v; break; }
      case 5: { int64_t v; std::memcpy(&v, start + 8 * t, 8); value = v; break; }
      }
      if (value < 0 || value >= vocabSize)
        throw fail(binName, "token " + std::to_string(value) + " (sequence " + std::to_string(i) +
                                ") is outside the vocabulary of " + std::to_string(vocabSize));
      tokens.push_back(static_cast<int32_t>(value));
    }
  }
  return tokens;
}

namespace {

std::vector<int32_t> readIndexed(const std::string &prefix, int64_t vocabSize) {
  std::string idxPath = prefix + ".idx", binPath = prefix + ".bin";
  std::string idx = readRegularFile(idxPath, kMaxIndexBytes);
  std::string bin = readRegularFile(binPath, kMaxIndexedDataBytes);
  return decodeIndexedDataset(idx, bin, idxPath, binPath, vocabSize);
}

} // namespace

std::vector<int32_t> readTokenStream(const std::string &path,
                                     const std::function<std::vector<int32_t>(const std::string &)> &encode,
                                     int64_t vocabSize) {
  std::string prefix = indexedPrefix(path);
  if (!prefix.empty())
    return readIndexed(prefix, vocabSize);
  return encode(readRegularFile(path, kMaxTextDataBytes));
}

void writeIndexedDataset(const std::string &prefix, const std::vector<std::vector<int32_t>> &documents,
                         int64_t vocabSize) {
  bool narrow = vocabSize < 65500;
  uint8_t code = narrow ? 8 : 4;
  std::string bin;
  std::vector<int32_t> sizes;
  std::vector<int64_t> pointers, documentIndex{0};
  for (const auto &document : documents) {
    pointers.push_back(static_cast<int64_t>(bin.size()));
    sizes.push_back(static_cast<int32_t>(document.size()));
    for (int32_t token : document) {
      if (narrow) {
        uint16_t v = static_cast<uint16_t>(token);
        bin.append(reinterpret_cast<const char *>(&v), 2);
      } else {
        bin.append(reinterpret_cast<const char *>(&token), 4);
      }
    }
    documentIndex.push_back(static_cast<int64_t>(sizes.size()));
  }
  std::string idx(kMagic, 9);
  auto put = [&](const auto &value) { idx.append(reinterpret_cast<const char *>(&value), sizeof(value)); };
  put(uint64_t(1));
  put(code);
  put(static_cast<uint64_t>(sizes.size()));
  put(static_cast<uint64_t>(documentIndex.size()));
  for (int32_t size : sizes)
    put(size);
  for (int64_t pointer : pointers)
    put(pointer);
  for (int64_t doc : documentIndex)
    put(doc);
  for (auto [path, data] : {std::pair{prefix + ".bin", &bin}, std::pair{prefix + ".idx", &idx}}) {
    std::string temporary = path + ".tmp";
    std::ofstream out(temporary, std::ios::binary);
    out.write(data->data(), static_cast<std::streamsize>(data->size()));
    out.close();
    if (!out)
      throw std::runtime_error(temporary + ": write failed");
    fs::rename(temporary, path);
  }
}

WindowSampler::WindowSampler(const std::vector<int32_t> &tokens, int64_t seqLen, uint64_t seed)
    : tokens_(tokens), seqLen_(seqLen),
      numWindows_(static_cast<int64_t>(tokens.size()) / (seqLen + 1)), seed_(seed) {
  if (numWindows_ == 0)
    throw std::runtime_error("the data holds " + std::to_string(tokens.size()) +
                             " tokens, fewer than --seq-len + 1 = " + std::to_string(seqLen + 1));
}

const int32_t *WindowSampler::sample(int64_t index) {
  int64_t epoch = index / numWindows_;
  if (epoch != epoch_) {
    // Fisher-Yates with SplitMix64 seeded by (seed, epoch): the order of an
    // epoch depends on nothing else, so a resumed run sees the same batches.
    order_.resize(numWindows_);
    std::iota(order_.begin(), order_.end(), 0);
    uint64_t state = seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1;
    for (int64_t i = numWindows_ - 1; i > 0; --i)
      std::swap(order_[i], order_[splitMix64(state) % static_cast<uint64_t>(i + 1)]);
    epoch_ = epoch;
  }
  return tokens_.data() + order_[index % numWindows_] * (seqLen_ + 1);
}

} // namespace eert
