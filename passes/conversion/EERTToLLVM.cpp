//===- EERTToLLVM.cpp - eert-to-llvm: runtime calls as llvm.call ----------===//

#include "passes/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::ee {
#define GEN_PASS_DEF_EERTTOLLVMPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;

namespace {

/// The LLVM type of every runtime entry point, from abi.def (the same list the
/// runtime's C header is made from).
llvm::StringMap<LLVM::LLVMFunctionType> runtimeFunctionTypes(MLIRContext *context) {
  Type ptr = LLVM::LLVMPointerType::get(context);
  Type i64 = IntegerType::get(context, 64), i32 = IntegerType::get(context, 32);
  Type f32 = Float32Type::get(context), none = LLVM::LLVMVoidType::get(context);
  llvm::StringMap<LLVM::LLVMFunctionType> types;
#define EERT_IN(name) ptr
#define EERT_OUT(name) ptr
#define EERT_IDS(name) ptr
#define EERT_IDS_OUT(name) ptr
#define EERT_U64_IN(name) ptr
#define EERT_U64P(name) ptr
#define EERT_BYTES_IN(name) ptr
#define EERT_BYTES_OUT(name) ptr
#define EERT_BF16_IN(name) ptr
#define EERT_BF16_OUT(name) ptr
#define EERT_I64(name) i64
#define EERT_F32(name) f32
#define EERT_NONE
#define EERT_VOID none
#define EERT_STATUS i32
#define EERT_RET_I32 i32
#define EERT_RET_F32 f32
#define EERT_RET_STR ptr
#define EERT_RET_PTR ptr
#define EERT_EXPAND(...) __VA_ARGS__
#define EERT_FUNCTION(result, name, params)                                             \
  types[#name] = LLVM::LLVMFunctionType::get(result, SmallVector<Type>{EERT_EXPAND params});
#include "runtime/include/eert/abi.def"
#undef EERT_FUNCTION
  return types;
}

struct EERTToLLVMPass : ee::impl::EERTToLLVMPassBase<EERTToLLVMPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    llvm::StringMap<LLVM::LLVMFunctionType> types = runtimeFunctionTypes(context);
    SmallVector<Operation *> calls;
    module.walk([&](Operation *op) {
      if (isa<eert::EERTDialect>(op->getDialect()))
        calls.push_back(op);
    });
    OpBuilder builder(context);
    for (Operation *op : calls) {
      std::string name = op->getName().getStringRef().str();
      name[name.find('.')] = '_';
      auto it = types.find(name);
      if (it == types.end()) {
        op->emitOpError() << "has no runtime entry point '" << name << "' in abi.def";
        return signalPassFailure();
      }
      LLVM::LLVMFunctionType type = it->second;
      bool returnsVoid = isa<LLVM::LLVMVoidType>(type.getReturnType());
      if (TypeRange(op->getOperandTypes()) != TypeRange(type.getParams()) ||
          op->getNumResults() != (returnsVoid ? 0u : 1u) ||
          (!returnsVoid && op->getResult(0).getType() != type.getReturnType())) {
        op->emitOpError() << "does not match the runtime's declaration " << type << " of '"
                          << name << "'";
        return signalPassFailure();
      }
      auto callee = module.lookupSymbol<LLVM::LLVMFuncOp>(name);
      if (!callee) {
        builder.setInsertionPointToStart(module.getBody());
        callee = LLVM::LLVMFuncOp::create(builder, module.getLoc(), name, type);
      }
      builder.setInsertionPoint(op);
      auto call = LLVM::CallOp::create(builder, op->getLoc(), callee, op->getOperands());
      op->replaceAllUsesWith(call->getResults());
      op->erase();
    }
  }
};

} // namespace
