// Backend.h - the host's side of the backend's memory: owned buffers, copies, access windows.
#ifndef EERT_CLI_MODEL_BACKEND_H
#define EERT_CLI_MODEL_BACKEND_H

#include <cstddef>
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
