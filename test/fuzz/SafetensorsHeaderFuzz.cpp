// SafetensorsHeaderFuzz.cpp - fuzzes the safetensors reader (SafetensorsFile::fromBytes, which open uses).
//
// Whatever it accepts must be safe to read: every tensor's bytes are touched
// (ASan checks they lie inside the input) and its size matches its shape.
#include "io/Safetensors.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string error;
  auto file = eert::SafetensorsFile::fromBytes(data, size, "input", error);
  if (!file) {
    if (error.rfind("input: ", 0) != 0) // every refusal names its source
      __builtin_trap();
    return 0;
  }
  volatile uint8_t sink = 0;
  for (const auto &[name, view] : file->tensors()) {
    uint64_t elements = 1;
    for (int64_t dim : view.shape)
      elements *= static_cast<uint64_t>(dim);
    if (elements * eert::dtypeSize(view.dtype) != view.bytes || file->find(name) != &view)
      __builtin_trap();
    for (size_t i = 0; i < view.bytes; ++i)
      sink = sink ^ view.data[i];
  }
  return 0;
}
