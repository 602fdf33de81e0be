//===- CompileDriver.h - ee-compile as a library ----------------*- C++ -*-===//

#ifndef EE_TOOLS_EE_COMPILE_COMPILEDRIVER_H
#define EE_TOOLS_EE_COMPILE_COMPILEDRIVER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/SourceMgr.h"

namespace mlir::ee {

/// The stages `--emit` can stop after, in pipeline order.
enum class EmitStage {
  /// The imported model-level ee module.
  EE,
  /// After the `ee-model-to-primitives` pipeline.
  Primitives,
  /// After `ee-primitives-to-dist`: each rank's program (pipeline stage
  /// functions, tensor-parallel shards and collectives, backward passes).
  Dist,
  /// After `ee-primitives-to-eert`: buffers, a memory plan, runtime calls.
  EERT,
  /// LLVM IR (text) after `ee-eert-to-llvm` and translation.
  LLVM,
  /// A native object file for the host CPU.
  Object,
  /// The model binary: the object linked with the runtime.
  Executable,
};

/// Reads a JSON config or an MLIR file (added to `sourceMgr` so diagnostics
/// can quote it) into a verified module; null on error.
OwningOpRef<ModuleOp> loadModel(llvm::SourceMgr &sourceMgr, StringRef path,
                                MLIRContext *context);

/// The compiler's choices beyond the stage to stop after.
struct CompileOptions {
  /// Saved activations of the backward pass: none, selective or full.
  std::string recompute = "none";
  /// Pipeline stages; more than one makes pipeline-based generation the default.
  int64_t pipelineStages = 1;
  /// Tensor-parallel ranks (ee-tensor-parallel).
  int64_t tensorParallel = 1;
  /// Elements per data-parallel gradient all-reduce bucket (ee-data-parallel).
  int64_t bucketSize = 40000000;
  /// ZeRO-1's sharded update in the training step (ee-data-parallel).
  bool distributedOptimizer = false;
  /// Layers per pipeline stage (empty: the cost model's split).
  SmallVector<int64_t> pipelineSplit;
  /// Micro-batches per training step of the pipeline plan (0: as many as stages).
  int64_t microbatches = 0;
  /// Extra partial micro-batches filling the planned 1F1B bubbles.
  int64_t fillBubbles = 0;
  /// fp32 or bf16 (ee-mixed-precision).
  std::string dtype = "fp32";
  /// Where to write the planned schedule as a Chrome trace (empty: nowhere).
  std::string scheduleTrace;
};

/// Runs the MLIR pipelines up to `stage` (at most to the LLVM dialect).
LogicalResult lowerTo(ModuleOp module, EmitStage stage, const CompileOptions &options = {});

/// Translates an LLVM-dialect module and writes LLVM IR, an object file or a
/// linked model binary to `outputPath`; a binary runs on the runtime of
/// `target` ("cpu": libeert, "cuda": libeert_cuda).
LogicalResult emitNative(ModuleOp module, EmitStage stage, StringRef outputPath,
                         StringRef target = "cpu");

/// The ee-compile command line.
int compileMain(int argc, char **argv);

} // namespace mlir::ee

#endif // EE_TOOLS_EE_COMPILE_COMPILEDRIVER_H
