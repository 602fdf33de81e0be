//===- Passes.h - declarations and registration of the ee passes -*- C++ -*-===//

#ifndef EE_PASSES_PASSES_H
#define EE_PASSES_PASSES_H

#include "ee/EEDialect.h"
#include "eert/EERTDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::ee {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace mlir::ee

#endif // EE_PASSES_PASSES_H
