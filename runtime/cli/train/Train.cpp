// Train.cpp - training in one process: AdamW, learning-rate schedule, clipping,
// gradient accumulation, atomic checkpoints with exact resume, progress and
// metrics; and the preprocess command.
#include "cli/train/Train.h"
#include "cli/train/DataParallel.h"
#include "cli/train/PipelineTraining.h"
#include "cli/model/Tokenizer.h"
#include "cli/train/Trace.h"
#include "cli/model/FiniteValues.h"
#include "cli/model/MemoryBudget.h"
#include "cli/train/TrainerState.h"
#include "io/BoundedInput.h"
#include "io/Dataset.h"
#include "io/DurableFile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>
#include <sys/stat.h>
#include <tuple>
#include <unistd.h>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace eert {

const std::set<std::string> kTrainOptions = {
    "data",           "iters",          "global-batch", "micro-batch", "seq-len",
    "lr",             "min-lr",         "lr-warmup-iters", "lr-decay-iters", "lr-decay-style",
    "weight-decay",   "adam-beta1",     "adam-beta2",   "adam-eps",    "clip-grad",
    "seed",           "load",           "save",         "save-interval", "keep-last",
    "log-interval",   "metrics",        "ddp-bucket-size", "trace"};
const std::set<std::string> kTrainFlags = {"use-distributed-optimizer"};

namespace {

struct LearningRate {
  double peak, minimum;
  int64_t warmup, decayIters;
  std::string style;

  /// Linear warm-up from 0, then cosine/linear decay to the minimum (Megatron).
  double at(int64_t iteration) const {
    if (warmup > 0 && iteration < warmup)
      return peak * static_cast<double>(iteration + 1) / warmup;
    if (style == "constant")
      return peak;
    double span = std::max<int64_t>(decayIters - warmup, 1);
    double progress = std::min(1.0, static_cast<double>(iteration - warmup) / span);
    if (style == "cosine")
      return minimum + (peak - minimum) * 0.5 * (1.0 + std::cos(M_PI * progress));
    return peak - (peak - minimum) * progress;
  }
};

/// AdamW's hyperparameters and this rank's moments (the compiled update step applies it).
struct AdamW {
  double beta1, beta2, eps, weightDecay;
  std::vector<std::vector<float>> expAvg, expAvgSq;

  /// Moments for the parameters in `held` (indices), `size(i)` elements
  /// each (a ZeRO-1 replica's block); the others stay empty.
  void init(const Manifest &manifest, const std::vector<size_t> &held,
            const std::function<int64_t(size_t)> &size) {
    expAvg.resize(manifest.parameters.size());
    expAvgSq.resize(manifest.parameters.size());
    for (size_t i : held) {
      expAvg[i].assign(size(i), 0.0f);
      expAvgSq[i].assign(size(i), 0.0f);
    }
  }

  /// The moments where the compiled update reads them: the host's vectors,
  /// or (where the backend is not host memory) their copies there, made by
  /// upload and read back by download.
  std::vector<BackendBuffer> backendAvg, backendAvgSq;
  float *state(size_t i, bool second) {
    if (hostSharesBackendMemory())
      return (second ? expAvgSq : expAvg)[i].data();
    return (second ? backendAvgSq : backendAvg)[i].as<float>();
  }
  void upload() {
    if (hostSharesBackendMemory())
      return;
    backendAvg.resize(expAvg.size());
    backendAvgSq.resize(expAvgSq.size());
    for (size_t i = 0; i < expAvg.size(); ++i)
      for (auto [host, backend] : {std::pair{&expAvg[i], &backendAvg[i]},
                                   std::pair{&expAvgSq[i], &backendAvgSq[i]}}) {
        *backend = BackendBuffer(host->size() * sizeof(float));
        backend->upload(host->data(), host->size() * sizeof(float));
      }
  }
  void download() {
    if (hostSharesBackendMemory())
      return;
    for (size_t i = 0; i < expAvg.size(); ++i) {
      backendAvg[i].download(expAvg[i].data(), expAvg[i].size() * sizeof(float));
      backendAvgSq[i].download(expAvgSq[i].data(), expAvgSq[i].size() * sizeof(float));
    }
  }
};

std::string iterationName(int64_t iteration) {
  char name[32];
  std::snprintf(name, sizeof(name), "iter_%07lld", static_cast<long long>(iteration));
  return name;
}

/// Whether `name` is one iterationName() writes (7 to 18 digits, so that it parses as int64).
bool isIterationName(const std::string &name) {
  return name.size() >= 12 && name.size() <= 23 && name.rfind("iter_", 0) == 0 &&
         name.find_first_not_of("0123456789", 5) == std::string::npos;
}

/// `text` for an error message: at most 64 bytes, control and non-ASCII bytes as \xNN.
std::string printable(const std::string &text) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < 64; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", c);
      out += escaped;
    }
  }
  return text.size() > 64 ? out + "..." : out;
}

/// Whether `path` lies inside the directory `root` (both canonical).
bool isInside(const fs::path &path, const fs::path &root) {
  auto [rootEnd, pathAt] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return rootEnd == root.end() && pathAt != path.end();
}

/// Refuses an iteration directory of `saveDir` that is, or holds, a symbolic
/// link leading out of the save directory: a checkpoint is the save
/// directory's own files, not whatever a link planted in it points at.
void checkInsideSaveDirectory(const fs::path &saveDir, const fs::path &iteration) {
  fs::path root = fs::canonical(saveDir);
  auto check = [&](const fs::path &link) {
    fs::path target = fs::weakly_canonical(link);
    if (!isInside(target, root))
      throw std::runtime_error(link.string() + ": a symbolic link to " + target.string() +
                               ", outside the save directory " + root.string());
  };
  if (fs::is_symlink(iteration))
    check(iteration);
  for (const auto &item : fs::directory_iterator(iteration))
    if (item.is_symlink())
      check(item.path());
}

/// The iteration named by `saveDir`/latest, or "" if there is none.
std::string latestName(const fs::path &saveDir) {
  std::error_code error;
  if (!fs::is_regular_file(saveDir / "latest", error))
    return "";
  std::string text = readRegularFile((saveDir / "latest").string(), 4096);
  if (!text.empty() && text.back() == '\n')
    text.pop_back();
  return isIterationName(text) ? text : "";
}

/// Drops the records of iterations after `iteration` (and any partial line a
/// crash left) from the metrics file `path`, atomically: a resumed run
/// appends its own, so every iteration has one line.
void trimMetrics(const std::string &path, int64_t iteration) {
  struct stat info;
  if (::lstat(path.c_str(), &info) != 0)
    return;
  uint64_t size = 0;
  int fd = openRegularFile(path, std::numeric_limits<uint64_t>::max(), size);
  std::string kept, line;
  bool dropped = false;
  // Lines longer than any record are dropped without holding them whole.
  constexpr size_t kMaxLine = 1 << 16;
  bool overlong = false;
  auto finishLine = [&]() {
    bool keep = false;
    if (!overlong && jsonNestingViolation(line, kMaxJsonDepth) == std::string_view::npos) {
      json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
      keep = record.is_object() && record.contains("iteration") && record["iteration"].is_number_integer() &&
             record["iteration"].get<int64_t>() <= iteration;
    }
    if (keep)
      kept += line + "\n";
    else
      dropped = true;
    line.clear();
    overlong = false;
  };
  char buffer[1 << 16];
  for (;;) {
    ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      int code = errno;
      ::close(fd);
      throw std::runtime_error(path + ": read failed: " + std::strerror(code));
    }
    if (got == 0)
      break;
    for (ssize_t i = 0; i < got; ++i) {
      if (buffer[i] == '\n') {
        finishLine();
      } else if (line.size() < kMaxLine) {
        line += buffer[i];
      } else {
        overlong = true;
      }
    }
  }
  ::close(fd);
  if (!line.empty() || overlong)
    finishLine(); // no newline: a record cut short
  if (dropped)
    writeFileDurably(path, kept);
}

std::string formatDuration(double seconds) {
  long total = std::lround(std::max(seconds, 0.0));
  char text[32];
  std::snprintf(text, sizeof(text), "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
  return text;
}

} // namespace

int64_t seqLenOption(const Manifest &manifest, const Options &options) {
  int64_t seqLen = options.integer("seq-len");
  int64_t maxPositions = manifest.config["max_position_embeddings"].get<int64_t>();
  if (seqLen <= 0 || seqLen > maxPositions)
    throw std::runtime_error("--seq-len must be in [1, " + std::to_string(maxPositions) + "]");
  return seqLen;
}

std::string resolveCheckpoint(const std::string &path) {
  fs::path latest = fs::path(path) / "latest";
  std::error_code error;
  if (!fs::exists(fs::symlink_status(latest, error)))
    return path;
  // Not a FIFO nor a device: a save directory's `latest` is a short regular file.
  std::string name = readRegularFile(latest.string(), 4096);
  if (!name.empty() && name.back() == '\n')
    name.pop_back();
  // A plain iteration name: `..`, `/etc` or `a/b` would load from outside.
  if (!isIterationName(name))
    throw std::runtime_error(latest.string() + ": names '" + printable(name) +
                             "', not an iteration directory of the save directory (iter_NNNNNNN)");
  fs::path target = fs::path(path) / name;
  if (!fs::is_directory(target, error))
    throw std::runtime_error(latest.string() + ": names '" + name + "', which is not a saved iteration");
  checkInsideSaveDirectory(path, target);
  return target.string();
}

int train(const Manifest &manifest, const Options &options) {
  // Every option against its meaning, before anything is read or allocated.
  auto integerIn = [&](const char *name, std::optional<int64_t> fallback, int64_t low, int64_t high) {
    int64_t value = options.integer(name, fallback);
    if (value < low || value > high)
      throw std::runtime_error("--" + std::string(name) + " must be in [" + std::to_string(low) + ", " +
                               std::to_string(high) + "], got " + std::to_string(value));
    return value;
  };
  auto numberWhere = [&](const char *name, double fallback, auto valid, const char *rule) {
    double value = options.number(name, fallback);
    if (!valid(value)) {
      std::ostringstream message;
      message << "--" << name << " must be " << rule << ", got " << value;
      throw std::runtime_error(message.str());
    }
    return value;
  };
  auto unit = [](double x) { return x >= 0.0 && x < 1.0; };
  auto positive = [](double x) { return x > 0.0; };
  auto nonNegative = [](double x) { return x >= 0.0; };
  int64_t iters = integerIn("iters", std::nullopt, 0, kMaxIterations);
  int64_t globalBatch = integerIn("global-batch", std::nullopt, 1, kMaxSamplesPerIteration);
  int64_t microBatch = integerIn("micro-batch", globalBatch, 1, globalBatch);
  if (globalBatch % microBatch != 0)
    throw std::runtime_error("need --iters >= 0 and --micro-batch dividing --global-batch");
  int64_t seqLen = seqLenOption(manifest, options);
  int64_t warmup = integerIn("lr-warmup-iters", 0, 0, kMaxIterations);
  // Decay ends after warm-up; by default at the last iteration (or with it).
  int64_t decayIters = integerIn("lr-decay-iters", std::max(iters, warmup), 0, kMaxIterations);
  LearningRate schedule{options.number("lr", NAN), options.number("min-lr", 0.0), warmup, decayIters,
                        options.has("lr-decay-style") ? options.text("lr-decay-style") : "cosine"};
  if (!(schedule.peak > 0) || schedule.minimum < 0 || schedule.minimum > schedule.peak)
    throw std::runtime_error("need --lr > 0 and 0 <= --min-lr <= --lr");
  if (schedule.style != "cosine" && schedule.style != "linear" && schedule.style != "constant")
    throw std::runtime_error("--lr-decay-style must be cosine, linear or constant");
  if (schedule.style != "constant" && decayIters < warmup)
    throw std::runtime_error("--lr-decay-iters (" + std::to_string(decayIters) +
                             ") must be at least --lr-warmup-iters (" + std::to_string(warmup) +
                             "): the decay follows the warm-up");
  // beta = 1 divides by a zero bias correction; eps = 0 by a zero moment.
  AdamW adam{numberWhere("adam-beta1", 0.9, unit, "in [0, 1)"), numberWhere("adam-beta2", 0.95, unit, "in [0, 1)"),
             numberWhere("adam-eps", 1e-8, positive, "> 0"),
             numberWhere("weight-decay", 0.01, nonNegative, ">= 0"), {}, {}};
  double clip = numberWhere("clip-grad", 1.0, nonNegative, ">= 0 (0: no clipping)");
  int64_t logInterval = integerIn("log-interval", 10, 1, kMaxIterations);
  int64_t saveInterval = integerIn("save-interval", 0, 0, kMaxIterations);
  int64_t keepLast = integerIn("keep-last", 0, 0, kMaxIterations);
  // The compiled step's buckets are the binary's (ee-compile --ddp-bucket-size):
  // asking for others is refused rather than ignored. MPI counts are int.
  int64_t bucket = integerIn("ddp-bucket-size", 40000000, 1, std::numeric_limits<int32_t>::max());
  int64_t compiledBucket = manifest.dataParallel.value("bucket_size", int64_t(0));
  if (options.has("ddp-bucket-size") && bucket != compiledBucket)
    throw std::runtime_error("--ddp-bucket-size " + std::to_string(bucket) + ": the binary's training step was "
                             "compiled with buckets of " + std::to_string(compiledBucket) +
                             " elements (recompile with ee-compile --ddp-bucket-size " +
                             std::to_string(bucket) + ")");
  int64_t seedOption = integerIn("seed", 1234, 0, std::numeric_limits<int64_t>::max());
  std::string saveDir = options.text("save");

  // Data parallelism: each replica takes its share of every global batch and
  // the gradients are averaged; with --use-distributed-optimizer (ZeRO-1) each
  // replica keeps and updates only its shard of the optimizer state. Pipeline
  // parallelism (a binary compiled with --pp P): each rank runs one stage's
  // 1F1B schedule and updates that stage's parameters.
  DataParallel dp = DataParallel::join(manifest.pipelineStages(), manifest.tensorParallel);
  bool lead = eert_comm_rank() == 0;
  if (globalBatch % (microBatch * dp.size()) != 0)
    throw std::runtime_error("--global-batch (" + std::to_string(globalBatch) +
                             ") must be a multiple of --micro-batch (" + std::to_string(microBatch) +
                             ") times the data-parallel size (" + std::to_string(dp.size()) + ")");
  // ZeRO-1 is compiled into the update step (ee-compile --use-distributed-optimizer).
  bool sharded = manifest.dataParallel.value("distributed_optimizer", false);
  if (sharded != options.has("use-distributed-optimizer"))
    throw std::runtime_error(
        sharded ? std::string("the binary's training step was compiled with "
                              "--use-distributed-optimizer (ZeRO-1): pass --use-distributed-optimizer "
                              "to train, or recompile without it")
                : std::string("--use-distributed-optimizer: the binary's training step was compiled "
                              "without ZeRO-1 (recompile with ee-compile --use-distributed-optimizer)"));

  // Weights, optimizer state and progress: from --load, or fresh.
  uint64_t seed = static_cast<uint64_t>(seedOption);
  int64_t iteration = 0, consumed = 0;
  std::string loadDir = options.has("load") ? resolveCheckpoint(options.text("load")) : "";
  Weights weights = loadDir.empty() ? Weights::random(manifest, seed) : Weights::load(manifest, loadDir);
  weights.makeWritable(manifest);
  TrainingStage stage(manifest, weights);
  constexpr int64_t kTensorGroup = 1; // abi.def: eert_comm_grid
  int64_t microSteps = globalBatch / (microBatch * dp.size());
  // Bubble filling (ee-compile --fill-bubbles): partial micro-batches of the
  // samples after each step's global batch add their exit losses' gradients.
  stage.checkMicrobatches(microSteps);
  int64_t partialSteps = stage.partialMicrobatches();
  int64_t stepSamples = globalBatch + partialSteps * microBatch * dp.size();
  if (stepSamples > kMaxSamplesPerIteration)
    throw std::runtime_error("--global-batch " + std::to_string(globalBatch) + " with bubble filling reads " +
                             std::to_string(stepSamples) + " samples per iteration, more than the limit of " +
                             std::to_string(kMaxSamplesPerIteration));
  const std::vector<size_t> &local = stage.parameters();
  size_t numParams = manifest.parameters.size(), numLocal = local.size();
  int64_t flatSize = 0;
  for (size_t i : local)
    flatSize += manifest.parameters[i].elements();
  // The moments this replica holds of parameter i: all of them, or under
  // ZeRO-1 its block of them.
  auto heldBlock = [&](size_t i) {
    int64_t n = manifest.parameters[i].elements();
    return sharded ? dp.block(n) : DataParallel::Block{0, n};
  };
  // The compiled update step (ee-data-parallel) reduces, clips and updates.
  if (!stage.hasUpdateStep())
    throw std::runtime_error("the binary has no compiled update step (ee-data-parallel); recompile it");

  // The buffers a step allocates grow with the batch: refuse a batch that
  // cannot fit before allocating any of it. A pipeline step's arena holds
  // every micro-batch in flight (planned by the compiler).
  int64_t numMicro = microSteps + partialSteps;
  {
    std::vector<std::pair<std::string, uint64_t>> parts;
    const Entry &step = stage.entry(TrainingStage::Step::Update);
    uint64_t bytes = bytesProduct({microBatch, seqLen, step.perTokenBytes});
    parts.push_back({"activations of '" + step.name + "'",
                     bytes > UINT64_MAX - static_cast<uint64_t>(step.fixedBytes) ? UINT64_MAX
                                                                                   : bytes + step.fixedBytes});
    parts.push_back({"micro-batch tokens", bytesProduct({numMicro, microBatch, seqLen, 3 * sizeof(int32_t)})});
    parts.push_back({"micro-batch records", bytesProduct({numMicro, sizeof(MicroBatch)})});
    // One stage's sum of its earlier micro-batches.
    parts.push_back({"gradient buffers", bytesProduct({stage.stages() == 1 ? flatSize : 0, sizeof(float)})});
    checkMemory("--global-batch " + std::to_string(globalBatch) + " --micro-batch " + std::to_string(microBatch) +
                    " --seq-len " + std::to_string(seqLen),
                parts);
  }
  adam.init(manifest, local, [&](size_t i) { return heldBlock(i).count; });
  if (!loadDir.empty()) {
    // Weights that are already NaN would train into NaN and be saved as such.
    for (size_t i : local) {
      int64_t bad = firstBadValue(weights.data(i), manifest.parameters[i].elements());
      if (bad >= 0)
        throw std::runtime_error(loadDir + ": tensor '" + manifest.parameters[i].name + "' " +
                                 badValueText(weights.data(i), bad) + "; a checkpoint's weights must be finite");
    }
  }
  std::optional<TrainerState> state = loadDir.empty() ? std::nullopt : readTrainerState(loadDir);
  if (state) {
    iteration = state->iteration;
    consumed = *state->consumedSamples;
    seed = *state->seed;
    std::string error;
    std::string optimizerPath = loadDir + "/optimizer.safetensors";
    auto optimizer = SafetensorsFile::open(optimizerPath, error);
    if (!optimizer)
      throw std::runtime_error(error);
    // Parameter i's optimizer-state tensor `name`, checked finite (and >= 0
    // with `nonNegative`), as this tensor-parallel rank's shard.
    auto readShard = [&](size_t i, const std::string &name, const TensorView *view, bool nonNegative,
                         const std::string &requirement) {
      int64_t n = manifest.parameters[i].wholeElements();
      if (!view || view->dtype != "F32" || view->bytes != n * sizeof(float))
        throw std::runtime_error(optimizerPath + ": missing or malformed '" + name + "'");
      std::vector<float> whole(n);
      std::memcpy(whole.data(), view->data, view->bytes);
      int64_t bad = firstBadValue(whole.data(), n, nonNegative);
      if (bad >= 0)
        throw std::runtime_error(optimizerPath + ": '" + name + "' " + badValueText(whole.data(), bad) +
                                 requirement);
      return shardOf(manifest, i, whole.data());
    };
    for (size_t i : local) {
      for (auto [prefix, moments] : {std::pair{"exp_avg.", &adam.expAvg[i]},
                                     std::pair{"exp_avg_sq.", &adam.expAvgSq[i]}}) {
        std::string name = prefix + manifest.parameters[i].name;
        // A second moment below zero takes the square root of a negative
        // number; a NaN or infinite moment makes every later update NaN.
        bool squares = std::string(prefix) == "exp_avg_sq.";
        std::vector<float> values =
            readShard(i, name, optimizer->find(name), squares,
                      squares ? "; exp_avg_sq must be finite and >= 0" : "; exp_avg must be finite");
        DataParallel::Block held = heldBlock(i);
        std::copy_n(values.begin() + held.begin, held.count, moments->begin());
      }
      // A bf16 run's fp32 master weight, more exact than the BF16 tensor of
      // model.safetensors, continues the run (in an fp32 binary too).
      std::string masterName = "master." + manifest.parameters[i].name;
      if (const TensorView *view = optimizer->find(masterName)) {
        std::vector<float> values = readShard(i, masterName, view, false, "");
        std::copy(values.begin(), values.end(), weights.data(i));
      }
    }
    weights.refreshBF16(manifest);
  }

  // The compiled update step's optimizer state (docs/runtime-abi.md): exp_avg,
  // exp_avg_sq and, for a bf16 parameter, its fp32 master of parameter i at
  // 3i, 3i + 1, 3i + 2.
  constexpr size_t kStatesPerParameter = 3;
  std::vector<float *> optimizerState(kStatesPerParameter * manifest.parameters.size(), nullptr);
  adam.upload();
  for (size_t i : local) {
    optimizerState[kStatesPerParameter * i] = adam.state(i, false);
    optimizerState[kStatesPerParameter * i + 1] = adam.state(i, true);
    if (manifest.parameters[i].bf16)
      optimizerState[kStatesPerParameter * i + 2] = weights.master(i);
  }

  Tokenizer tokenizer = Tokenizer::forCheckpoint(loadDir, manifest.config["vocab_size"].get<int64_t>());
  std::vector<int32_t> tokens = readTokenStream(
      options.text("data"), [&](const std::string &text) { return tokenizer.encode(text); },
      manifest.config["vocab_size"].get<int64_t>());
  WindowSampler sampler(tokens, seqLen, seed);

  int64_t numExits = manifest.numExits();
  std::vector<int64_t> exitLayers = manifest.exitLayers();
  // Whether this stage holds parameter i.
  std::vector<bool> holds(numParams, false);
  for (size_t i : local)
    holds[i] = true;

  // Rank 0 writes the progress, metrics and checkpoints.
  std::ofstream metrics;
  std::string lastSaved; // the iteration `latest` names
  if (lead) {
    fs::create_directories(saveDir);
    lastSaved = latestName(saveDir);
    std::string metricsPath = options.has("metrics") ? options.text("metrics") : saveDir + "/metrics.jsonl";
    std::error_code error;
    fs::file_status status = fs::status(metricsPath, error);
    if (fs::exists(status) && !fs::is_regular_file(status))
      throw std::runtime_error(metricsPath + ": not a regular file");
    trimMetrics(metricsPath, iteration);
    metrics.open(metricsPath, std::ios::app);
    if (!metrics)
      throw std::runtime_error(metricsPath + ": cannot write");
  }
  // Why training stopped at `at` without a checkpoint of it.
  auto stopped = [&](int64_t at, const std::string &why) {
    return std::runtime_error(
        "iteration " + std::to_string(at) + ": " + why + "; training stopped without saving it (" +
        (lastSaved.empty() ? std::string("no checkpoint was saved")
                           : saveDir + "/latest still names the last good checkpoint, " + lastSaved) +
        ")");
  };

  auto save = [&](int64_t at) {
    // A sharded optimizer state is gathered over the replicas, and every
    // parameter comes from the stage that owns it: the checkpoint is the same
    // whatever the layout.
    std::vector<std::vector<float>> whole(numParams), avg(numParams), avgSq(numParams);
    std::vector<const float *> wholePointers(numParams);
    weights.download(manifest);
    adam.download();
    for (size_t i = 0; i < numParams; ++i) {
      int64_t n = manifest.parameters[i].elements();
      avg[i].assign(n, 0.0f);
      avgSq[i].assign(n, 0.0f);
      if (holds[i]) {
        DataParallel::Block held = heldBlock(i);
        std::copy_n(adam.expAvg[i].begin(), held.count, avg[i].begin() + held.begin);
        std::copy_n(adam.expAvgSq[i].begin(), held.count, avgSq[i].begin() + held.begin);
        if (sharded) {
          dp.gatherBlocks(avg[i].data(), n);
          dp.gatherBlocks(avgSq[i].data(), n);
        }
      }
      stage.fromOwner(i, weights.data(i), n);
      stage.fromOwner(i, avg[i].data(), n);
      stage.fromOwner(i, avgSq[i].data(), n);
      // Tensor-parallel shards become whole tensors.
      whole[i] = wholeTensor(manifest, i, weights.data(i));
      avg[i] = wholeTensor(manifest, i, avg[i].data());
      avgSq[i] = wholeTensor(manifest, i, avgSq[i].data());
      wholePointers[i] = whole[i].data();
    }
    if (!lead)
      return;
    // Nothing that would not resume is saved: the previous checkpoint stays latest.
    for (size_t i = 0; i < numParams; ++i)
      for (auto [values, what, squares] : {std::tuple{&whole[i], "", false}, std::tuple{&avg[i], "exp_avg.", false},
                                           std::tuple{&avgSq[i], "exp_avg_sq.", true}}) {
        int64_t bad = firstBadValue(values->data(), static_cast<int64_t>(values->size()), squares);
        if (bad >= 0)
          throw stopped(at, std::string("'") + what + manifest.parameters[i].name + "' " +
                                badValueText(values->data(), bad));
      }
    fs::path final = fs::path(saveDir) / iterationName(at);
    fs::path temporary = final.string() + ".tmp";
    fs::remove_all(temporary); // what a crashed save left
    // Every file and the directory reach the disk before the directory takes
    // its final name, and that name before `latest` moves to it.
    Weights::write(manifest, temporary.string(), wholePointers);
    std::vector<TensorToWrite> optimizerState;
    for (size_t i = 0; i < numParams; ++i) {
      const Parameter &param = manifest.parameters[i];
      optimizerState.push_back({"exp_avg." + param.name, param.wholeShape, avg[i].data()});
      optimizerState.push_back({"exp_avg_sq." + param.name, param.wholeShape, avgSq[i].data()});
      if (param.bf16)
        optimizerState.push_back({"master." + param.name, param.wholeShape, whole[i].data()});
    }
    std::string error;
    if (!writeSafetensors((temporary / "optimizer.safetensors").string(), optimizerState, {}, error))
      throw std::runtime_error(error);
    writeFileDurably((temporary / "trainer_state.json").string(),
                     json{{"iteration", at}, {"consumed_samples", consumed}, {"seed", seed},
                          {"seq_len", seqLen}, {"global_batch", globalBatch}}.dump(2) + "\n");
    syncPath(temporary.string());
    // An older save of this iteration (a run resumed from before it) is
    // swapped out, not removed first: its name is never missing.
    bool replacing = fs::exists(final);
    renameDurably(temporary.string(), final.string());
    writeFileDurably((fs::path(saveDir) / "latest").string(), iterationName(at) + "\n");
    lastSaved = iterationName(at);
    if (replacing)
      fs::remove_all(temporary);
    if (keepLast > 0) {
      // The keepLast highest iteration numbers stay, and whatever `latest`
      // names, even when a run resumed from an older iteration saves below
      // checkpoints of the run it replaced.
      std::vector<std::pair<int64_t, std::string>> saved;
      for (const auto &item : fs::directory_iterator(saveDir)) {
        std::string name = item.path().filename().string();
        if (isIterationName(name) && item.is_directory())
          saved.push_back({std::stoll(name.substr(5)), name});
      }
      std::sort(saved.begin(), saved.end(), std::greater<>());
      for (size_t i = keepLast; i < saved.size(); ++i)
        if (saved[i].second != lastSaved)
          fs::remove_all(fs::path(saveDir) / saved[i].second);
      syncPath(saveDir);
    }
  };

  MeasuredTrace trace(options.has("trace"));
  auto start = std::chrono::steady_clock::now();
  int64_t firstIteration = iteration;
  std::vector<double> logged(numExits + 2, 0.0);
  int64_t loggedSteps = 0;
  std::vector<MicroBatch> micro(microSteps + partialSteps);
  while (iteration < iters) {
    // This replica's share of the global batch, micro-batch by micro-batch
    // (every stage reads the same samples), then its partial micro-batches.
    for (int64_t m = 0; m < microSteps + partialSteps; ++m) {
      MicroBatch &data = micro[m];
      data.ids.clear();
      data.labels.clear();
      data.positions.clear();
      int64_t first = m < microSteps
                          ? consumed + dp.rank() * (globalBatch / dp.size()) + m * microBatch
                          : consumed + globalBatch + (dp.rank() * partialSteps + m - microSteps) * microBatch;
      for (int64_t j = 0; j < microBatch; ++j) {
        const int32_t *window = sampler.sample(first + j);
        data.ids.insert(data.ids.end(), window, window + seqLen);
        data.labels.insert(data.labels.end(), window + 1, window + seqLen + 1);
        for (int64_t s = 0; s < seqLen; ++s)
          data.positions.push_back(static_cast<int32_t>(s));
      }
    }
    // losses: the objective, then the final head and each exit (unweighted).
    std::vector<float> losses(numExits + 2, 0.0f);
    float scale = 1.0f / static_cast<float>(microSteps * dp.size());
    double lr = schedule.at(iteration);
    auto addLosses = [&](const StageGradients &result) {
      losses[0] += result.objective / result.lossDivisor;
      for (auto [slot, value] : result.heads)
        losses[1 + slot] += value / result.lossDivisor;
    };
    TrainingStage::Hyperparameters hyper{
        static_cast<float>(lr),         iteration + 1,
        static_cast<float>(clip),       static_cast<float>(adam.beta1),
        static_cast<float>(adam.beta2), static_cast<float>(adam.eps),
        static_cast<float>(adam.weightDecay)};
    double norm = stage.update(micro, microBatch, seqLen, iteration, scale, hyper, optimizerState,
                               addLosses, trace);
    consumed += stepSamples;
    // Every head's loss lives on one stage; the objective's terms add up.
    stage.sum(losses.data(), static_cast<int64_t>(losses.size()));
    for (float &loss : losses)
      loss = static_cast<float>(dp.sum(loss) / dp.size());
    // Every rank holds the same sums and norm, so every rank stops here
    // together; the weights were updated already, but nothing is saved.
    if (!std::isfinite(losses[0]))
      throw stopped(iteration + 1, "the loss is " + std::to_string(losses[0]));
    if (!std::isfinite(norm))
      throw stopped(iteration + 1, "the gradient norm is " + std::to_string(norm));
    // A finite gradient can still step a weight to infinity (a huge --lr, a
    // moment near zero): the update kernel counts it, and only then are the
    // weights searched for the message. The ranks agree on it before any of
    // them stops, since each holds (or, under ZeRO-1, updated) other weights.
    float broken = eert_take_nonfinite_updates() > 0 ? 1.0f : 0.0f;
    std::string brokenText;
    if (broken != 0.0f)
      weights.download(manifest);
    for (size_t k = 0; k < numLocal && broken != 0.0f && brokenText.empty(); ++k) {
      size_t i = local[k];
      int64_t bad = firstBadValue(weights.data(i), manifest.parameters[i].elements());
      if (bad >= 0)
        brokenText = "'" + manifest.parameters[i].name + "' " + badValueText(weights.data(i), bad) + " after the update";
    }
    stage.sum(&broken, 1);
    broken = static_cast<float>(dp.sum(broken));
    if (manifest.tensorParallel > 1 && eert_comm_all_reduce(&broken, 1, kTensorGroup))
      throw std::runtime_error(std::string("tensor-parallel all-reduce failed: ") + eert_last_error());
    if (broken != 0.0f)
      throw stopped(iteration + 1, brokenText.empty() ? "the update left another rank's weights not finite"
                                                      : brokenText);
    ++iteration;
    for (size_t h = 0; h < losses.size(); ++h)
      logged[h] += losses[h];
    ++loggedSteps;

    if (lead && (iteration % logInterval == 0 || iteration == iters)) {
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double tokensPerSecond = (iteration - firstIteration) * globalBatch * seqLen / std::max(elapsed, 1e-9);
      double eta = elapsed / (iteration - firstIteration) * (iters - iteration);
      json record = {{"iteration", iteration}, {"lr", lr}, {"loss", logged[0] / loggedSteps},
                     {"final", logged[1] / loggedSteps}, {"exits", json::array()},
                     {"grad_norm", norm}, {"tokens_per_second", tokensPerSecond},
                     {"consumed_samples", consumed}, {"elapsed_seconds", elapsed}};
      char line[512];
      std::snprintf(line, sizeof(line), " iteration %8lld/%8lld | lr %.3E | loss %.4f | final %.4f",
                    static_cast<long long>(iteration), static_cast<long long>(iters), lr,
                    logged[0] / loggedSteps, logged[1] / loggedSteps);
      std::string text = line;
      for (int64_t k = 0; k < numExits; ++k) {
        double value = logged[2 + k] / loggedSteps;
        record["exits"].push_back({{"exit", k}, {"layer", exitLayers[k]}, {"loss", value}});
        std::snprintf(line, sizeof(line), " | exit %lld (layer %lld) %.4f", static_cast<long long>(k),
                      static_cast<long long>(exitLayers[k]), value);
        text += line;
      }
      std::snprintf(line, sizeof(line), " | grad norm %.3f | tokens/s %.0f | ETA %s", norm,
                    tokensPerSecond, formatDuration(eta).c_str());
      std::cout << text << line << std::endl;
      metrics << record.dump() << std::endl;
      std::fill(logged.begin(), logged.end(), 0.0);
      loggedSteps = 0;
    }
    if ((saveInterval > 0 && iteration % saveInterval == 0) || iteration == iters) {
      double saveBegin = MeasuredTrace::now();
      save(iteration);
      trace.span("checkpoint", "io", saveBegin, {{"iteration", iteration}});
    }
  }
  if (options.has("trace"))
    trace.write(options.text("trace"), {{"data_parallel", dp.size()},
                                        {"pipeline_stages", stage.stages()},
                                        {"distributed_optimizer", sharded},
                                        {"global_batch", globalBatch},
                                        {"micro_batch", microBatch},
                                        {"seq_len", seqLen}});
  if (lead && iteration == firstIteration && iters > 0)
    std::cout << "already at iteration " << iteration << " of " << iters << "\n";
  return 0;
}

int preprocess(const Manifest &manifest, const Options &options) {
  int64_t vocab = manifest.config["vocab_size"].get<int64_t>();
  Tokenizer tokenizer = Tokenizer::forCheckpoint(options.has("tokenizer") ? options.text("tokenizer") : "", vocab);
  std::string input = options.text("input");
  // A regular file whose text and tokens (at most one int32 per byte) fit in memory.
  uint64_t size = 0;
  ::close(openRegularFile(input, kMaxTextDataBytes, size));
  checkMemory("preprocess --input " + input,
              {{"the text", size}, {"its tokens (at most one per byte)", bytesProduct({int64_t(size), 4})}});
  std::string text = readRegularFile(input, size);
  std::vector<std::vector<int32_t>> documents;
  std::string key = options.has("json-key") ? options.text("json-key") : "text";
  bool jsonl = input.size() > 6 && (input.substr(input.size() - 6) == ".jsonl" ||
                                    input.substr(input.size() - 5) == ".json");
  if (jsonl) {
    std::istringstream lines(text);
    std::string line;
    int64_t number = 0;
    while (std::getline(lines, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      std::string where = input + ":" + std::to_string(number);
      json record = parseBoundedJson(line, where);
      if (!record.is_object() || !record.contains(key) || !record[key].is_string())
        throw std::runtime_error(where + ": needs a JSON object with a string '" + key + "'");
      documents.push_back(tokenizer.encode(record[key].get<std::string>()));
    }
  } else {
    documents.push_back(tokenizer.encode(text));
  }
  writeIndexedDataset(options.text("output-prefix"), documents, vocab);
  size_t total = 0;
  for (const auto &d : documents)
    total += d.size();
  std::cout << json{{"documents", documents.size()}, {"tokens", total},
                    {"output", options.text("output-prefix") + ".bin/.idx"}}.dump() << "\n";
  return 0;
}

} // namespace eert
