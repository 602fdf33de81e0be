//===- TensorParallel.cpp - ee-tensor-parallel: Megatron-style weight splits ===//
//
// Rewrites every function of primitive ops into what one of `size`
// tensor-parallel ranks runs on its shards of the weights: projections into
// attention (by heads, GQA-aware) and into SwiGLU are split by output
// (column-parallel), the projections out of them by input (row-parallel,
// partial sums all-reduced), the embedding and every output head by
// vocabulary rows (vocab-parallel lookup and cross-entropy). Norm weights
// stay whole on every rank.
//
//===----------------------------------------------------------------------===//

#include "ee/EEOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::ee {
#define GEN_PASS_DEF_EETENSORPARALLELPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

/// How a weight is split: by rows (column-parallel projections, vocabulary
/// tables) or by columns (row-parallel projections).
enum class Split { Rows = 0, Columns = 1 };

RankedTensorType withLastDim(Type type, int64_t size) {
  auto tensor = cast<RankedTensorType>(type);
  SmallVector<int64_t> shape(tensor.getShape());
  shape.back() = size;
  return RankedTensorType::get(shape, tensor.getElementType());
}

int64_t lastDim(Value value) { return cast<RankedTensorType>(value.getType()).getShape().back(); }

struct EETensorParallelPass : ee::impl::EETensorParallelPassBase<EETensorParallelPass> {
  using EETensorParallelPassBase::EETensorParallelPassBase;

  void runOnOperation() override;

private:
  /// Records that parameter `weight` (an ee.get_parameter result) is split
  /// as `split`; fails if another use split it differently.
  LogicalResult assign(Operation *user, Value weight, Split split);
  LogicalResult shardFunction(func::FuncOp func);

  llvm::StringMap<Split> splits;
};

LogicalResult EETensorParallelPass::assign(Operation *user, Value weight, Split split) {
  auto get = weight.getDefiningOp<GetParameterOp>();
  if (!get)
    return user->emitOpError("ee-tensor-parallel: the weight must be a parameter");
  auto [it, inserted] = splits.try_emplace(get.getName(), split);
  if (!inserted && it->second != split)
    return user->emitOpError() << "ee-tensor-parallel: '@" << get.getName()
                               << "' would be split both by rows and by columns";
  return success();
}

LogicalResult EETensorParallelPass::shardFunction(func::FuncOp func) {
  int64_t parts = size;
  OpBuilder b(func.getContext());
  // The column-parallel projections and the row-parallel ones, by structure.
  DenseSet<Operation *> column, row;
  auto projectionOf = [](Value v) -> LinearOp {
    if (auto rotary = v.getDefiningOp<RotaryOp>())
      v = rotary.getInput();
    return v.getDefiningOp<LinearOp>();
  };
  // The projections reading `v`, also through its rounding to bf16
  // (ee-mixed-precision).
  auto insertProjectionsOf = [&](Value v) {
    for (Operation *user : v.getUsers()) {
      if (isa<LinearOp>(user))
        row.insert(user);
      else if (auto convert = dyn_cast<ConvertOp>(user))
        for (Operation *rounded : convert.getResult().getUsers())
          if (isa<LinearOp>(rounded))
            row.insert(rounded);
    }
  };
  for (Operation &op : func.front()) {
    if (auto attention = dyn_cast<AttentionOp>(op)) {
      for (Value operand : {attention.getQuery(), attention.getKey(), attention.getValue()}) {
        LinearOp projection = projectionOf(operand);
        if (!projection)
          return attention.emitOpError("ee-tensor-parallel: needs q, k and v from ee.linear");
        column.insert(projection);
      }
      insertProjectionsOf(attention.getOutput());
    }
    if (auto swiglu = dyn_cast<SwiGLUOp>(op)) {
      for (Value operand : {swiglu.getGate(), swiglu.getUp()}) {
        LinearOp projection = operand.getDefiningOp<LinearOp>();
        if (!projection)
          return swiglu.emitOpError("ee-tensor-parallel: needs gate and up from ee.linear");
        column.insert(projection);
      }
      insertProjectionsOf(swiglu.getResult());
    }
  }

  DenseMap<Value, Value> copies; // replicated input -> its ee.tp_copy
  auto enterRegion = [&](Operation *user, Value input) {
    Value &copy = copies[input];
    if (!copy) {
      b.setInsertionPoint(user);
      copy = TPCopyOp::create(b, user->getLoc(), input);
    }
    return copy;
  };
  auto leaveRegion = [&](Operation *producer, Value partial) {
    b.setInsertionPointAfter(producer);
    auto reduce = TPAllReduceOp::create(b, producer->getLoc(), partial);
    partial.replaceAllUsesExcept(reduce.getResult(), reduce);
  };
  SmallVector<Operation *> ops;
  for (Operation &op : func.front())
    ops.push_back(&op);
  for (Operation *op : ops) {
    LogicalResult result = success();
    llvm::TypeSwitch<Operation *>(op)
        .Case([&](LinearOp linear) {
          if (column.contains(linear)) {
            result = assign(linear, linear.getWeight(), Split::Rows);
            linear.getInputMutable().assign(enterRegion(linear, linear.getInput()));
            linear.getResult().setType(
                withLastDim(linear.getResult().getType(), lastDim(linear.getResult()) / parts));
          } else if (row.contains(linear)) {
            result = assign(linear, linear.getWeight(), Split::Columns);
            leaveRegion(linear, linear.getResult());
          } else {
            result = linear.emitOpError(
                "ee-tensor-parallel: a projection neither into nor out of attention or SwiGLU");
          }
        })
        .Case([&](RotaryOp rotary) {
          rotary.setNumHeads(rotary.getNumHeads() / parts);
          rotary.getResult().setType(rotary.getInput().getType());
        })
        .Case([&](AttentionOp attention) {
          attention.setNumHeads(attention.getNumHeads() / parts);
          attention.setNumKvHeads(attention.getNumKvHeads() / parts);
          attention.getOutput().setType(attention.getQuery().getType());
          // A KV cache (generation) holds this rank's KV heads: the cache
          // arguments and the updated caches shrink with them.
          if (Value cache = attention.getKCache()) {
            Type local = withLastDim(cache.getType(), lastDim(cache) / parts);
            for (Value value : {attention.getKCache(), attention.getVCache()})
              value.setType(local);
            for (Value updated : attention.getUpdatedCache())
              updated.setType(local);
          }
        })
        .Case([&](SwiGLUOp swiglu) {
          swiglu.getResult().setType(
              withLastDim(swiglu.getResult().getType(), lastDim(swiglu.getGate())));
        })
        .Case([&](ConvertOp convert) {
          convert.getResult().setType(cast<RankedTensorType>(convert.getInput().getType())
                                          .clone(getElementTypeOrSelf(convert.getResult())));
        })
        .Case([&](LogitsOp logits) {
          result = assign(logits, logits.getWeight(), Split::Rows);
          logits.getInputMutable().assign(enterRegion(logits, logits.getInput()));
          logits.getResult().setType(
              withLastDim(logits.getResult().getType(), lastDim(logits.getResult()) / parts));
          SmallVector<Operation *> users(logits.getResult().getUsers());
          // Logits returned or choosing a token (generation samples from the
          // whole distribution) are gathered whole, once.
          Value whole;
          auto gathered = [&](Operation *user) {
            if (!whole) {
              b.setInsertionPointAfter(logits);
              whole = TPAllGatherOp::create(
                  b, user->getLoc(),
                  withLastDim(logits.getResult().getType(), lastDim(logits.getResult()) * parts),
                  logits.getResult());
            }
            user->replaceUsesOfWith(logits.getResult(), whole);
          };
          for (Operation *user : users) {
            if (auto ce = dyn_cast<CrossEntropyOp>(user)) {
              ce.setVocabParallel(true);
            } else if (auto confidence = dyn_cast<ExitConfidenceOp>(user)) {
              confidence.setVocabParallel(true);
            } else if (isa<func::ReturnOp, ExitDecisionOp>(user)) {
              gathered(user);
            } else {
              result = user->emitOpError("ee-tensor-parallel: vocab-parallel logits feed "
                                         "ee.cross_entropy, ee.exit_confidence, "
                                         "ee.exit_decision or a return");
            }
          }
        })
        .Case([&](EmbeddingLookupOp lookup) {
          result = assign(lookup, lookup.getTable(), Split::Rows);
          lookup.setVocabParallel(true);
          leaveRegion(lookup, lookup.getResult());
        });
    if (failed(result))
      return failure();
  }
  // Arguments and results whose types changed (KV caches).
  auto ret = cast<func::ReturnOp>(func.front().getTerminator());
  func.setFunctionType(b.getFunctionType(func.front().getArgumentTypes(), ret.getOperandTypes()));
  return success();
}

void EETensorParallelPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (size < 1) {
    module.emitError("ee-tensor-parallel: size must be >= 1");
    return signalPassFailure();
  }
  if (size == 1)
    return;
  if (module->hasAttr(EEDialect::getTensorParallelAttrName())) {
    module.emitError("ee-tensor-parallel: the module is already split");
    return signalPassFailure();
  }
  auto config = module->getAttrOfType<ConfigAttr>(EEDialect::getConfigAttrName());
  if (!config) {
    module.emitError("ee-tensor-parallel needs the module's 'ee.config'");
    return signalPassFailure();
  }
  // Heads, KV heads (GQA groups stay on one rank), FFN rows and the vocabulary
  // split evenly.
  for (auto [name, value] : {std::pair{"num_attention_heads", config.getNumAttentionHeads()},
                             std::pair{"num_key_value_heads", config.getNumKeyValueHeads()},
                             std::pair{"intermediate_size", config.getIntermediateSize()},
                             std::pair{"vocab_size", config.getVocabSize()}})
    if (value % size != 0) {
      module.emitError() << "ee-tensor-parallel: " << size.getValue()
                         << " tensor-parallel ranks do not divide " << name << " = " << value;
      return signalPassFailure();
    }
  for (func::FuncOp func : module.getOps<func::FuncOp>())
    if (!func.isDeclaration() && failed(shardFunction(func)))
      return signalPassFailure();

  // Every parameter's type becomes its shard's; the plan records the splits.
  Builder b(module.getContext());
  SmallVector<NamedAttribute> recorded;
  for (ParameterOp param : module.getOps<ParameterOp>()) {
    auto it = splits.find(param.getSymName());
    if (it == splits.end())
      continue;
    SmallVector<int64_t> shape(param.getTensorType().getShape());
    shape[static_cast<int>(it->second)] /= size;
    param.setType(RankedTensorType::get(shape, param.getTensorType().getElementType()));
    recorded.push_back(b.getNamedAttr(param.getSymName(), b.getI64IntegerAttr(static_cast<int64_t>(it->second))));
  }
  module.walk([&](GetParameterOp get) {
    auto param = module.lookupSymbol<ParameterOp>(get.getNameAttr());
    get.getResult().setType(param.getTensorType());
  });
  module->setAttr(EEDialect::getTensorParallelAttrName(),
                  TensorParallelAttr::get(b.getContext(), size, b.getDictionaryAttr(recorded)));
}

} // namespace
