//===- ConfigImport.h - JSON model config -> ee dialect module --*- C++ -*-===//

#ifndef EE_PASSES_MODEL_CONFIGIMPORT_H
#define EE_PASSES_MODEL_CONFIGIMPORT_H

#include "ee/EEDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace mlir::ee {

/// Parses a Hugging Face style JSON config with an `early_exit` block into a
/// verified `#ee.config`. Every problem is reported through the context's
/// diagnostics at a location in `fileName` and names the offending field;
/// unknown fields get a warning.
/// `torchDtype`, where given, receives the config's `torch_dtype` ("" when
/// absent).
FailureOr<ConfigAttr> parseModelConfig(StringRef json, StringRef fileName,
                                       MLIRContext *context, std::string *torchDtype = nullptr);

/// Builds the model-level module for `config`: the parameters (named as the
/// checkpoint tensors), `@forward(ids, positions) -> (exit logits..., final logits)`
/// and `@loss(ids, positions, labels, iteration) -> (objective, final CE, exit
/// CEs...)`, the cross-entropies unweighted at temperature 1 for reporting.
OwningOpRef<ModuleOp> buildModelModule(ConfigAttr config, Location loc);

/// The JSON config of `config` (the inverse of parseModelConfig), as written
/// into checkpoints and compiled models.
std::string exportModelConfig(ConfigAttr config);

/// parseModelConfig + buildModelModule; null on error.
OwningOpRef<ModuleOp> importModelConfig(StringRef json, StringRef fileName,
                                        MLIRContext *context);

} // namespace mlir::ee

#endif // EE_PASSES_MODEL_CONFIGIMPORT_H
