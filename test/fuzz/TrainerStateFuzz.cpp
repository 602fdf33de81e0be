// TrainerStateFuzz.cpp - fuzzes parseTrainerState, the reader of a checkpoint's trainer_state.json.
//
// What it accepts is used as the sampler's position and the schedule's step:
// every accepted field must lie in the documented ranges, so that resuming
// from it can neither index before the data nor overflow int64.
#include "cli/TrainerState.h"

#include <cstdint>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  try {
    eert::TrainerState state = eert::parseTrainerState(text, "input");
    if (state.iteration < 0 || state.iteration > eert::kMaxIterations)
      __builtin_trap();
    if (state.consumedSamples < state.iteration ||
        state.consumedSamples > state.iteration * eert::kMaxSamplesPerIteration)
      __builtin_trap();
    // The furthest a resumed run can go stays inside int64.
    int64_t remaining = (eert::kMaxIterations - state.iteration) * eert::kMaxSamplesPerIteration, end = 0;
    if (__builtin_add_overflow(state.consumedSamples, remaining, &end))
      __builtin_trap();
    if (state.seqLen && (*state.seqLen < 1 || *state.seqLen > eert::kMaxSeqLen))
      __builtin_trap();
    if (state.globalBatch && (*state.globalBatch < 1 || *state.globalBatch > eert::kMaxSamplesPerIteration))
      __builtin_trap();
  } catch (const std::runtime_error &) {
    // A clear refusal is the expected outcome for most inputs.
  }
  return 0;
}
