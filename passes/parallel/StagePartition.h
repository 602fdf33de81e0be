//===- StagePartition.h - contiguous pipeline stages over the layers -*- C++ -*-===//
//
// The one stage partitioner of training (ee-pipeline-partition) and inference
// (ee-generate-inference): each gives its own cost of a candidate stage.
//
//===----------------------------------------------------------------------===//

#ifndef EE_PASSES_PARALLEL_STAGEPARTITION_H
#define EE_PASSES_PARALLEL_STAGEPARTITION_H

#include "mlir/IR/Operation.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

namespace mlir::ee {

/// What a candidate stage costs: the split minimises the most expensive
/// stage's `cost`; among splits within 1% of each other it prefers the
/// smaller `tie`, the tie-breakers of the stages combined as `combineTies`
/// says (their maximum, or their sum).
struct StageScore {
  double cost = 0, tie = 0;
};
enum class CombineTies { Max, Sum };

/// Stage s runs layers [cuts[s], cuts[s + 1]) of `layers`: from `split`
/// (layers per stage) when given, checked to cover the model with a layer
/// per stage, else chosen by `score(stage, begin, end)` over every split into
/// `stages` stages of at least one layer each. Fails with a diagnostic on
/// `op` naming `pass`.
FailureOr<SmallVector<int64_t>>
partitionStages(Operation *op, StringRef pass, int64_t layers, int64_t stages, ArrayRef<int64_t> split,
                function_ref<StageScore(int64_t stage, int64_t begin, int64_t end)> score,
                CombineTies combineTies);

} // namespace mlir::ee

#endif // EE_PASSES_PARALLEL_STAGEPARTITION_H
