// Train.cpp - training in one process: AdamW, learning-rate schedule, clipping,
// gradient accumulation, atomic checkpoints with exact resume, progress and
// metrics; and the preprocess command.
#include "cli/Train.h"
#include "cli/DataParallel.h"
#include "cli/PipelineTraining.h"
#include "cli/Tokenizer.h"
#include "cli/Trace.h"
#include "io/Dataset.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <tuple>

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

/// Sum of squares in fixed-size chunks combined in order: the same bits for
/// the same data whatever the thread count (exact resume depends on it).
double sumOfSquares(const float *values, int64_t n) {
  constexpr int64_t chunk = 1 << 16;
  int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for
  for (int64_t c = 0; c < chunks; ++c) {
    double sum = 0.0;
    for (int64_t i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i)
      sum += static_cast<double>(values[i]) * values[i];
    partial[c] = sum;
  }
  double total = 0.0;
  for (double p : partial)
    total += p;
  return total;
}

struct AdamW {
  double beta1, beta2, eps, weightDecay;
  std::vector<std::vector<float>> expAvg, expAvgSq;

  /// Moments for the parameters in `held` (indices); the others stay empty.
  void init(const Manifest &manifest, const std::vector<size_t> &held) {
    expAvg.resize(manifest.parameters.size());
    expAvgSq.resize(manifest.parameters.size());
    for (size_t i : held) {
      expAvg[i].assign(manifest.parameters[i].elements(), 0.0f);
      expAvgSq[i].assign(manifest.parameters[i].elements(), 0.0f);
    }
  }

  /// One step `t` (1-based) on parameter `i`; norm weights (1-D) get no decay.
  void step(size_t i, float *param, const float *grad, int64_t n, bool decay, double lr, int64_t t) {
    step(param, grad, expAvg[i].data(), expAvgSq[i].data(), n, decay, lr, t);
  }

  /// One step on `n` values with their moments `m` and `v`.
  void step(float *param, const float *grad, float *m, float *v, int64_t n, bool decay, double lr,
            int64_t t) const {
    double correction1 = 1.0 - std::pow(beta1, static_cast<double>(t));
    double correction2 = 1.0 - std::pow(beta2, static_cast<double>(t));
    float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
    float stepSize = static_cast<float>(lr / correction1);
    float root2 = static_cast<float>(std::sqrt(correction2));
    float shrink = decay ? static_cast<float>(1.0 - lr * weightDecay) : 1.0f;
#pragma omp parallel for
    for (int64_t j = 0; j < n; ++j) {
      m[j] = b1 * m[j] + (1.0f - b1) * grad[j];
      v[j] = b2 * v[j] + (1.0f - b2) * grad[j] * grad[j];
      param[j] = param[j] * shrink - stepSize * m[j] / (std::sqrt(v[j]) / root2 + static_cast<float>(eps));
    }
  }
};

std::string iterationName(int64_t iteration) {
  char name[32];
  std::snprintf(name, sizeof(name), "iter_%07lld", static_cast<long long>(iteration));
  return name;
}

void writeTextAtomically(const fs::path &path, const std::string &text) {
  fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary);
    out << text;
    out.flush();
    if (!out)
      throw std::runtime_error(temporary.string() + ": write failed");
  }
  fs::rename(temporary, path);
}

json readJson(const fs::path &path) {
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error(path.string() + ": cannot read");
  json value = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded())
    throw std::runtime_error(path.string() + ": not valid JSON");
  return value;
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
  if (!fs::exists(latest))
    return path;
  std::ifstream in(latest);
  std::string name;
  std::getline(in, name);
  fs::path target = fs::path(path) / name;
  if (name.empty() || name.find('/') != std::string::npos || !fs::is_directory(target))
    throw std::runtime_error(latest.string() + ": names '" + name + "', which is not a saved iteration");
  return target.string();
}

int train(const Manifest &manifest, const Options &options) {
  int64_t iters = options.integer("iters"), globalBatch = options.integer("global-batch");
  int64_t microBatch = options.integer("micro-batch", globalBatch);
  if (iters < 0 || globalBatch <= 0 || microBatch <= 0 || globalBatch % microBatch != 0)
    throw std::runtime_error("need --iters >= 0 and --micro-batch dividing --global-batch");
  int64_t seqLen = seqLenOption(manifest, options);
  LearningRate schedule{options.number("lr", NAN), options.number("min-lr", 0.0),
                        options.integer("lr-warmup-iters", 0),
                        options.integer("lr-decay-iters", iters),
                        options.has("lr-decay-style") ? options.text("lr-decay-style") : "cosine"};
  if (!(schedule.peak > 0) || schedule.minimum < 0 || schedule.minimum > schedule.peak)
    throw std::runtime_error("need --lr > 0 and 0 <= --min-lr <= --lr");
  if (schedule.style != "cosine" && schedule.style != "linear" && schedule.style != "constant")
    throw std::runtime_error("--lr-decay-style must be cosine, linear or constant");
  AdamW adam{options.number("adam-beta1", 0.9), options.number("adam-beta2", 0.95),
             options.number("adam-eps", 1e-8), options.number("weight-decay", 0.01), {}, {}};
  double clip = options.number("clip-grad", 1.0);
  int64_t logInterval = options.integer("log-interval", 10);
  int64_t saveInterval = options.integer("save-interval", 0);
  int64_t keepLast = options.integer("keep-last", 0);
  if (logInterval <= 0 || saveInterval < 0 || keepLast < 0)
    throw std::runtime_error("need --log-interval > 0, --save-interval >= 0, --keep-last >= 0");
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
  int64_t bucket = options.integer("ddp-bucket-size", 40000000);
  if (bucket <= 0)
    throw std::runtime_error("--ddp-bucket-size must be positive");
  bool sharded = options.has("use-distributed-optimizer");

  // Weights, optimizer state and progress: from --load, or fresh.
  uint64_t seed = static_cast<uint64_t>(options.integer("seed", 1234));
  int64_t iteration = 0, consumed = 0;
  std::string loadDir = options.has("load") ? resolveCheckpoint(options.text("load")) : "";
  Weights weights = loadDir.empty() ? Weights::random(manifest, seed) : Weights::load(manifest, loadDir);
  weights.makeWritable(manifest);
  TrainingStage stage(manifest, weights);
  constexpr int64_t kTensorGroup = 1; // abi.def: eert_comm_grid
  int64_t tensorRank = eert_comm_group_rank(kTensorGroup);
  int64_t microSteps = globalBatch / (microBatch * dp.size());
  std::vector<std::pair<char, int64_t>> order = stage.schedule(microSteps, /*partial=*/true);
  // Bubble filling (ee-compile --fill-bubbles): partial micro-batches of the
  // samples after each step's global batch add their exit losses' gradients.
  int64_t partialSteps = stage.partialMicrobatches(microSteps);
  int64_t stepSamples = globalBatch + partialSteps * microBatch * dp.size();
  // This stage's parameters' places in one flat vector; a ZeRO shard is a block of it.
  const std::vector<size_t> &local = stage.parameters();
  size_t numParams = manifest.parameters.size(), numLocal = local.size();
  std::vector<int64_t> offsets(numLocal + 1, 0);
  for (size_t k = 0; k < numLocal; ++k)
    offsets[k + 1] = offsets[k] + manifest.parameters[local[k]].elements();
  int64_t flatSize = offsets.back(), block = (flatSize + dp.size() - 1) / dp.size();
  int64_t shardBegin = std::min(flatSize, dp.rank() * block);
  int64_t shardEnd = std::min(flatSize, shardBegin + block);
  std::vector<float> shardAvg, shardAvgSq;
  if (sharded) {
    shardAvg.assign(block, 0.0f);
    shardAvgSq.assign(block, 0.0f);
  } else {
    adam.init(manifest, local);
  }
  if (!loadDir.empty() && fs::exists(fs::path(loadDir) / "trainer_state.json")) {
    json state = readJson(fs::path(loadDir) / "trainer_state.json");
    for (const char *key : {"iteration", "consumed_samples", "seed"})
      if (!state.contains(key) || !state[key].is_number_integer())
        throw std::runtime_error(loadDir + "/trainer_state.json: needs an integer '" + key + "'");
    iteration = state["iteration"];
    consumed = state["consumed_samples"];
    seed = state["seed"];
    std::string error;
    auto optimizer = SafetensorsFile::open(loadDir + "/optimizer.safetensors", error);
    if (!optimizer)
      throw std::runtime_error(error);
    for (size_t k = 0; k < numLocal; ++k) {
      size_t i = local[k];
      for (auto [prefix, state, shard] :
           {std::tuple{"exp_avg.", sharded ? nullptr : &adam.expAvg[i], &shardAvg},
            std::tuple{"exp_avg_sq.", sharded ? nullptr : &adam.expAvgSq[i], &shardAvgSq}}) {
        std::string name = prefix + manifest.parameters[i].name;
        const TensorView *view = optimizer->find(name);
        int64_t n = manifest.parameters[i].wholeElements();
        if (!view || view->dtype != "F32" || view->bytes != n * sizeof(float))
          throw std::runtime_error(loadDir + "/optimizer.safetensors: missing or malformed '" + name + "'");
        std::vector<float> whole(n);
        std::memcpy(whole.data(), view->data, view->bytes);
        std::vector<float> values = shardOf(manifest, i, whole.data()); // this tensor-parallel rank's
        if (state) {
          *state = std::move(values);
          continue;
        }
        // The part of this parameter inside this replica's shard.
        int64_t from = std::max(offsets[k], shardBegin), to = std::min(offsets[k + 1], shardEnd);
        if (from < to)
          std::copy(values.begin() + (from - offsets[k]), values.begin() + (to - offsets[k]),
                    shard->begin() + (from - shardBegin));
      }
    }
  }

  Tokenizer tokenizer = Tokenizer::forCheckpoint(loadDir, manifest.config["vocab_size"].get<int64_t>());
  std::vector<int32_t> tokens = readTokenStream(
      options.text("data"), [&](const std::string &text) { return tokenizer.encode(text); },
      manifest.config["vocab_size"].get<int64_t>());
  WindowSampler sampler(tokens, seqLen, seed);

  int64_t numExits = manifest.numExits();
  std::vector<int64_t> exitLayers = manifest.exitLayers();
  // With one micro-batch on one replica and one stage the gradients are used
  // where the entry point left them; otherwise they are averaged into one
  // flat vector (padded to whole ZeRO shards), which the replicas then reduce.
  bool accumulate = microSteps > 1 || dp.size() > 1 || sharded || stage.stages() > 1;
  std::vector<float> flatGrads(accumulate ? block * dp.size() : 0);
  std::vector<float> shardGrads(sharded ? block : 0), shardParams(sharded ? block : 0);
  std::vector<float *> grads(numLocal);
  // A parameter's place among this stage's (tied gradients are summed in place).
  std::vector<int64_t> localIndex(numParams, -1);
  for (size_t k = 0; k < numLocal; ++k)
    localIndex[local[k]] = static_cast<int64_t>(k);

  // Rank 0 writes the progress, metrics and checkpoints.
  std::ofstream metrics;
  if (lead) {
    fs::create_directories(saveDir);
    std::string metricsPath = options.has("metrics") ? options.text("metrics") : saveDir + "/metrics.jsonl";
    metrics.open(metricsPath, std::ios::app);
    if (!metrics)
      throw std::runtime_error(metricsPath + ": cannot write");
  }

  auto save = [&](int64_t at) {
    // A sharded optimizer state is gathered over the replicas, and every
    // parameter comes from the stage that owns it: the checkpoint is the same
    // whatever the layout.
    std::vector<float> fullAvg, fullAvgSq;
    if (sharded) {
      fullAvg.resize(block * dp.size());
      fullAvgSq.resize(block * dp.size());
      dp.gather(shardAvg.data(), fullAvg.data(), block);
      dp.gather(shardAvgSq.data(), fullAvgSq.data(), block);
    }
    std::vector<std::vector<float>> whole(numParams), avg(numParams), avgSq(numParams);
    std::vector<const float *> wholePointers(numParams);
    for (size_t i = 0; i < numParams; ++i) {
      int64_t n = manifest.parameters[i].elements(), k = localIndex[i];
      avg[i].assign(n, 0.0f);
      avgSq[i].assign(n, 0.0f);
      if (k >= 0 && sharded) {
        std::copy_n(fullAvg.begin() + offsets[k], n, avg[i].begin());
        std::copy_n(fullAvgSq.begin() + offsets[k], n, avgSq[i].begin());
      } else if (k >= 0) {
        avg[i] = adam.expAvg[i];
        avgSq[i] = adam.expAvgSq[i];
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
    fs::path final = fs::path(saveDir) / iterationName(at);
    fs::path temporary = final.string() + ".tmp";
    fs::remove_all(temporary);
    Weights::write(manifest, temporary.string(), wholePointers);
    std::vector<TensorToWrite> state;
    for (size_t i = 0; i < numParams; ++i) {
      state.push_back({"exp_avg." + manifest.parameters[i].name, manifest.parameters[i].wholeShape, avg[i].data()});
      state.push_back({"exp_avg_sq." + manifest.parameters[i].name, manifest.parameters[i].wholeShape, avgSq[i].data()});
    }
    std::string error;
    if (!writeSafetensors((temporary / "optimizer.safetensors").string(), state, {}, error))
      throw std::runtime_error(error);
    writeTextAtomically(temporary / "trainer_state.json",
                        json{{"iteration", at}, {"consumed_samples", consumed}, {"seed", seed},
                             {"seq_len", seqLen}, {"global_batch", globalBatch}}.dump(2) + "\n");
    // Only a complete directory takes the final name, and only then does
    // `latest` move: a crash at any point leaves the previous save intact.
    fs::remove_all(final);
    fs::rename(temporary, final);
    writeTextAtomically(fs::path(saveDir) / "latest", iterationName(at) + "\n");
    if (keepLast > 0) {
      std::vector<std::string> saved;
      for (const auto &item : fs::directory_iterator(saveDir)) {
        std::string name = item.path().filename().string();
        if (item.is_directory() && name.rfind("iter_", 0) == 0 && name.find(".tmp") == std::string::npos)
          saved.push_back(name);
      }
      std::sort(saved.begin(), saved.end());
      for (size_t i = 0; i + keepLast < saved.size(); ++i)
        fs::remove_all(fs::path(saveDir) / saved[i]);
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
    int64_t backwardPasses = 0;
    stage.run(order, micro, microBatch, seqLen, iteration, [&](const StageGradients &result) {
      bool firstPass = backwardPasses++ == 0;
      for (size_t k = 0; k < numLocal; ++k) {
        const float *g = result.gradients[k];
        if (!accumulate) {
          grads[k] = const_cast<float *>(g);
          continue;
        }
        float *sum = flatGrads.data() + offsets[k];
        int64_t n = offsets[k + 1] - offsets[k];
#pragma omp parallel for
        for (int64_t j = 0; j < n; ++j)
          sum[j] = firstPass ? scale * g[j] : sum[j] + scale * g[j];
        grads[k] = sum;
      }
      if (result.partial)
        return; // the logged losses are the global batch's
      losses[0] += result.objective / microSteps;
      for (auto [slot, value] : result.heads)
        losses[1 + slot] += value / microSteps;
    }, trace);
    consumed += stepSamples;
    double reduceBegin = MeasuredTrace::now();
    // Every head's loss lives on one stage; the objective's terms add up.
    stage.sum(losses.data(), static_cast<int64_t>(losses.size()));
    stage.sumTied([&](size_t i) { return grads[localIndex[i]]; });
    for (float &loss : losses)
      loss = static_cast<float>(dp.sum(loss) / dp.size());
    // Each replica's share is already divided by the replica count: summed
    // over the replicas it is the mean gradient of the global batch.
    if (sharded)
      dp.sumShard(flatGrads.data(), shardGrads.data(), block);
    else if (dp.size() > 1)
      dp.sum(flatGrads.data(), flatSize, bucket);
    trace.span(sharded ? "gradient reduce-scatter" : "gradient all-reduce", "communication",
               reduceBegin, {{"iteration", iteration + 1}});
    double optimizerBegin = MeasuredTrace::now();
    // The global norm: each stage counts the parameters it owns (a tied one
    // once), each replica its shard under ZeRO-1, each tensor-parallel rank
    // its shards (a weight it holds whole, rank 0 only).
    double squares = 0.0;
    for (size_t k = 0; k < numLocal; ++k) {
      if (!stage.owns(local[k]) || (tensorRank != 0 && manifest.parameters[local[k]].splitDim < 0))
        continue;
      if (!sharded) {
        squares += sumOfSquares(grads[k], offsets[k + 1] - offsets[k]);
        continue;
      }
      int64_t from = std::max(offsets[k], shardBegin), to = std::min(offsets[k + 1], shardEnd);
      if (from < to)
        squares += sumOfSquares(shardGrads.data() + (from - shardBegin), to - from);
    }
    if (sharded)
      squares = dp.sum(squares);
    float stageSquares = static_cast<float>(squares);
    stage.sum(&stageSquares, 1);
    if (manifest.tensorParallel > 1 && eert_comm_all_reduce(&stageSquares, 1, kTensorGroup))
      throw std::runtime_error(std::string("tensor-parallel all-reduce failed: ") + eert_last_error());
    bool single = stage.stages() == 1 && manifest.tensorParallel == 1;
    double norm = std::sqrt(single ? squares : static_cast<double>(stageSquares));
    if (!std::isfinite(norm))
      throw std::runtime_error("iteration " + std::to_string(iteration) + ": the gradient norm is not finite");
    double lr = schedule.at(iteration);
    float clipScale = clip > 0 && norm > clip ? static_cast<float>(clip / (norm + 1e-6)) : 1.0f;
    if (sharded) {
      // Each replica updates its shard, then every replica gathers the rest.
      for (int64_t j = 0; j < shardEnd - shardBegin; ++j)
        shardGrads[j] *= clipScale;
      for (size_t k = 0; k < numLocal; ++k) {
        size_t i = local[k];
        int64_t from = std::max(offsets[k], shardBegin), to = std::min(offsets[k + 1], shardEnd);
        if (from >= to)
          continue;
        float *param = weights.data(i) + (from - offsets[k]);
        int64_t at = from - shardBegin;
        adam.step(param, shardGrads.data() + at, shardAvg.data() + at, shardAvgSq.data() + at,
                  to - from, manifest.parameters[i].shape.size() > 1, lr, iteration + 1);
        std::copy(param, param + (to - from), shardParams.begin() + at);
      }
      dp.gather(shardParams.data(), flatGrads.data(), block);
      for (size_t k = 0; k < numLocal; ++k)
        std::copy(flatGrads.begin() + offsets[k], flatGrads.begin() + offsets[k + 1], weights.data(local[k]));
    }
    for (size_t k = 0; k < numLocal && !sharded; ++k) {
      size_t i = local[k];
      int64_t n = manifest.parameters[i].elements();
      if (clipScale != 1.0f)
        for (int64_t j = 0; j < n; ++j)
          grads[k][j] *= clipScale;
      adam.step(i, weights.data(i), grads[k], n, manifest.parameters[i].shape.size() > 1, lr,
                iteration + 1);
    }
    trace.span("optimizer", "optimizer", optimizerBegin, {{"iteration", iteration + 1}});
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
  std::ifstream in(input, std::ios::binary);
  if (!in)
    throw std::runtime_error(input + ": cannot read");
  std::vector<std::vector<int32_t>> documents;
  std::string key = options.has("json-key") ? options.text("json-key") : "text";
  bool jsonl = input.size() > 6 && (input.substr(input.size() - 6) == ".jsonl" ||
                                    input.substr(input.size() - 5) == ".json");
  if (jsonl) {
    std::string line;
    int64_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_discarded() || !record.is_object() || !record.contains(key) || !record[key].is_string())
        throw std::runtime_error(input + ":" + std::to_string(number) + ": needs a JSON object with a string '" +
                                 key + "'");
      documents.push_back(tokenizer.encode(record[key].get<std::string>()));
    }
  } else {
    documents.push_back(tokenizer.encode(std::string(std::istreambuf_iterator<char>(in), {})));
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
