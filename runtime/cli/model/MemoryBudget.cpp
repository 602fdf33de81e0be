// MemoryBudget.cpp - available memory (/proc/meminfo, cgroup v2) against the buffers a command will allocate.
#include "cli/model/MemoryBudget.h"

#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace eert {

namespace {

constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max();

uint64_t saturatingAdd(uint64_t a, uint64_t b) { return a > kSaturated - b ? kSaturated : a + b; }

std::string bytesText(uint64_t bytes) {
  return bytes == kSaturated ? "more than " + std::to_string(kSaturated) + " bytes"
                             : std::to_string(bytes) + " bytes";
}

/// A number of bytes read from the first line of `path` (a cgroup file), if it holds one.
bool readCgroupNumber(const char *path, uint64_t &value) {
  std::ifstream in(path);
  std::string text;
  if (!in || !std::getline(in, text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  try {
    value = std::stoull(text);
  } catch (...) {
    return false;
  }
  return true;
}

} // namespace

uint64_t bytesProduct(std::initializer_list<int64_t> factors) {
  uint64_t product = 1;
  for (int64_t factor : factors) {
    if (factor < 0 || __builtin_mul_overflow(product, static_cast<uint64_t>(factor), &product))
      return kSaturated;
  }
  return product;
}

uint64_t availableMemory(std::string &source) {
  uint64_t available = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kilobytes = 0;
  std::string unit;
  bool found = false;
  while (meminfo >> key >> kilobytes) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:") {
      available = bytesProduct({static_cast<int64_t>(kilobytes), 1024});
      source = "MemAvailable in /proc/meminfo";
      found = true;
      break;
    }
  }
  if (!found) {
    long pages = sysconf(_SC_AVPHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
    available = pages > 0 && pageSize > 0 ? bytesProduct({pages, pageSize}) : kSaturated;
    source = "sysconf(_SC_AVPHYS_PAGES)";
  }
  // A container's limit is met long before the host's memory runs out.
  uint64_t limit = 0, current = 0;
  if (readCgroupNumber("/sys/fs/cgroup/memory.max", limit) &&
      readCgroupNumber("/sys/fs/cgroup/memory.current", current)) {
    uint64_t room = limit > current ? limit - current : 0;
    if (room < available) {
      available = room;
      source = "memory.max - memory.current of the cgroup";
    }
  }
  return available;
}

void checkMemory(const std::string &request, const std::vector<std::pair<std::string, uint64_t>> &parts) {
  uint64_t needed = 0;
  for (const auto &part : parts)
    needed = saturatingAdd(needed, part.second);
  std::string source;
  uint64_t available = availableMemory(source);
  if (needed <= available)
    return;
  std::ostringstream message;
  message << request << " need " << bytesText(needed) << " of memory (";
  for (size_t i = 0; i < parts.size(); ++i)
    message << (i ? ", " : "") << parts[i].first << ": " << bytesText(parts[i].second);
  message << ") but " << available << " bytes are available (" << source << ")";
  throw std::runtime_error(message.str());
}

} // namespace eert
