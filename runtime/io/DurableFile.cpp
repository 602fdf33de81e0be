// DurableFile.cpp - fsync of files and directories, atomic replacement of files and directories.
#include "io/DurableFile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace eert {

namespace {

std::runtime_error failure(const std::string &path, const char *what) {
  return std::runtime_error(path + ": " + what + ": " + std::strerror(errno));
}

std::string directoryOf(const std::string &path) {
  fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

} // namespace

void syncPath(const std::string &path) {
  // O_NONBLOCK: a FIFO put in the path's place must not block the save.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    throw failure(path, "cannot open to sync");
  if (::fsync(fd) != 0) {
    int error = errno;
    ::close(fd);
    errno = error;
    throw failure(path, "fsync failed");
  }
  ::close(fd);
}

void writeFileDurably(const std::string &path, std::string_view text) {
  std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    throw failure(temporary, "cannot create");
  size_t done = 0;
  while (done < text.size()) {
    ssize_t wrote = ::write(fd, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR)
      continue;
    if (wrote <= 0) {
      int error = errno;
      ::close(fd);
      ::unlink(temporary.c_str());
      errno = error;
      throw failure(temporary, "write failed");
    }
    done += static_cast<size_t>(wrote);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    errno = error;
    throw failure(temporary, "fsync failed");
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    errno = error;
    throw failure(path, "rename failed");
  }
  syncPath(directoryOf(path));
}

void renameDurably(const std::string &from, const std::string &to) {
  struct stat info;
  bool replacing = ::lstat(to.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
  if (replacing) {
    // rename(2) refuses a non-empty target directory, and removing it first
    // would leave a moment with neither.
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) != 0)
      throw std::runtime_error(from + " -> " + to + ": exchange failed: " + std::strerror(errno));
  } else if (std::rename(from.c_str(), to.c_str()) != 0) {
    throw std::runtime_error(from + " -> " + to + ": rename failed: " + std::strerror(errno));
  }
  syncPath(directoryOf(to));
  if (directoryOf(from) != directoryOf(to))
    syncPath(directoryOf(from));
}

} // namespace eert
