// TrainerState.cpp - validated reading of a checkpoint's trainer_state.json.
#include "cli/train/TrainerState.h"
#include "io/BoundedInput.h"

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <sys/stat.h>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace eert {

namespace {

/// The integer `key` of `state` within [low, high], or an error saying what was found.
int64_t integerField(const json &state, const char *key, int64_t low, int64_t high,
                     const std::string &source, const std::string &range) {
  if (!state.contains(key) || !state[key].is_number_integer())
    throw std::runtime_error(source + ": needs an integer '" + key + "'" +
                             (state.contains(key) ? ", got " + state[key].dump(-1, ' ', false,
                                                    json::error_handler_t::replace)
                                                  : std::string()));
  // An unsigned value above int64's range is out of every range here.
  if (state[key].is_number_unsigned() && state[key].get<uint64_t>() > static_cast<uint64_t>(high))
    throw std::runtime_error(source + ": '" + key + "' is " + state[key].dump() + ", outside " + range);
  int64_t value = state[key].get<int64_t>();
  if (value < low || value > high)
    throw std::runtime_error(source + ": '" + key + "' is " + std::to_string(value) + ", outside " + range);
  return value;
}

} // namespace

TrainerState parseTrainerState(std::string_view text, const std::string &source, bool resume) {
  if (text.size() > kMaxTrainerStateBytes)
    throw std::runtime_error(source + ": " + std::to_string(text.size()) +
                             " bytes, more than the limit of " + std::to_string(kMaxTrainerStateBytes));
  json state = parseBoundedJson(text, source);
  if (!state.is_object())
    throw std::runtime_error(source + ": not a JSON object");
  TrainerState result;
  result.iteration = integerField(state, "iteration", 0, kMaxIterations, source,
                                  "[0, " + std::to_string(kMaxIterations) + "]");
  if (resume || state.contains("consumed_samples")) {
    // Every step reads at least one sample and at most kMaxSamplesPerIteration.
    int64_t most = result.iteration * kMaxSamplesPerIteration;
    result.consumedSamples =
        integerField(state, "consumed_samples", result.iteration, most, source,
                     "[iteration, iteration x " + std::to_string(kMaxSamplesPerIteration) + "] = [" +
                         std::to_string(result.iteration) + ", " + std::to_string(most) + "]");
  }
  if (resume || state.contains("seed")) {
    if (!state.contains("seed") || !state["seed"].is_number_integer() ||
        (!state["seed"].is_number_unsigned() && state["seed"].get<int64_t>() < 0))
      throw std::runtime_error(source + ": needs a non-negative integer 'seed'");
    result.seed = state["seed"].get<uint64_t>();
  }
  if (state.contains("seq_len"))
    result.seqLen = integerField(state, "seq_len", 1, kMaxSeqLen, source,
                                 "[1, " + std::to_string(kMaxSeqLen) + "]");
  if (state.contains("global_batch"))
    result.globalBatch = integerField(state, "global_batch", 1, kMaxSamplesPerIteration, source,
                                      "[1, " + std::to_string(kMaxSamplesPerIteration) + "]");
  return result;
}

std::optional<TrainerState> readTrainerState(const std::string &dir, bool resume) {
  std::string path = (fs::path(dir) / "trainer_state.json").string();
  struct stat info;
  if (::lstat(path.c_str(), &info) != 0 && errno == ENOENT)
    return std::nullopt;
  TrainerState state = parseTrainerState(readRegularFile(path, kMaxTrainerStateBytes), path, resume);
  // A checkpoint renamed or copied under another iteration's name would
  // resume from the wrong place without anyone noticing.
  std::string name = fs::path(dir).lexically_normal().filename().string();
  if (name.empty())
    name = fs::path(dir).lexically_normal().parent_path().filename().string();
  if (name.size() > 5 && name.rfind("iter_", 0) == 0 &&
      name.find_first_not_of("0123456789", 5) == std::string::npos) {
    std::string digits = name.substr(5);
    if (digits.size() < 19 && std::stoll(digits) != state.iteration)
      throw std::runtime_error(path + ": 'iteration' is " + std::to_string(state.iteration) +
                               " but the directory is named " + name);
  }
  return state;
}

} // namespace eert
