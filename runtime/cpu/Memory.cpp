// Memory.cpp - the cpu backend's memory calls: host memory, plain copies; and the guarded test
// mode.
//
// With EERT_MEMORY_GUARD=1 the backend's memory behaves as a GPU's does for
// the host: each allocation is its own mapping, readable only inside the
// windows eert_memory_host_access opens (compiled entry points, kernels the
// host calls) and by the copies below, so a host access that a cuda binary
// would need a copy for crashes the test that makes it.
#include "cpu/Error.h"
#include "eert/eert.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

namespace {

bool guarded() {
  static const bool on = [] {
    const char *value = std::getenv("EERT_MEMORY_GUARD");
    return value && std::string(value) == "1";
  }();
  return on;
}

/// The guarded mappings and the open windows (nested; any thread).
struct Guard {
  std::recursive_mutex mutex;
  std::map<void *, size_t> mappings;
  int64_t open = 0;

  void protect(void *pointer, size_t bytes) const {
    mprotect(pointer, bytes, open > 0 ? PROT_READ | PROT_WRITE : PROT_NONE);
  }
  void setOpen(int64_t delta) {
    std::lock_guard<std::recursive_mutex> lock(mutex);
    bool wasOpen = open > 0;
    open += delta;
    if (wasOpen != (open > 0))
      for (const auto &[pointer, bytes] : mappings)
        protect(pointer, bytes);
  }
};

Guard &guard() {
  static Guard instance;
  return instance;
}

size_t pageRounded(int64_t bytes) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (static_cast<size_t>(bytes) + page - 1) / page * page;
}

/// The memory calls' own window around `body`.
template <typename Body> void inWindow(Body &&body) {
  if (!guarded()) {
    body();
    return;
  }
  guard().setOpen(1);
  body();
  guard().setOpen(-1);
}

} // namespace

extern "C" {

const char *eert_backend_name(void) { return "cpu"; }

int32_t eert_backend_start(void) { return 0; }

void *eert_memory_allocate(int64_t bytes) {
  if (bytes <= 0)
    return nullptr;
  if (guarded()) {
    Guard &g = guard();
    std::lock_guard<std::recursive_mutex> lock(g.mutex);
    size_t rounded = pageRounded(bytes);
    void *pointer = mmap(nullptr, rounded, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pointer == MAP_FAILED) {
      eert::fail("out of memory mapping " + std::to_string(bytes) + " bytes");
      return nullptr;
    }
    g.mappings[pointer] = rounded;
    g.protect(pointer, rounded);
    return pointer;
  }
  // aligned_alloc wants a multiple of the alignment.
  size_t rounded = (static_cast<size_t>(bytes) + 63) / 64 * 64;
  void *pointer = std::aligned_alloc(64, rounded);
  if (!pointer)
    eert::fail("out of host memory allocating " + std::to_string(bytes) + " bytes");
  return pointer;
}

void eert_memory_free(void *pointer) {
  if (!guarded()) {
    std::free(pointer);
    return;
  }
  if (!pointer)
    return;
  Guard &g = guard();
  std::lock_guard<std::recursive_mutex> lock(g.mutex);
  auto found = g.mappings.find(pointer);
  if (found != g.mappings.end()) {
    munmap(found->first, found->second);
    g.mappings.erase(found);
  }
}

namespace {

/// The guarded mode's count of bytes between host and backend, written at
/// exit to $EERT_MEMORY_GUARD_TRAFFIC when set: what a GPU run would move
/// over PCIe (test/runtime/memory-guard.test checks a decode step's).
struct Traffic {
  std::atomic<int64_t> toBackend{0}, toHost{0};
  ~Traffic() {
    const char *path = std::getenv("EERT_MEMORY_GUARD_TRAFFIC");
    if (!guarded() || !path)
      return;
    if (std::FILE *file = std::fopen(path, "w")) {
      std::fprintf(file, "to_backend %lld\nto_host %lld\n", static_cast<long long>(toBackend.load()),
                   static_cast<long long>(toHost.load()));
      std::fclose(file);
    }
  }
};
Traffic traffic;

void copyAcross(void *to, const void *from, int64_t bytes) {
  if (bytes > 0 && to != from)
    inWindow([&] { std::memcpy(to, from, static_cast<size_t>(bytes)); });
}

} // namespace

void eert_memory_to_backend(void *backend, const void *host, int64_t bytes) {
  traffic.toBackend += std::max<int64_t>(bytes, 0);
  copyAcross(backend, host, bytes);
}

void eert_memory_to_host(void *host, const void *backend, int64_t bytes) {
  traffic.toHost += std::max<int64_t>(bytes, 0);
  copyAcross(host, backend, bytes);
}

void eert_memory_copy(void *to, const void *from, int64_t bytes) {
  if (bytes > 0 && to != from)
    inWindow([&] { std::memmove(to, from, static_cast<size_t>(bytes)); });
}

void eert_memory_zero(void *to, int64_t bytes) {
  if (bytes > 0)
    inWindow([&] { std::memset(to, 0, static_cast<size_t>(bytes)); });
}

float eert_memory_load_f32(const float *from) {
  float value = 0.0f;
  inWindow([&] { value = *from; });
  return value;
}

void eert_memory_store_f32(float *to, float value) {
  inWindow([&] { *to = value; });
}

void eert_memory_synchronize(void) {}

int32_t eert_backend_check(void) { return 0; }

// Graphs are a GPU's: the cpu backend runs every call (abi.def).
int32_t eert_graph_begin(void) { return eert::fail("the cpu backend records no graphs"); }
int32_t eert_graph_end(uint64_t *graph) {
  *graph = 0;
  return eert::fail("the cpu backend records no graphs");
}
int32_t eert_graph_launch(int64_t) { return eert::fail("the cpu backend records no graphs"); }
void eert_graph_destroy(int64_t) {}

void eert_memory_host_access(int64_t allowed) {
  if (guarded())
    guard().setOpen(allowed ? 1 : -1);
}

} // extern "C"
