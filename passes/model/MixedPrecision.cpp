//===- MixedPrecision.cpp - ee-mixed-precision: bf16 weights and product inputs -===//

#include "ee/EEOps.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"

namespace mlir::ee {
#define GEN_PASS_DEF_EEMIXEDPRECISIONPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

RankedTensorType asBF16(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  return tensor.clone(BFloat16Type::get(type.getContext()));
}

bool isProductInput(OpOperand &use) {
  return isa<LinearOp, LogitsOp>(use.getOwner()) && use.getOperandNumber() == 0;
}

/// Ops that read weights and take them in bf16 as they are.
bool readsBF16Weights(OpOperand &use) {
  Operation *user = use.getOwner();
  return isa<LinearOp, LogitsOp>(user) ||
         (isa<RMSNormOp>(user) && use.getOperandNumber() == 1) ||
         (isa<EmbeddingLookupOp>(user) && use.getOperandNumber() == 0);
}

struct EEMixedPrecisionPass : ee::impl::EEMixedPrecisionPassBase<EEMixedPrecisionPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto param : module.getOps<ParameterOp>())
      param.setType(asBF16(param.getType()));
    WalkResult weights = module.walk([&](GetParameterOp get) {
      get.getResult().setType(asBF16(get.getType()));
      for (OpOperand &use : get->getUses())
        if (!readsBF16Weights(use)) {
          use.getOwner()->emitOpError()
              << "reads the weight '@" << get.getName()
              << "' but has no bf16 form (ee-mixed-precision)";
          return WalkResult::interrupt();
        }
      return WalkResult::advance();
    });
    if (weights.wasInterrupted())
      return signalPassFailure();

    // Each f32 value that feeds products: its producer rounds it when the
    // products are its only users, else one ee.convert serves them all.
    SetVector<Value> inputs;
    WalkResult products = module.walk([&](Operation *op) {
      if (!isa<LinearOp, LogitsOp>(op))
        return WalkResult::advance();
      if (!getElementTypeOrSelf(op->getOperand(1)).isBF16()) {
        op->emitOpError("multiplies a weight that is not a parameter, which ee-mixed-precision "
                        "cannot store in bf16");
        return WalkResult::interrupt();
      }
      if (isa<Float32Type>(getElementTypeOrSelf(op->getOperand(0))))
        inputs.insert(op->getOperand(0));
      return WalkResult::advance();
    });
    if (products.wasInterrupted())
      return signalPassFailure();
    OpBuilder b(module.getContext());
    for (Value input : inputs) {
      bool onlyProducts = llvm::all_of(input.getUses(), isProductInput);
      Operation *def = input.getDefiningOp();
      if (onlyProducts && isa_and_nonnull<RMSNormOp, SwiGLUOp>(def)) {
        input.setType(asBF16(input.getType()));
        continue;
      }
      if (def)
        b.setInsertionPointAfter(def);
      else
        b.setInsertionPointToStart(cast<BlockArgument>(input).getOwner());
      Value rounded = ConvertOp::create(b, input.getLoc(), asBF16(input.getType()), input);
      input.replaceUsesWithIf(rounded, isProductInput);
    }
  }
};

} // namespace
