// PipelineTraining.cpp - one rank's pipeline stage in training: the compiled
// training step of its stage, and sums over the stages.
#include "cli/train/PipelineTraining.h"
#include "eert/eert.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

using json = nlohmann::json;

namespace eert {

namespace {

// Runtime groups (abi.def).
constexpr int64_t kPipelineGroup = 2;
// The runtime's spans of the collectives a step starts (abi.def: -1, -2, -3).
constexpr const char *kCollectiveSpans[] = {"gradient all-reduce", "gradient reduce-scatter",
                                            "parameter all-gather"};

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
    : manifest_(manifest), runner_(manifest, weights) {
  stages_ = manifest.pipelineStages();
  owner_.assign(manifest.parameters.size(), -1);
  if (stages_ == 1) {
    train_ = grad_ = &requireEntry(manifest, "loss_grad");
    update_ = manifest.entry("update_step");
    for (size_t i = 0; i < manifest.parameters.size(); ++i) {
      parameters_.push_back(i);
      owner_[i] = 0;
    }
    for (int64_t slot = 0; slot <= manifest.numExits(); ++slot)
      headSlots_.push_back(slot);
    return;
  }
  stage_ = eert_comm_group_rank(kPipelineGroup);
  const json &plans = manifest.pipeline["stages"];
  std::vector<std::vector<int64_t>> holders(manifest.parameters.size());
  for (int64_t s = 0; s < stages_; ++s) {
    const Entry &train = requireEntry(manifest, plans[s].value("train_step", ""));
    for (const std::string &name : train.gradients) {
      size_t i = manifest.parameterIndex(name);
      holders[i].push_back(s);
      if (s == stage_)
        parameters_.push_back(i);
    }
    if (s == stage_) {
      train_ = &train;
      grad_ = &requireEntry(manifest, plans[s].value("grad_step", ""));
      update_ = manifest.entry(plans[s].value("update_step", ""));
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
  partial_ = manifest.pipeline.value("filled_microbatches", int64_t(0));
  // (ids, positions, labels) per micro-batch, the iteration and the gradient scale.
  int64_t planned = manifest.pipeline["microbatches"].get<int64_t>();
  if (static_cast<int64_t>(train_->inputs.size()) != 3 * (planned + partial_) + 2 ||
      grad_->inputs.size() != 5)
    throw std::runtime_error("the binary's pipeline step functions do not take the plan's micro-batches");
}

void TrainingStage::checkMicrobatches(int64_t microbatches) const {
  if (stages_ == 1)
    return;
  int64_t planned = manifest_.pipeline["microbatches"].get<int64_t>();
  if (microbatches != planned)
    throw std::runtime_error(
        "the binary's 1F1B schedule is for " + std::to_string(planned) +
        " micro-batches per step, but --global-batch / (--micro-batch x data-parallel size) gives " +
        std::to_string(microbatches) + " (recompile with ee-compile --microbatches " +
        std::to_string(microbatches) + ")");
}

void TrainingStage::run(Step step, const std::vector<MicroBatch> &micro, int64_t batch, int64_t seq,
                        int64_t iteration, float gradScale,
                        const std::function<void(const StageGradients &)> &consume,
                        MeasuredTrace &trace) {
  size_t numGradients = parameters_.size(), numHeads = headSlots_.size();
  auto inputsOf = [](const MicroBatch &data) {
    return std::vector<void *>{const_cast<int32_t *>(data.ids.data()),
                               const_cast<int32_t *>(data.positions.data()),
                               const_cast<int32_t *>(data.labels.data())};
  };
  StageGradients result;
  if (stages_ == 1) {
    // The whole objective: (loss, gradients, heads) per micro-batch.
    for (size_t m = 0; m < micro.size(); ++m) {
      double begin = MeasuredTrace::now();
      std::vector<void *> in = inputsOf(micro[m]);
      in.push_back(&iteration);
      std::vector<void *> out = runner_.run(*train_, batch, seq, in);
      result.gradients.clear();
      for (size_t k = 0; k < numGradients; ++k)
        result.gradients.push_back(static_cast<const float *>(out[1 + k]));
      result.weight = gradScale;
      result.objective = *static_cast<float *>(out[0]);
      result.lossDivisor = static_cast<int64_t>(micro.size());
      result.heads.clear();
      for (size_t k = 0; k < numHeads; ++k)
        result.heads.push_back({headSlots_[k], *static_cast<float *>(out[1 + numGradients + k])});
      consume(result);
      trace.span("forward+backward " + std::to_string(m), "backward", begin,
                 {{"iteration", iteration + 1}, {"stage", 0}});
    }
    return;
  }
  std::vector<void *> out = runPipelineStep(entry(step), micro, batch, seq, iteration, gradScale, {}, trace);
  // (objective_s, heads..., gradients...): means over the whole micro-batches, summed gradients.
  result.objective = *static_cast<float *>(out[0]);
  for (size_t k = 0; k < numHeads; ++k)
    result.heads.push_back({headSlots_[k], *static_cast<float *>(out[1 + k])});
  for (size_t k = 0; k < numGradients; ++k)
    result.gradients.push_back(static_cast<const float *>(out[1 + numHeads + k]));
  consume(result);
}

std::vector<void *> TrainingStage::runPipelineStep(const Entry &entry,
                                                   const std::vector<MicroBatch> &micro,
                                                   int64_t batch, int64_t seq, int64_t iteration,
                                                   float gradScale, const std::vector<void *> &extra,
                                                   MeasuredTrace &trace) {
  std::vector<void *> in;
  for (const MicroBatch &data : micro)
    for (const std::vector<int32_t> *tokens : {&data.ids, &data.positions, &data.labels})
      in.push_back(const_cast<int32_t *>(tokens->data()));
  in.push_back(&iteration);
  in.push_back(&gradScale);
  in.insert(in.end(), extra.begin(), extra.end());
  return runTraced(entry, batch, seq, in, iteration, trace);
}

std::vector<void *> TrainingStage::runTraced(const Entry &entry, int64_t batch, int64_t seq,
                                             const std::vector<void *> &in, int64_t iteration,
                                             MeasuredTrace &trace) {
  if (!trace.enabled())
    return runner_.run(entry, batch, seq, in);
  eert_trace_clear();
  eert_trace_enable(1);
  std::vector<void *> out = runner_.run(entry, batch, seq, in);
  eert_trace_enable(0);
  // The passes of the compiled order as the step marked them, and the
  // all-reduces it started, from start to wait.
  for (int32_t i = 0, n = eert_trace_count(); i < n; ++i) {
    uint64_t span = 0, begin = 0, end = 0;
    check(eert_trace_span(i, &span, &begin, &end), "trace");
    json args = {{"iteration", iteration + 1}, {"stage", stage_}};
    if (int64_t runtimeSpan = -static_cast<int64_t>(span); runtimeSpan >= 1 && runtimeSpan <= 3) {
      trace.span(kCollectiveSpans[runtimeSpan - 1], "communication", begin / 1e3, end / 1e3, args,
                 /*overlapping=*/true);
      continue;
    }
    const json &about = entry.spans.at(span);
    trace.span(about["name"].get<std::string>(), about["category"].get<std::string>().c_str(),
               begin / 1e3, end / 1e3, args);
  }
  eert_trace_clear();
  return out;
}

float TrainingStage::update(const std::vector<MicroBatch> &micro, int64_t batch, int64_t seq,
                            int64_t iteration, float gradScale, const Hyperparameters &hyper,
                            const std::vector<float *> &optimizerState,
                            const std::function<void(const StageGradients &)> &consume,
                            MeasuredTrace &trace) {
  if (!update_)
    throw std::runtime_error("the binary has no compiled update step (ee-data-parallel)");
  Hyperparameters h = hyper; // the step reads its scalars through pointers
  std::vector<void *> tail{&h.lr, &h.step, &h.maxNorm, &h.beta1, &h.beta2, &h.eps, &h.weightDecay,
                           const_cast<float **>(optimizerState.data())};
  size_t numHeads = headSlots_.size();
  StageGradients result;
  if (stages_ > 1) {
    std::vector<void *> out = runPipelineStep(*update_, micro, batch, seq, iteration, gradScale, tail, trace);
    // (objective_s, heads..., grad_norm).
    result.objective = *static_cast<float *>(out[0]);
    for (size_t k = 0; k < numHeads; ++k)
      result.heads.push_back({headSlots_[k], *static_cast<float *>(out[1 + k])});
    consume(result);
    return *static_cast<float *>(out[1 + numHeads]);
  }
  // One stage: loss_grad on the earlier micro-batches, their gradients summed
  // here (zeros with one micro-batch), then the update step on the last.
  size_t numGradients = parameters_.size();
  if (accumulated_.empty())
    for (size_t i : parameters_)
      accumulated_.emplace_back(manifest_.parameters[i].elements(), 0.0f);
  auto headsFrom = [&](const std::vector<void *> &out, size_t at) {
    result.heads.clear();
    for (size_t k = 0; k < numHeads; ++k)
      result.heads.push_back({headSlots_[k], *static_cast<float *>(out[at + k])});
  };
  result.lossDivisor = static_cast<int64_t>(micro.size());
  for (size_t m = 0; m < micro.size(); ++m) {
    double begin = MeasuredTrace::now();
    const MicroBatch &data = micro[m];
    std::vector<void *> in{const_cast<int32_t *>(data.ids.data()), const_cast<int32_t *>(data.positions.data()),
                           const_cast<int32_t *>(data.labels.data()), &iteration};
    bool last = m + 1 == micro.size();
    if (!last) {
      // (loss, gradients..., heads...).
      std::vector<void *> out = runner_.run(*train_, batch, seq, in);
      for (size_t k = 0; k < numGradients; ++k) {
        auto *g = static_cast<const float *>(out[1 + k]);
        float *sum = accumulated_[k].data();
        int64_t n = static_cast<int64_t>(accumulated_[k].size());
        if (m == 0)
          std::memcpy(sum, g, n * sizeof(float));
        else
          for (int64_t j = 0; j < n; ++j)
            sum[j] += g[j];
      }
      result.objective = *static_cast<float *>(out[0]);
      headsFrom(out, 1 + numGradients);
      consume(result);
      trace.span("forward+backward " + std::to_string(m), "backward", begin,
                 {{"iteration", iteration + 1}, {"stage", 0}});
      continue;
    }
    in.push_back(&gradScale);
    for (std::vector<float> &sum : accumulated_)
      in.push_back(sum.data());
    in.insert(in.end(), tail.begin(), tail.end());
    // (loss, heads..., grad_norm); the step marks its forward+backward and optimizer spans.
    std::vector<void *> out = runTraced(*update_, batch, seq, in, iteration, trace);
    result.objective = *static_cast<float *>(out[0]);
    headsFrom(out, 1);
    consume(result);
    // The next step's first micro-batch overwrites the sum; with one
    // micro-batch it stays zeros.
    return *static_cast<float *>(out[1 + numHeads]);
  }
  throw std::runtime_error("a training step needs at least one micro-batch");
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
