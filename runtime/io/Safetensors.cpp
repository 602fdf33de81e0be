// Safetensors.cpp - validated safetensors reading (into owned memory) and atomic writing.
//
// The format is small (8-byte little-endian header size, JSON header, raw data),
// and Debian packages no C++ safetensors library, so it is read here with
// nlohmann-json for the header.
#include "io/Safetensors.h"
#include "cpu/BF16.h"
#include "io/BoundedInput.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <unistd.h>

using json = nlohmann::json;

namespace eert {
namespace {
/// More dimensions than any tensor has; bounds the shape list of a hostile header.
constexpr size_t kMaxTensorRank = 16;
} // namespace

size_t dtypeSize(const std::string &dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
      {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4},
      {"U64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

namespace {

/// Reads `count` bytes at `offset` of `fd` into `into`; an error message, or
/// "" on success.
std::string readAt(int fd, uint8_t *into, uint64_t count, uint64_t offset, uint64_t fileSize) {
  uint64_t done = 0;
  while (done < count) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(count - done, uint64_t(1) << 30));
    ssize_t got = ::pread(fd, into + done, chunk, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return std::string("read failed: ") + std::strerror(errno);
    if (got == 0)
      return "shrank from " + std::to_string(fileSize) + " bytes while being read (" +
             std::to_string(offset + done) + " read)";
    done += static_cast<uint64_t>(got);
  }
  return "";
}

/// The header size of the 8-byte prefix, checked against the file size and
/// the limit; an error message, or "".
std::string checkPrefix(const uint8_t *prefix, uint64_t size, uint64_t &headerSize) {
  if (size < 8)
    return "truncated: " + std::to_string(size) + " bytes, less than the 8-byte header size";
  headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | prefix[i];
  if (headerSize > size - 8)
    return "header size " + std::to_string(headerSize) + " runs past the end of the " +
           std::to_string(size) + "-byte file";
  if (headerSize > kMaxSafetensorsHeaderBytes)
    return "header size " + std::to_string(headerSize) + " is more than the limit of " +
           std::to_string(kMaxSafetensorsHeaderBytes) + " bytes";
  return "";
}

} // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string &path,
                                                       std::string &error) {
  uint64_t size = 0;
  int fd = -1;
  try {
    fd = openRegularFile(path, std::numeric_limits<uint64_t>::max(), size);
  } catch (const std::runtime_error &e) {
    error = e.what();
    return nullptr;
  }
  auto fail = [&](const std::string &message) {
    ::close(fd);
    error = path + ": " + message;
    return nullptr;
  };
  uint8_t prefix[8] = {};
  uint64_t headerSize = 0;
  std::string problem = size < 8 ? "" : readAt(fd, prefix, 8, 0, size);
  if (problem.empty())
    problem = checkPrefix(prefix, size, headerSize);
  if (!problem.empty())
    return fail(problem);
  // The header first: only what its validated tensors cover is then read, so
  // memory is bounded by the tensors, not by whatever follows them.
  std::string header(headerSize, '\0');
  problem = readAt(fd, reinterpret_cast<uint8_t *>(header.data()), headerSize, 8, size);
  if (!problem.empty())
    return fail(problem);
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  uint64_t dataEnd = 0;
  if (!file->index(header, size - 8 - headerSize, dataEnd, error)) {
    ::close(fd);
    return nullptr;
  }
  uint64_t total = 8 + headerSize + dataEnd;
  // 8-byte words, so that tensors aligned in the file are aligned in memory.
  file->storage_.reset(new (std::nothrow) uint64_t[(total + 7) / 8]);
  if (!file->storage_)
    return fail("cannot hold its " + std::to_string(total) + " bytes in memory");
  file->size_ = static_cast<size_t>(total);
  uint8_t *bytes = reinterpret_cast<uint8_t *>(file->storage_.get());
  std::memcpy(bytes, prefix, 8);
  std::memcpy(bytes + 8, header.data(), headerSize);
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  problem = readAt(fd, bytes + 8 + headerSize, dataEnd, 8 + headerSize, size);
  if (!problem.empty())
    return fail(problem);
  ::close(fd);
  file->bind(bytes + 8 + headerSize);
  return file;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::fromBytes(const uint8_t *bytes, size_t size,
                                                            const std::string &source,
                                                            std::string &error) {
  uint64_t headerSize = 0;
  std::string problem = checkPrefix(bytes, size, headerSize);
  if (!problem.empty()) {
    error = source + ": " + problem;
    return nullptr;
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = source;
  uint64_t dataEnd = 0;
  std::string_view header(reinterpret_cast<const char *>(bytes + 8), headerSize);
  if (!file->index(header, size - 8 - headerSize, dataEnd, error))
    return nullptr;
  uint64_t total = 8 + headerSize + dataEnd;
  file->storage_.reset(new (std::nothrow) uint64_t[(total + 7) / 8]);
  if (!file->storage_) {
    error = source + ": cannot hold its " + std::to_string(total) + " bytes in memory";
    return nullptr;
  }
  file->size_ = static_cast<size_t>(total);
  std::memcpy(file->storage_.get(), bytes, total);
  file->bind(reinterpret_cast<const uint8_t *>(file->storage_.get()) + 8 + headerSize);
  return file;
}

void SafetensorsFile::bind(const uint8_t *data) {
  for (auto &[name, view] : tensors_)
    view.data = data + offsets_.at(name);
  offsets_.clear();
}

bool SafetensorsFile::index(std::string_view headerText, uint64_t dataSize, uint64_t &dataEnd,
                            std::string &error) {
  auto fail = [&](const std::string &message) {
    error = path_ + ": " + message;
    tensors_.clear();
    offsets_.clear();
    return false;
  };
  json header;
  try {
    header = parseBoundedJson(headerText, "the header");
  } catch (const std::runtime_error &e) {
    return fail(e.what());
  }
  if (!header.is_object())
    return fail("the header is not a JSON object");
  dataEnd = 0;

  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto &[name, entry] : header.items()) {
    if (name == "__metadata__") {
      // The format allows only a string-to-string map here.
      if (!entry.is_object())
        return fail("'__metadata__' must be an object of strings");
      for (auto &[key, value] : entry.items())
        if (!value.is_string())
          return fail("'__metadata__' entry '" + key + "' must be a string");
      continue;
    }
    std::string where = "tensor '" + name + "': ";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets"))
      return fail(where + "needs dtype, shape and data_offsets");
    const json &dtype = entry["dtype"], &shape = entry["shape"], &offsets = entry["data_offsets"];
    if (!dtype.is_string() || dtypeSize(dtype.get<std::string>()) == 0)
      return fail(where + "unknown dtype " +
                  dtype.dump(-1, ' ', false, json::error_handler_t::replace));
    if (!shape.is_array())
      return fail(where + "shape must be a list");
    if (shape.size() > kMaxTensorRank)
      return fail(where + "shape has " + std::to_string(shape.size()) +
                  " dimensions, more than the limit of " + std::to_string(kMaxTensorRank));
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      return fail(where + "data_offsets must be two non-negative integers");
    TensorView view;
    view.dtype = dtype.get<std::string>();
    uint64_t elements = 1;
    for (const json &dim : shape) {
      if (!dim.is_number_unsigned())
        return fail(where + "shape entries must be non-negative integers");
      uint64_t extent = dim.get<uint64_t>();
      if (extent != 0 && elements > (uint64_t(1) << 62) / extent)
        return fail(where + "shape is too large");
      elements *= extent;
      view.shape.push_back(static_cast<int64_t>(extent));
    }
    uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > dataSize)
      return fail(where + "byte range [" + std::to_string(begin) + ", " + std::to_string(end) +
                  ") lies outside the " + std::to_string(dataSize) + "-byte data area");
    // elements x dtype size can overflow for counts near 2^62; a count above
    // the data size cannot fit in any case.
    if (elements > dataSize || end - begin != elements * dtypeSize(view.dtype))
      return fail(where + "byte range holds " + std::to_string(end - begin) + " bytes but shape " +
                  shape.dump() + " of " + view.dtype + " needs " +
                  (elements > dataSize ? std::string("more")
                                       : std::to_string(elements * dtypeSize(view.dtype))));
    view.bytes = end - begin;
    ranges.push_back({begin, end});
    dataEnd = std::max(dataEnd, end);
    offsets_[name] = begin;
    tensors_[name] = std::move(view);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      return fail("tensor byte ranges overlap at offset " + std::to_string(ranges[i].first));
  return true;
}

SafetensorsFile::~SafetensorsFile() = default;

const TensorView *SafetensorsFile::find(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

bool writeSafetensors(const std::string &path, const std::vector<TensorToWrite> &tensors,
                      const std::map<std::string, std::string> &metadata, std::string &error) {
  json header = json::object();
  if (!metadata.empty())
    header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite &tensor : tensors) {
    uint64_t elements = 1;
    for (int64_t dim : tensor.shape)
      elements *= static_cast<uint64_t>(dim);
    uint64_t bytes = (tensor.bf16 ? 2 : 4) * elements;
    header[tensor.name] = {{"dtype", tensor.bf16 ? "BF16" : "F32"},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' '); // keep the data 8-byte aligned
  std::string temporary = path + ".tmp";
  FILE *out = std::fopen(temporary.c_str(), "wb");
  if (!out) {
    error = temporary + ": cannot create: " + std::strerror(errno);
    return false;
  }
  uint8_t sizeBytes[8];
  for (int i = 0; i < 8; ++i)
    sizeBytes[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  bool ok = std::fwrite(sizeBytes, 1, 8, out) == 8 &&
            std::fwrite(text.data(), 1, text.size(), out) == text.size();
  for (const TensorToWrite &tensor : tensors) {
    size_t elements = 1;
    for (int64_t dim : tensor.shape)
      elements *= static_cast<size_t>(dim);
    if (!tensor.bf16) {
      ok = ok && std::fwrite(tensor.data, sizeof(float), elements, out) == elements;
      continue;
    }
    std::vector<uint16_t> rounded(elements);
    for (size_t k = 0; k < elements; ++k)
      rounded[k] = bf16::fromFloat(tensor.data[k]);
    ok = ok && std::fwrite(rounded.data(), 2, elements, out) == elements;
  }
  ok = ok && std::fflush(out) == 0 && fsync(fileno(out)) == 0;
  ok = (std::fclose(out) == 0) && ok;
  if (!ok || std::rename(temporary.c_str(), path.c_str()) != 0) {
    error = path + ": write failed: " + std::strerror(errno);
    std::remove(temporary.c_str());
    return false;
  }
  return true;
}

} // namespace eert
