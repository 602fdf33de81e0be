//===- ee-opt.cpp - mlir-opt for the ee dialects and passes ---------------===//

#include "dialects/InitAllDialects.h"
#include "passes/InitAllPasses.h"
#include "tools/support/ToolInput.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::ee::registerAllDialects(registry);
  mlir::ee::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::ee::boundedOptMain(argc, argv, "Early-exit LLM compiler optimizer driver\n", registry));
}
