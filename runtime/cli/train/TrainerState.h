// TrainerState.h - trainer_state.json of a training checkpoint: its fields, limits and validated reading.
#ifndef EERT_CLI_TRAINERSTATE_H
#define EERT_CLI_TRAINERSTATE_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eert {

/// Bounds of a training run. With both, iteration x samples per iteration
/// stays far from int64 overflow, whatever is resumed from where.
constexpr int64_t kMaxIterations = 1'000'000'000;
constexpr int64_t kMaxSamplesPerIteration = int64_t{1} << 32;
/// Sequence lengths beyond this would not fit the int32 positions.
constexpr int64_t kMaxSeqLen = int64_t{1} << 30;
/// trainer_state.json is a handful of numbers.
constexpr uint64_t kMaxTrainerStateBytes = 1 << 20;

/// What a checkpoint records of the run that saved it.
struct TrainerState {
  /// Optimizer steps taken.
  int64_t iteration = 0;
  /// Samples read so far (the sampler's position), and the seed of the data
  /// order (and of the initial weights): needed to resume training, not by
  /// `grad`, which reads only the iteration (the exit weights' warm-up).
  std::optional<int64_t> consumedSamples;
  std::optional<uint64_t> seed;
  /// The saving run's --seq-len and --global-batch (absent in older files).
  std::optional<int64_t> seqLen, globalBatch;
};

/// Parses and validates the text of a trainer_state.json: a JSON object
/// (depth- and size-bounded) with an integer 'iteration' in [0, kMaxIterations]
/// and, required when `resume`, optional otherwise, integers
/// 'consumed_samples' in [iteration, iteration x kMaxSamplesPerIteration] and
/// 'seed' >= 0; when present, 'seq_len' in [1, kMaxSeqLen] and 'global_batch'
/// in [1, kMaxSamplesPerIteration]. Other keys are ignored. Throws
/// std::runtime_error naming `source` and the field.
TrainerState parseTrainerState(std::string_view text, const std::string &source, bool resume = true);

/// The trainer state of checkpoint directory `dir`, none if it has no
/// trainer_state.json (a checkpoint from `init`). The file must be a regular
/// file; when `dir` is named iter_NNNNNNN its iteration must match the name.
std::optional<TrainerState> readTrainerState(const std::string &dir, bool resume = true);

} // namespace eert

#endif // EERT_CLI_TRAINERSTATE_H
