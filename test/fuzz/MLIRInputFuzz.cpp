// MLIRInputFuzz.cpp - fuzzes what ee-opt and ee-compile do with MLIR text: the nesting check, parsing and the ee verifiers.
//
// The input goes through checkMLIRNesting (the parser recurses per level) and
// then the MLIR parser with the ee, func and arith dialects, which verifies
// the module: our op, attribute and symbol verifiers see whatever the parser
// accepts. Rejections are diagnostics; nothing may crash or trip a sanitizer.
#include "FuzzMLIRContext.h"
#include "tools/support/ToolInput.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/SourceMgr.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // A copy: the parser needs the text null-terminated, libFuzzer's is not.
  std::unique_ptr<llvm::MemoryBuffer> buffer = llvm::MemoryBuffer::getMemBufferCopy(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "input.mlir");
  std::string error;
  if (mlir::failed(mlir::ee::checkMLIRNesting(*buffer, error)))
    return 0;
  llvm::SourceMgr sources;
  sources.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
  (void)mlir::parseSourceFile<mlir::ModuleOp>(sources, mlir::ParserConfig(&fuzzContext()));
  return 0;
}
