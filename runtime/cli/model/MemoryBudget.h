// MemoryBudget.h - refusing batch sizes whose buffers would not fit in memory, before allocating them.
#ifndef EERT_CLI_MEMORYBUDGET_H
#define EERT_CLI_MEMORYBUDGET_H

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace eert {

/// The product of non-negative `factors`, or UINT64_MAX if it overflows.
uint64_t bytesProduct(std::initializer_list<int64_t> factors);

/// Bytes this process can still allocate: MemAvailable of /proc/meminfo, or
/// the room left under the cgroup's memory.max when that is smaller (sysconf's
/// available pages without /proc). `source` says which.
uint64_t availableMemory(std::string &source);

/// Throws std::runtime_error unless the buffers `parts` ((what, bytes), sums
/// saturating) fit in availableMemory(): the message names `request` (the
/// options that sized them), the bytes needed, part by part, and the bytes
/// available.
void checkMemory(const std::string &request, const std::vector<std::pair<std::string, uint64_t>> &parts);

} // namespace eert

#endif // EERT_CLI_MEMORYBUDGET_H
