// BoundedInput.cpp - regular-file checks, size limits and depth-bounded JSON parsing.
#include "io/BoundedInput.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace eert {

int openRegularFile(const std::string &path, uint64_t maxBytes, uint64_t &size) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    throw std::runtime_error(path + ": not a regular file");
  }
  size = static_cast<uint64_t>(info.st_size);
  if (size > maxBytes) {
    ::close(fd);
    throw std::runtime_error(path + ": " + std::to_string(size) + " bytes, more than the limit of " +
                             std::to_string(maxBytes));
  }
  // Regular files never block; clear the flag so reads behave as usual.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string readRegularFile(const std::string &path, uint64_t maxBytes) {
  uint64_t size = 0;
  int fd = openRegularFile(path, maxBytes, size);
  std::string bytes(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t got = ::read(fd, bytes.data() + done, size - done);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      int error = errno;
      ::close(fd);
      throw std::runtime_error(path + ": " +
                               (got == 0 ? std::string("shrank while being read")
                                         : std::string("read failed: ") + std::strerror(error)));
    }
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  return bytes;
}

nlohmann::json parseBoundedJson(std::string_view text, const std::string &source, size_t maxDepth) {
  size_t at = jsonNestingViolation(text, maxDepth);
  if (at != std::string_view::npos)
    throw std::runtime_error(source + ": JSON nested deeper than " + std::to_string(maxDepth) +
                             " levels (at byte " + std::to_string(at) + ")");
  nlohmann::json value = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                               /*allow_exceptions=*/false);
  if (value.is_discarded())
    throw std::runtime_error(source + ": not valid JSON");
  return value;
}

nlohmann::json readJsonFile(const std::string &path, uint64_t maxBytes, size_t maxDepth) {
  return parseBoundedJson(readRegularFile(path, maxBytes), path, maxDepth);
}

} // namespace eert
