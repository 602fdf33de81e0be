// ConfigImportFuzz.cpp - fuzzes the compiler's config importer: arbitrary bytes as a model config.
//
// importModelConfig parses (llvm::json, recursive, so its depth is bounded
// first), checks every field, builds the model-level module and verifies it.
// A refusal is a diagnostic; nothing may crash, hang or trip a sanitizer, and
// an accepted config must give a module that verifies.
#include "passes/model/ConfigImport.h"

#include "ee/EEDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstdint>

namespace {
mlir::MLIRContext &context() {
  static mlir::MLIRContext *context = [] {
    auto *created = new mlir::MLIRContext(mlir::MLIRContext::Threading::DISABLED);
    created->loadDialect<mlir::ee::EEDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect>();
    // Diagnostics are the expected outcome for most inputs: count, do not print.
    created->getDiagEngine().registerHandler([](mlir::Diagnostic &) {});
    return created;
  }();
  return *context;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ee::importModelConfig(text, "input.json", &context());
  if (module && mlir::failed(mlir::verify(*module)))
    __builtin_trap();
  return 0;
}
