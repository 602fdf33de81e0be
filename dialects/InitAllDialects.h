//===- InitAllDialects.h - the dialects our tools register ------*- C++ -*-===//

#ifndef EE_DIALECTS_INITALLDIALECTS_H
#define EE_DIALECTS_INITALLDIALECTS_H

#include "ee/EEDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"

namespace mlir::ee {

/// Our dialects and the upstream ones the pipelines produce or consume.
inline void registerAllDialects(DialectRegistry &registry) {
  registry.insert<EEDialect, arith::ArithDialect, func::FuncDialect, scf::SCFDialect,
                  shard::ShardDialect, tensor::TensorDialect>();
}

} // namespace mlir::ee

#endif // EE_DIALECTS_INITALLDIALECTS_H
