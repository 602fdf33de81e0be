//===- Pipelines.cpp - named pass pipelines shared by ee-opt and ee-compile -===//

#include "passes/Pipelines.h"
#include "passes/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void ee::buildModelToPrimitivesPipeline(OpPassManager &pm,
                                        const ModelToPrimitivesOptions &options) {
  EEGenerateInferencePassOptions inference;
  inference.method = options.method;
  inference.stages = options.stages;
  inference.split.assign(options.split.begin(), options.split.end());
  pm.addPass(createEEGenerateInferencePass(inference));
  // Several stages: the pipeline-parallel training plan and its 1F1B schedule.
  if (options.stages > 1 || !options.split.empty() || !options.scheduleTrace.empty()) {
    EEPipelinePartitionPassOptions partition;
    partition.stages = options.split.empty() ? static_cast<int64_t>(options.stages)
                                             : static_cast<int64_t>(options.split.size());
    partition.split.assign(options.split.begin(), options.split.end());
    partition.microbatches = options.microbatches;
    pm.addPass(createEEPipelinePartitionPass(partition));
    EEPipelineSchedulePassOptions schedule;
    schedule.fillBubbles = options.fillBubbles;
    schedule.trace = options.scheduleTrace;
    pm.addPass(createEEPipelineSchedulePass(schedule));
    if (partition.stages > 1)
      pm.addPass(createEEExitGradientsPass());
  }
  pm.addPass(createEEExpandPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (options.dtype == "bf16")
    pm.addPass(createEEMixedPrecisionPass());
}

void ee::buildPrimitivesToDistPipeline(OpPassManager &pm,
                                       const PrimitivesToEERTOptions &options) {
  // Generation runs the ee-generate-inference functions, cached in place.
  EEKVCachePassOptions kvCache;
  kvCache.function = "";
  pm.addPass(createEEKVCachePass(kvCache));
  pm.addPass(createInlinerPass());
  if (options.tensorParallel > 1) {
    EETensorParallelPassOptions split;
    split.size = options.tensorParallel;
    pm.addPass(createEETensorParallelPass(split));
  }
  EEAutodiffPassOptions autodiff;
  autodiff.recompute = options.recompute;
  pm.addPass(createEEAutodiffPass(autodiff));
  pm.addPass(createEEPipelineStepPass());
  // The pipeline steps call their stages' functions: one body to plan memory
  // over, and to place the gradient reduction in.
  pm.addPass(createInlinerPass());
  EEDataParallelPassOptions dataParallel;
  dataParallel.bucketSize = options.bucketSize;
  dataParallel.distributedOptimizer = options.distributedOptimizer;
  pm.addPass(createEEDataParallelPass(dataParallel));
}

void ee::buildPrimitivesToEERTPipeline(OpPassManager &pm,
                                       const PrimitivesToEERTOptions &options) {
  buildPrimitivesToDistPipeline(pm, options);
  pm.addPass(createEEPlanMemoryPass());
  pm.addPass(createEELowerToEERTPass());
  pm.addPass(createEEEmitManifestPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void ee::buildEERTToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(createEERTToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void ee::registerPipelines() {
  PassPipelineRegistration<PrimitivesToEERTOptions>(
      "ee-primitives-to-dist",
      "Derive the KV-cached step functions, inline, split over tensor-parallel ranks, "
      "generate the backward passes, each pipeline stage's training step and each rank's update step "
      "(each rank's program)",
      buildPrimitivesToDistPipeline);
  PassPipelineRegistration<PrimitivesToEERTOptions>(
      "ee-primitives-to-eert",
      "Derive the KV-cached step function, inline, plan memory, lower to runtime calls",
      buildPrimitivesToEERTPipeline);
  PassPipelineRegistration<>("ee-eert-to-llvm",
                             "Lower runtime calls and all other ops to the LLVM dialect",
                             buildEERTToLLVMPipeline);
  PassPipelineRegistration<ModelToPrimitivesOptions>(
      "ee-model-to-primitives",
      "Generate the early-exit inference steps, expand model-level ee ops into "
      "primitives, then canonicalize and CSE",
      buildModelToPrimitivesPipeline);
}
