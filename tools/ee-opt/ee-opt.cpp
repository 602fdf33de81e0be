//===- ee-opt.cpp - mlir-opt for the ee dialects and passes ---------------===//

#include "dialects/InitAllDialects.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::ee::registerAllDialects(registry);
  mlir::ee::registerEEPasses();
  mlir::ee::registerPipelines();
  mlir::registerTransformsPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Early-exit LLM compiler optimizer driver\n", registry));
}
