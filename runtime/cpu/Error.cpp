// Error.cpp - the thread-local last-error message behind eert_last_error.
#include "cpu/Error.h"
#include "eert/eert.h"

namespace {
thread_local std::string lastError;
} // namespace

int32_t eert::fail(std::string message) {
  lastError = std::move(message);
  return 1;
}

extern "C" const char *eert_last_error(void) { return lastError.c_str(); }
