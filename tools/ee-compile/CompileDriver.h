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
};

/// Reads a JSON config or an MLIR file (added to `sourceMgr` so diagnostics
/// can quote it) into a verified module; null on error.
OwningOpRef<ModuleOp> loadModel(llvm::SourceMgr &sourceMgr, StringRef path,
                                MLIRContext *context);

/// Runs the pipelines up to `stage` on `module`.
LogicalResult lowerTo(ModuleOp module, EmitStage stage);

/// The ee-compile command line.
int compileMain(int argc, char **argv);

} // namespace mlir::ee

#endif // EE_TOOLS_EE_COMPILE_COMPILEDRIVER_H
