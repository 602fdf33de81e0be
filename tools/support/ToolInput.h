//===- ToolInput.h - bounded reading of ee-opt's and ee-compile's inputs --===//
//
// The MLIR parser and llvm::json recurse once per nesting level and read
// whatever a path yields; these checks run first, so that a FIFO, a device,
// an oversized file or text nested thousands of levels deep gets an error
// naming the file and the limit instead of a hang or a stack overflow.
//
//===----------------------------------------------------------------------===//

#ifndef EE_TOOLS_SUPPORT_TOOLINPUT_H
#define EE_TOOLS_SUPPORT_TOOLINPUT_H

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace mlir::ee {

/// The largest MLIR file the tools read: the text of a 3000-layer model's
/// deepest stage is about 50 MB, and parsing costs some ten times the text.
constexpr uint64_t kMaxMLIRInputBytes = uint64_t(1) << 30;
/// The deepest MLIR nesting of brackets and regions accepted. Our modules nest
/// a handful of levels; the parser's recursion stays well within the stack.
constexpr size_t kMaxMLIRNesting = 256;

/// Reads `path` ("-" for standard input) whole if it is a regular file (or
/// stdin) of at most `maxBytes`; otherwise null with `error` naming the file
/// and the reason. Opening never blocks: a FIFO is refused, not waited on.
std::unique_ptr<llvm::MemoryBuffer> openBoundedInput(StringRef path, uint64_t maxBytes,
                                                     std::string &error);

/// The byte offset at which MLIR `text` nests `( [ { <` deeper than
/// `maxDepth`, or nullopt. Strings and `//` comments do not count, nor the
/// `>` of `->`; the text need not be valid MLIR.
std::optional<size_t> findMLIRNestingViolation(StringRef text, size_t maxDepth = kMaxMLIRNesting);

/// Fails with "FILE:LINE:COL: ..." in `error` where `buffer` nests too deeply.
LogicalResult checkMLIRNesting(const llvm::MemoryBuffer &buffer, std::string &error);

/// mlir-opt's main (MlirOptMain) with the input read through openBoundedInput
/// and checked by checkMLIRNesting before the parser sees it.
LogicalResult boundedOptMain(int argc, char **argv, StringRef toolName,
                             DialectRegistry &registry);

} // namespace mlir::ee

#endif // EE_TOOLS_SUPPORT_TOOLINPUT_H
