// PipelineTraining.cpp - one rank's pipeline stage in training: the compiled
// 1F1B schedule over a step's micro-batches, and sums over the stages.
#include "cli/PipelineTraining.h"
#include "eert/eert.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

using json = nlohmann::json;

namespace eert {

namespace {

// Runtime groups (abi.def) and the tags of the pipeline's messages.
constexpr int64_t kTensorGroup = 1, kPipelineGroup = 2, kDataGroup = 3;
constexpr int64_t kActivationTag = 41, kGradientTag = 42;

void check(int32_t status, const char *what) {
  if (status)
    throw std::runtime_error(std::string("pipeline ") + what + " failed: " + eert_last_error());
}

const Entry &requireEntry(const Manifest &manifest, const std::string &name) {
  const Entry *entry = manifest.entry(name);
  if (!entry)
    throw std::runtime_error("the binary has no '" + name + "' entry point");
  return *entry;
}

} // namespace

TrainingStage::TrainingStage(const Manifest &manifest, const Weights &weights)
    : manifest_(manifest), weights_(weights), runner_(manifest, weights) {
  stages_ = manifest.pipelineStages();
  hidden_ = manifest.config["hidden_size"].get<int64_t>();
  owner_.assign(manifest.parameters.size(), -1);
  if (stages_ == 1) {
    backward_ = &requireEntry(manifest, "loss_grad");
    for (size_t i = 0; i < manifest.parameters.size(); ++i) {
      parameters_.push_back(i);
      owner_[i] = 0;
    }
    for (int64_t slot = 0; slot <= manifest.numExits(); ++slot)
      headSlots_.push_back(slot);
    return;
  }
  stage_ = eert_comm_group_rank(kPipelineGroup);
  // The same tensor- and data-parallel rank on the neighbouring stages.
  int64_t stride = eert_comm_group_size(kTensorGroup) * eert_comm_group_size(kDataGroup);
  int64_t rank = eert_comm_rank();
  previous_ = stage_ > 0 ? rank - stride : -1;
  next_ = stage_ + 1 < stages_ ? rank + stride : -1;
  const json &plans = manifest.pipeline["stages"];
  std::vector<std::vector<int64_t>> holders(manifest.parameters.size());
  for (int64_t s = 0; s < stages_; ++s) {
    const Entry &backward = requireEntry(manifest, plans[s].value("backward_function", ""));
    for (const std::string &name : backward.gradients) {
      size_t i = manifest.parameterIndex(name);
      holders[i].push_back(s);
      if (s == stage_)
        parameters_.push_back(i);
    }
    if (s == stage_) {
      backward_ = &backward;
      if (plans[s].contains("forward_function"))
        forward_ = &requireEntry(manifest, plans[s]["forward_function"]);
      headSlots_ = plans[s]["heads"].get<std::vector<int64_t>>();
    }
  }
  for (size_t i = 0; i < holders.size(); ++i) {
    if (holders[i].empty())
      throw std::runtime_error("no pipeline stage differentiates '" + manifest.parameters[i].name + "'");
    owner_[i] = holders[i].front();
    if (holders[i].size() > 1)
      tied_.push_back({i, holders[i]});
  }
  if (stage_ + 1 < stages_ && !forward_)
    throw std::runtime_error("pipeline stage " + std::to_string(stage_) + " has no forward function");
  // Partial micro-batches (lower case, numbered after the plan's micro-batches)
  // run down to the deepest stage whose order lists them.
  int64_t planned = manifest.pipeline["microbatches"].get<int64_t>();
  for (int64_t s = 0; s < stages_; ++s)
    for (const json &pass : manifest.pipeline["schedule"][s]) {
      std::string text = pass;
      if (text[0] != 'f')
        continue;
      size_t m = std::stoll(text.substr(1)) - planned;
      if (partialDepth_.size() <= m)
        partialDepth_.resize(m + 1, -1);
      partialDepth_[m] = std::max(partialDepth_[m], s);
    }
  for (int64_t depth : partialDepth_)
    if (depth < 0 || depth + 1 == stages_)
      throw std::runtime_error("the binary's bubble filling plans a partial micro-batch "
                               "through the last stage, which this runtime does not run");
}

std::vector<std::pair<char, int64_t>> TrainingStage::schedule(int64_t microbatches,
                                                               bool partial) const {
  std::vector<std::pair<char, int64_t>> order;
  int64_t planned = stages_ > 1 ? manifest_.pipeline["microbatches"].get<int64_t>() : microbatches;
  if (stages_ == 1 || (microbatches == 1 && (planned != 1 || !partial))) {
    for (int64_t m = 0; m < microbatches; ++m) {
      order.push_back({'F', m});
      order.push_back({'B', m});
    }
    return order;
  }
  if (microbatches != planned)
    throw std::runtime_error(
        "the binary's 1F1B schedule is for " + std::to_string(planned) +
        " micro-batches per step, but --global-batch / (--micro-batch x data-parallel size) gives " +
        std::to_string(microbatches) + " (recompile with ee-compile --microbatches " +
        std::to_string(microbatches) + ")");
  for (const json &pass : manifest_.pipeline["schedule"][stage_]) {
    std::string text = pass;
    if (partial || text[0] == 'F' || text[0] == 'B')
      order.push_back({text[0], std::stoll(text.substr(1))});
  }
  return order;
}

void TrainingStage::run(const std::vector<std::pair<char, int64_t>> &order,
                        const std::vector<MicroBatch> &micro, int64_t batch, int64_t seq,
                        int64_t iteration, const std::function<void(const StageGradients &)> &consume,
                        MeasuredTrace &trace) {
  bool first = stage_ == 0, last = stage_ + 1 == stages_;
  int64_t count = batch * seq * hidden_, numMicro = static_cast<int64_t>(micro.size());
  for (auto *buffers : {&inputs_, &sentOutputs_, &sentGradients_})
    buffers->resize(numMicro);
  inFlight_.resize(numMicro);
  forwardOutputs_.resize(numMicro);
  forwardLosses_.resize(numMicro);
  size_t numHeads = headSlots_.size();
  requests_.assign(2 * numMicro, 0);
  auto input = [&](int64_t m) -> void * {
    if (first)
      return const_cast<int32_t *>(micro[m].ids.data());
    return inputs_[m].data();
  };
  // Sends out of `buffer` (a copy of `data`) without waiting.
  auto send = [&](std::vector<float> &buffer, const void *data, int64_t peer, int64_t tag,
                  uint64_t &request) {
    check(eert_comm_wait(&request), "send");
    buffer.assign(static_cast<const float *>(data), static_cast<const float *>(data) + count);
    check(eert_comm_isend(buffer.data(), count * sizeof(float), peer, tag, &request), "send");
  };
  size_t numGradients = parameters_.size();
  int64_t regular = numMicro - static_cast<int64_t>(partialDepth_.size());
  for (auto [kind, m] : order) {
    if (m < 0 || m >= numMicro)
      throw std::runtime_error("the pipeline schedule names micro-batch " + std::to_string(m) +
                               " of " + std::to_string(numMicro));
    double begin = MeasuredTrace::now();
    const MicroBatch &data = micro[m];
    bool partial = kind == 'f' || kind == 'b';
    // The deepest stage this micro-batch reaches: its output goes nowhere and
    // its output's gradient is zero (only its exit losses are back-propagated).
    bool deepest = last || (partial && partialDepth_[m - regular] == stage_);
    std::string name = std::string(1, kind) + std::to_string(m);
    if (kind == 'F' || kind == 'f') {
      if (stages_ == 1)
        continue; // the backward function runs the forward pass
      if (!first) {
        inputs_[m].resize(count);
        check(eert_comm_recv(inputs_[m].data(), count * sizeof(float), previous_, kActivationTag, nullptr),
              "receive");
      }
      if (!last) {
        // The forward part keeps its activations in its own arena until B m.
        if (spare_.empty())
          spare_.push_back(std::make_unique<Runner>(manifest_, weights_));
        inFlight_[m] = std::move(spare_.back());
        spare_.pop_back();
        std::vector<void *> &out = forwardOutputs_[m];
        out = inFlight_[m]->run(*forward_, batch, seq,
                                {input(m), const_cast<int32_t *>(data.positions.data()),
                                 const_cast<int32_t *>(data.labels.data()), &iteration});
        // (objective, heads, y_s, saved activations...)
        forwardLosses_[m].clear();
        for (size_t k = 0; k <= numHeads; ++k)
          forwardLosses_[m].push_back(*static_cast<float *>(out[k]));
        if (!deepest)
          send(sentOutputs_[m], out[1 + numHeads], next_, kActivationTag, requests_[2 * m]);
      }
      trace.span(name, partial ? "partial forward" : "forward", begin,
                 {{"iteration", iteration + 1}, {"stage", stage_}});
      continue;
    }
    std::vector<void *> in = {input(m), const_cast<int32_t *>(data.positions.data()),
                              const_cast<int32_t *>(data.labels.data()), &iteration};
    if (!last) {
      if (!inFlight_[m])
        throw std::runtime_error("the pipeline schedule runs B" + std::to_string(m) + " before F" +
                                 std::to_string(m));
      outputGradient_.assign(count, 0.0f);
      if (!deepest)
        check(eert_comm_recv(outputGradient_.data(), count * sizeof(float), next_, kGradientTag, nullptr),
              "receive");
      in.push_back(outputGradient_.data());
      const std::vector<void *> &saved = forwardOutputs_[m];
      in.insert(in.end(), saved.begin() + 2 + numHeads, saved.end());
    }
    std::vector<void *> out = runner_.run(*backward_, batch, seq, in);
    if (!last) { // its activations are read: the arena is free again
      spare_.push_back(std::move(inFlight_[m]));
    }
    if (!first)
      send(sentGradients_[m], out[1 + numGradients], previous_, kGradientTag, requests_[2 * m + 1]);
    StageGradients result;
    result.micro = m;
    result.partial = partial;
    for (size_t k = 0; k < numGradients; ++k)
      result.gradients.push_back(static_cast<const float *>(out[1 + k]));
    // The backward part: (L_aux, gradients, input gradient), the losses came
    // from the forward part; the last stage: (L_aux, gradients, [input
    // gradient], objective, heads); the whole objective: (loss, gradients, heads).
    std::vector<float> losses; // the objective, then the heads
    if (!last) {
      losses = forwardLosses_[m];
    } else {
      size_t at = 1 + numGradients + (first ? 0 : 1);
      losses.push_back(*static_cast<float *>(out[stages_ == 1 ? 0 : at++]));
      for (size_t k = 0; k < numHeads; ++k)
        losses.push_back(*static_cast<float *>(out[at + k]));
    }
    result.objective = losses[0];
    for (size_t k = 0; k < numHeads; ++k)
      result.heads.push_back({headSlots_[k], losses[1 + k]});
    consume(result);
    trace.span(stages_ == 1 ? "forward+backward " + std::to_string(m) : name,
               partial ? "partial backward" : "backward", begin,
               {{"iteration", iteration + 1}, {"stage", stage_}});
  }
  for (uint64_t &request : requests_)
    check(eert_comm_wait(&request), "send");
}

void TrainingStage::sumTied(const std::function<float *(size_t)> &gradient) const {
  for (const auto &[i, holders] : tied_) {
    int64_t count = manifest_.parameters[i].elements();
    bool holds = std::find(holders.begin(), holders.end(), stage_) != holders.end();
    // Every stage takes part; those not holding the parameter add zeros.
    std::vector<float> zeros(holds ? 0 : count, 0.0f);
    sum(holds ? gradient(i) : zeros.data(), count);
  }
}

void TrainingStage::sum(float *data, int64_t count) const {
  if (stages_ > 1)
    check(eert_comm_all_reduce(data, count, kPipelineGroup), "all-reduce");
}

void TrainingStage::fromOwner(size_t i, float *data, int64_t count) const {
  if (stages_ > 1)
    check(eert_comm_broadcast(data, count * sizeof(float), owner_[i], kPipelineGroup), "broadcast");
}

} // namespace eert
