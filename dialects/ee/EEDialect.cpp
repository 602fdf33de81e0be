//===- EEDialect.cpp - ee dialect registration and module attributes ------===//

#include "ee/EEDialect.h"
#include "ee/EEOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Transforms/InliningUtils.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::ee;

#include "ee/EEDialect.cpp.inc"
#include "ee/EEEnums.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "ee/EETypes.cpp.inc"

void EEDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "ee/EETypes.cpp.inc"
      >();
}

namespace {
/// Every ee op is a pure function of its operands (or a declaration), so
/// calls of model functions can be inlined (the objective calls the forward pass).
struct EEInlinerInterface : DialectInlinerInterface {
  using DialectInlinerInterface::DialectInlinerInterface;
  bool isLegalToInline(Operation *, Region *, bool, IRMapping &) const final { return true; }
};
} // namespace

void EEDialect::initialize() {
  registerAttributes();
  registerTypes();
  addInterfaces<EEInlinerInterface>();
  addOperations<
#define GET_OP_LIST
#include "ee/EEOps.cpp.inc"
      >();
}

LogicalResult EEDialect::verifyOperationAttribute(Operation *op, NamedAttribute attr) {
  if (attr.getName() == getTorchDtypeAttrName()) {
    auto dtype = dyn_cast<StringAttr>(attr.getValue());
    if (!isa<ModuleOp>(op) || !dtype ||
        !llvm::is_contained({"float32", "float16", "bfloat16"}, dtype.getValue()))
      return op->emitError() << "'" << getTorchDtypeAttrName()
                             << "' must be \"float32\", \"float16\" or \"bfloat16\" on a module";
    return success();
  }
  if (attr.getName() == getKVCacheAttrName()) {
    auto func = dyn_cast<FunctionOpInterface>(op);
    if (!func)
      return op->emitError() << "'" << getKVCacheAttrName() << "' must be attached to a function";
    auto rows = dyn_cast<IntegerAttr>(attr.getValue());
    if (!rows || rows.getInt() < 0 ||
        rows.getInt() >= static_cast<int64_t>(func.getNumArguments()))
      return op->emitError() << "'" << getKVCacheAttrName()
                             << "' must be the index of the function's cache-rows argument";
    return success();
  }
  if (attr.getName() == getDifferentiateAttrName() || attr.getName() == getSplitBackwardAttrName()) {
    auto func = dyn_cast<FunctionOpInterface>(op);
    auto indices = dyn_cast<DenseI64ArrayAttr>(attr.getValue());
    if (!func || !indices ||
        llvm::any_of(indices.asArrayRef(), [&](int64_t i) {
          return i < 0 || i >= static_cast<int64_t>(func.getNumArguments());
        }))
      return op->emitError() << "'" << attr.getName().getValue()
                             << "' must list argument indices of a function";
    return success();
  }
  if (attr.getName() == getGradientsAttrName()) {
    auto names = dyn_cast<ArrayAttr>(attr.getValue());
    if (!isa<FunctionOpInterface>(op) || !names ||
        !llvm::all_of(names, llvm::IsaPred<StringAttr>))
      return op->emitError() << "'" << getGradientsAttrName()
                             << "' must be an array of parameter names on a function";
    return success();
  }
  if (attr.getName() == getStageAttrName()) {
    auto stage = dyn_cast<IntegerAttr>(attr.getValue());
    if (!isa<FunctionOpInterface>(op) || !stage || stage.getInt() < 0)
      return op->emitError() << "'" << getStageAttrName()
                             << "' must be a non-negative integer on a function";
    return success();
  }
  // The plans of the parallel and generation passes, on the module.
  auto modulePlan = [&](auto typed, StringRef what) -> LogicalResult {
    if (!isa<ModuleOp>(op) || !isa<decltype(typed)>(attr.getValue()))
      return op->emitError() << "'" << attr.getName().getValue() << "' must be " << what
                             << " attached to a builtin.module";
    return success();
  };
  if (attr.getName() == getInferenceAttrName())
    return modulePlan(InferenceAttr(), "an #ee.inference");
  if (attr.getName() == getPipelineAttrName())
    return modulePlan(PipelineAttr(), "an #ee.pipeline");
  if (attr.getName() == getTensorParallelAttrName())
    return modulePlan(TensorParallelAttr(), "an #ee.tensor_parallel");
  if (attr.getName() == getDataParallelAttrName())
    return modulePlan(DataParallelAttr(), "an #ee.data_parallel");
  if (attr.getName() == getBuffersAttrName()) {
    auto buffers = dyn_cast<ArrayAttr>(attr.getValue());
    if (!buffers || buffers.size() != op->getNumResults() ||
        !llvm::all_of(buffers, llvm::IsaPred<BufferAttr, UnitAttr>))
      return op->emitError() << "'" << getBuffersAttrName() << "' must hold one #ee.buffer (or unit) per result";
    return success();
  }
  if (attr.getName() == getArenaAttrName()) {
    if (!isa<FunctionOpInterface>(op) || !isa<ArenaAttr>(attr.getValue()))
      return op->emitError() << "'" << getArenaAttrName() << "' must be an #ee.arena on a function";
    return success();
  }
  if (attr.getName() == getEntryAttrName()) {
    if (!isa<FunctionOpInterface>(op) || !isa<DictionaryAttr>(attr.getValue()))
      return op->emitError() << "'" << getEntryAttrName() << "' must be a dictionary on a function";
    return success();
  }
  if (attr.getName() != getConfigAttrName())
    return op->emitError() << "unknown ee dialect attribute '" << attr.getName().getValue()
                           << "'";
  if (!isa<ModuleOp>(op))
    return op->emitError() << "'" << getConfigAttrName()
                           << "' must be attached to a builtin.module";
  if (!isa<ConfigAttr>(attr.getValue()))
    return op->emitError() << "'" << getConfigAttrName() << "' must be an #ee.config";
  return success();
}

Operation *EEDialect::materializeConstant(OpBuilder &builder, Attribute value, Type type,
                                          Location loc) {
  if (auto typed = dyn_cast<TypedAttr>(value); typed && typed.getType() == type)
    return arith::ConstantOp::create(builder, loc, type, typed);
  return nullptr;
}
