//===- Pipelines.h - named pass pipelines shared by ee-opt and ee-compile ===//

#ifndef EE_PASSES_PIPELINES_H
#define EE_PASSES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace mlir::ee {

/// `ee-model-to-primitives`: model-level ops -> primitive ops, folded and CSE'd.
/// This is what `ee-compile --emit primitives` runs after import.
void buildModelToPrimitivesPipeline(OpPassManager &pm);

/// Registers the named pipelines with the global pass registry.
void registerPipelines();

} // namespace mlir::ee

#endif // EE_PASSES_PIPELINES_H
