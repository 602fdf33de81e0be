//===- ToolInput.cpp - bounded reading of ee-opt's and ee-compile's inputs ===//

#include "tools/support/ToolInput.h"

#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace mlir;

static std::string sizeText(uint64_t bytes) {
  return bytes >= (uint64_t(1) << 20) ? std::to_string(bytes >> 20) + " MiB"
                                      : std::to_string(bytes) + " bytes";
}

/// Reads stdin to its end, giving up past `maxBytes` (it has no size to check first).
static std::unique_ptr<llvm::MemoryBuffer> readStream(int fd, StringRef name, uint64_t maxBytes,
                                                      std::string &error) {
  std::string text;
  char chunk[1 << 16];
  while (true) {
    ssize_t got = ::read(fd, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      error = "cannot read '" + name.str() + "': " + std::strerror(errno);
      return nullptr;
    }
    if (got == 0)
      break;
    if (text.size() + got > maxBytes) {
      error = "'" + name.str() + "' is larger than the " + sizeText(maxBytes) + " limit";
      return nullptr;
    }
    text.append(chunk, got);
  }
  return llvm::MemoryBuffer::getMemBufferCopy(text, name);
}

std::unique_ptr<llvm::MemoryBuffer> mlir::ee::openBoundedInput(StringRef path, uint64_t maxBytes,
                                                               std::string &error) {
  if (path == "-")
    return readStream(STDIN_FILENO, "<stdin>", maxBytes, error);
  std::string name = path.str();
  int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    error = "cannot open input file '" + name + "': " + std::strerror(errno);
    return nullptr;
  }
  struct stat info;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    error = "'" + name + "' is not a regular file";
    return nullptr;
  }
  if (static_cast<uint64_t>(info.st_size) > maxBytes) {
    ::close(fd);
    error = "'" + name + "' is " + sizeText(info.st_size) + ", larger than the " +
            sizeText(maxBytes) + " limit";
    return nullptr;
  }
  // A regular file never blocks; the flag only kept open() from waiting on a FIFO.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  // Read once into the buffer, not mapped (IsVolatile): a file truncated
  // underneath cannot fault the parser.
  auto buffer = llvm::MemoryBuffer::getOpenFile(llvm::sys::fs::convertFDToNativeFile(fd), name,
                                                info.st_size, /*RequiresNullTerminator=*/true,
                                                /*IsVolatile=*/true);
  ::close(fd);
  if (!buffer) {
    error = "cannot read '" + name + "': " + buffer.getError().message();
    return nullptr;
  }
  return std::move(*buffer);
}

std::optional<size_t> mlir::ee::findMLIRNestingViolation(StringRef text, size_t maxDepth) {
  size_t depth = 0;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (c == '"') {
      for (++i; i < e && text[i] != '"'; ++i)
        if (text[i] == '\\')
          ++i;
    } else if (c == '/' && i + 1 < e && text[i + 1] == '/') {
      i = text.find('\n', i);
      if (i == StringRef::npos)
        break;
    } else if (c == '(' || c == '[' || c == '{' || c == '<') {
      if (++depth > maxDepth)
        return i;
    } else if ((c == ')' || c == ']' || c == '}' || (c == '>' && (i == 0 || text[i - 1] != '-'))) &&
               depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

LogicalResult mlir::ee::checkMLIRNesting(const llvm::MemoryBuffer &buffer, std::string &error) {
  StringRef text = buffer.getBuffer();
  std::optional<size_t> at = findMLIRNestingViolation(text);
  if (!at)
    return success();
  StringRef before = text.take_front(*at);
  size_t lineStart = before.rfind('\n');
  size_t column = *at - (lineStart == StringRef::npos ? 0 : lineStart + 1) + 1;
  error = (buffer.getBufferIdentifier() + ":" + Twine(1 + before.count('\n')) + ":" +
           Twine(column) + ": error: nesting deeper than " + Twine(kMaxMLIRNesting) +
           " levels of brackets and regions")
              .str();
  return failure();
}

LogicalResult mlir::ee::boundedOptMain(int argc, char **argv, StringRef toolName,
                                       DialectRegistry &registry) {
  llvm::InitLLVM initLLVM(argc, argv);
  auto [inputPath, outputPath] = registerAndParseCLIOptions(argc, argv, toolName, registry);
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();
  if (config.shouldShowDialects() || config.shouldListPasses())
    return MlirOptMain(argc, argv, inputPath, outputPath, registry);
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input = openBoundedInput(inputPath, kMaxMLIRInputBytes, error);
  if (!input || failed(checkMLIRNesting(*input, error))) {
    llvm::errs() << error << "\n";
    return failure();
  }
  std::unique_ptr<llvm::ToolOutputFile> output = openOutputFile(outputPath, &error);
  if (!output) {
    llvm::errs() << error << "\n";
    return failure();
  }
  if (failed(MlirOptMain(output->os(), std::move(input), registry, config)))
    return failure();
  output->keep();
  return success();
}
