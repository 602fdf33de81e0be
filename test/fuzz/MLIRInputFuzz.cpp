// MLIRInputFuzz.cpp - fuzzes what ee-opt and ee-compile do with MLIR text: the nesting check, parsing and the ee verifiers.
//
// The input goes through checkMLIRNesting (the parser recurses per level) and
// then the MLIR parser with the ee, func and arith dialects, which verifies
// the module: our op, attribute and symbol verifiers see whatever the parser
// accepts. Rejections are diagnostics; nothing may crash or trip a sanitizer.
#include "tools/support/ToolInput.h"

#include "ee/EEDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/SourceMgr.h"

#include <cstdint>

namespace {
mlir::MLIRContext &context() {
  static mlir::MLIRContext *context = [] {
    auto *created = new mlir::MLIRContext(mlir::MLIRContext::Threading::DISABLED);
    created->loadDialect<mlir::ee::EEDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect>();
    created->getDiagEngine().registerHandler([](mlir::Diagnostic &) {});
    return created;
  }();
  return *context;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::unique_ptr<llvm::MemoryBuffer> buffer = llvm::MemoryBuffer::getMemBuffer(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "input.mlir",
      /*RequiresNullTerminator=*/false);
  std::string error;
  if (mlir::failed(mlir::ee::checkMLIRNesting(*buffer, error)))
    return 0;
  llvm::SourceMgr sources;
  sources.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(buffer->getBuffer(), "input.mlir"),
                             llvm::SMLoc());
  (void)mlir::parseSourceFile<mlir::ModuleOp>(sources, mlir::ParserConfig(&context()));
  return 0;
}
