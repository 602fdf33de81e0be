//===- DataParallel.cpp - ee-data-parallel: reduction, clipping, AdamW ----===//
//
// Completes each rank's training step: the data-parallel all-reduce of every
// gradient, started in the last backward pass as soon as its bucket is final,
// the sums of tied weights' gradients over the stages holding them, the
// global gradient norm and its clipping factor, and the AdamW update of
// every parameter the rank holds; under ZeRO-1 a reduce-scatter, the update
// of the rank's block and the parameters' all-gather.
//
//===----------------------------------------------------------------------===//

#include "ee/EEOps.h"
#include "passes/Passes.h"
#include "passes/parallel/Traffic.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <limits>
#include <map>

namespace mlir::ee {
#define GEN_PASS_DEF_EEDATAPARALLELPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

/// The hyperparameters every update step takes after its source's arguments.
constexpr const char *kHyperparameters[] = {"lr", "step", "max_norm", "beta1", "beta2", "eps",
                                            "weight_decay"};

/// What one rank's update step is made from.
struct Source {
  mutable func::FuncOp function; // loss_grad, or a stage's train step (an op handle)
  int64_t stage = 0;           // the pipeline stage (0 with one stage)
  bool accumulates = false;    // loss_grad: earlier micro-batches' gradients come in as arguments
  unsigned firstGradient = 0;  // results [firstGradient, firstGradient + names.size()) are gradients
  SmallVector<StringAttr> names; // the parameters of those gradients
};

/// Moves `op` up to just after the last of its operands' definitions: a sum
/// of gradients is then final as soon as its last term is.
void hoist(Operation *op) {
  Block *block = op->getBlock();
  Operation *after = nullptr;
  for (Value operand : op->getOperands())
    if (Operation *def = operand.getDefiningOp();
        def && def->getBlock() == block && (!after || after->isBeforeInBlock(def)))
      after = def;
  if (after)
    op->moveAfter(after);
  else
    op->moveBefore(&block->front());
}

class UpdateBuilder {
public:
  UpdateBuilder(OpBuilder &b, const Source &source, int64_t bucketSize,
                const std::map<StringRef, SmallVector<int64_t>> &holders,
                const llvm::StringSet<> &tensorSplit, bool tensorParallel, bool pipeline,
                bool sharded, int64_t firstTiedTag)
      : b(b), source(source), bucketSize(bucketSize), holders(holders), tensorSplit(tensorSplit),
        tensorParallel(tensorParallel), pipeline(pipeline), sharded(sharded),
        firstTiedTag(firstTiedTag), loc(source.function.getLoc()) {}

  FailureOr<func::FuncOp> build(StringRef name);

private:
  Value reduce(Value input, Group group) {
    auto request = AllReduceStartOp::create(b, loc, RequestType::get(b.getContext(), input.getType()),
                                            input, group, FlatSymbolRefAttr());
    return request.getRequest();
  }
  /// ZeRO-1: this replica's block of the sum over dp.
  Value reduceScatter(Value input) {
    auto block = RankedTensorType::get({ShapedType::kDynamic},
                                       cast<RankedTensorType>(input.getType()).getElementType());
    return ReduceScatterStartOp::create(b, loc, RequestType::get(b.getContext(), block), input,
                                        Group::DP, FlatSymbolRefAttr())
        .getRequest();
  }
  /// The reduction of a final gradient over the replicas.
  Value reduceGradient(Value gradient) {
    return sharded ? reduceScatter(gradient) : reduce(gradient, Group::DP);
  }
  /// Whether gradient `k` is of a weight that several stages hold.
  bool tied(size_t k) const {
    return pipeline && holders.at(source.names[k].getValue()).size() > 1;
  }
  Value wait(Value request) {
    return WaitOp::create(b, loc, cast<RequestType>(request.getType()).getPayload(), request)
        .getResult();
  }
  Value f32(double value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(static_cast<float>(value)));
  }

  OpBuilder &b;
  const Source &source;
  int64_t bucketSize;
  const std::map<StringRef, SmallVector<int64_t>> &holders;
  const llvm::StringSet<> &tensorSplit; // the weights split over tensor-parallel ranks
  bool tensorParallel, pipeline;
  bool sharded; // ZeRO-1
  int64_t firstTiedTag; // the tied weights' messages follow every stage's pipeline messages
  Location loc;
};

FailureOr<func::FuncOp> UpdateBuilder::build(StringRef name) {
  func::FuncOp from = source.function;
  size_t numGradients = source.names.size();
  auto gradientType = [&](size_t k) {
    return cast<RankedTensorType>(from.getResultTypes()[source.firstGradient + k]);
  };
  SmallVector<Type> inputs(from.getArgumentTypes());
  // loss_grad's update step also takes the gradient scale and the earlier sum.
  unsigned accumulated = from.getNumArguments() + 1;
  if (source.accumulates) {
    inputs.push_back(b.getF32Type());
    for (size_t k = 0; k < numGradients; ++k)
      inputs.push_back(gradientType(k));
  }
  for (StringRef hyper : kHyperparameters)
    inputs.push_back(hyper == StringRef("step") ? Type(b.getI64Type()) : Type(b.getF32Type()));
  SmallVector<Type> results;
  for (auto [i, type] : llvm::enumerate(from.getResultTypes()))
    if (i < source.firstGradient || i >= source.firstGradient + numGradients)
      results.push_back(type);
  results.push_back(b.getF32Type()); // the global gradient norm

  auto func = func::FuncOp::create(b, loc, name, b.getFunctionType(inputs, results));
  Block *body = func.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(body);
  IRMapping mapping;
  for (auto [arg, copy] : llvm::zip(from.getArguments(), body->getArguments()))
    mapping.map(arg, copy);
  // The trace's spans (BIN train --trace): a stage step marks its passes already.
  if (source.accumulates)
    SpanBeginOp::create(b, loc, "forward+backward", "backward");
  for (Operation &op : from.front().without_terminator())
    b.clone(op, mapping);
  Operation *terminator = from.front().getTerminator();
  unsigned hyper = source.accumulates ? accumulated + numGradients : from.getNumArguments();
  auto hyperArg = [&](StringRef which) {
    for (auto [i, h] : llvm::enumerate(kHyperparameters))
      if (which == h)
        return body->getArgument(hyper + i);
    llvm_unreachable("a hyperparameter");
  };

  // Each gradient as soon as it is final. loss_grad's is one micro-batch's:
  // the earlier ones' sum and the scale join it there. A stage's step
  // returns scale(sum of its passes' gradients): the last sum and the scale
  // move up to the last pass's gradient.
  SmallVector<Value> finals(numGradients);
  Value gradScale = source.accumulates ? body->getArgument(accumulated - 1) : Value();
  for (size_t k = 0; k < numGradients; ++k) {
    Value g = mapping.lookup(terminator->getOperand(source.firstGradient + k));
    if (source.accumulates) {
      Operation *def = g.getDefiningOp();
      if (def)
        b.setInsertionPointAfter(def);
      else
        b.setInsertionPointToStart(body);
      Value sum = AddOp::create(b, loc, body->getArgument(accumulated + k), g);
      finals[k] = ScaleOp::create(b, loc, sum, gradScale);
      continue;
    }
    auto scale = g.getDefiningOp<ScaleOp>();
    if (!scale)
      return from.emitError() << "ee-data-parallel: gradient " << k << " of @" << from.getSymName()
                              << " is not the scaled sum of ee-pipeline-step";
    if (auto sum = scale.getInput().getDefiningOp<AddOp>(); sum && sum->hasOneUse())
      hoist(sum);
    hoist(scale);
    finals[k] = g;
  }

  // Buckets in the order the gradients become final; a bucket's all-reduces
  // start right after its last gradient.
  SmallVector<size_t> order(numGradients);
  for (size_t k = 0; k < numGradients; ++k)
    order[k] = k;
  auto position = [&](size_t k) { return finals[k].getDefiningOp(); };
  llvm::stable_sort(order, [&](size_t x, size_t y) { return position(x)->isBeforeInBlock(position(y)); });
  SmallVector<Value> requests(numGradients);
  SmallVector<size_t> bucket;
  int64_t filled = 0;
  for (auto [i, k] : llvm::enumerate(order)) {
    bucket.push_back(k);
    filled += gradientType(k).getNumElements();
    if (filled < bucketSize && i + 1 < order.size())
      continue;
    b.setInsertionPointAfter(position(k));
    // Under ZeRO-1 a tied weight's stages sum its whole gradient first.
    for (size_t member : bucket)
      if (!sharded || !tied(member))
        requests[member] = reduceGradient(finals[member]);
    bucket.clear();
    filled = 0;
  }

  // The sums, waited on just before the update.
  b.setInsertionPointToEnd(body);
  if (source.accumulates)
    SpanEndOp::create(b, loc, "forward+backward");
  SpanBeginOp::create(b, loc, "optimizer", "optimizer");
  SmallVector<Value> reduced(numGradients);
  for (size_t k : order)
    reduced[k] = requests[k] ? wait(requests[k]) : finals[k];

  // A tied weight's gradient adds up over the stages holding it, in stage
  // order (every holder then has the same bits): each holder sends its own to
  // the others.
  int64_t tag = firstTiedTag;
  SmallVector<Value> sends;
  for (size_t k = 0; k < numGradients; ++k) {
    if (!tied(k))
      continue;
    const SmallVector<int64_t> &stages = holders.at(source.names[k].getValue());
    // Message `tag` is this weight's, whoever sends it.
    std::map<int64_t, Value> incoming;
    for (int64_t s : stages)
      if (s != source.stage)
        incoming[s] = RecvOp::create(b, loc, RequestType::get(b.getContext(), gradientType(k)),
                                     ValueRange{}, s - source.stage, tag)
                          .getRequest();
    for (int64_t s : stages)
      if (s != source.stage)
        sends.push_back(SendOp::create(b, loc, RequestType::get(b.getContext(), Type()), reduced[k],
                                       s - source.stage, tag)
                            .getRequest());
    Value total;
    for (int64_t s : stages) {
      Value term = s == source.stage ? reduced[k] : wait(incoming.at(s));
      total = total ? AddOp::create(b, loc, total, term).getResult() : term;
    }
    reduced[k] = sharded ? wait(reduceScatter(total)) : total;
    ++tag;
  }
  for (Value request : sends)
    WaitOp::create(b, loc, Type(), request);

  // The global norm counts every weight once: on the first stage holding it,
  // over the tensor-parallel ranks only where they hold shards of it.
  Value split, whole;
  for (size_t k : order) {
    StringRef param = source.names[k].getValue();
    if (holders.at(param).front() != source.stage)
      continue;
    Value squares = InnerProductOp::create(b, loc, reduced[k], reduced[k]);
    Value &sum = tensorSplit.contains(param) ? split : whole;
    sum = sum ? arith::AddFOp::create(b, loc, sum, squares).getResult() : squares;
  }
  if (tensorParallel)
    split = wait(reduce(split ? split : f32(0.0), Group::TP));
  Value squares = split && whole ? arith::AddFOp::create(b, loc, split, whole).getResult()
                  : split        ? split
                  : whole        ? whole
                                 : f32(0.0);
  // Each replica holds a block of every gradient.
  if (sharded)
    squares = wait(reduce(squares, Group::DP));
  if (pipeline)
    squares = wait(reduce(squares, Group::PP));
  Value norm = math::SqrtOp::create(b, loc, squares);

  // Clipping: max_norm / (norm + 1e-6) when max_norm > 0 and the norm is above it.
  Value maxNorm = hyperArg("max_norm");
  Value clips = arith::AndIOp::create(
      b, loc, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, maxNorm, f32(0.0)),
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, norm, maxNorm));
  Value factor = arith::DivFOp::create(b, loc, maxNorm, arith::AddFOp::create(b, loc, norm, f32(1e-6)));
  Value scale = arith::SelectOp::create(b, loc, clips, factor, f32(1.0));

  // Decoupled weight decay on matrices, none on norm weights. Under ZeRO-1
  // each parameter's all-gather starts right after its block's update.
  SmallVector<Value> gathers;
  for (size_t k = 0; k < numGradients; ++k) {
    auto param = FlatSymbolRefAttr::get(source.names[k]);
    AdamWOp::create(b, loc, param, reduced[k], hyperArg("lr"), hyperArg("step"), scale,
                    hyperArg("beta1"), hyperArg("beta2"), hyperArg("eps"),
                    hyperArg("weight_decay"),
                    gradientType(k).getRank() == 1 ? b.getUnitAttr() : UnitAttr(),
                    sharded ? b.getUnitAttr() : UnitAttr());
    if (sharded)
      gathers.push_back(AllGatherParameterStartOp::create(
                            b, loc, RequestType::get(b.getContext(), Type()), param.getValue(), Group::DP)
                            .getRequest());
  }
  for (Value request : gathers)
    WaitOp::create(b, loc, Type(), request);
  SmallVector<Value> returned;
  for (auto [i, value] : llvm::enumerate(terminator->getOperands()))
    if (i < source.firstGradient || i >= source.firstGradient + numGradients)
      returned.push_back(mapping.lookup(value));
  returned.push_back(norm);
  SpanEndOp::create(b, loc, "optimizer");
  func::ReturnOp::create(b, loc, returned);
  if (pipeline)
    func->setAttr(EEDialect::getStageAttrName(), b.getI64IntegerAttr(source.stage));
  return func;
}

struct EEDataParallelPass : ee::impl::EEDataParallelPassBase<EEDataParallelPass> {
  using EEDataParallelPassBase::EEDataParallelPassBase;
  void runOnOperation() override;
};

void EEDataParallelPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto fail = [&](const Twine &message) {
    module.emitError("ee-data-parallel: " + message);
    signalPassFailure();
  };
  if (bucketSize < 1 || bucketSize > std::numeric_limits<int32_t>::max())
    return fail("bucket-size must be in [1, 2147483647] elements (an MPI count)");
  auto gradientNames = [&](func::FuncOp fn, SmallVector<StringAttr> &names) -> bool {
    auto list = fn->getAttrOfType<ArrayAttr>(EEDialect::getGradientsAttrName());
    if (!list)
      return false;
    for (Attribute name : list)
      if (auto text = dyn_cast<StringAttr>(name))
        names.push_back(text);
      else
        return false;
    return true;
  };

  SymbolTable symbols(module);
  SmallVector<Source> sources;
  auto plan = module->getAttrOfType<PipelineAttr>(EEDialect::getPipelineAttrName());
  SmallVector<PipelineStageAttr> stagePlans;
  if (plan)
    stagePlans = plan.getStageList();
  bool pipeline = stagePlans.size() > 1;
  if (pipeline) {
    for (auto [s, stagePlan] : llvm::enumerate(stagePlans)) {
      StringAttr stepName = stagePlan.getTrainStep();
      func::FuncOp step = stepName ? symbols.lookup<func::FuncOp>(stepName.getValue()) : nullptr;
      Source source{step, static_cast<int64_t>(s), false, 0, {}};
      if (!step || !gradientNames(step, source.names))
        return fail(llvm::formatv("stage {0} needs its train step (ee-pipeline-step) in the plan",
                                  s).str());
      source.firstGradient = 1 + stagePlan.getHeads().size();
      sources.push_back(source);
    }
  } else {
    // One stage: loss_grad, the whole objective's backward pass per micro-batch.
    func::FuncOp grad = symbols.lookup<func::FuncOp>(function);
    if (!grad)
      return; // nothing to train
    Source source{grad, 0, true, 1, {}};
    if (!gradientNames(grad, source.names) || grad.getNumArguments() != 4)
      return fail(llvm::formatv("@{0} is not ee-autodiff's (ids, positions, labels, iteration) "
                                "-> (loss, gradients..., metrics...)", function).str());
    sources.push_back(source);
  }
  // Every source's gradients are of the named parameters, in their shapes.
  std::map<StringRef, SmallVector<int64_t>> holders;
  for (const Source &source : sources) {
    if (source.function.getNumResults() < source.firstGradient + source.names.size())
      return fail(llvm::formatv("@{0} returns fewer gradients than its ee.gradients names",
                                source.function.getSymName()).str());
    for (auto [k, name] : llvm::enumerate(source.names)) {
      auto param = symbols.lookup<ParameterOp>(name.getValue());
      // Gradients are f32, of bf16 parameters too.
      auto gradient =
          dyn_cast<RankedTensorType>(source.function.getResultTypes()[source.firstGradient + k]);
      if (!param || !gradient || !gradient.getElementType().isF32() ||
          param.getTensorType().getShape() != gradient.getShape())
        return fail(llvm::formatv("@{0}'s gradient {1} is not of a parameter's shape ({2})",
                                  source.function.getSymName(), k, name.getValue()).str());
      holders[name.getValue()].push_back(source.stage);
    }
  }
  llvm::StringSet<> tensorSplit;
  auto split = module->getAttrOfType<TensorParallelAttr>(EEDialect::getTensorParallelAttrName());
  if (split)
    for (NamedAttribute entry : split.getSplitDims())
      tensorSplit.insert(entry.getName().getValue());

  int64_t firstTiedTag = 0;
  for (const Source &source : sources)
    source.function.walk([&](Operation *op) {
      if (auto send = dyn_cast<SendOp>(op))
        firstTiedTag = std::max<int64_t>(firstTiedTag, send.getTag() + 1);
      if (auto recv = dyn_cast<RecvOp>(op))
        firstTiedTag = std::max<int64_t>(firstTiedTag, recv.getTag() + 1);
    });

  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<func::FuncOp> steps;
  for (const Source &source : sources) {
    std::string name = pipeline ? llvm::formatv("stage{0}_update_step", source.stage).str()
                                : std::string("update_step");
    FailureOr<func::FuncOp> step =
        UpdateBuilder(b, source, bucketSize, holders, tensorSplit, split != nullptr, pipeline,
                      distributedOptimizer, firstTiedTag)
            .build(name);
    if (failed(step))
      return signalPassFailure();
    steps.push_back(*step);
  }
  module->setAttr(EEDialect::getDataParallelAttrName(),
                  DataParallelAttr::get(b.getContext(), bucketSize, distributedOptimizer));
  if (!pipeline)
    return;
  if (failed(checkTraffic(module, steps, "ee-data-parallel")))
    return signalPassFailure();
  SmallVector<PipelineStageAttr> updated;
  for (auto [s, stagePlan] : llvm::enumerate(stagePlans))
    updated.push_back(stagePlan.withUpdateStep(steps[s].getSymNameAttr()));
  module->setAttr(EEDialect::getPipelineAttrName(), plan.withStages(updated));
}

} // namespace
