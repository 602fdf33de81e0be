//===- CompileDriver.cpp - ee-compile as a library: load, lower, emit -----===//

#include "tools/ee-compile/CompileDriver.h"

#include "dialects/InitAllDialects.h"
#include "passes/InitAllPasses.h"
#include "passes/model/ConfigImport.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
using namespace mlir::ee;
namespace cl = llvm::cl;

/// A config is JSON: a `.json` file, or anything whose first character is `{`.
static bool isJSONConfig(StringRef path, StringRef text) {
  if (llvm::sys::path::extension(path) == ".json")
    return true;
  return text.ltrim().starts_with("{");
}

OwningOpRef<ModuleOp> mlir::ee::loadModel(llvm::SourceMgr &sourceMgr, StringRef path,
                                          MLIRContext *context) {
  std::string message;
  std::unique_ptr<llvm::MemoryBuffer> file = openInputFile(path, &message);
  if (!file) {
    emitError(UnknownLoc::get(context)) << message;
    return nullptr;
  }
  unsigned id = sourceMgr.AddNewSourceBuffer(std::move(file), SMLoc());
  const llvm::MemoryBuffer *buffer = sourceMgr.getMemoryBuffer(id);
  if (isJSONConfig(path, buffer->getBuffer()))
    return importModelConfig(buffer->getBuffer(), buffer->getBufferIdentifier(), context);
  return parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(context));
}

LogicalResult mlir::ee::lowerTo(ModuleOp module, EmitStage stage) {
  if (stage == EmitStage::EE)
    return success();
  PassManager pm(module->getContext());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  applyDefaultTimingPassManagerCLOptions(pm);
  buildModelToPrimitivesPipeline(pm);
  return pm.run(module);
}

int mlir::ee::compileMain(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                 cl::desc("<config.json | model.mlir>"));
  cl::opt<std::string> outputPath("o", cl::desc("Output file ('-' for stdout)"),
                                  cl::value_desc("path"), cl::init("-"));
  cl::opt<EmitStage> emit(
      "emit", cl::Required, cl::desc("The stage to stop after and write"),
      cl::values(clEnumValN(EmitStage::EE, "ee", "the imported model-level ee module"),
                 clEnumValN(EmitStage::Primitives, "primitives",
                            "after expansion into primitive ee ops")));
  registerAllPasses();
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  cl::ParseCommandLineOptions(argc, argv,
                              "ee-compile: the ahead-of-time early-exit model compiler\n");

  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  OwningOpRef<ModuleOp> module = loadModel(sourceMgr, inputPath, &context);
  if (!module || failed(lowerTo(*module, emit)))
    return 1;

  std::string message;
  std::unique_ptr<llvm::ToolOutputFile> output = openOutputFile(outputPath, &message);
  if (!output) {
    llvm::errs() << "ee-compile: " << message << "\n";
    return 1;
  }
  module->print(output->os());
  output->os() << "\n";
  output->keep();
  return 0;
}
