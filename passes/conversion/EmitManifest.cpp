//===- EmitManifest.cpp - ee-emit-manifest: the runtime's JSON manifest ---===//
//
// Gathers what the runtime needs to know of a lowered module (the config, the
// parameters, each entry point's ee.entry record, the inference, pipeline,
// data- and tensor-parallel plans) into the JSON string `@ee_manifest`, and
// removes the ee-level declarations and attributes it came from.
//
//===----------------------------------------------------------------------===//

#include "ee/EEOps.h"
#include "passes/Passes.h"
#include "passes/model/ConfigImport.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

namespace mlir::ee {
#define GEN_PASS_DEF_EEEMITMANIFESTPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;
namespace json = llvm::json;

namespace {

/// Builtin attributes as JSON (the plans' and records' dictionaries).
json::Value toJSON(Attribute attr) {
  if (auto split = dyn_cast<TensorParallelAttr>(attr))
    return json::Object{{"size", split.getSize()}, {"split_dims", toJSON(split.getSplitDims())}};
  if (auto reduction = dyn_cast<DataParallelAttr>(attr))
    return json::Object{{"bucket_size", reduction.getBucketSize()},
                        {"distributed_optimizer", reduction.getDistributedOptimizer()}};
  if (auto plan = dyn_cast<InferenceAttr>(attr))
    return json::Object{{"method", plan.getMethod().getValue()}, {"layers", plan.getLayers()},
                        {"segments", toJSON(plan.getSegments())}, {"exits", toJSON(plan.getExits())},
                        {"final", plan.getFinal().getValue()}, {"stages", toJSON(plan.getStages())}};
  if (auto segment = dyn_cast<InferenceSegmentAttr>(attr))
    return json::Object{{"function", segment.getFunction().getValue()},
                        {"begin_layer", segment.getBeginLayer()},
                        {"end_layer", segment.getEndLayer()},
                        {"stage", segment.getStage()},
                        {"caches", toJSON(segment.getCaches())},
                        {"exits", toJSON(segment.getExits())}};
  if (auto exit = dyn_cast<InferenceExitAttr>(attr)) {
    json::Object object{{"exit", exit.getExit()},
                        {"layer", exit.getLayer()},
                        {"boundary", exit.getBoundary()},
                        {"function", exit.getFunction().getValue()},
                        {"caches", toJSON(exit.getCaches())}};
    if (exit.getKvFunction())
      object["kv_function"] = exit.getKvFunction().getValue();
    return object;
  }
  if (auto stage = dyn_cast<InferenceStageAttr>(attr))
    return json::Object{{"begin_layer", stage.getBeginLayer()},
                        {"end_layer", stage.getEndLayer()},
                        {"cost", stage.getCost().getValueAsDouble()}};
  if (auto pipeline = dyn_cast<PipelineAttr>(attr)) {
    json::Object object{{"seq_len", pipeline.getSeqLen()},
                        {"micro_batch", pipeline.getMicroBatch()},
                        {"microbatches", pipeline.getMicrobatches()},
                        {"stages", toJSON(pipeline.getStages())},
                        {"tied", toJSON(pipeline.getTied())}};
    if (PipelineScheduleAttr schedule = pipeline.getSchedule()) {
      object["schedule"] = toJSON(schedule.getOrder());
      object["bubble_fraction"] = schedule.getBubbleFraction().value;
      object["plain_bubble_fraction"] = schedule.getPlainBubbleFraction().value;
      object["filled_microbatches"] = schedule.getFilledMicrobatches();
      object["makespan_flops"] = schedule.getMakespanFlops().value;
    }
    return object;
  }
  if (auto stage = dyn_cast<PipelineStageAttr>(attr)) {
    json::Object object{{"begin_layer", stage.getBeginLayer()},
                        {"end_layer", stage.getEndLayer()},
                        {"exits", json::Array(stage.getExits())},
                        {"embedding", stage.getEmbedding()},
                        {"final_head", stage.getFinalHead()},
                        {"flops_per_token", stage.getFlopsPerToken().value},
                        {"parameter_bytes", stage.getParameterBytes().value},
                        {"activation_bytes", stage.getActivationBytes().value},
                        {"heads", json::Array(stage.getHeads())}};
    for (auto [key, name] : {std::pair{"loss_function", stage.getLossFunction()},
                             std::pair{"forward_function", stage.getForwardFunction()},
                             std::pair{"backward_function", stage.getBackwardFunction()},
                             std::pair{"train_step", stage.getTrainStep()},
                             std::pair{"grad_step", stage.getGradStep()},
                             std::pair{"update_step", stage.getUpdateStep()}})
      if (name)
        object[key] = name.getValue();
    return object;
  }
  if (auto tied = dyn_cast<TiedParameterAttr>(attr))
    return json::Object{{"parameter", tied.getParameter().getValue()},
                        {"stages", json::Array(tied.getStages())}};
  if (auto dict = dyn_cast<DictionaryAttr>(attr)) {
    json::Object object;
    for (NamedAttribute entry : dict)
      object[entry.getName().getValue()] = toJSON(entry.getValue());
    return object;
  }
  if (auto array = dyn_cast<ArrayAttr>(attr)) {
    json::Array values;
    for (Attribute element : array)
      values.push_back(toJSON(element));
    return values;
  }
  if (auto string = dyn_cast<StringAttr>(attr))
    return string.getValue();
  if (auto boolean = dyn_cast<BoolAttr>(attr))
    return boolean.getValue();
  if (auto integer = dyn_cast<IntegerAttr>(attr))
    return integer.getInt();
  if (auto number = dyn_cast<FloatAttr>(attr))
    return number.getValueAsDouble();
  return nullptr;
}

struct EEEmitManifestPass : ee::impl::EEEmitManifestPassBase<EEEmitManifestPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto config = module->getAttrOfType<ConfigAttr>(EEDialect::getConfigAttrName());
    if (!config) {
      module.emitError("ee-emit-manifest needs the module's 'ee.config'");
      return signalPassFailure();
    }
    // Parameters in declaration order: the index of each in the entry points' params table.
    // Their dtype is how the compiled code reads them and checkpoints store
    // them (safetensors names: F32, BF16 under --dtype bf16).
    json::Array parameters;
    bool bf16 = false;
    for (ParameterOp param : llvm::make_early_inc_range(module.getOps<ParameterOp>())) {
      bool isBF16 = param.getTensorType().getElementType().isBF16();
      bf16 |= isBF16;
      parameters.push_back(json::Object{{"name", param.getSymName()},
                                        {"shape", json::Array(param.getTensorType().getShape())},
                                        {"dtype", isBF16 ? "BF16" : "F32"}});
      param.erase();
    }
    json::Array entries;
    for (func::FuncOp func : module.getOps<func::FuncOp>())
      if (Attribute entry = func->removeAttr(EEDialect::getEntryAttrName()))
        entries.push_back(toJSON(entry));
    // The module is no longer an ee model: its config lives on in the manifest.
    module->removeAttr(EEDialect::getConfigAttrName());
    json::Value exported = llvm::cantFail(json::parse(exportModelConfig(config)));
    (*exported.getAsObject())["torch_dtype"] = bf16 ? "bfloat16" : "float32";
    json::Object manifest{{"config", std::move(exported)},
                          {"parameters", std::move(parameters)},
                          {"entries", std::move(entries)}};
    for (auto [key, attrName] :
         {std::pair{"inference", EEDialect::getInferenceAttrName()},
          std::pair{"pipeline", EEDialect::getPipelineAttrName()},
          std::pair{"data_parallel", EEDialect::getDataParallelAttrName()},
          std::pair{"tensor_parallel", EEDialect::getTensorParallelAttrName()}})
      if (Attribute plan = module->removeAttr(attrName))
        manifest[key] = toJSON(plan);

    std::string text = llvm::formatv("{0}", json::Value(std::move(manifest))).str();
    text.push_back('\0');
    OpBuilder builder(module.getBodyRegion());
    builder.setInsertionPointToEnd(module.getBody());
    auto arrayType = LLVM::LLVMArrayType::get(builder.getI8Type(), text.size());
    LLVM::GlobalOp::create(builder, module.getLoc(), arrayType, /*isConstant=*/true,
                           LLVM::Linkage::External, "ee_manifest", builder.getStringAttr(text));
  }
};

} // namespace
