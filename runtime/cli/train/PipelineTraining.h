// PipelineTraining.h - one rank's pipeline stage in training: runs the
// compiled training step of its stage, and sums over the stages.
#ifndef EERT_CLI_PIPELINETRAINING_H
#define EERT_CLI_PIPELINETRAINING_H

#include "cli/model/Model.h"
#include "cli/train/Trace.h"

#include <functional>
#include <utility>
#include <vector>

namespace eert {

struct MicroBatch {
  std::vector<int32_t> ids, labels, positions;
};

/// What a backward pass (one stage) yields: one micro-batch's with one
/// stage, the whole step's with several.
struct StageGradients {
  /// In TrainingStage::parameters() order; valid until the next run.
  std::vector<const float *> gradients;
  /// The factor the gradients still need to be the step's share: the
  /// gradient scale with one stage, 1 for a pipeline step (it applied it).
  float weight = 1;
  /// This stage's terms of the objective (they add up to the loss over the
  /// stages), divided by `lossDivisor` to be the step's mean.
  float objective = 0;
  int64_t lossDivisor = 1;
  /// (slot, unweighted loss) of the heads on this stage: slot 0 is the final
  /// head, 1 + k exit k; divided by lossDivisor like the objective.
  std::vector<std::pair<int64_t, float>> heads;
};

/// The pipeline stage of this rank (its index in the pipeline group). With
/// one stage it runs the whole objective's backward function (loss_grad) per
/// micro-batch. With several it calls the stage's compiled step
/// (ee-pipeline-step): `stage<s>_train_step` runs the planned 1F1B order over
/// the step's micro-batches with every send, receive and wait of the
/// pipeline in it, and returns the stage's mean losses and its gradients
/// summed and scaled; `stage<s>_grad_step` does the same for one micro-batch.
class TrainingStage {
public:
  enum class Step { Train, Gradient, Update };

  /// Joins after the grid is built (DataParallel::join).
  TrainingStage(const Manifest &manifest, const Weights &weights);

  int64_t stage() const { return stage_; }
  int64_t stages() const { return stages_; }
  /// The parameters this stage differentiates and updates, by index.
  const std::vector<size_t> &parameters() const { return parameters_; }
  /// Whether this stage counts parameter `i` in global sums such as the
  /// gradient norm (the first of the stages holding it).
  bool owns(size_t i) const { return owner_[i] == stage_; }
  /// Throws unless a training step of `microbatches` micro-batches is the
  /// compiled plan's (always fine with one stage).
  void checkMicrobatches(int64_t microbatches) const;
  /// The partial micro-batches of bubble filling each training step runs after its whole ones.
  int64_t partialMicrobatches() const { return partial_; }
  /// The entry point a step of `step` runs on this stage.
  const Entry &entry(Step step) const {
    return step == Step::Train ? *train_ : step == Step::Gradient ? *grad_ : *update_;
  }

  /// Runs a step over `micro` (batch x seq tokens each: for Train the
  /// micro-batches, then the partial ones; for Gradient one); `consume`
  /// receives each backward pass's results (once per micro-batch with one
  /// stage, once with several). `gradScale` multiplies the gradients.
  void run(Step step, const std::vector<MicroBatch> &micro, int64_t batch, int64_t seq,
           int64_t iteration, float gradScale,
           const std::function<void(const StageGradients &)> &consume, MeasuredTrace &trace);

  /// Whether the binary has the compiled update step of every stage
  /// (ee-data-parallel): the gradient all-reduce, clipping and AdamW in it.
  bool hasUpdateStep() const { return update_ != nullptr; }

  /// What a compiled update step takes besides the micro-batches.
  struct Hyperparameters {
    float lr;
    int64_t step; // 1-based, for AdamW's bias correction
    float maxNorm, beta1, beta2, eps, weightDecay;
  };

  /// Runs a whole training step through the compiled update step: the
  /// step's backward passes, the data-parallel reduction, clipping and the
  /// AdamW update of this stage's parameters in place, with the moments of
  /// parameter i at optimizerState[3i] and [3i + 1] and a bf16 parameter's
  /// fp32 master at [3i + 2]. `consume` receives the
  /// losses as run() gives them (no gradients); returns the global gradient norm.
  float update(const std::vector<MicroBatch> &micro, int64_t batch, int64_t seq, int64_t iteration,
               float gradScale, const Hyperparameters &hyper,
               const std::vector<float *> &optimizerState,
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
  Runner runner_;
  int64_t stage_ = 0, stages_ = 1, partial_ = 0;
  /// Runs a pipeline stage's compiled step over `micro` with `extra` inputs
  /// after the iteration and the gradient scale, recording its spans.
  std::vector<void *> runPipelineStep(const Entry &entry, const std::vector<MicroBatch> &micro,
                                      int64_t batch, int64_t seq, int64_t iteration,
                                      float gradScale, const std::vector<void *> &extra,
                                      MeasuredTrace &trace);

  /// Runs `entry`; when tracing, records the spans its code marks and the
  /// all-reduces it starts.
  std::vector<void *> runTraced(const Entry &entry, int64_t batch, int64_t seq,
                                const std::vector<void *> &in, int64_t iteration,
                                MeasuredTrace &trace);

  const Entry *train_ = nullptr, *grad_ = nullptr, *update_ = nullptr;
  /// With one stage: the summed gradients of a step's earlier micro-batches.
  std::vector<std::vector<float>> accumulated_;
  std::vector<size_t> parameters_;
  std::vector<int64_t> owner_;
  std::vector<int64_t> headSlots_;
  std::vector<std::pair<size_t, std::vector<int64_t>>> tied_; // parameter, the stages holding it
};

} // namespace eert

#endif // EERT_CLI_PIPELINETRAINING_H
