//===- ForwardStructure.h - the model-level pieces of a forward function -===//
//
// What passes that split a model (generation step functions, pipeline
// stages) need to know of its forward function: the embedding, the chain of
// decoder layers, where each exit reads and the final head.
//
//===----------------------------------------------------------------------===//

#ifndef EE_PASSES_MODEL_FORWARDSTRUCTURE_H
#define EE_PASSES_MODEL_FORWARDSTRUCTURE_H

#include "ee/EEOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::ee {

/// Where each model-level piece of the forward function sits.
struct ForwardStructure {
  EmbeddingOp embedding;
  SmallVector<DecoderLayerOp> layers;
  /// Per exit (by index): the op and the number of layers run before it reads.
  SmallVector<std::pair<ExitOp, int64_t>> exits;
  FinalHeadOp finalHead;
};

/// Analyzes a model-level forward function (ee.embedding, a chain of
/// ee.decoder_layer, ee.exit ops reading the chain, ee.final_head on the last
/// layer); emits an error naming `passName` and fails otherwise.
FailureOr<ForwardStructure> analyzeForward(func::FuncOp forward, StringRef passName);

/// The number of elements of the ee.parameter symbols whose names start with `prefix`.
double parameterCount(ModuleOp module, StringRef prefix);

} // namespace mlir::ee

#endif // EE_PASSES_MODEL_FORWARDSTRUCTURE_H
