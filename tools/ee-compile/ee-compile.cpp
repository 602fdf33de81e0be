//===- ee-compile.cpp - the ahead-of-time compiler driver -----------------===//

#include "tools/ee-compile/CompileDriver.h"

int main(int argc, char **argv) { return mlir::ee::compileMain(argc, argv); }
