//===- Autodiff.cpp - ee-autodiff: the backward pass from per-op rules ----===//

#include "ee/EEOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::ee {
#define GEN_PASS_DEF_EEAUTODIFFPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

enum class Recompute { None, Selective, Full };

class BackwardBuilder {
public:
  BackwardBuilder(func::FuncOp func, Recompute recompute)
      : func(func), b(func.getContext()), recompute(recompute) {}

  /// Appends the backward pass; returns the gradient of every parameter name
  /// it reads. The gradients of the arguments in `wrt` are then available
  /// from argumentGradient.
  FailureOr<llvm::StringMap<Value>> build(ArrayRef<BlockArgument> wrt);
  Value argumentGradient(BlockArgument argument) const { return gradients.lookup(argument); }

private:
  /// Values that depend on a parameter need gradients.
  void markDifferentiable();
  void accumulate(Value value, Value gradient);
  LogicalResult rule(Operation *op);
  /// The forward value `value` as the backward pass may read it: the value
  /// itself, or a recomputation from kept values inserted before first use.
  Value saved(Value value);
  bool isKept(Value value);

  func::FuncOp func;
  OpBuilder b;
  Recompute recompute;
  DenseSet<Value> differentiable;
  DenseMap<Value, Value> gradients;
  llvm::StringMap<Value> parameterGradients;
  IRMapping recomputed;
  /// The sends of received values' gradients, waited on at the end.
  SmallVector<Value> gradientSends;
};

/// Gradients are f32, of bf16 values too (fp32 gradient accumulation, as
/// Megatron-LM's --bf16).
static RankedTensorType gradientType(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  return RankedTensorType::get(tensor.getShape(), Float32Type::get(type.getContext()));
}

/// A received tensor: the result of an ee.wait on an ee.recv.
static RecvOp receivedFrom(Operation *op) {
  auto wait = dyn_cast<WaitOp>(op);
  return wait ? wait.getRequest().getDefiningOp<RecvOp>() : RecvOp();
}

void BackwardBuilder::markDifferentiable() {
  for (Operation &op : func.front()) {
    // A received activation is differentiable like an argument listed in
    // `wrt`: its gradient goes back to the stage that sent it.
    bool depends = isa<GetParameterOp>(op) || receivedFrom(&op) ||
                   llvm::any_of(op.getOperands(), [&](Value v) { return differentiable.count(v); });
    if (depends)
      for (Value result : op.getResults())
        differentiable.insert(result);
  }
}

void BackwardBuilder::accumulate(Value value, Value gradient) {
  if (!differentiable.count(value))
    return;
  auto [it, inserted] = gradients.try_emplace(value, gradient);
  if (inserted)
    return;
  Location loc = gradient.getLoc();
  it->second = isa<FloatType>(gradient.getType())
                   ? Value(arith::AddFOp::create(b, loc, it->second, gradient))
                   : Value(AddOp::create(b, loc, it->second, gradient));
}

bool BackwardBuilder::isKept(Value value) {
  Operation *def = value.getDefiningOp();
  // Received tensors are kept: communication is never run again.
  if (!def || isa<GetParameterOp, arith::ConstantOp, LossWeightOp, WaitOp>(def) ||
      !isa<RankedTensorType>(value.getType()))
    return true;
  switch (recompute) {
  case Recompute::None:
    return true;
  case Recompute::Selective:
    return !isa<RotaryOp, AttentionOp, SwiGLUOp>(def);
  case Recompute::Full:
    return isa<AddOp, EmbeddingLookupOp>(def);
  }
  return true;
}

Value BackwardBuilder::saved(Value value) {
  if (isKept(value))
    return value;
  if (Value again = recomputed.lookupOrNull(value))
    return again;
  Operation *def = value.getDefiningOp();
  for (Value operand : def->getOperands())
    recomputed.map(operand, saved(operand));
  b.clone(*def, recomputed);
  return recomputed.lookup(value);
}

LogicalResult BackwardBuilder::rule(Operation *op) {
  auto grad = [&](Value v) { return gradients.lookup(v); };
  Location loc = op->getLoc();
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](arith::AddFOp add) {
        accumulate(add.getLhs(), grad(add.getResult()));
        accumulate(add.getRhs(), grad(add.getResult()));
        return success();
      })
      .Case([&](arith::MulFOp mul) {
        Value g = grad(mul.getResult());
        if (differentiable.count(mul.getLhs()))
          accumulate(mul.getLhs(), arith::MulFOp::create(b, loc, g, mul.getRhs()));
        if (differentiable.count(mul.getRhs()))
          accumulate(mul.getRhs(), arith::MulFOp::create(b, loc, g, mul.getLhs()));
        return success();
      })
      .Case([&](InnerProductOp product) {
        Value g = grad(product.getResult());
        if (differentiable.count(product.getLhs()))
          accumulate(product.getLhs(), ScaleOp::create(b, loc, saved(product.getRhs()), g));
        if (differentiable.count(product.getRhs()))
          accumulate(product.getRhs(), ScaleOp::create(b, loc, saved(product.getLhs()), g));
        return success();
      })
      .Case([&](ScaleOp scale) -> LogicalResult {
        if (differentiable.count(scale.getFactor()))
          return scale.emitOpError("ee-autodiff differentiates ee.scale by a constant factor only");
        accumulate(scale.getInput(), ScaleOp::create(b, loc, grad(scale.getResult()), scale.getFactor()));
        return success();
      })
      .Case([&](SendOp send) {
        // A send's adjoint is a receive: the gradient of what this stage sent
        // comes back from the same peer under the same tag.
        RankedTensorType type = send.getInput().getType();
        SmallVector<Value> sizes;
        for (int64_t dim = 0; dim < type.getRank(); ++dim)
          if (type.isDynamicDim(dim))
            sizes.push_back(tensor::DimOp::create(b, loc, send.getInput(), dim));
        auto incoming = RecvOp::create(b, loc, RequestType::get(b.getContext(), type), sizes,
                                       send.getPeer(), send.getTag());
        accumulate(send.getInput(), WaitOp::create(b, loc, type, incoming).getResult());
        return success();
      })
      .Case([&](WaitOp wait) -> LogicalResult {
        RecvOp recv = receivedFrom(wait);
        if (!recv)
          return wait.emitOpError("ee-autodiff differentiates the wait of an ee.recv only "
                                  "(collectives are inserted after the backward pass)");
        // A receive's adjoint is a send of the gradient back to the peer.
        gradientSends.push_back(SendOp::create(b, loc, RequestType::get(b.getContext(), Type()),
                                               grad(wait.getResult()), recv.getPeer(),
                                               recv.getTag()));
        return success();
      })
      .Case([&](CrossEntropyOp ce) {
        accumulate(ce.getLogits(),
                   CrossEntropyGradOp::create(b, loc, saved(ce.getLogits()), ce.getLabels(),
                                              grad(ce.getLoss()), ce.getTemperatureAttr(),
                                              ce.getVocabParallelAttr()));
        return success();
      })
      .Case([&](TPCopyOp copy) {
        // The input is the same on every tensor-parallel rank; each holds part
        // of its gradient.
        accumulate(copy.getInput(), TPAllReduceOp::create(b, loc, grad(copy.getResult())));
        return success();
      })
      .Case([&](TPAllReduceOp reduce) {
        accumulate(reduce.getInput(), grad(reduce.getResult()));
        return success();
      })
      .Case<LinearOp, LogitsOp>([&](auto projection) {
        Value dy = grad(projection.getResult()), input = projection.getInput();
        Value weight = projection.getWeight();
        // The backward products take the output gradient in the forward
        // product's element type: bf16 factors, f32 accumulation.
        auto factorType = cast<RankedTensorType>(dy.getType()).clone(
            cast<ShapedType>(input.getType()).getElementType());
        if (factorType != dy.getType())
          dy = ConvertOp::create(b, loc, factorType, dy);
        if (differentiable.count(input))
          accumulate(input, LinearGradInputOp::create(b, loc, gradientType(input.getType()), dy,
                                                      weight));
        accumulate(weight, LinearGradWeightOp::create(b, loc, gradientType(weight.getType()), dy,
                                                      saved(input)));
        return success();
      })
      .Case([&](ConvertOp convert) {
        accumulate(convert.getInput(), grad(convert.getResult()));
        return success();
      })
      .Case([&](RMSNormOp norm) {
        auto g = RMSNormGradOp::create(b, loc, norm.getInput().getType(),
                                       gradientType(norm.getWeight().getType()),
                                       saved(norm.getInput()), norm.getWeight(),
                                       grad(norm.getResult()), norm.getEpsAttr());
        accumulate(norm.getInput(), g.getDx());
        accumulate(norm.getWeight(), g.getDweight());
        return success();
      })
      .Case([&](RotaryOp rotary) {
        accumulate(rotary.getInput(),
                   RotaryGradOp::create(b, loc, grad(rotary.getResult()), rotary.getPositions(),
                                        rotary.getNumHeadsAttr(), rotary.getThetaAttr()));
        return success();
      })
      .Case([&](AttentionOp attention) -> LogicalResult {
        if (attention.getKCache())
          return attention.emitOpError("ee-autodiff cannot differentiate attention over a KV cache");
        Value q = attention.getQuery(), k = attention.getKey(), v = attention.getValue();
        auto g = AttentionGradOp::create(b, loc, q.getType(), k.getType(), v.getType(), saved(q),
                                         saved(k), saved(v), grad(attention.getOutput()),
                                         attention.getNumHeadsAttr(), attention.getNumKvHeadsAttr());
        accumulate(q, g.getDquery());
        accumulate(k, g.getDkey());
        accumulate(v, g.getDvalue());
        return success();
      })
      .Case([&](SwiGLUOp swiglu) {
        auto g = SwiGLUGradOp::create(b, loc, saved(swiglu.getGate()), saved(swiglu.getUp()),
                                      grad(swiglu.getResult()));
        accumulate(swiglu.getGate(), g.getDgate());
        accumulate(swiglu.getUp(), g.getDup());
        return success();
      })
      .Case([&](AddOp add) {
        accumulate(add.getLhs(), grad(add.getResult()));
        accumulate(add.getRhs(), grad(add.getResult()));
        return success();
      })
      .Case([&](EmbeddingLookupOp lookup) {
        accumulate(lookup.getTable(),
                   EmbeddingGradOp::create(b, loc, gradientType(lookup.getTable().getType()),
                                           lookup.getIds(),
                                           grad(lookup.getResult()), lookup.getVocabParallelAttr()));
        return success();
      })
      .Case([&](GetParameterOp get) {
        Value g = grad(get.getResult());
        auto [it, inserted] = parameterGradients.try_emplace(get.getName(), g);
        if (!inserted)
          it->second = AddOp::create(b, loc, it->second, g);
        return success();
      })
      .Default([&](Operation *other) {
        return other->emitOpError() << "has no differentiation rule in ee-autodiff";
      });
}

FailureOr<llvm::StringMap<Value>> BackwardBuilder::build(ArrayRef<BlockArgument> wrt) {
  Block &body = func.front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  if (ret.getNumOperands() == 0 || !ret.getOperand(0).getType().isF32())
    return func.emitError("ee-autodiff differentiates a function whose first result is an f32 loss");
  differentiable.insert(wrt.begin(), wrt.end());
  markDifferentiable();
  SmallVector<Operation *> forward;
  for (Operation &op : body.without_terminator())
    forward.push_back(&op);
  b.setInsertionPoint(ret);
  Value loss = ret.getOperand(0);
  gradients[loss] = arith::ConstantOp::create(b, ret.getLoc(), b.getF32FloatAttr(1.0f));
  for (Operation *op : llvm::reverse(forward)) {
    // A send of a differentiable tensor starts a backward chain of its own:
    // the gradient comes back from the stage it went to.
    auto send = dyn_cast<SendOp>(op);
    bool needed = llvm::any_of(op->getResults(), [&](Value r) { return gradients.count(r); }) ||
                  (send && differentiable.count(send.getInput()));
    if (needed && failed(rule(op)))
      return failure();
  }
  // Each gradient send completes before the function returns, as late as can be.
  for (Value request : gradientSends)
    WaitOp::create(b, request.getLoc(), Type(), request);
  return parameterGradients;
}

struct EEAutodiffPass : ee::impl::EEAutodiffPassBase<EEAutodiffPass> {
  using EEAutodiffPassBase::EEAutodiffPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<Recompute> mode = llvm::StringSwitch<std::optional<Recompute>>(recompute)
                                        .Case("none", Recompute::None)
                                        .Case("selective", Recompute::Selective)
                                        .Case("full", Recompute::Full)
                                        .Default(std::nullopt);
    if (!mode) {
      module.emitError() << "ee-autodiff: unknown recompute mode '" << recompute
                         << "' (none, selective or full)";
      return signalPassFailure();
    }
    auto source = module.lookupSymbol<func::FuncOp>(function);
    if (!source || !source.getBody().hasOneBlock()) {
      module.emitError() << "ee-autodiff needs a single-block function '" << function << "'";
      return signalPassFailure();
    }
    if (failed(differentiate(module, source, *mode, /*partial=*/false)))
      return signalPassFailure();
    SmallVector<func::FuncOp> marked;
    for (func::FuncOp func : module.getOps<func::FuncOp>())
      if (func->hasAttr(EEDialect::getDifferentiateAttrName()) && func != source)
        marked.push_back(func);
    for (func::FuncOp func : marked)
      if (failed(differentiate(module, func, *mode, /*partial=*/true)))
        return signalPassFailure();
  }

  /// Adds `<source>_grad`: (loss, parameter gradients, argument gradients,
  /// the other results). The objective (`partial` false) must depend on every
  /// parameter; a marked function gets the gradients of the parameters it
  /// reads and of the arguments it lists.
  LogicalResult differentiate(ModuleOp module, func::FuncOp source, Recompute mode, bool partial) {
    std::string name = (source.getSymName() + "_grad").str();
    if (module.lookupSymbol(name))
      return module.emitError() << "ee-autodiff: '" << name << "' already exists";
    if (!source.getBody().hasOneBlock())
      return source.emitError("ee-autodiff needs a single-block function");
    func::FuncOp grad = source.clone();
    grad.setSymName(name);
    grad->removeAttr(EEDialect::getDifferentiateAttrName());
    module.push_back(grad);
    SmallVector<BlockArgument> activations;
    if (partial)
      for (int64_t i : source->getAttrOfType<DenseI64ArrayAttr>(EEDialect::getDifferentiateAttrName())
                           .asArrayRef()) {
        BlockArgument arg = grad.getArgument(i);
        auto type = dyn_cast<RankedTensorType>(arg.getType());
        if (!type || !type.getElementType().isF32())
          return source.emitError() << "ee-autodiff: argument " << i << " is not a float tensor";
        activations.push_back(arg);
      }
    size_t forwardOps = grad.front().getOperations().size() - 1;
    BackwardBuilder builder(grad, mode);
    FailureOr<llvm::StringMap<Value>> parameterGradients = builder.build(activations);
    if (failed(parameterGradients))
      return failure();

    auto ret = cast<func::ReturnOp>(grad.front().getTerminator());
    SmallVector<Value> results{ret.getOperand(0)};
    SmallVector<Attribute> names;
    OpBuilder b(ret);
    for (ParameterOp param : module.getOps<ParameterOp>()) {
      Value g = parameterGradients->lookup(param.getSymName());
      if (!g && partial)
        continue;
      if (!g)
        return param.emitError() << "'@" << param.getSymName() << "' does not affect '"
                                 << source.getSymName() << "': it has no gradient";
      results.push_back(g);
      names.push_back(b.getStringAttr(param.getSymName()));
    }
    for (BlockArgument arg : activations) {
      Value g = builder.argumentGradient(arg);
      if (!g)
        return source.emitError() << "ee-autodiff: argument " << arg.getArgNumber()
                                  << " does not affect the loss: it has no gradient";
      results.push_back(g);
    }
    llvm::append_range(results, ret.getOperands().drop_front());
    ret->setOperands(results);
    grad.setFunctionType(b.getFunctionType(grad.getArgumentTypes(), ValueRange(results).getTypes()));
    grad->setAttr(EEDialect::getGradientsAttrName(), b.getArrayAttr(names));
    if (auto late = source->getAttrOfType<DenseI64ArrayAttr>(EEDialect::getSplitBackwardAttrName()))
      return split(module, source, grad, forwardOps, late.asArrayRef(),
                   /*gradientResults=*/1 + names.size() + activations.size());
    return success();
  }

  /// Splits `grad` (its first `forwardOps` ops are the forward pass) into
  /// `<source>_fwd` and `<source>_bwd`, so that a pipeline stage can run the
  /// forward pass when a micro-batch arrives and the backward pass when its
  /// output's gradient does, keeping the activations in between:
  ///   _fwd(args but `late`) -> (grad's results after the gradients, saved values)
  ///   _bwd(args, saved values) -> (loss, gradients)
  /// Forward ops reading a `late` argument (one only the backward pass has,
  /// such as the output's gradient) move to _bwd; parameters, constants and
  /// scalar arithmetic on them are recomputed there instead of saved.
  LogicalResult split(ModuleOp module, func::FuncOp source, func::FuncOp grad, size_t forwardOps,
                      ArrayRef<int64_t> late, size_t gradientResults) {
    Block &body = grad.front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    DenseSet<Value> lateValues;
    for (int64_t i : late) {
      if (i < 0 || i >= static_cast<int64_t>(grad.getNumArguments()))
        return source.emitError("ee-autodiff: 'ee.split_backward' names a missing argument");
      lateValues.insert(grad.getArgument(i));
    }
    SmallVector<Operation *> forward, backward;
    DenseSet<Operation *> inForward, recomputable;
    for (auto [index, op] : llvm::enumerate(body.without_terminator())) {
      bool isLate = llvm::any_of(op.getOperands(), [&](Value v) { return lateValues.contains(v); });
      if (index < forwardOps && !isLate) {
        forward.push_back(&op);
        inForward.insert(&op);
        bool scalar = llvm::none_of(op.getResultTypes(), llvm::IsaPred<ShapedType>) &&
                      isa<arith::ArithDialect>(op.getDialect());
        bool cheap = isa<GetParameterOp, arith::ConstantOp, LossWeightOp>(op) || scalar;
        if (cheap && llvm::all_of(op.getOperands(), [&](Value v) {
              return isa<BlockArgument>(v) || recomputable.contains(v.getDefiningOp());
            }))
          recomputable.insert(&op);
        continue;
      }
      if (isLate)
        for (Value result : op.getResults())
          lateValues.insert(result);
      backward.push_back(&op);
    }
    // The values the backward part reads from the forward part.
    SmallVector<Value> saved;
    DenseSet<Value> isSaved;
    auto save = [&](Value v) {
      Operation *def = v.getDefiningOp();
      if (def && inForward.contains(def) && !recomputable.contains(def) && isSaved.insert(v).second)
        saved.push_back(v);
    };
    for (Operation *op : backward)
      for (Value operand : op->getOperands())
        save(operand);
    for (Value operand : ret.getOperands().take_front(gradientResults))
      save(operand);
    SmallVector<Value> reported(ret.getOperands().drop_front(gradientResults));
    for (Value value : reported)
      if (value.getDefiningOp() && !inForward.contains(value.getDefiningOp()))
        return source.emitError("ee-autodiff: a reported result of a split function needs a "
                                "late argument");

    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    SmallVector<Type> forwardArgs;
    SmallVector<int64_t> kept;
    for (BlockArgument arg : grad.getArguments())
      if (!llvm::is_contained(late, static_cast<int64_t>(arg.getArgNumber()))) {
        forwardArgs.push_back(arg.getType());
        kept.push_back(arg.getArgNumber());
      }
    SmallVector<Value> forwardResults(reported);
    llvm::append_range(forwardResults, saved);
    auto fwd = func::FuncOp::create(
        b, grad.getLoc(), (source.getSymName() + "_fwd").str(),
        b.getFunctionType(forwardArgs, ValueRange(forwardResults).getTypes()));
    {
      OpBuilder fb = OpBuilder::atBlockBegin(fwd.addEntryBlock());
      IRMapping mapping;
      for (auto [k, index] : llvm::enumerate(kept))
        mapping.map(grad.getArgument(index), fwd.getArgument(k));
      for (Operation *op : forward)
        fb.clone(*op, mapping);
      SmallVector<Value> results;
      for (Value v : forwardResults)
        results.push_back(mapping.lookupOrDefault(v));
      func::ReturnOp::create(fb, grad.getLoc(), results);
    }

    SmallVector<Type> backwardArgs(grad.getArgumentTypes());
    llvm::append_range(backwardArgs, ValueRange(saved).getTypes());
    SmallVector<Value> backwardResults(ret.getOperands().take_front(gradientResults));
    auto bwd = func::FuncOp::create(
        b, grad.getLoc(), (source.getSymName() + "_bwd").str(),
        b.getFunctionType(backwardArgs, ValueRange(backwardResults).getTypes()));
    {
      OpBuilder bb = OpBuilder::atBlockBegin(bwd.addEntryBlock());
      IRMapping mapping;
      for (BlockArgument arg : grad.getArguments())
        mapping.map(arg, bwd.getArgument(arg.getArgNumber()));
      for (auto [k, v] : llvm::enumerate(saved))
        mapping.map(v, bwd.getArgument(grad.getNumArguments() + k));
      for (Operation *op : forward)
        if (recomputable.contains(op))
          bb.clone(*op, mapping);
      for (Operation *op : backward)
        bb.clone(*op, mapping);
      SmallVector<Value> results;
      for (Value v : backwardResults)
        results.push_back(mapping.lookupOrDefault(v));
      func::ReturnOp::create(bb, grad.getLoc(), results);
    }
    bwd->setAttr(EEDialect::getGradientsAttrName(), grad->getAttr(EEDialect::getGradientsAttrName()));
    grad.erase();
    return success();
  }
};

} // namespace
