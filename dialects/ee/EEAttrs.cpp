//===- EEAttrs.cpp - ee attributes: syntax and the model-config rules -----===//

#include "ee/EEDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>

using namespace mlir;
using namespace mlir::ee;

//===----------------------------------------------------------------------===//
// Field syntax
//===----------------------------------------------------------------------===//

FailureOr<bool> mlir::ee::parseBoolField(AsmParser &parser) {
  if (succeeded(parser.parseOptionalKeyword("true")))
    return true;
  if (succeeded(parser.parseOptionalKeyword("false")))
    return false;
  return parser.emitError(parser.getCurrentLocation(), "expected 'true' or 'false'");
}

FailureOr<double> mlir::ee::parseF64Field(AsmParser &parser) {
  double value;
  if (parser.parseFloat(value))
    return failure();
  return value;
}

std::string mlir::ee::formatF64(double value) {
  // The shortest text that reads back to the same double: plain decimals where
  // they are short (10000.0, 0.25), exponents otherwise (1.0e-06).
  auto roundTrips = [&](const char *text) { return std::strtod(text, nullptr) == value; };
  char text[64];
  if (std::isfinite(value) && std::fabs(value) < 1e15) {
    for (int decimals = 1; decimals <= 4; ++decimals) {
      std::snprintf(text, sizeof(text), "%.*f", decimals, value);
      if (roundTrips(text))
        return text;
    }
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, value);
    if (roundTrips(text))
      break;
  }
  // MLIR float literals need a '.' before any exponent: 1e-06 -> 1.0e-06.
  std::string result(text);
  if (result.find_first_of(".ni") == std::string::npos) {
    size_t exponent = result.find_first_of("eE");
    result.insert(exponent == std::string::npos ? result.size() : exponent, ".0");
  }
  return result;
}

void mlir::ee::printF64Field(AsmPrinter &printer, double value) {
  printer << formatF64(value);
}

//===----------------------------------------------------------------------===//
// Shared rules
//===----------------------------------------------------------------------===//

LogicalResult mlir::ee::verifyExitStructure(function_ref<InFlightDiagnostic()> emitError,
                                            bool useMLP, bool useBlock, bool preExit,
                                            StringRef where) {
  if (useMLP && useBlock)
    return emitError() << where
                       << "'use_exit_mlp' and 'use_exit_block' exclude each other";
  if (useMLP && preExit)
    return emitError() << where
                       << "'use_exit_mlp' needs post-exit placement ('pre_exit' must be "
                          "false): the MLP branches from its layer's mid-layer residual";
  return success();
}

LogicalResult mlir::ee::verifyFloat32Value(function_ref<InFlightDiagnostic()> emitError,
                                           StringRef field, double value, bool allowZero) {
  constexpr double lowest = std::numeric_limits<float>::min();
  constexpr double highest = std::numeric_limits<float>::max();
  if ((allowZero && value == 0.0) || (value >= lowest && value <= highest))
    return success();
  InFlightDiagnostic diagnostic = emitError();
  diagnostic << "'" << field << "' must be a " << (allowZero ? "non-negative" : "positive")
             << " finite number, got " << formatF64(value);
  if (std::isfinite(value) && value > 0.0)
    diagnostic << ", which float32 (normal numbers from 1.2e-38 to 3.4e+38) cannot hold";
  return diagnostic;
}

LogicalResult mlir::ee::verifyTemperature(function_ref<InFlightDiagnostic()> emitError,
                                          double temperature, StringRef field) {
  return verifyFloat32Value(emitError, field, temperature, /*allowZero=*/false);
}

LogicalResult mlir::ee::verifyHeadLayout(function_ref<InFlightDiagnostic()> emitError,
                                         int64_t hiddenSize, int64_t numHeads,
                                         int64_t numKVHeads, StringRef hiddenField,
                                         StringRef headsField, StringRef kvHeadsField) {
  if (numHeads <= 0)
    return emitError() << "'" << headsField << "' must be positive, got " << numHeads;
  if (numKVHeads <= 0)
    return emitError() << "'" << kvHeadsField << "' must be positive, got " << numKVHeads;
  if (hiddenSize % numHeads != 0)
    return emitError() << "'" << headsField << "' (" << numHeads << ") must divide '"
                       << hiddenField << "' (" << hiddenSize << ")";
  if (numHeads % numKVHeads != 0)
    return emitError() << "'" << kvHeadsField << "' (" << numKVHeads
                       << ") must divide '" << headsField << "' (" << numHeads << ")";
  int64_t headDim = hiddenSize / numHeads;
  if (headDim % 2 != 0)
    return emitError() << "head dimension '" << hiddenField << "' / '" << headsField
                       << "' = " << headDim << " must be even for rotary embeddings";
  return success();
}

static LogicalResult verifyPositive(function_ref<InFlightDiagnostic()> emitError,
                                    StringRef field, int64_t value) {
  if (value <= 0)
    return emitError() << "'" << field << "' must be positive, got " << value;
  return success();
}

static LogicalResult verifyPositive(function_ref<InFlightDiagnostic()> emitError,
                                    StringRef field, double value) {
  return verifyFloat32Value(emitError, field, value, /*allowZero=*/false);
}

static LogicalResult verifyWeight(function_ref<InFlightDiagnostic()> emitError,
                                  StringRef field, double value) {
  return verifyFloat32Value(emitError, field, value, /*allowZero=*/true);
}

//===----------------------------------------------------------------------===//
// #ee.loss_weight
//===----------------------------------------------------------------------===//

LogicalResult LossWeightAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                     F64 init, F64 target, int64_t warmupIters,
                                     WarmupStyle) {
  if (failed(verifyWeight(emitError, "init", init)) ||
      failed(verifyWeight(emitError, "target", target)))
    return failure();
  if (warmupIters < 0)
    return emitError() << "'warmup_iters' must be non-negative, got " << warmupIters;
  return success();
}

double LossWeightAttr::valueAt(int64_t iteration) const {
  int64_t warmup = getWarmupIters();
  if (warmup <= 0 || iteration >= warmup)
    return getTarget();
  double progress = static_cast<double>(std::max<int64_t>(iteration, 0)) / warmup;
  double init = getInit(), target = getTarget();
  if (getStyle() == WarmupStyle::Cosine)
    return target + (init - target) * 0.5 * (1.0 + std::cos(M_PI * progress));
  return init + (target - init) * progress;
}

bool LossWeightAttr::isConstant() const {
  return getWarmupIters() == 0 || getInit() == getTarget();
}

//===----------------------------------------------------------------------===//
// #ee.layer
//===----------------------------------------------------------------------===//

LogicalResult LayerAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t numHeads, int64_t numKVHeads, F64 eps,
                                F64 theta) {
  if (failed(verifyPositive(emitError, "num_heads", numHeads)) ||
      failed(verifyPositive(emitError, "num_kv_heads", numKVHeads)))
    return failure();
  if (numHeads % numKVHeads != 0)
    return emitError() << "'num_kv_heads' (" << numKVHeads << ") must divide 'num_heads' ("
                       << numHeads << ")";
  return failure(failed(verifyPositive(emitError, "rms_norm_eps", eps)) ||
                 failed(verifyPositive(emitError, "rope_theta", theta)));
}

//===----------------------------------------------------------------------===//
// #ee.early_exit
//===----------------------------------------------------------------------===//

LogicalResult EarlyExitAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, ArrayRef<int64_t> layers, bool preExit,
    ArrayRef<F64> weights, ArrayRef<F64> initWeights, int64_t warmupIters,
    WarmupStyle, ArrayRef<F64> temperatures, bool, bool useMLP, bool useBlock, bool) {
  for (auto [i, layer] : llvm::enumerate(layers)) {
    if (layer < 1)
      return emitError() << "'early_exit.exit_layer_nums[" << i << "]' = " << layer
                         << " is out of range: layers are numbered from 1";
    if (i > 0 && layer == layers[i - 1])
      return emitError() << "'early_exit.exit_layer_nums' lists layer " << layer
                         << " twice";
    if (i > 0 && layer < layers[i - 1])
      return emitError() << "'early_exit.exit_layer_nums' must be strictly increasing: "
                         << "entry " << i << " (" << layer << ") follows "
                         << layers[i - 1];
  }
  auto checkLength = [&](StringRef field, size_t size) -> LogicalResult {
    if (size != layers.size())
      return emitError() << "'early_exit." << field << "' has " << size
                         << " entries but 'early_exit.exit_layer_nums' has "
                         << layers.size() << " exits";
    return success();
  };
  if (failed(checkLength("exit_layer_weight", weights.size())) ||
      failed(checkLength("exit_layer_weight_init", initWeights.size())) ||
      failed(checkLength("exit_layer_temperature", temperatures.size())))
    return failure();
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string index = "[" + std::to_string(i) + "]";
    if (failed(verifyWeight(emitError, "early_exit.exit_layer_weight" + index, weights[i])) ||
        failed(verifyWeight(emitError, "early_exit.exit_layer_weight_init" + index,
                            initWeights[i])) ||
        failed(verifyTemperature(emitError, temperatures[i],
                                 "early_exit.exit_layer_temperature" + index)))
      return failure();
  }
  if (warmupIters < 0)
    return emitError() << "'early_exit.exit_layer_weight_warmup_iters' must be "
                          "non-negative, got "
                       << warmupIters;
  return verifyExitStructure(emitError, useMLP, useBlock, preExit, "early_exit: ");
}

ExitBranch EarlyExitAttr::getBranch() const {
  if (getUseExitBlock())
    return ExitBranch::Block;
  return getUseExitMlp() ? ExitBranch::MLP : ExitBranch::None;
}

LossWeightAttr EarlyExitAttr::getLossWeight(int64_t exit) const {
  return LossWeightAttr::get(getContext(), getExitLayerWeightInit()[exit],
                             getExitLayerWeight()[exit], getExitLayerWeightWarmupIters(),
                             getExitLayerWeightWarmupStyle());
}

//===----------------------------------------------------------------------===//
// #ee.config
//===----------------------------------------------------------------------===//

LogicalResult ConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t vocabSize, int64_t hiddenSize,
                                 int64_t intermediateSize, int64_t numLayers,
                                 int64_t numHeads, int64_t numKVHeads, int64_t maxPositions,
                                 F64 eps, F64 theta, bool, EarlyExitAttr earlyExit) {
  if (failed(verifyPositive(emitError, "vocab_size", vocabSize)) ||
      failed(verifyPositive(emitError, "hidden_size", hiddenSize)) ||
      failed(verifyPositive(emitError, "intermediate_size", intermediateSize)) ||
      failed(verifyPositive(emitError, "num_hidden_layers", numLayers)) ||
      failed(verifyPositive(emitError, "max_position_embeddings", maxPositions)) ||
      failed(verifyHeadLayout(emitError, hiddenSize, numHeads, numKVHeads, "hidden_size",
                              "num_attention_heads", "num_key_value_heads")) ||
      failed(verifyPositive(emitError, "rms_norm_eps", eps)) ||
      failed(verifyPositive(emitError, "rope_theta", theta)))
    return failure();
  if (!earlyExit)
    return success();
  for (auto [i, layer] : llvm::enumerate(earlyExit.getExitLayerNums()))
    if (layer > numLayers)
      return emitError() << "'early_exit.exit_layer_nums[" << i << "]' = " << layer
                         << " is out of range: 'num_hidden_layers' is " << numLayers;
  return success();
}

LayerAttr ConfigAttr::getLayer() const {
  return LayerAttr::get(getContext(), getNumAttentionHeads(), getNumKeyValueHeads(),
                        getRmsNormEps(), getRopeTheta());
}

#define GET_ATTRDEF_CLASSES
#include "ee/EEAttrs.cpp.inc"

void EEDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ee/EEAttrs.cpp.inc"
      >();
}

LogicalResult BufferAttr::verify(function_ref<InFlightDiagnostic()> emitError, ArenaRegion region,
                                 int64_t offset) {
  if (offset < 0 || offset % 64 != 0)
    return emitError() << "a buffer's offset must be a non-negative multiple of 64, not " << offset;
  return success();
}

LogicalResult ArenaAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t perTokenBytes, int64_t fixedBytes) {
  if (perTokenBytes < 0 || fixedBytes < 0)
    return emitError() << "an arena's sizes must be non-negative, not " << perTokenBytes << " and "
                       << fixedBytes;
  return success();
}

LogicalResult TensorParallelAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t size,
                                         DictionaryAttr splitDims) {
  if (size < 2)
    return emitError() << "a tensor-parallel split needs at least 2 ranks, not " << size;
  for (NamedAttribute entry : splitDims) {
    auto dim = dyn_cast<IntegerAttr>(entry.getValue());
    if (!dim || (dim.getInt() != 0 && dim.getInt() != 1))
      return emitError() << "the split of '" << entry.getName().getValue()
                         << "' must be dimension 0 (rows) or 1 (columns)";
  }
  return success();
}

LogicalResult DataParallelAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                       int64_t bucketSize, bool) {
  if (bucketSize < 1 || bucketSize > std::numeric_limits<int32_t>::max())
    return emitError() << "a gradient bucket holds 1 to 2147483647 elements (an MPI count), not "
                       << bucketSize;
  return success();
}

LogicalResult InferenceAttr::verify(function_ref<InFlightDiagnostic()> emitError, StringAttr method,
                                    int64_t layers, ArrayAttr segments, ArrayAttr exits,
                                    StringAttr, ArrayAttr stages) {
  if (method.getValue() != "recompute" && method.getValue() != "pipeline")
    return emitError() << "an inference plan's method is recompute or pipeline, not '"
                       << method.getValue() << "'";
  // Segments run in order over the layers; an embedding-only one ([0, 0])
  // may come first.
  int64_t next = 0;
  for (auto [i, entry] : llvm::enumerate(segments)) {
    auto segment = dyn_cast<InferenceSegmentAttr>(entry);
    if (!segment)
      return emitError() << "inference segment " << i << " is not an #ee.segment";
    bool embeddingOnly = segment.getBeginLayer() == 0 && segment.getEndLayer() == 0;
    if (segment.getBeginLayer() != next ||
        (segment.getEndLayer() <= segment.getBeginLayer() && !embeddingOnly))
      return emitError() << "inference segment " << i << " runs layers ["
                         << segment.getBeginLayer() << ", " << segment.getEndLayer()
                         << "), not the next ones from " << next;
    next = segment.getEndLayer();
  }
  if (next != layers)
    return emitError() << "the inference segments cover " << next << " of " << layers << " layers";
  next = 0;
  for (auto [i, entry] : llvm::enumerate(stages)) {
    auto stage = dyn_cast<InferenceStageAttr>(entry);
    if (!stage || stage.getBeginLayer() != next || stage.getEndLayer() < stage.getBeginLayer())
      return emitError() << "inference stage " << i
                         << " must be an #ee.inference_stage of the next layers from " << next;
    next = stage.getEndLayer();
  }
  if (next != layers)
    return emitError() << "the inference stages cover " << next << " of " << layers << " layers";
  for (auto [i, entry] : llvm::enumerate(exits)) {
    auto exit = dyn_cast<InferenceExitAttr>(entry);
    if (!exit || exit.getBoundary() < 0 || exit.getBoundary() > layers)
      return emitError() << "inference exit " << i
                         << " must be an #ee.exit_plan reading a boundary in [0, " << layers << "]";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// The pipeline plan
//===----------------------------------------------------------------------===//

LogicalResult PipelineStageAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                        int64_t beginLayer, int64_t endLayer,
                                        ArrayRef<int64_t> exits, bool, bool, F64 flopsPerToken,
                                        F64 parameterBytes, F64 activationBytes, StringAttr,
                                        StringAttr forwardFunction, StringAttr backwardFunction,
                                        ArrayRef<int64_t> heads, StringAttr trainStep,
                                        StringAttr gradStep, StringAttr) {
  if (beginLayer < 0 || endLayer <= beginLayer)
    return emitError() << "a pipeline stage runs at least one layer, not [" << beginLayer << ", "
                       << endLayer << ")";
  if (llvm::any_of(exits, [](int64_t e) { return e < 0; }) || !llvm::is_sorted(exits) ||
      std::adjacent_find(exits.begin(), exits.end()) != exits.end())
    return emitError() << "a pipeline stage's exits are distinct non-negative indices in order";
  if (llvm::any_of(heads, [](int64_t h) { return h < 0; }))
    return emitError() << "a pipeline stage's heads are non-negative loss slots";
  for (double cost : {flopsPerToken.value, parameterBytes.value, activationBytes.value})
    if (!(cost >= 0))
      return emitError() << "a pipeline stage's costs are non-negative";
  if (forwardFunction && !backwardFunction)
    return emitError() << "a pipeline stage with a forward function needs its backward function";
  if (bool(trainStep) != bool(gradStep))
    return emitError() << "a pipeline stage has both a train step and a grad step or neither";
  return success();
}

/// `stage` with these functions (its partition and costs kept).
static PipelineStageAttr withFunctions(PipelineStageAttr stage, StringAttr loss, StringAttr forward,
                                       StringAttr backward, ArrayRef<int64_t> heads,
                                       StringAttr train, StringAttr grad, StringAttr update) {
  return PipelineStageAttr::get(stage.getContext(), stage.getBeginLayer(), stage.getEndLayer(),
                                stage.getExits(), stage.getEmbedding(), stage.getFinalHead(),
                                stage.getFlopsPerToken(), stage.getParameterBytes(),
                                stage.getActivationBytes(), loss, forward, backward, heads, train,
                                grad, update);
}

PipelineStageAttr PipelineStageAttr::withLossFunctions(StringAttr loss, StringAttr forward,
                                                       StringAttr backward,
                                                       ArrayRef<int64_t> heads) const {
  return withFunctions(*this, loss, forward, backward, heads, getTrainStep(), getGradStep(),
                       getUpdateStep());
}

PipelineStageAttr PipelineStageAttr::withSteps(StringAttr train, StringAttr grad) const {
  return withFunctions(*this, getLossFunction(), StringAttr(), StringAttr(), getHeads(), train,
                       grad, getUpdateStep());
}

PipelineStageAttr PipelineStageAttr::withUpdateStep(StringAttr update) const {
  return withFunctions(*this, getLossFunction(), getForwardFunction(), getBackwardFunction(),
                       getHeads(), getTrainStep(), getGradStep(), update);
}

LogicalResult TiedParameterAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                        StringAttr parameter, ArrayRef<int64_t> stages) {
  if (stages.size() < 2 || stages.front() < 0 || !llvm::is_sorted(stages) ||
      std::adjacent_find(stages.begin(), stages.end()) != stages.end())
    return emitError() << "tied parameter '" << parameter.getValue()
                       << "' is held by at least two distinct stages in order";
  return success();
}

/// A pass of a schedule's order: F<m>, B<m>, f<m> or b<m>.
static bool isSchedulePass(Attribute pass) {
  auto text = dyn_cast<StringAttr>(pass);
  unsigned microbatch;
  return text && text.size() >= 2 && StringRef("FBfb").contains(text.getValue()[0]) &&
         !text.getValue().drop_front().getAsInteger(10, microbatch);
}

LogicalResult PipelineScheduleAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                           ArrayAttr order, F64 bubbleFraction,
                                           F64 plainBubbleFraction, int64_t filledMicrobatches,
                                           F64 makespanFlops) {
  for (auto [s, passes] : llvm::enumerate(order)) {
    auto list = dyn_cast<ArrayAttr>(passes);
    if (!list || !llvm::all_of(list, isSchedulePass))
      return emitError() << "stage " << s << "'s schedule must be a list of passes F<m>, B<m>, "
                         << "f<m> or b<m>";
  }
  for (double fraction : {bubbleFraction.value, plainBubbleFraction.value})
    if (!(fraction >= 0 && fraction <= 1))
      return emitError() << "a bubble fraction lies in [0, 1], not " << fraction;
  if (filledMicrobatches < 0 || !(makespanFlops.value >= 0))
    return emitError() << "a schedule's partial micro-batches and length are non-negative";
  return success();
}

LogicalResult PipelineAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t seqLen,
                                   int64_t microBatch, int64_t microbatches, ArrayAttr stages,
                                   ArrayAttr tied, PipelineScheduleAttr schedule) {
  if (seqLen < 1 || microBatch < 1 || microbatches < 1)
    return emitError() << "a pipeline plan's seq_len, micro_batch and microbatches are positive";
  if (stages.empty())
    return emitError() << "a pipeline plan has at least one stage";
  // The stages run the layers in order; the first holds the embedding, the last the head.
  int64_t next = 0;
  for (auto [s, entry] : llvm::enumerate(stages)) {
    auto stage = dyn_cast<PipelineStageAttr>(entry);
    if (!stage)
      return emitError() << "pipeline stage " << s << " is not an #ee.pipeline_stage";
    if (stage.getBeginLayer() != next)
      return emitError() << "pipeline stage " << s << " begins at layer " << stage.getBeginLayer()
                         << ", not at the next one, " << next;
    if (stage.getEmbedding() != (s == 0) || stage.getFinalHead() != (s + 1 == stages.size()))
      return emitError() << "the embedding is on the first pipeline stage and the final head on "
                         << "the last, not on stage " << s;
    next = stage.getEndLayer();
  }
  for (Attribute entry : tied) {
    auto parameter = dyn_cast<TiedParameterAttr>(entry);
    if (!parameter)
      return emitError() << "a pipeline plan's tied parameters are #ee.tied_parameter";
    if (parameter.getStages().back() >= static_cast<int64_t>(stages.size()))
      return emitError() << "tied parameter '" << parameter.getParameter().getValue()
                         << "' names a stage beyond the " << stages.size() << " of the plan";
  }
  if (schedule && schedule.getOrder().size() != stages.size())
    return emitError() << "the schedule orders " << schedule.getOrder().size() << " stages, not "
                       << stages.size();
  return success();
}

SmallVector<PipelineStageAttr> PipelineAttr::getStageList() const {
  return llvm::map_to_vector(getStages(), [](Attribute a) { return cast<PipelineStageAttr>(a); });
}

PipelineAttr PipelineAttr::withStages(ArrayRef<PipelineStageAttr> stages) const {
  SmallVector<Attribute> entries(stages.begin(), stages.end());
  return get(getContext(), getSeqLen(), getMicroBatch(), getMicrobatches(),
             ArrayAttr::get(getContext(), entries), getTied(), getSchedule());
}

PipelineAttr PipelineAttr::withSchedule(PipelineScheduleAttr schedule) const {
  return get(getContext(), getSeqLen(), getMicroBatch(), getMicrobatches(), getStages(), getTied(),
             schedule);
}
