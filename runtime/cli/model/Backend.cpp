// Backend.cpp - owned backend buffers and the host's copies to and from them.
#include "cli/model/Backend.h"

#include "eert/eert.h"

#include <algorithm>
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

BackendRows &BackendRows::operator=(const BackendRows &other) {
  if (this != &other) {
    clear();
    append(other);
  }
  return *this;
}

float *BackendRows::room(size_t rows, int64_t width) {
  if (count_ == 0)
    width_ = width;
  else if (width != width_)
    throw std::logic_error("BackendRows: rows of " + std::to_string(width) + " floats appended to rows of " +
                           std::to_string(width_));
  size_t needed = (count_ + rows) * static_cast<size_t>(width_) * sizeof(float);
  if (needed > buffer_.bytes()) {
    BackendBuffer larger(std::max(needed, 2 * buffer_.bytes()));
    if (count_ > 0)
      eert_memory_copy(larger.data(), buffer_.data(),
                       static_cast<int64_t>(count_ * width_ * sizeof(float)));
    buffer_ = std::move(larger);
  }
  return buffer_.as<float>() + count_ * width_;
}

void BackendRows::append(const float *backendRows, size_t count, int64_t width) {
  appendBy(eert_memory_copy, backendRows, count, width);
}

void BackendRows::appendHost(const float *hostRows, size_t count, int64_t width) {
  appendBy(eert_memory_to_backend, hostRows, count, width);
}

void BackendRows::appendBy(void (*copy)(void *, const void *, int64_t), const float *rows,
                           size_t count, int64_t width) {
  if (count == 0)
    return;
  float *to = room(count, width);
  copy(to, rows, static_cast<int64_t>(count * width * sizeof(float)));
  count_ += count;
}

std::vector<float> BackendRows::toHost(size_t first, size_t count) const {
  if (first + count > count_)
    throw std::logic_error("BackendRows::toHost past the last row");
  std::vector<float> values(count * width_);
  if (!values.empty())
    eert_memory_to_host(values.data(), data() + first * width_,
                        static_cast<int64_t>(values.size() * sizeof(float)));
  return values;
}

BackendRows BackendRows::select(const std::vector<size_t> &which) const {
  BackendRows out;
  for (size_t i = 0; i < which.size();) {
    size_t run = 1;
    while (i + run < which.size() && which[i + run] == which[i] + run)
      ++run;
    if (which[i] + run > count_)
      throw std::logic_error("BackendRows::select past the last row");
    out.append(data() + which[i] * width_, run, width_);
    i += run;
  }
  return out;
}

BackendAccess::BackendAccess() { eert_memory_host_access(1); }
BackendAccess::~BackendAccess() { eert_memory_host_access(0); }

} // namespace eert
