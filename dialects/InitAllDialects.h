//===- InitAllDialects.h - the dialects our tools register ------*- C++ -*-===//

#ifndef EE_DIALECTS_INITALLDIALECTS_H
#define EE_DIALECTS_INITALLDIALECTS_H

#include "ee/EEDialect.h"
#include "eert/EERTDialect.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/Extensions/InlinerExtension.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"

namespace mlir::ee {

/// Our dialects and the upstream ones the pipelines produce or consume.
inline void registerAllDialects(DialectRegistry &registry) {
  registry.insert<EEDialect, eert::EERTDialect, arith::ArithDialect, cf::ControlFlowDialect,
                  func::FuncDialect, LLVM::LLVMDialect, math::MathDialect, scf::SCFDialect,
                  tensor::TensorDialect>();
  func::registerInlinerExtension(registry);
}

} // namespace mlir::ee

#endif // EE_DIALECTS_INITALLDIALECTS_H
