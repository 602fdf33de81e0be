// Entry.h - how the cuda backend's ABI entry points turn C++ failures into the ABI's.
#ifndef EERT_CUDA_ENTRY_H
#define EERT_CUDA_ENTRY_H

#include "cuda/Device.h"
#include "cpu/Error.h"

#include <cstdint>
#include <exception>
#include <string>

namespace eert::cuda {

/// Runs a void entry point's body; a failure is kept for eert_backend_check
/// (or, without a device, is the thread's last error).
template <typename Body> void guarded(const char *entry, Body &&body) {
  try {
    body();
  } catch (const std::exception &e) {
    std::string why;
    if (Device::start(why))
      Device::get().recordError(std::string(entry) + ": " + e.what());
    else
      eert::fail(why);
  }
}

/// Runs a status entry point's body: 0, or 1 with eert_last_error set.
template <typename Body> int32_t guardedStatus(const char *entry, Body &&body) {
  try {
    body();
    return 0;
  } catch (const std::exception &e) {
    return eert::fail(std::string(entry) + ": " + e.what());
  }
}

} // namespace eert::cuda

#endif // EERT_CUDA_ENTRY_H
