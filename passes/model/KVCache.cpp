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

struct EEKVCachePass : ee::impl::EEKVCachePassBase<EEKVCachePass> {
  using EEKVCachePassBase::EEKVCachePassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto config = module->getAttrOfType<ConfigAttr>(EEDialect::getConfigAttrName());
    auto source = module.lookupSymbol<func::FuncOp>(function);
    if (!config || !source) {
      module.emitError() << "ee-kv-cache needs an ee.config and a function '" << function << "'";
      return signalPassFailure();
    }
    std::string name = function + "_kv";
    if (module.lookupSymbol(name)) {
      module.emitError() << "ee-kv-cache: '" << name << "' already exists";
      return signalPassFailure();
    }
    // Every attention needs its query's rotary embedding for the positions.
    WalkResult checked = source.walk([&](AttentionOp op) {
      if (op.getKCache() || op.getQuery().getDefiningOp<RotaryOp>())
        return WalkResult::advance();
      op.emitOpError("ee-kv-cache needs the query's rotary embedding for positions");
      return WalkResult::interrupt();
    });
    if (checked.wasInterrupted())
      return signalPassFailure();

    func::FuncOp cached = source.clone();
    cached.setSymName(name);
    module.push_back(cached);
    SmallVector<AttentionOp> attentions;
    cached.walk([&](AttentionOp op) {
      if (!op.getKCache())
        attentions.push_back(op);
    });
    Block &body = cached.front();
    SmallVector<Value> caches;
    OpBuilder builder(module.getContext());
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
          attention.getValue(), kCache, vCache, rotary.getPositions(),
          attention.getNumHeads(), attention.getNumKvHeads());
      attention.getOutput().replaceAllUsesWith(replacement.getOutput());
      attention.erase();
      llvm::append_range(caches, replacement.getUpdatedCache());
    }
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    SmallVector<Value> results(ret.getOperands());
    llvm::append_range(results, caches);
    ret->setOperands(results);
    cached.setFunctionType(
        builder.getFunctionType(body.getArgumentTypes(), ValueRange(results).getTypes()));
  }
};

} // namespace
