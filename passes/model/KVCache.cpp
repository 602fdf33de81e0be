//===- KVCache.cpp - ee-kv-cache: a KV-cached step function ---------------===//

#include "ee/EEOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::ee {
#define GEN_PASS_DEF_EEKVCACHEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

/// Gives every cache-less attention of `func` a KV cache: a key and a value
/// cache argument each, the positions of its query's rotary embedding and, if
/// given, the cache row of each token; the updated caches are returned after
/// the original results.
LogicalResult addKVCaches(func::FuncOp func, ConfigAttr config, Value rows) {
  SmallVector<AttentionOp> attentions;
  WalkResult checked = func.walk([&](AttentionOp op) {
    if (op.getKCache())
      return WalkResult::advance();
    if (!op.getQuery().getDefiningOp<RotaryOp>()) {
      op.emitOpError("ee-kv-cache needs the query's rotary embedding for positions");
      return WalkResult::interrupt();
    }
    attentions.push_back(op);
    return WalkResult::advance();
  });
  if (checked.wasInterrupted())
    return failure();
  Block &body = func.front();
  SmallVector<Value> caches;
  OpBuilder builder(func.getContext());
  for (AttentionOp attention : attentions) {
    auto rotary = attention.getQuery().getDefiningOp<RotaryOp>();
    auto cacheType = RankedTensorType::get(
        {ShapedType::kDynamic, config.getMaxPositionEmbeddings(),
         cast<RankedTensorType>(attention.getKey().getType()).getShape().back()},
        builder.getF32Type());
    Value kCache = body.addArgument(cacheType, attention.getLoc());
    Value vCache = body.addArgument(cacheType, attention.getLoc());
    builder.setInsertionPoint(attention);
    auto replacement = AttentionOp::create(
        builder, attention.getLoc(), attention.getOutput().getType(),
        TypeRange{cacheType, cacheType}, attention.getQuery(), attention.getKey(),
        attention.getValue(), kCache, vCache, rotary.getPositions(), rows,
        attention.getNumHeads(), attention.getNumKvHeads());
    attention.getOutput().replaceAllUsesWith(replacement.getOutput());
    attention.erase();
    llvm::append_range(caches, replacement.getUpdatedCache());
  }
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  SmallVector<Value> results(ret.getOperands());
  llvm::append_range(results, caches);
  ret->setOperands(results);
  func.setFunctionType(
      builder.getFunctionType(body.getArgumentTypes(), ValueRange(results).getTypes()));
  return success();
}

struct EEKVCachePass : ee::impl::EEKVCachePassBase<EEKVCachePass> {
  using EEKVCachePassBase::EEKVCachePassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto config = module->getAttrOfType<ConfigAttr>(EEDialect::getConfigAttrName());
    if (!config) {
      module.emitError() << "ee-kv-cache needs the module's 'ee.config'";
      return signalPassFailure();
    }
    // Functions generated for early-exit inference are converted in place.
    for (auto func : module.getOps<func::FuncOp>()) {
      auto rowsIndex = func->getAttrOfType<IntegerAttr>(EEDialect::getKVCacheAttrName());
      if (!rowsIndex || func.isDeclaration())
        continue;
      func->removeAttr(EEDialect::getKVCacheAttrName());
      if (failed(addKVCaches(func, config, func.getArgument(rowsIndex.getInt()))))
        return signalPassFailure();
    }
    if (function.empty())
      return;
    auto source = module.lookupSymbol<func::FuncOp>(function);
    if (!source) {
      module.emitError() << "ee-kv-cache: no function '" << function << "'";
      return signalPassFailure();
    }
    std::string name = function + "_kv";
    if (module.lookupSymbol(name)) {
      module.emitError() << "ee-kv-cache: '" << name << "' already exists";
      return signalPassFailure();
    }
    func::FuncOp cached = source.clone();
    cached.setSymName(name);
    module.push_back(cached);
    if (failed(addKVCaches(cached, config, Value())))
      return signalPassFailure();
  }
};

} // namespace
