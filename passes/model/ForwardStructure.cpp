//===- ForwardStructure.cpp - the model-level pieces of a forward function ===//

#include "passes/model/ForwardStructure.h"

using namespace mlir;
using namespace mlir::ee;

FailureOr<ForwardStructure> mlir::ee::analyzeForward(func::FuncOp forward, StringRef passName) {
  ForwardStructure structure;
  DenseMap<Value, int64_t> layersBefore;
  for (Operation &op : forward.front()) {
    if (auto embedding = dyn_cast<EmbeddingOp>(op)) {
      structure.embedding = embedding;
      layersBefore[embedding.getResult()] = 0;
    } else if (auto layer = dyn_cast<DecoderLayerOp>(op)) {
      if (!layersBefore.contains(layer.getInput()))
        return layer.emitOpError() << passName << " needs the layers as one chain";
      structure.layers.push_back(layer);
      layersBefore[layer.getOutput()] = layersBefore[layer.getResidual()] =
          static_cast<int64_t>(structure.layers.size());
    } else if (auto exit = dyn_cast<ExitOp>(op)) {
      auto it = layersBefore.find(exit.getInput());
      if (it == layersBefore.end())
        return exit.emitOpError() << passName << " needs exits that read the layer chain";
      structure.exits.push_back({exit, it->second});
    } else if (auto head = dyn_cast<FinalHeadOp>(op)) {
      structure.finalHead = head;
    }
  }
  if (!structure.embedding || !structure.finalHead)
    return forward.emitError() << passName
                               << " needs a model-level forward function "
                                  "(ee.embedding ... ee.final_head)";
  Value last = structure.layers.empty() ? structure.embedding.getResult()
                                        : structure.layers.back().getOutput();
  if (structure.finalHead.getInput() != last)
    return structure.finalHead.emitOpError()
           << passName << " needs the final head to read the last layer's output";
  llvm::sort(structure.exits, [](auto &a, auto &b) {
    return a.first.getIndex() < b.first.getIndex();
  });
  return structure;
}

double mlir::ee::parameterCount(ModuleOp module, StringRef prefix) {
  double count = 0;
  for (auto param : module.getOps<ParameterOp>())
    if (param.getSymName().starts_with(prefix))
      count += static_cast<double>(param.getTensorType().getNumElements());
  return count;
}
