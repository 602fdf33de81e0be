// Model.cpp - a compiled model inside its binary: manifest, weights, entry points.
#include "cli/model/Model.h"
#include "cli/model/FiniteValues.h"
#include "cpu/BF16.h"
#include "cpu/SplitMix64.h"
#include "eert/eert.h"
#include "io/BoundedInput.h"
#include "io/CheckpointConfig.h"
#include "io/DurableFile.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

extern "C" const char ee_manifest[];

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace eert {

namespace {
int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}
} // namespace

int64_t Parameter::elements() const { return product(shape); }
int64_t Parameter::wholeElements() const { return product(wholeShape); }

Manifest Manifest::load() {
  Manifest manifest;
  json root = json::parse(ee_manifest);
  manifest.config = root["config"];
  if (root.contains("inference"))
    manifest.inference = root["inference"];
  if (root.contains("pipeline"))
    manifest.pipeline = root["pipeline"];
  if (root.contains("data_parallel"))
    manifest.dataParallel = root["data_parallel"];
  if (root.contains("tensor_parallel"))
    manifest.tensorParallel = root["tensor_parallel"]["size"];
  for (const json &p : root["parameters"]) {
    Parameter param{p["name"], p["shape"].get<std::vector<int64_t>>(), {}, -1};
    param.wholeShape = param.shape;
    param.bf16 = p.value("dtype", "F32") == "BF16";
    if (manifest.tensorParallel > 1 && root["tensor_parallel"]["split_dims"].contains(param.name)) {
      param.splitDim = root["tensor_parallel"]["split_dims"][param.name];
      param.wholeShape[param.splitDim] *= manifest.tensorParallel;
    }
    manifest.parameters.push_back(std::move(param));
  }
  for (const json &e : root["entries"]) {
    Entry entry;
    entry.name = e["name"];
    std::string symbol = e["symbol"];
    // The binary is linked with -rdynamic, so its own entry points resolve here.
    entry.function = reinterpret_cast<EntryFunction>(dlsym(RTLD_DEFAULT, symbol.c_str()));
    if (!entry.function)
      throw std::runtime_error("the binary lacks its entry point '" + symbol + "'");
    entry.perTokenBytes = e["per_token_bytes"];
    entry.fixedBytes = e["fixed_bytes"];
    entry.inputs = e["inputs"];
    entry.outputs = e["outputs"];
    if (e.contains("spans"))
      entry.spans = e["spans"];
    if (e.contains("gradients"))
      entry.gradients = e["gradients"].get<std::vector<std::string>>();
    manifest.entries.push_back(std::move(entry));
  }
  return manifest;
}

const Entry *Manifest::entry(const std::string &name) const {
  for (const Entry &e : entries)
    if (e.name == name)
      return &e;
  return nullptr;
}

std::vector<int64_t> Manifest::exitLayers() const {
  if (!config.contains("early_exit"))
    return {};
  return config["early_exit"]["exit_layer_nums"].get<std::vector<int64_t>>();
}

int64_t Manifest::numExits() const { return static_cast<int64_t>(exitLayers().size()); }

int64_t Manifest::pipelineStages() const {
  return pipeline.is_object() ? static_cast<int64_t>(pipeline["stages"].size()) : 1;
}

size_t Manifest::parameterIndex(const std::string &name) const {
  for (size_t i = 0; i < parameters.size(); ++i)
    if (parameters[i].name == name)
      return i;
  throw std::runtime_error("the model has no parameter '" + name + "'");
}

namespace {

/// True when `path` names something, even a dangling symlink (which must be
/// reported, not taken for "no such file").
bool present(const fs::path &path) {
  std::error_code ignored;
  return fs::exists(fs::symlink_status(path, ignored));
}

float halfToFloat(uint16_t h, bool bfloat) {
  uint32_t bits;
  if (bfloat) {
    bits = static_cast<uint32_t>(h) << 16;
  } else {
    uint32_t sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    if (exponent == 0x1f)
      bits = sign | 0x7f800000u | (mantissa << 13);
    else if (exponent != 0)
      bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    else if (mantissa == 0)
      bits = sign;
    else {
      float value = std::ldexp(static_cast<float>(mantissa), -24);
      return sign ? -value : value;
    }
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

} // namespace

Weights Weights::load(const Manifest &manifest, const std::string &directory) {
  fs::path dir(directory);
  if (!fs::is_directory(dir))
    throw std::runtime_error(directory + ": not a checkpoint directory");
  if (present(dir / "config.json")) {
    std::string path = (dir / "config.json").string();
    checkCheckpointConfig(manifest.config, readJsonFile(path), path);
  }
  Weights weights;
  std::map<std::string, const SafetensorsFile *> owner; // tensor -> file
  std::set<const SafetensorsFile *> used;               // files that pointers_ point into
  auto openFile = [&](const fs::path &path) {
    std::string error;
    auto file = SafetensorsFile::open(path.string(), error);
    if (!file)
      throw std::runtime_error(error);
    for (const auto &[name, view] : file->tensors()) {
      auto [it, added] = owner.emplace(name, file.get());
      if (!added)
        throw std::runtime_error(path.string() + ": tensor '" + name + "' is also in " +
                                 it->second->path());
    }
    weights.files_.push_back(std::move(file));
  };
  if (present(dir / "model.safetensors")) {
    openFile(dir / "model.safetensors");
  } else if (present(dir / "model.safetensors.index.json")) {
    fs::path index = dir / "model.safetensors.index.json";
    json map = readJsonFile(index.string());
    if (!map.is_object() || !map.contains("weight_map") || !map["weight_map"].is_object())
      throw std::runtime_error(index.string() + ": needs a 'weight_map' object");
    std::set<std::string> shards;
    for (auto &[name, shard] : map["weight_map"].items()) {
      // A shard is a file beside the index: no paths, so a hostile index
      // cannot point the loader elsewhere.
      if (!shard.is_string() || shard.get<std::string>().empty() ||
          shard.get<std::string>().find_first_of(std::string("/\0", 2)) != std::string::npos ||
          shard == "." || shard == "..")
        throw std::runtime_error(index.string() + ": bad shard file " +
                                 shard.dump(-1, ' ', false, json::error_handler_t::replace) +
                                 " for '" + name + "'");
      shards.insert(shard.get<std::string>());
    }
    for (const std::string &shard : shards)
      openFile(dir / shard);
  } else {
    throw std::runtime_error(directory +
                             ": has neither model.safetensors nor model.safetensors.index.json");
  }
  for (const Parameter &param : manifest.parameters) {
    auto it = owner.find(param.name);
    if (it == owner.end())
      throw std::runtime_error(directory + ": missing tensor '" + param.name + "'");
    const TensorView &view = *it->second->find(param.name);
    if (view.shape != param.wholeShape) {
      json expected = param.wholeShape, found = view.shape;
      throw std::runtime_error(it->second->path() + ": tensor '" + param.name + "' has shape " +
                               found.dump() + " but the model needs " + expected.dump());
    }
    auto checkFinite = [&](const float *values) {
      int64_t at = firstBadValue(values, param.wholeElements());
      if (at >= 0)
        throw std::runtime_error(it->second->path() + ": tensor '" + param.name + "' holds " +
                                 (std::isnan(values[at]) ? "NaN" : "an infinite value") +
                                 " at element " + std::to_string(at));
    };
    bool aligned = reinterpret_cast<uintptr_t>(view.data) % alignof(float) == 0;
    if (view.dtype == "F32" && aligned && param.splitDim < 0) {
      checkFinite(reinterpret_cast<const float *>(view.data));
      weights.pointers_.push_back(reinterpret_cast<const float *>(view.data));
      used.insert(it->second);
      continue;
    }
    std::vector<float> values(param.wholeElements());
    if (view.dtype == "F32") {
      std::memcpy(values.data(), view.data, view.bytes);
    } else if (view.dtype == "F16" || view.dtype == "BF16") {
      for (size_t i = 0; i < values.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, view.data + 2 * i, 2);
        values[i] = halfToFloat(h, view.dtype == "BF16");
      }
    } else {
      throw std::runtime_error(it->second->path() + ": tensor '" + param.name + "' has dtype " +
                               view.dtype + "; F32, F16 or BF16 is needed");
    }
    checkFinite(values.data());
    if (param.splitDim >= 0)
      values = shardOf(manifest, weights.pointers_.size(), values.data());
    weights.owned_.push_back(std::move(values));
    weights.pointers_.push_back(weights.owned_.back().data());
  }
  // A file whose tensors were all copied out (converted or sharded) is held
  // in memory for nothing.
  weights.files_.erase(std::remove_if(weights.files_.begin(), weights.files_.end(),
                                      [&](const auto &file) { return !used.count(file.get()); }),
                       weights.files_.end());
  weights.bind(manifest);
  return weights;
}

Weights Weights::random(const Manifest &manifest, uint64_t seed) {
  Weights weights;
  uint64_t state = seed;
  auto uniform = [&]() { return uniform01(state) + 0x1.0p-54; }; // in (0, 1) for the log
  for (const Parameter &param : manifest.parameters) {
    // The whole tensor, so that every layout starts from the same weights.
    std::vector<float> values(param.wholeElements());
    if (param.shape.size() == 1) {
      std::fill(values.begin(), values.end(), 1.0f);
    } else {
      for (float &v : values) // Box-Muller
        v = static_cast<float>(0.02 * std::sqrt(-2.0 * std::log(uniform())) *
                               std::cos(2.0 * M_PI * uniform()));
    }
    if (param.splitDim >= 0)
      values = shardOf(manifest, weights.pointers_.size(), values.data());
    weights.owned_.push_back(std::move(values));
    weights.pointers_.push_back(weights.owned_.back().data());
  }
  weights.bind(manifest);
  return weights;
}

void Weights::makeWritable(const Manifest &manifest) {
  std::vector<std::vector<float>> copies;
  for (size_t i = 0; i < manifest.parameters.size(); ++i)
    copies.emplace_back(pointers_[i], pointers_[i] + manifest.parameters[i].elements());
  owned_ = std::move(copies);
  files_.clear();
  // The bf16 copies hold the same values: only fp32 parameters move.
  for (size_t i = 0; i < owned_.size(); ++i) {
    pointers_[i] = owned_[i].data();
    if (!manifest.parameters[i].bf16)
      table_[i] = pointers_[i];
  }
}

void Weights::bind(const Manifest &manifest) {
  layout_.clear();
  for (const Parameter &param : manifest.parameters)
    layout_.emplace_back(param.elements(), param.bf16);
  bf16_.assign(manifest.parameters.size(), {});
  table_.assign(pointers_.begin(), pointers_.end());
  refreshBF16(manifest);
}

void Weights::refreshBF16(const Manifest &manifest) {
  for (size_t i = 0; i < manifest.parameters.size(); ++i) {
    if (!manifest.parameters[i].bf16)
      continue;
    int64_t n = manifest.parameters[i].elements();
    bf16_[i].resize(n);
    // On the host (what the kernels read is copied by upload).
    for (int64_t j = 0; j < n; ++j)
      bf16_[i][j] = bf16::fromFloat(pointers_[i][j]);
    table_[i] = bf16_[i].data();
  }
  stale_ = true;
}

const std::vector<const void *> &Weights::table() const {
  if (hostSharesBackendMemory())
    return table_;
  if (stale_)
    upload();
  return backendTable_;
}

void Weights::upload() const {
  size_t n = layout_.size();
  backend_.resize(n);
  backendMasters_.resize(n);
  backendTable_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    auto [elements, bf16] = layout_[i];
    size_t bytes = static_cast<size_t>(elements) * (bf16 ? 2 : 4);
    if (backend_[i].bytes() != bytes)
      backend_[i] = BackendBuffer(bytes);
    backend_[i].upload(table_[i], bytes);
    backendTable_[i] = backend_[i].data();
    if (bf16) {
      size_t masterBytes = static_cast<size_t>(elements) * 4;
      if (backendMasters_[i].bytes() != masterBytes)
        backendMasters_[i] = BackendBuffer(masterBytes);
      backendMasters_[i].upload(pointers_[i], masterBytes);
    }
  }
  stale_ = false;
}

void Weights::download(const Manifest &manifest) {
  // Nothing ran on the backend's copy since the host's values changed.
  if (hostSharesBackendMemory() || stale_)
    return;
  if (owned_.size() != manifest.parameters.size())
    throw std::logic_error("Weights::download before makeWritable");
  for (size_t i = 0; i < manifest.parameters.size(); ++i) {
    const Parameter &param = manifest.parameters[i];
    size_t n = static_cast<size_t>(param.elements());
    if (param.bf16) {
      backendMasters_[i].download(data(i), 4 * n);
      backend_[i].download(bf16_[i].data(), 2 * n);
    } else {
      backend_[i].download(data(i), 4 * n);
    }
  }
}

float *Weights::master(size_t i) {
  if (hostSharesBackendMemory())
    return data(i);
  table(); // the backend's copy, made now if stale
  return backendMasters_[i].data() ? backendMasters_[i].as<float>() : backend_[i].as<float>();
}

void Weights::save(const Manifest &manifest, const std::string &directory) const {
  if (manifest.tensorParallel > 1)
    throw std::runtime_error("tensor-parallel weights are saved from their whole tensors");
  write(manifest, directory, pointers_);
}

void Weights::write(const Manifest &manifest, const std::string &directory,
                    const std::vector<const float *> &whole) {
  // A NaN written once is loaded by every later run; refuse it here.
  for (size_t i = 0; i < manifest.parameters.size(); ++i) {
    int64_t bad = firstBadValue(whole[i], manifest.parameters[i].wholeElements());
    if (bad >= 0)
      throw std::runtime_error("refusing to save " + directory + ": tensor '" +
                               manifest.parameters[i].name + "' " + badValueText(whole[i], bad));
  }
  bool created = fs::create_directories(directory);
  std::vector<TensorToWrite> tensors;
  for (size_t i = 0; i < manifest.parameters.size(); ++i)
    tensors.push_back({manifest.parameters[i].name, manifest.parameters[i].wholeShape, whole[i],
                       manifest.parameters[i].bf16});
  std::string error;
  if (!writeSafetensors(directory + "/model.safetensors", tensors, {{"format", "pt"}}, error))
    throw std::runtime_error(error);
  // Each file is fsynced before its rename and the directory after it (so
  // both names are durable), and a new directory's own name too.
  writeFileDurably(directory + "/config.json", manifest.config.dump(2) + "\n");
  if (created) {
    fs::path normal = fs::absolute(directory).lexically_normal();
    if (!normal.has_filename()) // "dir/"
      normal = normal.parent_path();
    syncPath(normal.parent_path().string());
  }
}

namespace {
constexpr int64_t kTensorGroup = 1; // abi.def: eert_comm_grid

/// Visits the shard of rank `rank` within a whole tensor split along `dim`:
/// `copy(whole offset, shard offset, count)` per contiguous run.
template <typename Copy> void forEachRun(const Parameter &param, int64_t rank, Copy copy) {
  // [outer, split, inner]: rows before the split dimension, its extent, what follows.
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < param.splitDim; ++d)
    outer *= param.wholeShape[d];
  for (size_t d = param.splitDim + 1; d < param.wholeShape.size(); ++d)
    inner *= param.wholeShape[d];
  int64_t local = param.shape[param.splitDim], whole = param.wholeShape[param.splitDim];
  for (int64_t o = 0; o < outer; ++o)
    copy((o * whole + rank * local) * inner, o * local * inner, local * inner);
}
} // namespace

void joinTensorParallelGroup(const Manifest &manifest, int64_t stages) {
  if (manifest.tensorParallel == 1)
    return;
  int64_t ranks = manifest.tensorParallel * stages;
  if (eert_comm_size() != ranks)
    throw std::runtime_error(
        "this binary was compiled with --tp " + std::to_string(manifest.tensorParallel) +
        ": run it on " + std::to_string(ranks) + " ranks (mpirun -np " + std::to_string(ranks) +
        (stages > 1 ? ", " + std::to_string(stages) + " pipeline stages" : "") + "), not " +
        std::to_string(eert_comm_size()));
  if (eert_comm_grid(manifest.tensorParallel, stages))
    throw std::runtime_error(eert_last_error());
}

std::vector<float> shardOf(const Manifest &manifest, size_t i, const float *whole) {
  const Parameter &param = manifest.parameters[i];
  if (param.splitDim < 0)
    return std::vector<float>(whole, whole + param.elements());
  std::vector<float> shard(param.elements());
  forEachRun(param, eert_comm_group_rank(kTensorGroup), [&](int64_t from, int64_t to, int64_t n) {
    std::copy_n(whole + from, n, shard.begin() + to);
  });
  return shard;
}

std::vector<float> wholeTensor(const Manifest &manifest, size_t i, const float *shard) {
  const Parameter &param = manifest.parameters[i];
  if (param.splitDim < 0)
    return std::vector<float>(shard, shard + param.elements());
  int64_t parts = manifest.tensorParallel, count = param.elements();
  std::vector<float> gathered(count * parts), whole(param.wholeElements());
  if (eert_comm_all_gather(shard, gathered.data(), count, kTensorGroup))
    throw std::runtime_error(std::string("tensor-parallel gather failed: ") + eert_last_error());
  for (int64_t r = 0; r < parts; ++r)
    forEachRun(param, r, [&](int64_t to, int64_t from, int64_t n) {
      std::copy_n(gathered.begin() + r * count + from, n, whole.begin() + to);
    });
  return whole;
}

namespace {
/// Whether step functions may run as recorded graphs: on a backend that has
/// them (cuda), unless EERT_GRAPHS=0.
bool graphsWanted() {
  static const bool wanted = [] {
    const char *value = std::getenv("EERT_GRAPHS");
    return std::string(eert_backend_name()) == "cuda" && !(value && std::string(value) == "0");
  }();
  return wanted;
}
} // namespace

Runner::~Runner() {
  for (auto &[key, graph] : graphs_)
    eert_graph_destroy(static_cast<int64_t>(graph.handle));
}

bool Runner::runGraph(const Entry &entry, int64_t batch, int64_t seq,
                      const std::vector<void *> &arguments, std::vector<void *> &outputs) {
  // The decoder segments of generation: many kernels per call, called once
  // per token, no host values read inside (a graph replays the host's
  // choices of its recording: scalar inputs would be frozen).
  if (!graphsWanted() || entry.name.rfind("gen_segment_", 0) != 0)
    return false;
  for (const json &input : entry.inputs)
    if (input.at("kind") == "i64" || input.at("kind") == "f32")
      return false;
  Graph &graph = graphs_[{entry.name, batch, seq}];
  const void *table = weights_.table().data();
  bool same = graph.handle && graph.arguments == arguments && graph.arena == arena_.data() &&
              graph.table == table;
  if (!same && (graph.refused || graph.calls++ == 0))
    return false; // the first call of a shape warms up (GEMM plans, scratch sizes)
  if (!same && ++graph.recordings > 4)
    graph.refused = true; // its buffers keep moving: recording would cost more than it saves
  if (graph.refused)
    return false;
  if (!same) {
    eert_graph_destroy(static_cast<int64_t>(graph.handle));
    graph.handle = 0;
    if (eert_graph_begin() != 0) {
      graph.refused = true;
      return false;
    }
    std::vector<void *> recorded(outputs.size());
    int32_t status;
    {
      BackendAccess access;
      status = entry.function(static_cast<const void *const *>(table), arena_.as<char>(), batch,
                              seq, arguments.data(), recorded.data());
    }
    uint64_t handle = 0;
    int32_t ended = eert_graph_end(&handle);
    // A failed recording ran nothing; any error it left (a copy or wait the
    // recording refused) is not this call's, which runs again unrecorded.
    int32_t refused = eert_backend_check();
    if (status != 0 || ended != 0 || refused != 0) {
      eert_graph_destroy(static_cast<int64_t>(handle));
      graph.refused = true;
      return false;
    }
    graph = {graph.calls, graph.recordings, false,         handle,
             arguments,   recorded,         arena_.data(), table};
  }
  if (eert_graph_launch(static_cast<int64_t>(graph.handle)) != 0)
    throw std::runtime_error(eert_last_error());
  outputs = graph.outputs;
  return true;
}

size_t edgeBytes(const json &record, int64_t tokens, bool output) {
  const std::string kind = record.at("kind").get<std::string>();
  if (kind == "tokens")
    return 4 * static_cast<size_t>(tokens);
  if (kind == "states")
    return 8 * static_cast<size_t>(tokens);
  if (kind == "activation")
    return 4 * static_cast<size_t>(tokens * record.at("features").get<int64_t>());
  if (kind == "tensor") {
    size_t elements = 1;
    for (int64_t d : record.at("shape").get<std::vector<int64_t>>())
      elements *= static_cast<size_t>(d);
    return 4 * elements;
  }
  if (kind == "f32")
    return output ? 4 : 0; // an f32 input is a host scalar
  return 0;                // i64 scalars, KV caches, the optimizer state
}

std::vector<void *> Runner::run(const Entry &entry, int64_t batch, int64_t seq,
                                const std::vector<void *> &inputs, const Placement &placement) {
  auto onBackend = [](const std::vector<bool> &where, size_t i) {
    return i < where.size() && where[i];
  };
  if (inputs.size() != entry.inputs.size())
    throw std::runtime_error("entry point '" + entry.name + "' takes " +
                             std::to_string(entry.inputs.size()) + " inputs");
  int64_t tokens = batch * seq;
  size_t needed = static_cast<size_t>(tokens * entry.perTokenBytes + entry.fixedBytes);
  if (arena_.bytes() < needed)
    arena_ = BackendBuffer(std::max(needed, arena_.bytes() + arena_.bytes() / 2));
  std::vector<void *> arguments = inputs;
  bool copy = !hostSharesBackendMemory();
  if (copy) {
    // The inputs into one staging buffer, 256-byte aligned each: the host's
    // copied in, those in backend memory copied there (so a step function
    // sees its inputs at the same addresses every call, as a graph needs).
    std::vector<size_t> offsets(inputs.size()), sizes(inputs.size());
    size_t total = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      sizes[i] = edgeBytes(entry.inputs[i], tokens, false);
      offsets[i] = total;
      total += (sizes[i] + 255) / 256 * 256;
    }
    if (staging_.bytes() < total)
      staging_ = BackendBuffer(total);
    for (size_t i = 0; i < inputs.size(); ++i)
      if (sizes[i] > 0 && inputs[i]) {
        void *staged = staging_.as<char>() + offsets[i];
        if (onBackend(placement.backendInputs, i))
          eert_memory_copy(staged, inputs[i], static_cast<int64_t>(sizes[i]));
        else
          staging_.upload(inputs[i], sizes[i], offsets[i]);
        arguments[i] = staged;
      }
  }
  std::vector<void *> outputs(entry.outputs.size());
  if (!runGraph(entry, batch, seq, arguments, outputs)) {
    int32_t status;
    {
      BackendAccess access;
      status = entry.function(weights_.table().data(), arena_.as<char>(), batch, seq,
                              arguments.data(), outputs.data());
    }
    if (status != 0)
      throw std::runtime_error(eert_last_error());
  }
  checkBackend();
  if (copy) {
    hostOutputs_.resize(outputs.size());
    for (size_t k = 0; k < outputs.size(); ++k) {
      size_t bytes = edgeBytes(entry.outputs[k], tokens, true);
      if (bytes == 0 || !outputs[k] || onBackend(placement.backendOutputs, k))
        continue;
      hostOutputs_[k].resize(bytes);
      eert_memory_to_host(hostOutputs_[k].data(), outputs[k], static_cast<int64_t>(bytes));
      outputs[k] = hostOutputs_[k].data();
    }
  }
  return outputs;
}

} // namespace eert
