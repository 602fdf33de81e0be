//===- PipelinePartition.cpp - ee-pipeline-partition: stages for training ===//
//
// Splits a model's layers into pipeline stages for 1F1B training with a cost
// model that counts exit heads (FLOPs, parameter bytes, activation bytes held
// in flight) and records the plan as the module attribute `ee.pipeline`.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/parallel/StagePartition.h"
#include "passes/model/ForwardStructure.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <map>
#include <set>

namespace mlir::ee {
#define GEN_PASS_DEF_EEPIPELINEPARTITIONPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

/// What one piece of the model (a layer, a head) costs its stage.
struct PieceCost {
  double flopsPerToken = 0;     // training: forward + backward
  double activationBytes = 0;   // saved for the backward, per micro-batch
  std::set<std::string> params; // the ee.parameter symbols it uses
};

/// One candidate stage's totals.
struct StageCost {
  double flops = 0, parameterBytes = 0, activationBytes = 0, memoryBytes = 0;
};

struct EEPipelinePartitionPass
    : ee::impl::EEPipelinePartitionPassBase<EEPipelinePartitionPass> {
  using EEPipelinePartitionPassBase::EEPipelinePartitionPassBase;
  void runOnOperation() override;
};

/// The parameter symbols whose names start with `prefix`.
std::set<std::string> parametersUnder(ModuleOp module, StringRef prefix) {
  std::set<std::string> names;
  for (auto param : module.getOps<ParameterOp>())
    if (param.getSymName().starts_with(prefix))
      names.insert(param.getSymName().str());
  return names;
}

void EEPipelinePartitionPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto config = module->getAttrOfType<ConfigAttr>(EEDialect::getConfigAttrName());
  auto forward = module.lookupSymbol<func::FuncOp>(function);
  if (!config || !forward || forward.isDeclaration()) {
    module.emitError() << "ee-pipeline-partition needs an ee.config and a function '" << function
                       << "'";
    return signalPassFailure();
  }
  if (module->hasAttr(EEDialect::getPipelineAttrName())) {
    module.emitError("ee-pipeline-partition: the module already has a pipeline plan");
    return signalPassFailure();
  }
  FailureOr<ForwardStructure> analyzed = analyzeForward(forward, "ee-pipeline-partition");
  if (failed(analyzed))
    return signalPassFailure();
  ForwardStructure &structure = *analyzed;
  int64_t numLayers = structure.layers.size();
  int64_t numStages = split.empty() ? static_cast<int64_t>(stages) : split.size();
  int64_t seq = seqLen > 0 ? static_cast<int64_t>(seqLen) : config.getMaxPositionEmbeddings();
  if (seq > config.getMaxPositionEmbeddings() || microBatch < 1 || microbatches < 0) {
    module.emitError() << "ee-pipeline-partition: needs 0 < seq-len <= "
                       << config.getMaxPositionEmbeddings()
                       << " (max_position_embeddings), micro-batch >= 1 and microbatches >= 0";
    return signalPassFailure();
  }
  int64_t inFlightLimit = microbatches > 0 ? static_cast<int64_t>(microbatches) : numStages;

  // Costs of every piece. Weight uses: a parameter of n elements costs 6n
  // training FLOPs per token (2 forward, 4 backward), except the embedding
  // table, which is only looked up.
  double hidden = config.getHiddenSize(), vocab = config.getVocabSize();
  double heads = config.getNumAttentionHeads(), tokens = static_cast<double>(seq) * microBatch;
  auto matmulFlops = [&](const std::set<std::string> &params) {
    double flops = 0;
    for (const std::string &name : params)
      flops += 6 * parameterCount(module, name);
    return flops;
  };
  SmallVector<PieceCost> layerCosts;
  for (DecoderLayerOp layer : structure.layers) {
    PieceCost cost;
    cost.params = parametersUnder(module, (layer.getPrefix() + ".").str());
    cost.flopsPerToken = matmulFlops(cost.params) + 12 * hidden * seq / 2;
    cost.activationBytes = 2 * tokens * hidden * (34 + 5 * heads * seq / hidden);
    layerCosts.push_back(std::move(cost));
  }
  auto headCost = [&](std::set<std::string> params) {
    PieceCost cost;
    cost.params = std::move(params);
    // A tied output head multiplies with the embedding table: that use counts.
    cost.flopsPerToken = matmulFlops(cost.params);
    cost.activationBytes = 8 * tokens * vocab;
    return cost;
  };
  SmallVector<PieceCost> exitCosts;
  for (auto &[exit, boundary] : structure.exits) {
    std::set<std::string> params = parametersUnder(module, exit.getWeightPrefix() + ".");
    params.insert(exit.getOutput().str());
    exitCosts.push_back(headCost(std::move(params)));
  }
  PieceCost finalCost = headCost({structure.finalHead.getNorm().str(),
                                  structure.finalHead.getOutput().str()});
  std::string table = structure.embedding.getTable().str();

  // Exits at boundary b sit with layer b - 1 (boundary 0: with stage 0).
  auto exitOnStage = [](int64_t boundary, int64_t begin, int64_t end) {
    return (boundary == 0 && begin == 0) || (boundary > begin && boundary <= end);
  };
  auto stageCost = [&](int64_t stage, int64_t begin, int64_t end) {
    StageCost cost;
    std::set<std::string> params;
    double activations = 0;
    auto add = [&](const PieceCost &piece) {
      cost.flops += piece.flopsPerToken;
      activations += piece.activationBytes;
      params.insert(piece.params.begin(), piece.params.end());
    };
    for (int64_t l = begin; l < end; ++l)
      add(layerCosts[l]);
    for (auto [index, exit] : llvm::enumerate(structure.exits))
      if (exitOnStage(exit.second, begin, end))
        add(exitCosts[index]);
    if (begin == 0)
      params.insert(table);
    if (end == numLayers)
      add(finalCost);
    for (const std::string &name : params)
      cost.parameterBytes += 16 * parameterCount(module, name);
    int64_t inFlight = std::min<int64_t>(numStages - stage, inFlightLimit);
    cost.activationBytes = activations * inFlight;
    cost.memoryBytes = cost.parameterBytes + cost.activationBytes;
    return cost;
  };

  // Stage s runs layers [cuts[s], cuts[s+1]): the fewest FLOPs on the
  // busiest stage, then the least memory on the fullest.
  FailureOr<SmallVector<int64_t>> partition = partitionStages(
      module, "ee-pipeline-partition", numLayers, numStages, split,
      [&](int64_t stage, int64_t begin, int64_t end) {
        StageCost cost = stageCost(stage, begin, end);
        return StageScore{cost.flops, cost.memoryBytes};
      },
      CombineTies::Max);
  if (failed(partition))
    return signalPassFailure();
  SmallVector<int64_t> cuts = std::move(*partition);

  Builder b(module.getContext());
  SmallVector<Attribute> stagePlans;
  SmallVector<StageCost> costs;
  double totalFlops = 0;
  for (int64_t s = 0; s < numStages; ++s) {
    costs.push_back(stageCost(s, cuts[s], cuts[s + 1]));
    totalFlops += costs.back().flops;
  }
  std::map<std::string, SmallVector<int64_t>> holders;
  for (int64_t s = 0; s < numStages; ++s) {
    int64_t begin = cuts[s], end = cuts[s + 1];
    SmallVector<int64_t> exitIndices;
    std::set<std::string> params;
    for (int64_t l = begin; l < end; ++l)
      params.insert(layerCosts[l].params.begin(), layerCosts[l].params.end());
    for (auto [index, exit] : llvm::enumerate(structure.exits)) {
      if (exitOnStage(exit.second, begin, end)) {
        exitIndices.push_back(exit.first.getIndex());
        params.insert(exitCosts[index].params.begin(), exitCosts[index].params.end());
      }
    }
    if (begin == 0)
      params.insert(table);
    if (end == numLayers)
      params.insert(finalCost.params.begin(), finalCost.params.end());
    for (const std::string &name : params)
      holders[name].push_back(s);
    const StageCost &cost = costs[s];
    stagePlans.push_back(PipelineStageAttr::get(
        b.getContext(), begin, end, exitIndices, begin == 0, end == numLayers, cost.flops,
        cost.parameterBytes, cost.activationBytes, {}, {}, {}, {}, {}, {}, {}));
    // The balance report.
    std::string exitsText;
    for (int64_t index : exitIndices)
      exitsText += (exitsText.empty() ? "" : ", ") + std::to_string(index);
    emitRemark(module.getLoc()) << llvm::formatv(
        "pipeline stage {0} of {1}: layers [{2}, {3}), exits [{4}]{5}{6}: {7:F1}% of the "
        "training FLOPs ({8:F2}x the mean), {9:F1} MiB of weights, gradients and AdamW state, "
        "{10:F1} MiB of activations held under 1F1B",
        s, numStages, begin, end, exitsText, begin == 0 ? ", embedding" : "",
        end == numLayers ? ", final head" : "", 100 * cost.flops / totalFlops,
        cost.flops * numStages / totalFlops, cost.parameterBytes / (1 << 20),
        cost.activationBytes / (1 << 20));
  }
  SmallVector<Attribute> tied;
  for (auto &[name, stagesHolding] : holders)
    if (stagesHolding.size() > 1)
      tied.push_back(TiedParameterAttr::get(b.getContext(), b.getStringAttr(name), stagesHolding));
  module->setAttr(EEDialect::getPipelineAttrName(),
                  PipelineAttr::get(b.getContext(), seq, microBatch, inFlightLimit,
                                    b.getArrayAttr(stagePlans), b.getArrayAttr(tied), {}));
}

} // namespace
