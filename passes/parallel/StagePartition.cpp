//===- StagePartition.cpp - contiguous pipeline stages over the layers ----===//

#include "passes/parallel/StagePartition.h"

#include "mlir/IR/Diagnostics.h"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace mlir;
using namespace mlir::ee;

FailureOr<SmallVector<int64_t>>
mlir::ee::partitionStages(Operation *op, StringRef pass, int64_t layers, int64_t stages,
                          ArrayRef<int64_t> split,
                          function_ref<StageScore(int64_t, int64_t, int64_t)> score,
                          CombineTies combineTies) {
  if (stages < 1 || stages > std::max<int64_t>(layers, 1))
    return op->emitError() << pass << ": " << stages << " pipeline stages for a model of " << layers
                           << " layers (each stage needs at least one layer)";
  SmallVector<int64_t> cuts{0};
  if (!split.empty()) {
    for (int64_t count : split) {
      if (count < 1)
        return op->emitError() << pass << ": every stage of 'split' needs a layer";
      cuts.push_back(cuts.back() + count);
    }
    if (cuts.back() != layers)
      return op->emitError() << pass << ": 'split' covers " << cuts.back()
                             << " layers, the model has " << layers;
    return cuts;
  }
  // best[s][e]: the best of stages 0..s-1 over layers [0, e), and where stage
  // s-1 began (stages x layers^2 scores).
  struct Best {
    double cost = INFINITY, tie = INFINITY;
    int64_t from = -1;
  };
  std::vector<std::vector<Best>> best(stages + 1, std::vector<Best>(layers + 1));
  best[0][0] = {0, 0, 0};
  for (int64_t s = 1; s <= stages; ++s)
    for (int64_t end = s; end <= layers; ++end) {
      if (s == stages && end != layers)
        continue;
      for (int64_t begin = s - 1; begin < end; ++begin) {
        const Best &previous = best[s - 1][begin];
        if (std::isinf(previous.cost))
          continue;
        StageScore stage = score(s - 1, begin, end);
        double cost = std::max(previous.cost, stage.cost);
        double tie = combineTies == CombineTies::Max ? std::max(previous.tie, stage.tie)
                                                     : previous.tie + stage.tie;
        Best &current = best[s][end];
        if (cost < current.cost * 0.99 || (cost <= current.cost * 1.01 && tie < current.tie))
          current = {cost, tie, begin};
      }
    }
  cuts.assign(stages + 1, layers);
  for (int64_t s = stages, end = layers; s > 0; --s) {
    cuts[s] = end;
    end = best[s][end].from;
  }
  cuts[0] = 0;
  return cuts;
}
