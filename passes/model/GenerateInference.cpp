//===- GenerateInference.cpp - ee-generate-inference: early-exit decode steps ===//
//
// Splits the model-level forward function at its exits (and pipeline stage
// boundaries) into the step functions that early-exit generation runs, and
// records the plan that orders them as the module attribute `ee.inference`.
//
//===----------------------------------------------------------------------===//

#include "ee/EEOps.h"
#include "passes/model/ForwardStructure.h"
#include "passes/Passes.h"
#include "passes/parallel/StagePartition.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include <cmath>
#include <set>

namespace mlir::ee {
#define GEN_PASS_DEF_EEGENERATEINFERENCEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

/// Cost of running one token through each piece, counted in multiply-adds
/// (weights read): layers, and the heads that sit at each boundary.
struct CostModel {
  SmallVector<double> layer;    // per layer
  SmallVector<double> boundary; // per boundary 0..L: exit heads read there
  double finalHead = 0;
};

CostModel estimateCosts(ModuleOp module, const ForwardStructure &structure, ConfigAttr config) {
  CostModel cost;
  double head = static_cast<double>(config.getVocabSize()) * config.getHiddenSize();
  for (DecoderLayerOp layer : structure.layers)
    cost.layer.push_back(parameterCount(module, (layer.getPrefix() + ".").str()));
  cost.boundary.assign(structure.layers.size() + 1, 0.0);
  for (auto [exit, boundary] : structure.exits)
    cost.boundary[boundary] += head + parameterCount(module, exit.getWeightPrefix() + ".") -
                               (exit.getOutput().starts_with("exits.") ? head : 0.0);
  cost.finalHead = head;
  return cost;
}

struct EEGenerateInferencePass
    : ee::impl::EEGenerateInferencePassBase<EEGenerateInferencePass> {
  using EEGenerateInferencePassBase::EEGenerateInferencePassBase;

  void runOnOperation() override;

private:
  /// A step function (x, positions, rows, extra inputs...) -> results.
  func::FuncOp createFunction(ModuleOp module, StringRef name, Type input,
                              ArrayRef<Type> results, bool cached, ArrayRef<Type> extra = {}) {
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Type tokens = RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                                        b.getI32Type());
    SmallVector<Type> inputs{input, tokens, tokens};
    inputs.append(extra.begin(), extra.end());
    auto func = func::FuncOp::create(b, module.getLoc(), name,
                                     b.getFunctionType(inputs, results));
    func.addEntryBlock();
    // Argument 2 (the cache row of each token) indexes the KV caches.
    if (cached)
      func->setAttr(EEDialect::getKVCacheAttrName(), b.getI64IntegerAttr(2));
    return func;
  }
};

void EEGenerateInferencePass::runOnOperation() {
  ModuleOp module = getOperation();
  auto config = module->getAttrOfType<ConfigAttr>(EEDialect::getConfigAttrName());
  auto forward = module.lookupSymbol<func::FuncOp>(function);
  if (!config || !forward || forward.isDeclaration()) {
    module.emitError() << "ee-generate-inference needs an ee.config and a function '"
                       << function << "'";
    return signalPassFailure();
  }
  if (method != "recompute" && method != "pipeline") {
    module.emitError() << "ee-generate-inference: unknown method '" << method
                       << "' (expected recompute or pipeline)";
    return signalPassFailure();
  }
  if (module->hasAttr(EEDialect::getInferenceAttrName())) {
    module.emitError("ee-generate-inference: the module already has an inference plan");
    return signalPassFailure();
  }
  FailureOr<ForwardStructure> analyzed = analyzeForward(forward, "ee-generate-inference");
  if (failed(analyzed))
    return signalPassFailure();
  ForwardStructure &structure = *analyzed;
  int64_t numLayers = structure.layers.size();

  // Pipeline stages: an explicit split (layers per stage) or the cost model's.
  int64_t numStages = split.empty() ? static_cast<int64_t>(stages) : split.size();
  if (method == "pipeline" && numStages < 2) {
    module.emitError("ee-generate-inference: the pipeline method needs at least 2 stages");
    return signalPassFailure();
  }
  DenseSet<int64_t> exitBoundaries;
  for (auto &exit : structure.exits)
    exitBoundaries.insert(exit.second);
  // Stage s runs layers [cuts[s], cuts[s+1]): the fewest weights read on the
  // busiest stage, then the fewest cuts where no exit reads (a token exiting
  // at a cut frees its stage at once).
  CostModel cost = estimateCosts(module, structure, config);
  auto stageCost = [&](int64_t stage, int64_t begin, int64_t end) {
    double sum = 0;
    for (int64_t l = begin; l < end; ++l)
      sum += cost.layer[l];
    for (int64_t boundary = begin + (begin > 0 ? 1 : 0); boundary <= end; ++boundary)
      sum += cost.boundary[boundary];
    return sum + (stage == numStages - 1 ? cost.finalHead : 0.0);
  };
  FailureOr<SmallVector<int64_t>> partition = partitionStages(
      module, "ee-generate-inference", numLayers, numStages, split,
      [&](int64_t stage, int64_t begin, int64_t end) {
        bool last = stage == numStages - 1;
        return StageScore{stageCost(stage, begin, end),
                          !last && !exitBoundaries.contains(end) ? 1.0 : 0.0};
      },
      CombineTies::Sum);
  if (failed(partition))
    return signalPassFailure();
  SmallVector<int64_t> stageCuts = std::move(*partition);

  // Segments run layers between consecutive cuts: exit boundaries and stage
  // boundaries. An exit reading the embedding gets an embedding-only segment.
  std::set<int64_t> cutSet(stageCuts.begin(), stageCuts.end());
  for (int64_t boundary : exitBoundaries)
    cutSet.insert(boundary);
  SmallVector<std::pair<int64_t, int64_t>> segments;
  if (exitBoundaries.contains(0))
    segments.push_back({0, 0});
  for (auto it = cutSet.begin(); std::next(it) != cutSet.end(); ++it)
    segments.push_back({*it, *std::next(it)});
  if (segments.empty())
    segments.push_back({0, 0});
  auto stageOf = [&](int64_t begin, int64_t end) {
    int64_t layer = end > begin ? begin : std::max<int64_t>(end - 1, 0);
    return static_cast<int64_t>(llvm::upper_bound(stageCuts, layer) - stageCuts.begin()) - 1;
  };

  Builder b(module.getContext());
  Type hiddenType = structure.embedding.getResult().getType();
  Type logitsType = structure.finalHead.getResult().getType();
  auto perToken = [&](Type element) {
    return RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic}, element);
  };
  Type confidenceType = perToken(b.getF32Type()), idsType = perToken(b.getI32Type()),
       stateType = perToken(b.getI64Type());
  Type choiceType = RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic, 4},
                                          b.getF32Type());
  // Every head ends in its token choice: (choice, state) in; logits,
  // confidence, decision, token, log-probability and next state out.
  SmallVector<Type> headResults{logitsType, confidenceType, idsType,
                                idsType,    confidenceType, stateType};
  SmallVector<Type> headInputs{choiceType, stateType};
  auto chooseToken = [&](OpBuilder &builder, Location loc, Value logits, func::FuncOp head) {
    Value confidence = ExitConfidenceOp::create(builder, loc, confidenceType, logits);
    unsigned first = head.getNumArguments() - 2;
    auto decision = ExitDecisionOp::create(builder, loc, idsType, idsType, confidenceType,
                                           stateType, logits, confidence,
                                           head.getArgument(first), head.getArgument(first + 1));
    func::ReturnOp::create(builder, loc,
                           ValueRange{logits, confidence, decision.getDecision(),
                                      decision.getToken(), decision.getLogprob(),
                                      decision.getNextState()});
  };
  auto stringArray = [&](ArrayRef<std::string> names) {
    SmallVector<Attribute> attrs;
    for (const std::string &name : names)
      attrs.push_back(b.getStringAttr(name));
    return b.getArrayAttr(attrs);
  };

  SmallVector<Attribute> segmentPlans;
  for (auto [index, range] : llvm::enumerate(segments)) {
    auto [begin, end] = range;
    SmallVector<ExitOp> readers;
    for (auto &[exit, boundary] : structure.exits)
      if (boundary == end && (index == 0 || end > begin))
        readers.push_back(exit);
    SmallVector<Type> results(1 + readers.size(), hiddenType);
    std::string name = "gen_segment_" + std::to_string(index);
    func::FuncOp func =
        createFunction(module, name,
                       index == 0 ? structure.embedding.getIds().getType() : hiddenType, results,
                       /*cached=*/end > begin);
    OpBuilder builder = OpBuilder::atBlockBegin(&func.front());
    IRMapping mapping;
    Value x = func.getArgument(0), positions = func.getArgument(1);
    if (index == 0) {
      mapping.map(structure.embedding.getIds(), x);
      x = builder.clone(*structure.embedding, mapping)->getResult(0);
    }
    SmallVector<std::string> caches;
    DenseMap<Value, Value> residuals;
    for (int64_t l = begin; l < end; ++l) {
      DecoderLayerOp layer = structure.layers[l];
      auto clone = DecoderLayerOp::create(builder, layer.getLoc(), x, positions,
                                          layer.getPrefix(), layer.getLayer());
      residuals[layer.getResidual()] = clone.getResidual();
      residuals[layer.getOutput()] = clone.getOutput();
      x = clone.getOutput();
      caches.push_back(layer.getPrefix().str());
    }
    SmallVector<Value> returned{x};
    SmallVector<Attribute> exitIndices;
    for (ExitOp exit : readers) {
      returned.push_back(residuals.lookup_or(exit.getInput(), x));
      exitIndices.push_back(b.getI64IntegerAttr(exit.getIndex()));
    }
    func::ReturnOp::create(builder, func.getLoc(), returned);
    segmentPlans.push_back(InferenceSegmentAttr::get(b.getContext(), b.getStringAttr(name), begin,
                                                     end, stageOf(begin, end), stringArray(caches),
                                                     b.getArrayAttr(exitIndices)));
  }

  SmallVector<Attribute> exitPlans;
  for (auto &[exit, boundary] : structure.exits) {
    bool block = exit.getBranch() == ExitBranch::Block;
    std::string name = "gen_exit_" + std::to_string(exit.getIndex());
    func::FuncOp head =
        createFunction(module, name, hiddenType, headResults, block, headInputs);
    OpBuilder builder = OpBuilder::atBlockBegin(&head.front());
    IRMapping mapping;
    mapping.map(exit.getInput(), head.getArgument(0));
    if (exit.getPositions())
      mapping.map(exit.getPositions(), head.getArgument(1));
    chooseToken(builder, exit.getLoc(), builder.clone(*exit, mapping)->getResult(0), head);

    StringAttr kvFunction;
    if (block) {
      // Tokens that pass the exit without evaluating it (recomputed entries, or
      // tokens that already exited) still fill the exit block's KV cache.
      std::string kvName = name + "_kv";
      func::FuncOp fill = createFunction(module, kvName, hiddenType, {hiddenType}, true);
      OpBuilder fillBuilder = OpBuilder::atBlockBegin(&fill.front());
      auto layer = DecoderLayerOp::create(fillBuilder, exit.getLoc(), fill.getArgument(0),
                                          fill.getArgument(1), exit.getWeightPrefix() + ".block",
                                          exit.getLayerSpec());
      func::ReturnOp::create(fillBuilder, fill.getLoc(), layer.getOutput());
      kvFunction = b.getStringAttr(kvName);
    }
    exitPlans.push_back(InferenceExitAttr::get(
        b.getContext(), exit.getIndex(), exit.getLayer(), boundary, b.getStringAttr(name),
        stringArray(block ? SmallVector<std::string>{exit.getWeightPrefix() + ".block"}
                          : SmallVector<std::string>{}),
        kvFunction));
  }

  func::FuncOp final =
      createFunction(module, "gen_final", hiddenType, headResults, false, headInputs);
  {
    OpBuilder builder = OpBuilder::atBlockBegin(&final.front());
    IRMapping mapping;
    mapping.map(structure.finalHead.getInput(), final.getArgument(0));
    chooseToken(builder, final.getLoc(),
                builder.clone(*structure.finalHead, mapping)->getResult(0), final);
  }

  SmallVector<Attribute> stagePlans;
  for (int64_t s = 0; s < numStages; ++s)
    stagePlans.push_back(InferenceStageAttr::get(
        b.getContext(), stageCuts[s], stageCuts[s + 1],
        b.getF64FloatAttr(stageCost(s, stageCuts[s], stageCuts[s + 1]))));
  module->setAttr(EEDialect::getInferenceAttrName(),
                  InferenceAttr::get(b.getContext(), b.getStringAttr(method), numLayers,
                                     b.getArrayAttr(segmentPlans), b.getArrayAttr(exitPlans),
                                     b.getStringAttr("gen_final"), b.getArrayAttr(stagePlans)));
}

} // namespace
