//===- InitAllPasses.h - the passes and pipelines our tools register -*- C++ -*-===//

#ifndef EE_PASSES_INITALLPASSES_H
#define EE_PASSES_INITALLPASSES_H

#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/Transforms/Passes.h"

namespace mlir::ee {

/// Our passes and named pipelines, plus the upstream transforms (canonicalize,
/// cse, inline, ...) they are combined with; shared by ee-opt and ee-compile so
/// that pass names mean the same in both (e.g. --mlir-print-ir-after=ee-expand).
inline void registerAllPasses() {
  registerEEPasses();
  registerPipelines();
  registerTransformsPasses();
}

} // namespace mlir::ee

#endif // EE_PASSES_INITALLPASSES_H
