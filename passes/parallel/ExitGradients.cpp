//===- ExitGradients.cpp - ee-exit-gradients: each pipeline stage's objective ===//
//
// Splits the model-level forward and loss functions along the stages of the
// pipeline plan (ee-pipeline-partition): per stage a forward step sending its
// output on, and the surrogate loss L_aux_s = sum of its exit losses (plus
// L_final on the last stage) + <y_s, g_s>, marked for ee-autodiff. Back-
// propagating L_aux_s with g_s (the gradient the next stage sends back) held
// constant gives the stage's share of the global objective's gradients, so
// pipeline training needs no communication beyond activations and their
// gradients (EE-LLM).
//
//===----------------------------------------------------------------------===//

#include "ee/EEOps.h"
#include "passes/model/ForwardStructure.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::ee {
#define GEN_PASS_DEF_EEEXITGRADIENTSPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

/// One stage's slice of the model, read from the plan.
struct StagePlan {
  int64_t begin, end;
  llvm::SmallDenseSet<int64_t> exits;
  bool first, last;
};

struct EEExitGradientsPass : ee::impl::EEExitGradientsPassBase<EEExitGradientsPass> {
  using EEExitGradientsPassBase::EEExitGradientsPassBase;

  void runOnOperation() override;

private:
  /// Clones the stage's part of `forward` into `builder`'s function: the
  /// embedding (first stage), its layers, its exits and the final head (last
  /// stage). Returns the stage's output y_s; fails if an op needs a value of
  /// another stage.
  FailureOr<Value> cloneStage(OpBuilder &builder, ForwardStructure &structure,
                              const StagePlan &stage, IRMapping &mapping);
};

FailureOr<Value> EEExitGradientsPass::cloneStage(OpBuilder &builder,
                                                 ForwardStructure &structure,
                                                 const StagePlan &stage, IRMapping &mapping) {
  auto clone = [&](Operation *op) -> LogicalResult {
    for (Value operand : op->getOperands())
      if (!mapping.contains(operand))
        return op->emitError() << "ee-exit-gradients: this op of pipeline stage [" << stage.begin
                               << ", " << stage.end << ") reads a value of another stage";
    builder.clone(*op, mapping);
    return success();
  };
  if (stage.first && failed(clone(structure.embedding)))
    return failure();
  for (int64_t l = stage.begin; l < stage.end; ++l)
    if (failed(clone(structure.layers[l])))
      return failure();
  for (auto &[exit, boundary] : structure.exits)
    if (stage.exits.contains(exit.getIndex()) && failed(clone(exit)))
      return failure();
  if (stage.last && failed(clone(structure.finalHead)))
    return failure();
  return mapping.lookup(structure.layers[stage.end - 1].getOutput());
}

/// The terms of a sum of arith.addf: its leaves, in order.
void collectTerms(Value sum, SmallVectorImpl<Value> &terms) {
  if (auto add = sum.getDefiningOp<arith::AddFOp>()) {
    collectTerms(add.getLhs(), terms);
    collectTerms(add.getRhs(), terms);
    return;
  }
  terms.push_back(sum);
}

void EEExitGradientsPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto plan = module->getAttrOfType<PipelineAttr>(EEDialect::getPipelineAttrName());
  if (!plan) {
    module.emitError("ee-exit-gradients needs the stages of ee-pipeline-partition");
    return signalPassFailure();
  }
  auto forward = module.lookupSymbol<func::FuncOp>(function);
  auto loss = module.lookupSymbol<func::FuncOp>(objective);
  if (!forward || forward.isDeclaration() || !loss || !loss.getBody().hasOneBlock()) {
    module.emitError() << "ee-exit-gradients needs the functions '" << function << "' and '"
                       << objective << "'";
    return signalPassFailure();
  }
  FailureOr<ForwardStructure> analyzed = analyzeForward(forward, "ee-exit-gradients");
  if (failed(analyzed))
    return signalPassFailure();
  ForwardStructure &structure = *analyzed;

  // The objective calls the forward function once and combines its heads.
  func::CallOp call;
  for (auto op : loss.getOps<func::CallOp>())
    if (op.getCallee() == function && !call)
      call = op;
  auto lossReturn = cast<func::ReturnOp>(loss.front().getTerminator());
  if (!call || loss.getNumArguments() != 4 || lossReturn.getNumOperands() < 1) {
    loss.emitError() << "ee-exit-gradients: '" << objective << "' must be (ids, positions, "
                     << "labels, iteration) -> (loss, per-head losses...) calling '" << function << "'";
    return signalPassFailure();
  }
  auto forwardReturn = cast<func::ReturnOp>(forward.front().getTerminator());

  Builder b(module.getContext());
  Type hidden = structure.embedding.getResult().getType();
  SmallVector<PipelineStageAttr> stagePlans = plan.getStageList();
  int64_t numStages = stagePlans.size();
  SmallVector<PipelineStageAttr> updatedPlans;
  DenseSet<Operation *> claimedTerms;
  for (auto [s, plannedStage] : llvm::enumerate(stagePlans)) {
    if (plannedStage.getEndLayer() > static_cast<int64_t>(structure.layers.size()) ||
        (s + 1 == stagePlans.size() &&
         plannedStage.getEndLayer() != static_cast<int64_t>(structure.layers.size()))) {
      module.emitError() << "ee-exit-gradients: pipeline stage " << s << " ends at layer "
                         << plannedStage.getEndLayer() << " of a model with "
                         << structure.layers.size() << " layers";
      return signalPassFailure();
    }
    StagePlan stage{plannedStage.getBeginLayer(), plannedStage.getEndLayer(), {}, s == 0,
                    static_cast<int64_t>(s) == numStages - 1};
    stage.exits.insert(plannedStage.getExits().begin(), plannedStage.getExits().end());

    // Arguments: the stage's input (token ids on the first stage, the
    // previous stage's output otherwise) and positions; the loss adds labels,
    // the iteration and, before the last stage, the gradient of the output.
    Type input = stage.first ? forward.getArgument(0).getType() : hidden;
    Type tokens = forward.getArgument(1).getType();
    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    auto mapInputs = [&](func::FuncOp func, IRMapping &mapping) {
      if (stage.first)
        mapping.map(forward.getArgument(0), func.getArgument(0));
      else
        mapping.map(structure.layers[stage.begin - 1].getOutput(), func.getArgument(0));
      mapping.map(forward.getArgument(1), func.getArgument(1));
    };

    SmallVector<Type> arguments{input, tokens, loss.getArgument(2).getType(),
                                loss.getArgument(3).getType()};
    if (!stage.last)
      arguments.push_back(hidden);
    std::string lossName = "stage" + std::to_string(s) + "_loss";
    auto func = func::FuncOp::create(builder, loss.getLoc(), lossName,
                                     builder.getFunctionType(arguments, {}));
    // Differentiated with respect to the received activations, not g_s.
    func->setAttr(EEDialect::getDifferentiateAttrName(),
                  builder.getDenseI64ArrayAttr(stage.first ? ArrayRef<int64_t>{}
                                                           : ArrayRef<int64_t>{0}));
    OpBuilder body = OpBuilder::atBlockBegin(func.addEntryBlock());
    IRMapping mapping;
    mapInputs(func, mapping);
    FailureOr<Value> y = cloneStage(body, structure, stage, mapping);
    if (failed(y))
      return signalPassFailure();
    // The objective's view of the heads: the call's results are the forward
    // function's returned values as cloned on this stage.
    IRMapping lossMapping;
    for (auto [result, returned] : llvm::zip(call.getResults(), forwardReturn.getOperands()))
      if (Value cloned = mapping.lookupOrNull(returned))
        lossMapping.map(result, cloned);
    if (stage.first)
      lossMapping.map(loss.getArgument(0), func.getArgument(0));
    for (int64_t a = 1; a < 4; ++a)
      lossMapping.map(loss.getArgument(a), func.getArgument(a));
    auto onStage = [&](Value value) {
      Operation *def = value.getDefiningOp();
      return def && llvm::all_of(def->getOperands(),
                                 [&](Value v) { return lossMapping.contains(v); });
    };
    auto cloneTerm = [&](Value value) {
      return body.clone(*value.getDefiningOp(), lossMapping)->getResult(0);
    };

    // This stage's terms of the objective, and its heads' reported losses.
    SmallVector<Value> terms;
    collectTerms(lossReturn.getOperand(0), terms);
    Value objectivePart;
    for (Value term : terms) {
      if (!onStage(term))
        continue;
      claimedTerms.insert(term.getDefiningOp());
      Value cloned = cloneTerm(term);
      objectivePart = objectivePart
                          ? Value(arith::AddFOp::create(body, loss.getLoc(), objectivePart, cloned))
                          : cloned;
    }
    if (!objectivePart)
      objectivePart = arith::ConstantOp::create(body, loss.getLoc(), body.getF32FloatAttr(0.0f));
    SmallVector<Value> results{objectivePart, objectivePart};
    SmallVector<int64_t> heads;
    for (auto [slot, reported] : llvm::enumerate(lossReturn.getOperands().drop_front())) {
      if (!onStage(reported))
        continue;
      results.push_back(cloneTerm(reported));
      heads.push_back(slot);
    }
    if (!stage.last) {
      Value g = func.getArgument(arguments.size() - 1);
      Value product = InnerProductOp::create(body, loss.getLoc(), *y, g);
      results[0] = arith::AddFOp::create(body, loss.getLoc(), objectivePart, product);
      // y_s goes to the next stage; g_s only comes back for the backward pass.
      results.push_back(*y);
      func->setAttr(EEDialect::getSplitBackwardAttrName(),
                    builder.getDenseI64ArrayAttr({static_cast<int64_t>(arguments.size()) - 1}));
    }
    func::ReturnOp::create(body, loss.getLoc(), results);
    func.setFunctionType(builder.getFunctionType(arguments, ValueRange(results).getTypes()));

    updatedPlans.push_back(plannedStage.withLossFunctions(
        b.getStringAttr(lossName), stage.last ? StringAttr() : b.getStringAttr(lossName + "_fwd"),
        b.getStringAttr(lossName + (stage.last ? "_grad" : "_bwd")), heads));
  }

  // Every term of the objective belongs to exactly one stage.
  SmallVector<Value> terms;
  collectTerms(lossReturn.getOperand(0), terms);
  for (Value term : terms)
    if (!term.getDefiningOp() || !claimedTerms.contains(term.getDefiningOp())) {
      loss.emitError("ee-exit-gradients: a term of the objective belongs to no pipeline stage");
      return signalPassFailure();
    }
  module->setAttr(EEDialect::getPipelineAttrName(), plan.withStages(updatedPlans));
}

} // namespace
