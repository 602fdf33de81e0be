//===- Pipelines.h - named pass pipelines shared by ee-opt and ee-compile ===//

#ifndef EE_PASSES_PIPELINES_H
#define EE_PASSES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::ee {

/// `ee-model-to-primitives`: the early-exit generation step functions, then
/// model-level ops -> primitive ops, folded and CSE'd. This is what
/// `ee-compile --emit primitives` runs after import.
struct ModelToPrimitivesOptions : public PassPipelineOptions<ModelToPrimitivesOptions> {
  Option<std::string> method{*this, "method",
                             llvm::cl::desc("Default early-exit generation method: recompute "
                                            "or pipeline"),
                             llvm::cl::init("recompute")};
  Option<int64_t> stages{*this, "stages", llvm::cl::desc("Pipeline stages"), llvm::cl::init(1)};
  ListOption<int64_t> split{*this, "split", llvm::cl::desc("Layers per pipeline stage")};
  Option<int64_t> microbatches{*this, "microbatches",
                               llvm::cl::desc("Micro-batches per training step of the "
                                              "pipeline plan (0: as many as stages)"),
                               llvm::cl::init(0)};
  Option<int64_t> fillBubbles{*this, "fill-bubbles",
                              llvm::cl::desc("Extra partial micro-batches filling the 1F1B "
                                             "bubbles"),
                              llvm::cl::init(0)};
  Option<std::string> dtype{*this, "dtype",
                            llvm::cl::desc("fp32, or bf16: bf16 weights and linear-product "
                                           "inputs (ee-mixed-precision)"),
                            llvm::cl::init("fp32")};
  Option<std::string> scheduleTrace{*this, "schedule-trace",
                                    llvm::cl::desc("Write the planned 1F1B schedule as a "
                                                   "Chrome trace to this file"),
                                    llvm::cl::init("")};
};
void buildModelToPrimitivesPipeline(OpPassManager &pm, const ModelToPrimitivesOptions &options);

/// `ee-primitives-to-dist`: derive the KV-cached step functions, inline the
/// model functions, split them over tensor-parallel ranks and generate the
/// backward passes: each rank's program on tensors (`--emit dist`).
/// `ee-primitives-to-eert` continues with memory planning and runtime calls
/// (`--emit eert`).
struct PrimitivesToEERTOptions : public PassPipelineOptions<PrimitivesToEERTOptions> {
  Option<std::string> recompute{
      *this, "recompute",
      llvm::cl::desc("Activations of the backward pass: none (save all), selective, full"),
      llvm::cl::init("none")};
  Option<int64_t> tensorParallel{*this, "tensor-parallel",
                                 llvm::cl::desc("Tensor-parallel ranks (ee-tensor-parallel)"),
                                 llvm::cl::init(1)};
  Option<int64_t> bucketSize{*this, "ddp-bucket-size",
                             llvm::cl::desc("Elements per data-parallel gradient all-reduce "
                                            "bucket (ee-data-parallel)"),
                             llvm::cl::init(40000000)};
  Option<bool> distributedOptimizer{
      *this, "distributed-optimizer",
      llvm::cl::desc("ZeRO-1: shard the AdamW state over the data-parallel replicas "
                     "(ee-data-parallel)"),
      llvm::cl::init(false)};
};
void buildPrimitivesToDistPipeline(OpPassManager &pm, const PrimitivesToEERTOptions &options);
void buildPrimitivesToEERTPipeline(OpPassManager &pm, const PrimitivesToEERTOptions &options);

/// `ee-eert-to-llvm`: runtime calls and everything else to the LLVM dialect
/// (what `--emit llvm` translates to LLVM IR).
void buildEERTToLLVMPipeline(OpPassManager &pm);

/// Registers the named pipelines with the global pass registry.
void registerPipelines();

} // namespace mlir::ee

#endif // EE_PASSES_PIPELINES_H
