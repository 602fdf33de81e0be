// Model.h - a compiled model inside its binary: manifest, weights, entry points.
#ifndef EERT_CLI_MODEL_H
#define EERT_CLI_MODEL_H

#include "cli/model/Backend.h"
#include "io/Safetensors.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace eert {

/// The signature of every compiled entry point (see ee-lower-to-eert).
using EntryFunction = int32_t (*)(const void *const *params, char *arena, int64_t batch,
                                  int64_t seq, void *const *inputs, void **outputs);

struct Parameter {
  std::string name;
  /// This rank's shard (the whole tensor unless tensor parallelism splits it).
  std::vector<int64_t> shape;
  /// The checkpoint tensor's shape, and the dimension split among the
  /// tensor-parallel ranks (-1: every rank holds it whole).
  std::vector<int64_t> wholeShape;
  int64_t splitDim = -1;
  /// Compiled with --dtype bf16: the compiled code reads it in bf16, and
  /// checkpoints store it so (the host keeps the fp32 master).
  bool bf16 = false;
  int64_t elements() const;
  int64_t wholeElements() const;
};

struct Entry {
  std::string name;
  EntryFunction function = nullptr;
  int64_t perTokenBytes = 0, fixedBytes = 0;
  nlohmann::json inputs, outputs;
  /// A backward function's parameters, in the order of its gradient outputs
  /// (which follow its loss).
  std::vector<std::string> gradients;
  /// The spans its ee.span_begin ops mark, by number: {name, category}.
  nlohmann::json spans = nlohmann::json::array();
};

/// What the compiler recorded in `ee_manifest`.
struct Manifest {
  nlohmann::json config;
  std::vector<Parameter> parameters;
  std::vector<Entry> entries;
  /// ee-generate-inference's plan (null when the binary has none).
  nlohmann::json inference;
  /// The pipeline-parallel training plan (ee-pipeline-partition and
  /// ee-pipeline-schedule; null with one stage).
  nlohmann::json pipeline;
  /// How the compiled update steps reduce gradients (ee-data-parallel:
  /// `bucket_size`); null in a binary without them.
  nlohmann::json dataParallel;
  /// Tensor-parallel ranks the binary was compiled for (ee-tensor-parallel).
  int64_t tensorParallel = 1;

  /// Parses the binary's own manifest and resolves the entry points.
  static Manifest load();
  const Entry *entry(const std::string &name) const;
  int64_t numExits() const;
  /// Pipeline stages of the training plan (1 without one).
  int64_t pipelineStages() const;
  /// The index of the parameter named `name`; throws if there is none.
  size_t parameterIndex(const std::string &name) const;
  std::vector<int64_t> exitLayers() const;
};

/// Weights bound to a manifest's parameters.
class Weights {
public:
  /// Reads a checkpoint directory (model.safetensors, or shards listed in
  /// model.safetensors.index.json) into memory. Throws std::runtime_error
  /// naming the tensor, file or config field on any mismatch with the
  /// compiled model (checkCheckpointConfig), a tensor in two shards or a
  /// NaN or infinite weight.
  static Weights load(const Manifest &manifest, const std::string &directory);
  /// Deterministic random initialisation: N(0, 0.02) matrices, ones for norms.
  static Weights random(const Manifest &manifest, uint64_t seed);
  /// Writes config.json and model.safetensors into `directory` (created);
  /// one rank holding whole tensors.
  void save(const Manifest &manifest, const std::string &directory) const;
  /// The same from whole tensors given per parameter.
  static void write(const Manifest &manifest, const std::string &directory,
                    const std::vector<const float *> &whole);

  /// Copies every tensor into memory of its own, so training can update it.
  void makeWritable(const Manifest &manifest);
  /// The i-th parameter's fp32 values on the host (after makeWritable); for a
  /// bf16 parameter its master weight, which refreshBF16 rounds into the copy
  /// the compiled code reads. After compiled updates, valid once download ran.
  float *data(size_t i) { return const_cast<float *>(pointers_[i]); }
  /// After the host changed data(i): the bf16 copies again, and the backend's
  /// copy of everything.
  void refreshBF16(const Manifest &manifest);
  /// The backend's weights (which compiled updates change) back into data().
  void download(const Manifest &manifest);

  /// What compiled code reads as its parameter table: parameter i's fp32
  /// values, or the bf16 copy of a bf16 parameter, in backend memory.
  /// The backend's copy is made here, on first use after the host's values
  /// changed (so commands that run no compiled code never need the backend).
  const std::vector<const void *> &table() const;
  /// The fp32 values a compiled update steps for parameter i, in backend
  /// memory: for a bf16 parameter its master (the optimizer state's third
  /// entry), else what table() holds.
  float *master(size_t i);

private:
  /// Rounds the bf16 parameters' copies and builds table_ (and the backend's).
  void bind(const Manifest &manifest);
  /// Copies the host's weights to the backend (where it is not host memory).
  void upload() const;

  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::vector<float>> owned_;
  std::vector<const float *> pointers_;
  std::vector<std::vector<uint16_t>> bf16_;
  std::vector<const void *> table_;
  // Where the backend is not host memory: each table entry's copy there, and
  // the fp32 masters of bf16 parameters; made from the host's values (each
  // parameter's elements and whether it is bf16) when `stale_`.
  std::vector<std::pair<int64_t, bool>> layout_;
  mutable std::vector<BackendBuffer> backend_, backendMasters_;
  mutable std::vector<const void *> backendTable_;
  mutable bool stale_ = true;
};

/// Generation and evaluation with a binary compiled with --tp T: the world
/// must be exactly T tensor-parallel ranks times `stages` pipeline stages
/// (the pipeline method; 1 otherwise); the ranks of a stage run every step
/// together (rank 0 reports). Nothing to do for T = 1.
void joinTensorParallelGroup(const Manifest &manifest, int64_t stages = 1);

/// Collective over the tensor-parallel group: parameter i's whole tensor from
/// every rank's `shard` (a copy of it when the parameter is not split).
std::vector<float> wholeTensor(const Manifest &manifest, size_t i, const float *shard);
/// This tensor-parallel rank's shard of parameter i from its whole tensor.
std::vector<float> shardOf(const Manifest &manifest, size_t i, const float *whole);

/// Calls entry points with a growing activation arena in backend memory.
/// Inputs are host memory, except KV caches (backend memory, KVCaches) and
/// the optimizer state's table (of backend pointers); outputs come back as
/// host memory, KV caches excepted, valid until the next call. Where the
/// backend is not host memory (cuda), the inputs are copied in and the
/// outputs out: the edges of the compiled code.
class Runner {
public:
  Runner(const Manifest &manifest, const Weights &weights)
      : manifest_(manifest), weights_(weights) {}
  ~Runner(); // releases its graphs
  Runner(const Runner &) = delete;
  Runner &operator=(const Runner &) = delete;
  /// Where a call's tensors are when the backend's memory is not the host's:
  /// inputs already in backend memory (not staged) and outputs left there
  /// (their arena addresses, valid until the next call); the rest cross.
  struct Placement {
    std::vector<bool> backendInputs, backendOutputs;
  };
  /// Runs `entry` on `inputs`; returns its output pointers. Throws on a
  /// runtime failure with the kernel's message.
  std::vector<void *> run(const Entry &entry, int64_t batch, int64_t seq,
                          const std::vector<void *> &inputs, const Placement &placement = {});
  size_t arenaBytes() const { return arena_.bytes(); }

private:
  /// A step function's call recorded as a backend graph (CUDA graphs) for
  /// one shape and set of buffers, replayed while they stay the same.
  struct Graph {
    int64_t calls = 0;      // calls of this shape so far (the first warms up)
    int64_t recordings = 0; // buffers that moved make a new recording, a few times
    bool refused = false;   // the backend could not record it: always plain
    uint64_t handle = 0;
    std::vector<void *> arguments, outputs;
    const void *arena = nullptr, *table = nullptr;
  };
  /// Runs `entry` through its graph where it has one or can record one;
  /// false when it is to run plainly.
  bool runGraph(const Entry &entry, int64_t batch, int64_t seq,
                const std::vector<void *> &arguments, std::vector<void *> &outputs);

  const Manifest &manifest_;
  const Weights &weights_;
  BackendBuffer arena_, staging_;
  std::vector<std::vector<char>> hostOutputs_;
  std::map<std::tuple<std::string, int64_t, int64_t>, Graph> graphs_;
};

/// The bytes of a manifest input or output record (entry.inputs[i] or
/// entry.outputs[i]) for `tokens` tokens; 0 for those that are not copied
/// (KV caches, the optimizer state, scalar inputs read from the host).
size_t edgeBytes(const nlohmann::json &record, int64_t tokens, bool output);

} // namespace eert

#endif // EERT_CLI_MODEL_H
