// FuzzMLIRContext.h - the MLIR context the compiler's fuzz targets share.
//
// One context for the whole run (creating one per input would dominate the
// time), single-threaded, with the dialects our inputs use, and diagnostics
// counted rather than printed: a diagnostic is the expected outcome of most inputs.
#ifndef EE_TEST_FUZZ_FUZZMLIRCONTEXT_H
#define EE_TEST_FUZZ_FUZZMLIRCONTEXT_H

#include "ee/EEDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

inline mlir::MLIRContext &fuzzContext() {
  static mlir::MLIRContext *context = [] {
    auto *created = new mlir::MLIRContext(mlir::MLIRContext::Threading::DISABLED);
    created->loadDialect<mlir::ee::EEDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect>();
    created->getDiagEngine().registerHandler([](mlir::Diagnostic &) {});
    return created;
  }();
  return *context;
}

#endif // EE_TEST_FUZZ_FUZZMLIRCONTEXT_H
