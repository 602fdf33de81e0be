//===- Traffic.h - the deadlock check of generated pipeline traffic -*- C++ -*-===//

#ifndef EE_PASSES_PARALLEL_TRAFFIC_H
#define EE_PASSES_PARALLEL_TRAFFIC_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::ee {

/// Runs the stages' sends, receives and waits (steps[s] is stage s's
/// function, straight-line) against each other: a receive's wait completes
/// once its sender posted the send, a send's wait once its receiver waits for
/// it (the strictest reading of MPI's rules). Fails naming every stuck stage,
/// or a message without its matching partner; `pass` prefixes the errors.
LogicalResult checkTraffic(ModuleOp module, ArrayRef<func::FuncOp> steps, StringRef pass);

} // namespace mlir::ee

#endif // EE_PASSES_PARALLEL_TRAFFIC_H
