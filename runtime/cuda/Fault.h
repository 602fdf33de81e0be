// Fault.h - a kernel's record of bad input, shared by the kernels and the host.
#ifndef EERT_CUDA_FAULT_H
#define EERT_CUDA_FAULT_H

#include <stdint.h>

namespace eert::cuda {

/// What a kernel found outside its range. GPU kernels cannot return a status
/// per call without a synchronization, so the first fault is kept in device
/// memory and eert_backend_check reports it (Device::checkFaults).
enum class FaultKind : int32_t { None = 0, Id = 1, Label = 2, Position = 3, Row = 4, Choice = 5 };

/// The ABI entry point that found it, for the message.
enum class FaultSource : int32_t {
  EmbeddingLookup = 1,
  EmbeddingBackward = 2,
  CrossEntropy = 3,
  CrossEntropyBackward = 4,
  AttentionCached = 5,
  ExitDecision = 6,
};

struct Fault {
  int32_t kind;   // FaultKind
  int32_t source; // FaultSource
  int64_t index;  // the token at fault
  int64_t value;  // the value found
  int64_t limit;  // the range it should be in: [0, limit)
};

} // namespace eert::cuda

#endif // EERT_CUDA_FAULT_H
