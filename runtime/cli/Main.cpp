// Main.cpp - the command line of every compiled model binary (DESIGN.md 3.3):
// info, init, eval, grad, train, preprocess, generate, serve.
#include "cli/Commands.h"
#include "cli/train/DataParallel.h"
#include "cli/train/PipelineTraining.h"
#include "cli/model/Model.h"
#include "cli/Options.h"
#include "cli/train/Train.h"
#include "cli/model/MemoryBudget.h"
#include "cli/train/TrainerState.h"
#include "io/Dataset.h"
#include "cli/model/Tokenizer.h"
#include "cpu/Softmax.h"
#include "eert/eert.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>

using json = nlohmann::json;
using namespace eert;

namespace {

std::string jsonText(const json &value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t configInt(const Manifest &m, const char *key) { return m.config[key].get<int64_t>(); }

int info(const Manifest &manifest) {
  int64_t params = 0, readBytes = 0;
  bool bf16 = false;
  for (const Parameter &p : manifest.parameters) {
    params += p.wholeElements();
    readBytes += p.wholeElements() * (p.bf16 ? 2 : 4);
    bf16 |= p.bf16;
  }
  int64_t layers = configInt(manifest, "num_hidden_layers");
  int64_t hidden = configInt(manifest, "hidden_size");
  int64_t maxPositions = configInt(manifest, "max_position_embeddings");
  // Forward FLOPs per token: 2 per weight use, plus attention scores and
  // values over an average context of half the maximum length.
  int64_t attentionFlops = 4 * layers * hidden * (maxPositions / 2);
  json report = {{"config", manifest.config},
                 {"layout",
                  {{"tensor_parallel", manifest.tensorParallel},
                   {"pipeline_parallel",
                    manifest.inference.is_object() ? manifest.inference["stages"].size() : 1},
                   {"data_parallel", 1}}},
                 {"dtype", bf16 ? "bf16" : "fp32"},
                 {"parameters", params},
                 // What the compiled code reads; the host also holds every
                 // weight in fp32 (a bf16 run's master weights), and training
                 // adds AdamW's two fp32 moments.
                 {"parameter_bytes", readBytes},
                 {"fp32_weight_bytes", 4 * params},
                 {"optimizer_state_bytes", 8 * params},
                 {"forward_flops_per_token", 2 * params + attentionFlops},
                 {"entries", json::array()}};
  // KV caches of early-exit generation: [max_positions, features] per
  // attention (decoder layers and block exits), per sequence.
  int64_t kvBytes = 0;
  std::set<std::string> counted;
  if (manifest.inference.is_object()) {
    for (const auto *list : {&manifest.inference["segments"], &manifest.inference["exits"]})
      for (const json &piece : *list)
        for (const json &name : piece["caches"])
          counted.insert(name.get<std::string>());
    for (const Entry &e : manifest.entries)
      for (const json &input : e.inputs)
        if (input["kind"] == "kv_cache")
          kvBytes = std::max<int64_t>(kvBytes, 2 * 4 * input["positions"].get<int64_t>() *
                                                   input["features"].get<int64_t>());
    report["inference"] = manifest.inference;
  }
  if (manifest.pipeline.is_object())
    report["training_pipeline"] = manifest.pipeline;
  // The caches are fp32 in either dtype (attention computes in fp32).
  report["kv_cache_bytes_per_sequence"] = kvBytes * static_cast<int64_t>(counted.size());
  int64_t peakActivations = 0;
  for (const Entry &e : manifest.entries) {
    int64_t peak = e.perTokenBytes * maxPositions + e.fixedBytes;
    peakActivations = std::max(peakActivations, peak);
    report["entries"].push_back({{"name", e.name},
                                 {"activation_bytes_per_token", e.perTokenBytes},
                                 {"fixed_bytes", e.fixedBytes},
                                 {"peak_activation_bytes_at_max_positions", peak}});
  }
  // Where the compiled code's memory lives (the GPU's for cuda) and what it
  // holds there: the weights it reads, for training also the fp32 masters of
  // bf16 weights and AdamW's moments, the KV caches per sequence, and the
  // largest entry point's arena at one sequence of max_position_embeddings.
  bool device = std::string(eert_backend_name()) != "cpu";
  int64_t trainingBytes = readBytes + (bf16 ? 4 * params : 0) + 8 * params + peakActivations;
  report["backend"] = eert_backend_name();
  report["backend_memory"] = {
      {"where", device ? "device" : "host"},
      {"inference_bytes_one_sequence",
       readBytes + report["kv_cache_bytes_per_sequence"].get<int64_t>() + peakActivations},
      {"training_bytes_one_sequence", trainingBytes}};
  std::cout << report.dump(2) << "\n";
  return 0;
}

int init(const Manifest &manifest, const Options &options) {
  int64_t seed = options.integer("seed", 1234);
  if (seed < 0)
    throw std::runtime_error("--seed must be >= 0, got " + std::to_string(seed));
  Weights weights = Weights::random(manifest, static_cast<uint64_t>(seed));
  weights.save(manifest, options.text("out"));
  std::cerr << "wrote " << options.text("out") << "/model.safetensors and config.json\n";
  return 0;
}

/// Tokens of a text file or a Megatron indexed dataset.
std::vector<int32_t> readTokens(const std::string &path, const Tokenizer &tokenizer, int64_t vocab) {
  return readTokenStream(
      path, [&](const std::string &text) { return tokenizer.encode(text); }, vocab);
}

/// The training iteration a checkpoint was saved at (0 without trainer state).
int64_t checkpointIteration(const std::string &dir) {
  std::optional<TrainerState> state = readTrainerState(dir, /*resume=*/false);
  return state ? state->iteration : 0;
}

/// The arena of `entry` for `batch` sequences of `seqLen` tokens, and the
/// tokens of the batch: what eval and grad allocate per batch.
std::vector<std::pair<std::string, uint64_t>> batchBuffers(const Manifest &manifest, const std::string &entry,
                                                           int64_t batch, int64_t seqLen) {
  const Entry *e = manifest.entry(entry);
  if (!e)
    throw std::runtime_error("the binary has no '" + entry + "' entry point");
  uint64_t arena = bytesProduct({batch, seqLen, e->perTokenBytes});
  arena = arena > UINT64_MAX - static_cast<uint64_t>(e->fixedBytes) ? UINT64_MAX : arena + e->fixedBytes;
  return {{"activations of '" + entry + "'", arena},
          {"batch tokens", bytesProduct({batch, seqLen, 3 * sizeof(int32_t)})}};
}

/// Consecutive windows of seq_len + 1 tokens as (ids, labels, positions).
MicroBatch windows(const std::vector<int32_t> &tokens, int64_t first, int64_t count, int64_t seqLen) {
  MicroBatch batch;
  for (int64_t w = first; w < first + count; ++w) {
    const int32_t *window = tokens.data() + w * (seqLen + 1);
    batch.ids.insert(batch.ids.end(), window, window + seqLen);
    batch.labels.insert(batch.labels.end(), window + 1, window + seqLen + 1);
    for (int64_t s = 0; s < seqLen; ++s)
      batch.positions.push_back(static_cast<int32_t>(s));
  }
  return batch;
}

int eval(const Manifest &manifest, const Options &options) {
  std::string dir = resolveCheckpoint(options.text("load"));
  int64_t seqLen = seqLenOption(manifest, options);
  int64_t batchSize = options.integer("batch", 8);
  if (batchSize <= 0)
    throw std::runtime_error("--batch must be positive");
  joinTensorParallelGroup(manifest);
  Weights weights = Weights::load(manifest, dir);
  int64_t vocab = configInt(manifest, "vocab_size");
  Tokenizer tokenizer = Tokenizer::forCheckpoint(dir, vocab);
  std::vector<int32_t> tokens = readTokens(options.text("data"), tokenizer, configInt(manifest, "vocab_size"));
  int64_t numWindows = static_cast<int64_t>(tokens.size()) / (seqLen + 1);
  if (numWindows == 0)
    throw std::runtime_error(options.text("data") + ": fewer than --seq-len + 1 = " +
                             std::to_string(seqLen + 1) + " tokens");
  // The batches are at most the data's windows.
  int64_t largest = std::min(batchSize, numWindows);
  checkMemory("eval --batch " + std::to_string(batchSize) + " (" + std::to_string(largest) +
                  " windows of the data) --seq-len " + std::to_string(seqLen),
              batchBuffers(manifest, "forward", largest, seqLen));
  const Entry *forward = manifest.entry("forward");
  Runner runner(manifest, weights);
  int64_t heads = manifest.numExits() + 1;
  std::vector<double> totals(heads, 0.0);
  for (int64_t first = 0; first < numWindows; first += batchSize) {
    int64_t batch = std::min(batchSize, numWindows - first);
    MicroBatch data = windows(tokens, first, batch, seqLen);
    std::vector<void *> outputs =
        runner.run(*forward, batch, seqLen, {data.ids.data(), data.positions.data()});
    for (int64_t h = 0; h < heads; ++h) {
      // The head's cross-entropy on the host, from its logits.
      const float *logits = static_cast<const float *>(outputs[h]);
      for (int64_t t = 0; t < batch * seqLen; ++t) {
        int32_t label = data.labels[t];
        if (label < 0 || label >= vocab)
          throw std::runtime_error("label " + std::to_string(label) + " at position " +
                                   std::to_string(t) + " is outside the vocabulary [0, " +
                                   std::to_string(vocab) + ")");
        totals[h] += eert::logSumExp(logits + t * vocab, vocab, 1.0) - logits[t * vocab + label];
      }
    }
  }
  int64_t count = numWindows * seqLen;
  auto entry = [&](int64_t h) {
    double loss = totals[h] / count;
    return json{{"loss", loss}, {"ppl", std::exp(loss)}};
  };
  if (eert_comm_rank() != 0)
    return 0; // tensor-parallel ranks: rank 0 reports
  json report = {{"tokens", count}, {"final", entry(heads - 1)}, {"exits", json::array()}};
  std::vector<int64_t> layers = manifest.exitLayers();
  for (int64_t k = 0; k + 1 < heads; ++k) {
    json e = entry(k);
    e["exit"] = k;
    e["layer"] = layers[k];
    report["exits"].push_back(e);
  }
  if (options.has("json")) {
    std::cout << report.dump() << "\n";
  } else {
    std::printf("tokens: %lld\n", static_cast<long long>(count));
    for (const json &e : report["exits"])
      std::printf("exit %lld (layer %lld): loss %.6f  ppl %.4f\n",
                  static_cast<long long>(e["exit"]), static_cast<long long>(e["layer"]),
                  e["loss"].get<double>(), e["ppl"].get<double>());
    std::printf("final: loss %.6f  ppl %.4f\n", report["final"]["loss"].get<double>(),
                report["final"]["ppl"].get<double>());
  }
  return 0;
}

int grad(const Manifest &manifest, const Options &options) {
  std::string dir = resolveCheckpoint(options.text("load"));
  int64_t seqLen = seqLenOption(manifest, options), globalBatch = options.integer("global-batch");
  if (globalBatch <= 0 || globalBatch > kMaxSamplesPerIteration)
    throw std::runtime_error("--global-batch must be in [1, " + std::to_string(kMaxSamplesPerIteration) +
                             "], got " + std::to_string(globalBatch));
  // Data-parallel replicas differentiate their share and average; pipeline
  // stages each differentiate their parameters, one micro-batch down the
  // stages and back; tensor-parallel ranks their shards.
  DataParallel dp = DataParallel::join(manifest.pipelineStages(), manifest.tensorParallel);
  {
    // One micro-batch of the whole share, through every stage.
    int64_t share = globalBatch / dp.size();
    std::string step = "loss_grad";
    if (manifest.pipelineStages() > 1) {
      constexpr int64_t kPipelineGroup = 2; // abi.def: eert_comm_grid
      step = manifest.pipeline["stages"][eert_comm_group_rank(kPipelineGroup)].value("grad_step", "");
    }
    checkMemory("grad --global-batch " + std::to_string(globalBatch) + " --seq-len " + std::to_string(seqLen),
                batchBuffers(manifest, step, share, seqLen));
  }
  Weights weights = Weights::load(manifest, dir);
  Tokenizer tokenizer = Tokenizer::forCheckpoint(dir, configInt(manifest, "vocab_size"));
  std::vector<int32_t> tokens = readTokens(options.text("data"), tokenizer, configInt(manifest, "vocab_size"));
  // globalBatch and seqLen are bounded: the product fits int64.
  if (static_cast<int64_t>(tokens.size()) < globalBatch * (seqLen + 1))
    throw std::runtime_error(options.text("data") + ": " + std::to_string(tokens.size()) +
                             " tokens, fewer than --global-batch x (--seq-len + 1) = " +
                             std::to_string(globalBatch * (seqLen + 1)));
  if (globalBatch % dp.size() != 0)
    throw std::runtime_error("--global-batch (" + std::to_string(globalBatch) +
                             ") must be a multiple of the data-parallel size (" +
                             std::to_string(dp.size()) + ")");
  int64_t share = globalBatch / dp.size();
  MicroBatch batch = windows(tokens, dp.rank() * share, share, seqLen);
  int64_t iteration = checkpointIteration(dir);
  TrainingStage stage(manifest, weights);
  size_t numParams = manifest.parameters.size();
  std::vector<std::vector<float>> grads(numParams);
  for (size_t i = 0; i < numParams; ++i)
    grads[i].assign(manifest.parameters[i].elements(), 0.0f);
  float loss = 0;
  MeasuredTrace untraced(false);
  stage.run(TrainingStage::Step::Gradient, {batch}, share, seqLen, iteration,
            1.0f / static_cast<float>(dp.size()), [&](const StageGradients &result) {
              for (size_t k = 0; k < stage.parameters().size(); ++k) {
                std::vector<float> &g = grads[stage.parameters()[k]];
                for (size_t j = 0; j < g.size(); ++j)
                  g[j] = result.weight * result.gradients[k][j];
              }
              loss = result.objective;
            }, untraced);
  stage.sumTied([&](size_t i) { return grads[i].data(); });
  std::vector<TensorToWrite> gradients;
  for (size_t i = 0; i < numParams; ++i) {
    int64_t n = manifest.parameters[i].elements();
    if (std::count(stage.parameters().begin(), stage.parameters().end(), i))
      dp.sum(grads[i].data(), n, n);
    stage.fromOwner(i, grads[i].data(), n);
    grads[i] = wholeTensor(manifest, i, grads[i].data());
    gradients.push_back({manifest.parameters[i].name, manifest.parameters[i].wholeShape, grads[i].data()});
  }
  stage.sum(&loss, 1);
  loss = static_cast<float>(dp.sum(loss) / dp.size());
  if (eert_comm_rank() != 0)
    return 0;
  std::string error;
  if (!writeSafetensors(options.text("out"), gradients, {{"format", "pt"}}, error))
    throw std::runtime_error(error);
  std::cout << json{{"loss", loss}, {"iteration", iteration}}.dump()
            << "\n";
  return 0;
}

const char *kUsage =
    "usage: BIN info\n"
    "       BIN init --out DIR [--seed S]\n"
    "       BIN eval --load DIR --data PATH --seq-len S [--batch B] [--json]\n"
    "       BIN train --data PATH --iters N --global-batch B [--micro-batch b] --seq-len S\n"
    "                 --lr X --save DIR [--load DIR] [--save-interval K] [--keep-last K]\n"
    "                 [--min-lr --lr-warmup-iters --lr-decay-iters --lr-decay-style cosine|linear|constant\n"
    "                  --weight-decay --adam-beta1 --adam-beta2 --adam-eps --clip-grad --seed\n"
    "                  --log-interval --metrics FILE --ddp-bucket-size N --use-distributed-optimizer\n"
    "                  --trace FILE]\n"
    "       (train and grad run data-parallel under mpirun -np N; --ddp-bucket-size and\n"
    "        --use-distributed-optimizer must be what the binary was compiled with)\n"
    "       BIN preprocess --input FILE(.txt|.jsonl) --output-prefix P [--json-key text] [--tokenizer DIR]\n"
    "       BIN grad --load DIR --data PATH --seq-len S --global-batch B --out grads.safetensors\n"
    "       BIN generate --load DIR (--prompt TEXT | --prompt-ids 1,2,3)... --max-new-tokens N\n"
    "                    [--early-exit-thres X] [--exit-thresholds X0,X1,..] [--exit-layers L0,L1,..]\n"
    "                    [--method recompute|pipeline|speculative [--draft-exit LAYER --draft-tokens K]]\n"
    "                    [--temperature T --top-k K --top-p P --seed S]\n"
    "                    [--json] [--no-baseline] [--save-kv FILE]\n"
    "       BIN serve --load DIR --port P [--host H] [--method recompute|pipeline|speculative]\n"
    "                 [--request-timeout S] [--max-connections N] [--max-queue N]\n"
    "                 [--max-batch N] [--kv-budget TOKENS]\n"
    "       every command: [--comm-timeout SECONDS] (under mpirun: how long a rank waits\n"
    "                      for a peer before it names it and ends the world; default 300, 0: forever)\n";

/// Takes `--comm-timeout S` (any command, anywhere) out of argv and applies it.
void takeCommTimeout(int &argc, char **argv) {
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) != "--comm-timeout")
      continue;
    if (i + 1 >= argc)
      throw std::runtime_error("option --comm-timeout needs a value");
    std::string value = argv[i + 1];
    size_t used = 0;
    double seconds = -1;
    try {
      seconds = std::stod(value, &used);
    } catch (...) {
      used = 0;
    }
    if (used != value.size() || eert_comm_set_timeout(static_cast<float>(seconds)))
      throw std::runtime_error("option --comm-timeout needs a number of seconds >= 0 (0: no timeout), got '" +
                               value + "'");
    for (int j = i; j + 2 < argc; ++j)
      argv[j] = argv[j + 2];
    argc -= 2;
    --i;
  }
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string command = argv[1];
  try {
    if (eert_comm_init())
      throw std::runtime_error(eert_last_error());
    takeCommTimeout(argc, argv);
    Manifest manifest = Manifest::load();
    if (manifest.tensorParallel > 1 && command == "init")
      throw std::runtime_error("this binary was compiled with --tp " +
                               std::to_string(manifest.tensorParallel) +
                               "; 'init' writes whole tensors from a binary compiled with --tp 1");
    if (eert_comm_size() > 1 && command != "generate" && command != "serve" && command != "train" &&
        command != "grad" && !(command == "eval" && manifest.tensorParallel > 1))
      throw std::runtime_error("'" + command + "' runs on one rank; this world has " +
                               std::to_string(eert_comm_size()) +
                               " (train, grad, and generate and serve with the pipeline method run under mpirun)");
    if (command == "info") {
      Options(argc, argv, 2, {}, {});
      return info(manifest);
    }
    if (command == "init")
      return init(manifest, Options(argc, argv, 2, {"out", "seed"}, {}));
    // What runs compiled code needs the backend (for cuda: a usable GPU).
    if (command == "eval" || command == "train" || command == "grad" || command == "generate" ||
        command == "serve")
      startBackend();
    if (command == "eval") {
      int status = eval(manifest, Options(argc, argv, 2, {"load", "data", "seq-len", "batch"}, {"json"}));
      if (eert_comm_finalize())
        throw std::runtime_error(eert_last_error());
      return status;
    }
    if (command == "train" || command == "grad") {
      int status = command == "train"
                       ? train(manifest, Options(argc, argv, 2, kTrainOptions, kTrainFlags))
                       : grad(manifest, Options(argc, argv, 2, {"load", "data", "seq-len", "global-batch", "out"}, {}));
      if (eert_comm_finalize())
        throw std::runtime_error(eert_last_error());
      return status;
    }
    if (command == "preprocess")
      return preprocess(manifest, Options(argc, argv, 2, {"input", "output-prefix", "json-key", "tokenizer"}, {}));
    if (command == "generate" || command == "serve") {
      int status = command == "generate"
                       ? generateCommand(manifest, Options(argc, argv, 2, kGenerateOptions, kGenerateFlags))
                       : serveCommand(manifest, Options(argc, argv, 2, kServeOptions, {}));
      if (eert_comm_finalize())
        throw std::runtime_error(eert_last_error());
      return status;
    }
    std::cerr << "error: unknown command '" << command << "'\n" << kUsage;
    return 2;
  } catch (const std::exception &e) {
    if (eert_comm_size() > 1) {
      // The other ranks may be waiting for this one: end them all. One write
      // for the line, so that ranks failing together do not interleave theirs.
      std::string line =
          "error (rank " + std::to_string(eert_comm_rank()) + "): " + e.what() + "\n";
      std::fwrite(line.data(), 1, line.size(), stderr);
      std::fflush(stderr);
      eert_comm_abort(1);
    }
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
