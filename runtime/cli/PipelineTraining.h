// PipelineTraining.h - one rank's pipeline stage in training: the compiled
// 1F1B schedule over a step's micro-batches, and sums over the stages.
#ifndef EERT_CLI_PIPELINETRAINING_H
#define EERT_CLI_PIPELINETRAINING_H

#include "cli/Model.h"
#include "cli/Trace.h"

#include <functional>
#include <utility>
#include <vector>

namespace eert {

struct MicroBatch {
  std::vector<int32_t> ids, labels, positions;
};

/// What the backward pass of one micro-batch yields on this stage.
struct StageGradients {
  int64_t micro = 0;
  /// A partial micro-batch of bubble filling (exit losses only).
  bool partial = false;
  /// In TrainingStage::parameters() order; valid until the next pass runs.
  std::vector<const float *> gradients;
  /// This stage's terms of the objective (they add up to the loss over the stages).
  float objective = 0;
  /// (slot, unweighted loss) of the heads on this stage: slot 0 is the final
  /// head, 1 + k exit k.
  std::vector<std::pair<int64_t, float>> heads;
};

/// The pipeline stage of this rank (its index in the pipeline group). With
/// one stage it runs the whole objective's backward function (loss_grad);
/// with several, the stage functions of ee-exit-gradients: `F m` receives
/// micro-batch m's activations from the previous stage (the first embeds
/// token ids), runs the forward part of the stage's surrogate loss
/// (`stage<s>_loss_fwd`, in an arena of its own that keeps the activations
/// the backward pass reads) and sends its output on; `B m` receives the
/// output's gradient from the next stage, runs the backward part
/// (`stage<s>_loss_bwd`) on those activations and sends the input's gradient
/// back. The last stage runs both at `B m` (`stage<s>_loss_grad`). Sends do
/// not wait, as ee-pipeline-schedule assumed when it checked the order for
/// deadlocks.
class TrainingStage {
public:
  /// Joins after the grid is built (DataParallel::join).
  TrainingStage(const Manifest &manifest, const Weights &weights);

  int64_t stage() const { return stage_; }
  int64_t stages() const { return stages_; }
  /// The parameters this stage differentiates and updates, by index.
  const std::vector<size_t> &parameters() const { return parameters_; }
  /// Whether this stage counts parameter `i` in global sums such as the
  /// gradient norm (the first of the stages holding it).
  bool owns(size_t i) const { return owner_[i] == stage_; }

  /// The order of passes over `microbatches` micro-batches: the compiled 1F1B
  /// plan, with the partial micro-batches that fill its bubbles when
  /// `partial` (its micro-batch count must match; for one micro-batch, unless
  /// the plan is for one, forward down the stages and back). Throws naming
  /// the mismatch. Passes `F`/`B` of micro-batch m < microbatches, and `f`/`b`
  /// of partial micro-batch m >= microbatches.
  std::vector<std::pair<char, int64_t>> schedule(int64_t microbatches, bool partial) const;
  /// Partial micro-batches of bubble filling in schedule(microbatches, true).
  int64_t partialMicrobatches(int64_t microbatches) const {
    bool compiled = stages_ > 1 && manifest_.pipeline["microbatches"] == microbatches;
    return compiled ? static_cast<int64_t>(partialDepth_.size()) : 0;
  }

  /// Runs `order` over `micro` (batch x seq tokens each: the micro-batches,
  /// then the partial ones); `consume` receives each backward pass's results
  /// as they come. A partial micro-batch runs up to its deepest stage, which
  /// back-propagates only its exit losses (g = 0).
  void run(const std::vector<std::pair<char, int64_t>> &order, const std::vector<MicroBatch> &micro,
           int64_t batch, int64_t seq, int64_t iteration,
           const std::function<void(const StageGradients &)> &consume, MeasuredTrace &trace);

  /// Sums the gradients of parameters held by several stages (a tied
  /// embedding and output heads) over those stages; `gradient(i)` is this
  /// stage's gradient of parameter i (of its own parameters()).
  void sumTied(const std::function<float *(size_t)> &gradient) const;
  /// In place: the sum of `count` floats over the stages.
  void sum(float *data, int64_t count) const;
  /// Parameter i's values (`count` floats of `data`) from its owner stage to
  /// every stage.
  void fromOwner(size_t i, float *data, int64_t count) const;

private:
  const Manifest &manifest_;
  const Weights &weights_;
  Runner runner_;
  // Arenas of the forward parts of the micro-batches in flight, and spares.
  std::vector<std::unique_ptr<Runner>> inFlight_, spare_;
  // Per micro-batch: the forward part's outputs, and its losses.
  std::vector<std::vector<void *>> forwardOutputs_;
  std::vector<std::vector<float>> forwardLosses_;
  int64_t stage_ = 0, stages_ = 1, previous_ = -1, next_ = -1, hidden_ = 0;
  const Entry *forward_ = nullptr, *backward_ = nullptr;
  std::vector<size_t> parameters_;
  std::vector<int64_t> owner_;
  std::vector<int64_t> headSlots_;
  std::vector<std::pair<size_t, std::vector<int64_t>>> tied_; // parameter, the stages holding it
  // Per micro-batch: the received input, and the buffers of sends in flight.
  std::vector<std::vector<float>> inputs_, sentOutputs_, sentGradients_;
  std::vector<uint64_t> requests_;
  std::vector<float> outputGradient_;
  /// The deepest stage of each partial micro-batch, by index after the
  /// regular ones.
  std::vector<int64_t> partialDepth_;
};

} // namespace eert

#endif // EERT_CLI_PIPELINETRAINING_H
