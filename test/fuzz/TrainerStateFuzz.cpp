// TrainerStateFuzz.cpp - fuzzes parseTrainerState, the reader of a checkpoint's trainer_state.json.
//
// What it accepts is used as the sampler's position and the schedule's step:
// every accepted field must lie in the documented ranges, so that resuming
// from it can neither index before the data nor overflow int64.
#include "cli/train/TrainerState.h"

#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace {

/// Traps unless `state` lies in the ranges TrainerState.h documents.
void checkRanges(const eert::TrainerState &state, bool resume) {
  if (state.iteration < 0 || state.iteration > eert::kMaxIterations)
    __builtin_trap();
  if (resume && (!state.consumedSamples || !state.seed))
    __builtin_trap();
  if (state.consumedSamples) {
    int64_t consumed = *state.consumedSamples;
    if (consumed < state.iteration || consumed > state.iteration * eert::kMaxSamplesPerIteration)
      __builtin_trap();
    // The furthest a resumed run can go stays inside int64.
    int64_t remaining = (eert::kMaxIterations - state.iteration) * eert::kMaxSamplesPerIteration, end = 0;
    if (__builtin_add_overflow(consumed, remaining, &end))
      __builtin_trap();
  }
  if (state.seqLen && (*state.seqLen < 1 || *state.seqLen > eert::kMaxSeqLen))
    __builtin_trap();
  if (state.globalBatch && (*state.globalBatch < 1 || *state.globalBatch > eert::kMaxSamplesPerIteration))
    __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  for (bool resume : {true, false}) {
    try {
      checkRanges(eert::parseTrainerState(text, "input", resume), resume);
    } catch (const std::runtime_error &) {
      // A clear refusal is the expected outcome for most inputs.
    }
  }
  return 0;
}
