//===- Pipelines.cpp - named pass pipelines shared by ee-opt and ee-compile -===//

#include "passes/Pipelines.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void ee::buildModelToPrimitivesPipeline(OpPassManager &pm) {
  pm.addPass(createEEExpandPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void ee::registerPipelines() {
  PassPipelineRegistration<>(
      "ee-model-to-primitives",
      "Expand model-level ee ops into primitives, then canonicalize and CSE",
      buildModelToPrimitivesPipeline);
}
