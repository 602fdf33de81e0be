//===- EEOps.h - ee dialect operations --------------------------*- C++ -*-===//

#ifndef EE_DIALECT_EEOPS_H
#define EE_DIALECT_EEOPS_H

#include "ee/EEDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "ee/EEOps.h.inc"

#endif // EE_DIALECT_EEOPS_H
