// Memory.cpp - the cpu backend's memory calls: host memory, plain copies.
#include "cpu/Error.h"
#include "eert/eert.h"

#include <cstdlib>
#include <cstring>
#include <string>

extern "C" {

const char *eert_backend_name(void) { return "cpu"; }

int32_t eert_backend_start(void) { return 0; }

void *eert_memory_allocate(int64_t bytes) {
  if (bytes <= 0)
    return nullptr;
  // aligned_alloc wants a multiple of the alignment.
  size_t rounded = (static_cast<size_t>(bytes) + 63) / 64 * 64;
  void *pointer = std::aligned_alloc(64, rounded);
  if (!pointer)
    eert::fail("out of host memory allocating " + std::to_string(bytes) + " bytes");
  return pointer;
}

void eert_memory_free(void *pointer) { std::free(pointer); }

void eert_memory_to_backend(void *backend, const void *host, int64_t bytes) {
  if (bytes > 0 && backend != host)
    std::memcpy(backend, host, static_cast<size_t>(bytes));
}

void eert_memory_to_host(void *host, const void *backend, int64_t bytes) {
  eert_memory_to_backend(host, backend, bytes);
}

void eert_memory_copy(void *to, const void *from, int64_t bytes) {
  if (bytes > 0 && to != from)
    std::memmove(to, from, static_cast<size_t>(bytes));
}

void eert_memory_zero(void *to, int64_t bytes) {
  if (bytes > 0)
    std::memset(to, 0, static_cast<size_t>(bytes));
}

float eert_memory_load_f32(const float *from) { return *from; }

void eert_memory_store_f32(float *to, float value) { *to = value; }

void eert_memory_synchronize(void) {}

int32_t eert_backend_check(void) { return 0; }

} // extern "C"
