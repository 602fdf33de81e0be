// ConfigImportFuzz.cpp - fuzzes the compiler's config importer: arbitrary bytes as a model config.
//
// importModelConfig parses (llvm::json, recursive, so its depth is bounded
// first), checks every field, builds the model-level module and verifies it.
// A refusal is a diagnostic; nothing may crash, hang or trip a sanitizer, and
// an accepted config must give a module that verifies.
#include "FuzzMLIRContext.h"
#include "passes/model/ConfigImport.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::ee::importModelConfig(text, "input.json", &fuzzContext());
  if (module && mlir::failed(mlir::verify(*module)))
    __builtin_trap();
  return 0;
}
