// Safetensors.h - validated safetensors reading (into owned memory) and atomic writing.
#ifndef EERT_IO_SAFETENSORS_H
#define EERT_IO_SAFETENSORS_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace eert {

/// The largest safetensors header accepted: the Rust safetensors crate's limit
/// (MAX_HEADER_SIZE), far above any real checkpoint's header.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

/// One tensor of a safetensors file.
struct TensorView {
  std::string dtype; // "F32", "F16", "BF16", ...
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr;
  size_t bytes = 0;
};

/// A safetensors file read into memory of its own (its header and the bytes
/// its tensors cover). The bytes are read, not memory-mapped: a file truncated or rewritten while a server runs must
/// not turn the next access into SIGBUS. `open` checks the whole header
/// against the file: header size, JSON shape and depth, known dtypes, shape x
/// dtype size equal to each byte range, ranges inside the data area and not
/// overlapping.
class SafetensorsFile {
public:
  /// Null with `error` set (naming the file and the problem) on any defect.
  static std::unique_ptr<SafetensorsFile> open(const std::string &path, std::string &error);
  /// The same checks on bytes already in memory; `source` names them in errors.
  static std::unique_ptr<SafetensorsFile> fromBytes(const uint8_t *bytes, size_t size,
                                                    const std::string &source,
                                                    std::string &error);
  ~SafetensorsFile();

  const TensorView *find(const std::string &name) const;
  const std::map<std::string, TensorView> &tensors() const { return tensors_; }
  const std::string &path() const { return path_; }

private:
  SafetensorsFile() = default;
  /// Validates the JSON header against a data area of `dataSize` bytes and
  /// fills `tensors_` (without data pointers) and `offsets_`; `dataEnd` is
  /// the end of the last tensor. False with `error` set.
  bool index(std::string_view header, uint64_t dataSize, uint64_t &dataEnd, std::string &error);
  /// Points every tensor into the data area starting at `data`.
  void bind(const uint8_t *data);
  std::string path_;
  /// 8-byte words so that the data area (8-byte aligned in the format) is
  /// aligned for every dtype.
  std::unique_ptr<uint64_t[]> storage_;
  size_t size_ = 0;
  std::map<std::string, TensorView> tensors_;
  /// Each tensor's offset in the data area, until bind.
  std::map<std::string, uint64_t> offsets_;
};

/// A tensor to write: fp32 values of `shape`.
struct TensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  const float *data;
  /// Stored as BF16, each value rounded to nearest even.
  bool bf16 = false;
};

/// Writes `tensors` as one safetensors file, through a temporary file renamed
/// over `path`, so a crash never leaves a partial file. False with `error` set.
bool writeSafetensors(const std::string &path, const std::vector<TensorToWrite> &tensors,
                      const std::map<std::string, std::string> &metadata, std::string &error);

/// Bytes per element of a safetensors dtype, 0 if unknown.
size_t dtypeSize(const std::string &dtype);

} // namespace eert

#endif // EERT_IO_SAFETENSORS_H
