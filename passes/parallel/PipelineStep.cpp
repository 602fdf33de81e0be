//===- PipelineStep.cpp - ee-pipeline-step: each stage's 1F1B step as code ===//
//
// Turns the planned per-stage order of ee-pipeline-schedule into one function
// per stage that runs a whole training step: calls of the stage's forward and
// backward functions, the pipeline's sends and receives with their waits, the
// mean losses and the summed gradients. Checks the stages' traffic against
// each other for deadlock on the generated IR.
//
//===----------------------------------------------------------------------===//

#include "ee/EEOps.h"
#include "passes/Passes.h"
#include "passes/parallel/Traffic.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

#include <map>

namespace mlir::ee {
#define GEN_PASS_DEF_EEPIPELINESTEPPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

/// One pass of the plan: `F`/`B` forward/backward of a whole micro-batch,
/// `f`/`b` of a partial one.
struct Action {
  char kind;
  int64_t microbatch;
  bool forward() const { return kind == 'F' || kind == 'f'; }
  bool partial() const { return kind == 'f' || kind == 'b'; }
  std::string name() const { return kind + std::to_string(microbatch); }
  const char *category() const {
    switch (kind) {
    case 'F': return "forward";
    case 'B': return "backward";
    case 'f': return "partial forward";
    default: return "partial backward";
    }
  }
};

/// What one stage runs, from the plan and the functions ee-autodiff made.
struct Stage {
  int64_t index;
  bool first, last;
  func::FuncOp forward;  // null on the last stage
  func::FuncOp backward; // _bwd, or _grad on the last stage
  int64_t heads, gradients;
};

/// Builds one stage's step function over `order`.
class StepBuilder {
public:
  StepBuilder(OpBuilder &b, Stage stage, ArrayRef<Action> order, int64_t numMicro,
              int64_t whole, ArrayRef<int64_t> partialDepth)
      : b(b), stage(stage), order(order), numMicro(numMicro), whole(whole),
        partialDepth(partialDepth), loc(stage.backward.getLoc()) {}

  func::FuncOp build(StringRef name);

private:
  enum Message { Input, Gradient };

  Value sizes(int64_t m, unsigned dim);
  Value receive(Message kind, int64_t m);
  void send(Value value, int64_t peer, int64_t m);
  bool deepest(const Action &a) const {
    return stage.last || (a.partial() && partialDepth[a.microbatch - whole] == stage.index);
  }

  OpBuilder &b;
  Stage stage;
  ArrayRef<Action> order;
  int64_t numMicro, whole;
  ArrayRef<int64_t> partialDepth;
  Location loc;
  Block *body = nullptr;
  std::map<std::pair<int64_t, unsigned>, Value> dims;
  std::map<std::pair<Message, int64_t>, Value> posted; // receive requests not yet waited on
  std::map<int64_t, Value> inFlight;                   // peer -> the send not yet waited on
};

Value StepBuilder::sizes(int64_t m, unsigned dim) { return dims.at({m, dim}); }

Value StepBuilder::receive(Message kind, int64_t m) {
  auto type = cast<RankedTensorType>(kind == Input ? stage.backward.getArgumentTypes()[0]
                                                   : stage.forward.getResultTypes()[1 + stage.heads]);
  auto request = RecvOp::create(b, loc, RequestType::get(b.getContext(), type),
                                ValueRange{sizes(m, 0), sizes(m, 1)}, kind == Input ? -1 : 1, m);
  return posted[{kind, m}] = request.getRequest();
}

void StepBuilder::send(Value value, int64_t peer, int64_t m) {
  // At most one send per direction in flight: the previous one completes first.
  if (Value previous = inFlight[peer])
    WaitOp::create(b, loc, Type(), previous);
  inFlight[peer] = SendOp::create(b, loc, RequestType::get(b.getContext(), Type()), value, peer, m)
                       .getRequest();
}

func::FuncOp StepBuilder::build(StringRef name) {
  Type ids = stage.backward.getArgumentTypes()[1];
  SmallVector<Type> inputs;
  for (int64_t m = 0; m < numMicro; ++m)
    inputs.append({ids, ids, ids});
  inputs.append({b.getI64Type(), b.getF32Type()});
  SmallVector<Type> results(1 + stage.heads, b.getF32Type());
  for (int64_t k = 0; k < stage.gradients; ++k)
    results.push_back(stage.backward.getResultTypes()[1 + k]);
  auto func = func::FuncOp::create(b, loc, name, b.getFunctionType(inputs, results));
  body = func.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(body);
  Value iteration = body->getArgument(3 * numMicro), gradScale = body->getArgument(3 * numMicro + 1);
  auto argument = [&](int64_t m, int64_t k) -> Value { return body->getArgument(3 * m + k); };

  // Receives go out one pass before the pass that reads them.
  SmallVector<SmallVector<std::pair<Message, int64_t>>> postAt(order.size());
  for (auto [i, a] : llvm::enumerate(order)) {
    int64_t m = a.microbatch;
    if (a.forward() && !stage.first) {
      // The last stage reads its input in the backward pass (one call does both).
      size_t use = i;
      if (stage.last)
        for (size_t j = i + 1; j < order.size(); ++j)
          if (!order[j].forward() && order[j].microbatch == m) {
            use = j;
            break;
          }
      postAt[use > 0 ? use - 1 : 0].push_back({Input, m});
    }
    if (!a.forward() && !deepest(a))
      postAt[i > 0 ? i - 1 : 0].push_back({Gradient, m});
  }

  // Every micro-batch's batch and sequence sizes, for its messages.
  Value zero = arith::ConstantIndexOp::create(b, loc, 0), one = arith::ConstantIndexOp::create(b, loc, 1);
  for (int64_t m = 0; m < numMicro; ++m)
    for (unsigned dim : {0u, 1u})
      dims[{m, dim}] = tensor::DimOp::create(b, loc, argument(m, 0), dim ? one : zero);
  Value scale = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(static_cast<float>(whole)));
  SmallVector<Value> losses, sums;
  std::map<int64_t, Value> received;                // micro-batch -> its input
  std::map<int64_t, SmallVector<Value>> forwardOut; // micro-batch -> the forward's results
  auto wait = [&](Message kind, int64_t m) -> Value {
    Value request = posted.at({kind, m});
    posted.erase({kind, m});
    auto type = cast<RequestType>(request.getType()).getPayload();
    return WaitOp::create(b, loc, type, request).getResult();
  };
  for (auto [i, a] : llvm::enumerate(order)) {
    int64_t m = a.microbatch;
    for (auto [kind, micro] : postAt[i])
      receive(kind, micro);
    SpanBeginOp::create(b, loc, a.name(), a.category());
    Value positions = argument(m, 1), labels = argument(m, 2);
    if (a.forward() && !stage.last) {
      Value x = stage.first ? argument(m, 0) : (received[m] = wait(Input, m));
      auto call = func::CallOp::create(b, loc, stage.forward,
                                       ValueRange{x, positions, labels, iteration});
      forwardOut[m].assign(call.getResults().begin(), call.getResults().end());
      if (!deepest(a))
        send(call.getResult(1 + stage.heads), 1, m);
    } else if (!a.forward()) {
      Value x = stage.first ? argument(m, 0) : stage.last ? wait(Input, m) : received.at(m);
      SmallVector<Value> operands{x, positions, labels, iteration};
      if (!stage.last) {
        Value g = deepest(a) ? ZerosOp::create(
                                   b, loc, stage.forward.getResultTypes()[1 + stage.heads],
                                   ValueRange{sizes(m, 0), sizes(m, 1)})
                                   .getResult()
                             : wait(Gradient, m);
        operands.push_back(g);
        ArrayRef<Value> saved = forwardOut.at(m);
        operands.append(saved.begin() + 2 + stage.heads, saved.end());
      }
      auto call = func::CallOp::create(b, loc, stage.backward, operands);
      if (!stage.first)
        send(call.getResult(1 + stage.gradients), -1, m);
      for (int64_t k = 0; k < stage.gradients; ++k) {
        Value g = call.getResult(1 + k);
        if (sums.size() <= static_cast<size_t>(k))
          sums.push_back(g);
        else
          sums[k] = AddOp::create(b, loc, sums[k], g);
      }
      if (!a.partial()) {
        // The objective's and the heads' terms: from the forward pass, or
        // after the gradients and the input's gradient on the last stage.
        SmallVector<Value> terms;
        if (stage.last) {
          int64_t at = 1 + stage.gradients + (stage.first ? 0 : 1);
          for (int64_t k = 0; k <= stage.heads; ++k)
            terms.push_back(call.getResult(at + k));
        } else {
          ArrayRef<Value> out = forwardOut.at(m);
          terms.assign(out.begin(), out.begin() + 1 + stage.heads);
        }
        for (auto [k, term] : llvm::enumerate(terms)) {
          Value mean = arith::DivFOp::create(b, loc, term, scale);
          if (losses.size() <= k)
            losses.push_back(mean);
          else
            losses[k] = arith::AddFOp::create(b, loc, losses[k], mean);
        }
      }
    }
    SpanEndOp::create(b, loc, a.name());
  }
  for (auto &[peer, request] : inFlight)
    WaitOp::create(b, loc, Type(), request);
  SmallVector<Value> returned = losses;
  for (Value sum : sums)
    returned.push_back(ScaleOp::create(b, loc, sum, gradScale));
  func::ReturnOp::create(b, loc, returned);
  func->setAttr(EEDialect::getStageAttrName(), b.getI64IntegerAttr(stage.index));
  func->setAttr(EEDialect::getGradientsAttrName(),
                stage.backward->getAttr(EEDialect::getGradientsAttrName()));
  return func;
}

struct EEPipelineStepPass : ee::impl::EEPipelineStepPassBase<EEPipelineStepPass> {
  void runOnOperation() override;
};

void EEPipelineStepPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto fail = [&](const Twine &message) {
    module.emitError("ee-pipeline-step: " + message);
    signalPassFailure();
  };
  // A model trained on one stage has no pipeline step.
  auto plan = module->getAttrOfType<PipelineAttr>(EEDialect::getPipelineAttrName());
  if (!plan || plan.getStages().size() == 1)
    return;
  if (!plan.getSchedule())
    return fail("needs the schedule of ee-pipeline-schedule");
  SmallVector<PipelineStageAttr> stagePlans = plan.getStageList();
  ArrayAttr schedule = plan.getSchedule().getOrder();
  int64_t numStages = stagePlans.size(), whole = plan.getMicrobatches();

  // Every stage's order; a partial micro-batch runs down to the deepest stage listing it.
  SmallVector<SmallVector<Action>> orders(numStages);
  SmallVector<int64_t> partialDepth;
  for (int64_t s = 0; s < numStages; ++s) {
    // #ee.pipeline_schedule's verifier checked each pass's spelling.
    for (Attribute pass : cast<ArrayAttr>(schedule[s])) {
      StringRef text = cast<StringAttr>(pass).getValue();
      int64_t m = 0;
      (void)text.drop_front().getAsInteger(10, m);
      Action action{text[0], m};
      if (action.partial() != (m >= whole))
        return fail(llvm::formatv("stage {0}'s schedule runs {1}, but micro-batches below {2} are "
                                  "whole and the others partial", s, action.name(), whole).str());
      if (action.partial() && action.forward()) {
        if (partialDepth.size() <= static_cast<size_t>(m - whole))
          partialDepth.resize(m - whole + 1, -1);
        partialDepth[m - whole] = std::max(partialDepth[m - whole], s);
      }
      orders[s].push_back(action);
    }
  }
  for (int64_t depth : partialDepth)
    if (depth < 0 || depth + 1 == numStages)
      return fail("a partial micro-batch of the schedule must stop before the last stage");
  int64_t numMicro = whole + static_cast<int64_t>(partialDepth.size());
  // Each micro-batch is in the order exactly once per direction on the stages it reaches.
  for (int64_t s = 0; s < numStages; ++s) {
    std::map<int64_t, std::pair<int, int>> seen;
    for (const Action &a : orders[s]) {
      auto &[forward, backward] = seen[a.microbatch];
      bool early = !a.forward() && forward == 0;
      int &count = a.forward() ? forward : backward;
      if (count++ > 0 || early)
        return fail(llvm::formatv("stage {0}'s schedule runs {1} twice or before its forward "
                                  "pass", s, a.name()).str());
    }
    for (int64_t m = 0; m < numMicro; ++m) {
      bool reaches = m < whole || partialDepth[m - whole] >= s;
      auto it = seen.find(m);
      if (reaches != (it != seen.end()) || (reaches && it->second != std::pair{1, 1}))
        return fail(llvm::formatv("stage {0}'s schedule does not run micro-batch {1} forward and "
                                  "backward once", s, m).str());
    }
  }

  SymbolTable symbols(module);
  SmallVector<Stage> stages;
  for (int64_t s = 0; s < numStages; ++s) {
    PipelineStageAttr stagePlan = stagePlans[s];
    Stage stage{s, s == 0, s + 1 == numStages, nullptr, nullptr, 0, 0};
    auto named = [&](StringAttr name) -> func::FuncOp {
      return name ? symbols.lookup<func::FuncOp>(name.getValue()) : nullptr;
    };
    stage.backward = named(stagePlan.getBackwardFunction());
    if (!stage.last)
      stage.forward = named(stagePlan.getForwardFunction());
    auto gradients =
        stage.backward ? stage.backward->getAttrOfType<ArrayAttr>(EEDialect::getGradientsAttrName())
                       : nullptr;
    if (!stage.backward || (!stage.last && !stage.forward) || !stagePlan.getLossFunction() ||
        !gradients)
      return fail(llvm::formatv("stage {0} needs its forward and backward functions (ee-exit-gradients, "
                                "ee-autodiff) in the plan", s).str());
    stage.heads = stagePlan.getHeads().size();
    stage.gradients = gradients.size();
    // (x, positions, labels, iteration[, g, saved...]) -> (L_aux, gradients..., [dx], ...).
    size_t numResults = 1 + stage.gradients + (stage.first ? 0 : 1) + (stage.last ? 1 + stage.heads : 0);
    if (stage.backward.getNumArguments() < 4 || stage.backward.getNumResults() != numResults ||
        (stage.forward && (stage.forward.getNumArguments() != 4 ||
                           stage.forward.getNumResults() < static_cast<unsigned>(2 + stage.heads) ||
                           stage.backward.getNumArguments() !=
                               5 + stage.forward.getNumResults() - 2 - stage.heads)))
      return fail(llvm::formatv("stage {0}'s functions @{1} do not have the signatures of "
                                "ee-exit-gradients and ee-autodiff", s,
                                stage.backward.getSymName()).str());
    stages.push_back(stage);
  }

  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<func::FuncOp> trainSteps, gradSteps;
  SmallVector<PipelineStageAttr> updated;
  Action single[] = {{'F', 0}, {'B', 0}};
  for (Stage &stage : stages) {
    std::string prefix = "stage" + std::to_string(stage.index);
    trainSteps.push_back(StepBuilder(b, stage, orders[stage.index], numMicro, whole, partialDepth)
                             .build(prefix + "_train_step"));
    gradSteps.push_back(StepBuilder(b, stage, single, 1, 1, {}).build(prefix + "_grad_step"));
    // Inlined into the steps; nothing else calls them.
    for (func::FuncOp fn : {stage.forward, stage.backward})
      if (fn)
        fn.setPrivate();
    updated.push_back(stagePlans[stage.index].withSteps(trainSteps.back().getSymNameAttr(),
                                                        gradSteps.back().getSymNameAttr()));
  }
  if (failed(checkTraffic(module, trainSteps, "ee-pipeline-step")) ||
      failed(checkTraffic(module, gradSteps, "ee-pipeline-step")))
    return signalPassFailure();
  module->setAttr(EEDialect::getPipelineAttrName(), plan.withStages(updated));
}

} // namespace
