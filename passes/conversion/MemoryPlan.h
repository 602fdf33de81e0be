//===- MemoryPlan.h - the arena plan ee-plan-memory records -----*- C++ -*-===//
//
// Shared by ee-plan-memory, which places every value of a function in its
// arena and records it on the IR (#ee.buffer, #ee.arena), and
// ee-lower-to-eert, which reads the plan back.
//
//===----------------------------------------------------------------------===//

#ifndef EE_PASSES_CONVERSION_MEMORYPLAN_H
#define EE_PASSES_CONVERSION_MEMORYPLAN_H

#include "ee/EEOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::ee {

/// Where each value produced in a function lives.
struct MemoryPlan {
  DenseMap<Value, int64_t> perTokenOffset; // arena + tokens * offset
  DenseMap<Value, int64_t> fixedOffset;    // arena + tokens * perTokenBytes + offset
  int64_t perTokenBytes = 0;
  int64_t fixedBytes = 0;
};

/// Bytes per element of a planned tensor: 2 for bf16, 4 for f32 (and the
/// other 4-byte types the arenas hold).
inline int64_t elementBytes(ShapedType type) {
  return type.getElementType().isBF16() ? 2 : type.getElementType().isInteger(64) ? 8 : 4;
}

/// The wait that delivers what the start of `request` began, if any.
WaitOp waitOf(Value request);

/// Whether an all-reduce or reduce-scatter sums its input's own buffer: a
/// tensor that an op of the function made and nothing else reads (a
/// gradient, ee-data-parallel); otherwise the sum goes to a copy.
bool reducesInPlace(Operation *start);

/// The plan ee-plan-memory recorded on `func`; fails (with a diagnostic) on
/// a function it has not planned.
FailureOr<MemoryPlan> readMemoryPlan(func::FuncOp func);

} // namespace mlir::ee

#endif // EE_PASSES_CONVERSION_MEMORYPLAN_H
