// Backend.cpp - owned backend buffers and the host's copies to and from them.
#include "cli/model/Backend.h"

#include "eert/eert.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace eert {

bool hostSharesBackendMemory() {
  static const bool shared = [] {
    const char *guard = std::getenv("EERT_MEMORY_GUARD");
    return std::string(eert_backend_name()) == "cpu" && !(guard && std::string(guard) == "1");
  }();
  return shared;
}

void startBackend() {
  if (eert_backend_start() != 0)
    throw std::runtime_error(std::string("this binary's ") + eert_backend_name() +
                             " backend cannot run here: " + eert_last_error());
}

void checkBackend() {
  if (eert_backend_check() != 0)
    throw std::runtime_error(eert_last_error());
}

BackendBuffer::BackendBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0)
    return;
  data_ = eert_memory_allocate(static_cast<int64_t>(bytes));
  if (!data_)
    throw std::runtime_error(std::string("allocating ") + std::to_string(bytes) +
                             " bytes of backend memory: " + eert_last_error());
  eert_memory_zero(data_, static_cast<int64_t>(bytes));
}

BackendBuffer::~BackendBuffer() { eert_memory_free(data_); }

BackendBuffer::BackendBuffer(BackendBuffer &&other) noexcept
    : data_(other.data_), bytes_(other.bytes_) {
  other.data_ = nullptr;
  other.bytes_ = 0;
}

BackendBuffer &BackendBuffer::operator=(BackendBuffer &&other) noexcept {
  if (this != &other) {
    eert_memory_free(data_);
    data_ = other.data_;
    bytes_ = other.bytes_;
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void BackendBuffer::upload(const void *host, size_t bytes, size_t offset) {
  if (offset + bytes > bytes_)
    throw std::logic_error("BackendBuffer::upload past the buffer's end");
  eert_memory_to_backend(static_cast<char *>(data_) + offset, host, static_cast<int64_t>(bytes));
}

void BackendBuffer::download(void *host, size_t bytes, size_t offset) const {
  if (offset + bytes > bytes_)
    throw std::logic_error("BackendBuffer::download past the buffer's end");
  eert_memory_to_host(host, static_cast<const char *>(data_) + offset, static_cast<int64_t>(bytes));
}

BackendAccess::BackendAccess() { eert_memory_host_access(1); }
BackendAccess::~BackendAccess() { eert_memory_host_access(0); }

} // namespace eert
