//===- EERTDialect.h - the eert dialect: runtime calls ---------*- C++ -*-===//

#ifndef EE_DIALECT_EERTDIALECT_H
#define EE_DIALECT_EERTDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"

#include "eert/EERTDialect.h.inc"

#define GET_OP_CLASSES
#include "eert/EERTOps.h.inc"

#endif // EE_DIALECT_EERTDIALECT_H
