// Backend.h - the host's side of the backend's memory: owned buffers, copies, access windows.
#ifndef EERT_CLI_MODEL_BACKEND_H
#define EERT_CLI_MODEL_BACKEND_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace eert {

/// Whether the host reads and writes backend memory itself: the cpu backend
/// (its memory is host memory), unless in its guarded test mode
/// (EERT_MEMORY_GUARD=1). Elsewhere (cuda) every host access is a copy.
bool hostSharesBackendMemory();

/// Starts the backend (the binary's first step): throws naming why it
/// cannot run here (for cuda: no driver, no GPU).
void startBackend();

/// Throws with the message of a kernel's fault since the last check
/// (eert_backend_check; GPU kernels report bad ids, labels and positions so).
void checkBackend();

/// Backend memory (eert_memory_allocate) owned by the host.
class BackendBuffer {
public:
  BackendBuffer() = default;
  /// `bytes` of backend memory, zeroed; throws when the backend has none.
  explicit BackendBuffer(size_t bytes);
  ~BackendBuffer();
  BackendBuffer(BackendBuffer &&other) noexcept;
  BackendBuffer &operator=(BackendBuffer &&other) noexcept;
  BackendBuffer(const BackendBuffer &) = delete;
  BackendBuffer &operator=(const BackendBuffer &) = delete;

  void *data() const { return data_; }
  template <typename T> T *as() const { return static_cast<T *>(data_); }
  size_t bytes() const { return bytes_; }

  void upload(const void *host, size_t bytes, size_t offset = 0);
  void download(void *host, size_t bytes, size_t offset = 0) const;
  /// The first `count` values as a host vector.
  template <typename T> std::vector<T> toHost(size_t count) const {
    std::vector<T> values(count);
    download(values.data(), count * sizeof(T));
    return values;
  }

private:
  void *data_ = nullptr;
  size_t bytes_ = 0;
};

/// Rows of `width` floats in backend memory (the hidden states of a batch of
/// tokens): on a GPU they stay there from one step function to the next, and
/// the host moves them with the backend's copies. Grows as rows are appended.
class BackendRows {
public:
  BackendRows() = default;
  BackendRows(const BackendRows &other) { append(other); }
  BackendRows &operator=(const BackendRows &other);
  BackendRows(BackendRows &&) noexcept = default;
  BackendRows &operator=(BackendRows &&) noexcept = default;

  size_t size() const { return count_; }
  int64_t width() const { return width_; }
  /// The backend address of the rows (row i at data() + i * width()).
  const float *data() const { return buffer_.as<const float>(); }
  void clear() { count_ = 0; }

  /// Appends `count` rows of `width` floats from backend memory, or from the host.
  void append(const float *backendRows, size_t count, int64_t width);
  void appendHost(const float *hostRows, size_t count, int64_t width);
  void append(const BackendRows &other) { append(other.data(), other.size(), other.width()); }
  /// Rows [first, first + count) copied to the host.
  std::vector<float> toHost(size_t first, size_t count) const;
  std::vector<float> toHost() const { return toHost(0, count_); }
  /// The rows `which`, in that order (consecutive ones copied at once).
  BackendRows select(const std::vector<size_t> &which) const;

private:
  /// Room for `rows` rows of `width` (a first append sets the width).
  float *room(size_t rows, int64_t width);
  void appendBy(void (*copy)(void *, const void *, int64_t), const float *rows, size_t count,
                int64_t width);

  BackendBuffer buffer_;
  size_t count_ = 0;
  int64_t width_ = 0;
};

/// While it lives, backend memory is open to the kernels the host calls on
/// it itself (eert_memory_host_access): the guarded test mode faults them
/// otherwise, as a GPU would fault a host read.
class BackendAccess {
public:
  BackendAccess();
  ~BackendAccess();
  BackendAccess(const BackendAccess &) = delete;
  BackendAccess &operator=(const BackendAccess &) = delete;
};

} // namespace eert

#endif // EERT_CLI_MODEL_BACKEND_H
