// Dataset.cpp - text files and Megatron indexed datasets as token windows.
//
// The indexed format is Megatron-LM's MMapIndexedDataset (tools/preprocess_data.py):
// .idx = "MMIDIDX\0\0", u64 version 1, u8 dtype code, u64 sequence count,
// u64 document count, i32 sizes[sequences], i64 byte pointers[sequences],
// i64 document index[documents]; .bin = the tokens back to back.
#include "io/Dataset.h"
#include "cpu/SplitMix64.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <stdexcept>

namespace fs = std::filesystem;

namespace eert {
namespace {

const char kMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};

std::string readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(path + ": cannot read");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// The .idx/.bin prefix of `path`, if it names an indexed dataset.
std::string indexedPrefix(const std::string &path) {
  for (std::string prefix : {path, fs::path(path).replace_extension("").string()})
    if (fs::exists(prefix + ".idx") && fs::exists(prefix + ".bin"))
      return prefix;
  return "";
}

template <typename T> T take(const std::string &data, size_t &offset, const std::string &file) {
  if (offset + sizeof(T) > data.size())
    throw std::runtime_error(file + ": truncated index");
  T value;
  std::memcpy(&value, data.data() + offset, sizeof(T));
  offset += sizeof(T);
  return value;
}

std::vector<int32_t> readIndexed(const std::string &prefix, int64_t vocabSize) {
  std::string idxPath = prefix + ".idx", binPath = prefix + ".bin";
  std::string idx = readAll(idxPath), bin = readAll(binPath);
  if (idx.size() < 9 || std::memcmp(idx.data(), kMagic, 9) != 0)
    throw std::runtime_error(idxPath + ": not a Megatron indexed dataset (bad magic)");
  size_t offset = 9;
  uint64_t version = take<uint64_t>(idx, offset, idxPath);
  if (version != 1)
    throw std::runtime_error(idxPath + ": unsupported version " + std::to_string(version));
  uint8_t code = take<uint8_t>(idx, offset, idxPath);
  size_t width;
  switch (code) {
  case 1: case 2: width = 1; break; // uint8, int8
  case 3: case 8: width = 2; break; // int16, uint16
  case 4: width = 4; break;          // int32
  case 5: width = 8; break;          // int64
  default:
    throw std::runtime_error(idxPath + ": token dtype code " + std::to_string(code) +
                             " is not an integer type");
  }
  uint64_t sequences = take<uint64_t>(idx, offset, idxPath);
  take<uint64_t>(idx, offset, idxPath); // documents
  if (sequences > idx.size())
    throw std::runtime_error(idxPath + ": truncated index");
  std::vector<int32_t> sizes(sequences);
  std::vector<int64_t> pointers(sequences);
  for (auto &size : sizes)
    size = take<int32_t>(idx, offset, idxPath);
  for (auto &pointer : pointers)
    pointer = take<int64_t>(idx, offset, idxPath);
  std::vector<int32_t> tokens;
  for (uint64_t i = 0; i < sequences; ++i) {
    if (sizes[i] < 0 || pointers[i] < 0 ||
        static_cast<uint64_t>(pointers[i]) + static_cast<uint64_t>(sizes[i]) * width > bin.size())
      throw std::runtime_error(binPath + ": sequence " + std::to_string(i) +
                               " lies outside the file");
    const char *at = bin.data() + pointers[i];
    for (int32_t t = 0; t < sizes[i]; ++t) {
      int64_t value = 0;
      switch (code) {
      case 1: value = reinterpret_cast<const uint8_t *>(at)[t]; break;
      case 2: value = reinterpret_cast<const int8_t *>(at)[t]; break;
      case 3: { int16_t v; std::memcpy(&v, at + 2 * t, 2); value = v; break; }
      case 8: { uint16_t v; std::memcpy(&v, at + 2 * t, 2); value = v; break; }
      case 4: { int32_t v; std::memcpy(&v, at + 4 * t, 4); value = v; break; }
      case 5: { int64_t v; std::memcpy(&v, at + 8 * t, 8); value = v; break; }
      }
      if (value < 0 || value >= vocabSize)
        throw std::runtime_error(binPath + ": token " + std::to_string(value) +
                                 " is outside the vocabulary of " + std::to_string(vocabSize));
      tokens.push_back(static_cast<int32_t>(value));
    }
  }
  return tokens;
}

} // namespace

std::vector<int32_t> readTokenStream(const std::string &path,
                                     const std::function<std::vector<int32_t>(const std::string &)> &encode,
                                     int64_t vocabSize) {
  std::string prefix = indexedPrefix(path);
  if (!prefix.empty())
    return readIndexed(prefix, vocabSize);
  return encode(readAll(path));
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
