//===- EERTDialect.cpp - the eert dialect: runtime calls ------------------===//

#include "eert/EERTDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::eert;

#include "eert/EERTDialect.cpp.inc"

void EERTDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "eert/EERTOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "eert/EERTOps.cpp.inc"
