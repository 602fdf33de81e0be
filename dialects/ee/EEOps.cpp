//===- EEOps.cpp - ee op verifiers, folds and canonicalizations -----------===//

#include "ee/EEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::ee;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text = "[";
  llvm::raw_string_ostream os(text);
  llvm::interleaveComma(shape, os, [&](int64_t dim) {
    if (ShapedType::isDynamic(dim))
      os << '?';
    else
      os << dim;
  });
  os << ']';
  return text;
}

static int64_t features(Value activation) {
  return cast<RankedTensorType>(activation.getType()).getShape().back();
}

/// The model config of the nearest module around `op`, or null where that
/// module has none (a nested module describes a model of its own).
static ConfigAttr moduleConfig(Operation *op) {
  auto module = op->getParentOfType<ModuleOp>();
  return module ? module->getAttrOfType<ConfigAttr>(EEDialect::getConfigAttrName()) : ConfigAttr();
}

/// How many decoder layers the residual stream `value` has passed, counted
/// back to its ee.embedding without recursion; nullopt where the chain leaves
/// the model-level ops (a function argument, a pipeline stage's input).
static std::optional<int64_t> layersBelow(Value value) {
  int64_t layers = 0;
  while (true) {
    Operation *def = value.getDefiningOp();
    if (isa_and_nonnull<EmbeddingOp>(def))
      return layers;
    auto layer = dyn_cast_or_null<DecoderLayerOp>(def);
    if (!layer)
      return std::nullopt;
    ++layers;
    value = layer.getInput();
  }
}

/// A model-level op's layer attributes must be the module config's.
static LogicalResult verifyLayerMatchesConfig(Operation *op, LayerAttr layer, ConfigAttr config) {
  if (!config || layer == config.getLayer())
    return success();
  return op->emitOpError() << "layer attributes " << layer
                           << " differ from those of the module's ee.config ("
                           << config.getLayer() << ")";
}

/// Batch and sequence dimensions of two [batch, seq, ...] tensors must agree
/// where both are static.
static LogicalResult verifyTokenDims(Operation *op, Value a, StringRef aName, Value b,
                                     StringRef bName) {
  ArrayRef<int64_t> aShape = cast<RankedTensorType>(a.getType()).getShape();
  ArrayRef<int64_t> bShape = cast<RankedTensorType>(b.getType()).getShape();
  for (int dim = 0; dim < 2; ++dim)
    if (!ShapedType::isDynamic(aShape[dim]) && !ShapedType::isDynamic(bShape[dim]) &&
        aShape[dim] != bShape[dim])
      return op->emitOpError() << (dim == 0 ? "batch" : "sequence") << " size of "
                               << aName << " (" << aShape[dim] << ") differs from "
                               << bName << " (" << bShape[dim] << ")";
  return success();
}

static LogicalResult verifyFeatures(Operation *op, StringRef what, int64_t actual,
                                    StringRef expectedWhat, int64_t expected) {
  if (actual != expected)
    return op->emitOpError() << what << " (" << actual << ") must equal " << expectedWhat
                             << " (" << expected << ")";
  return success();
}

static LogicalResult verifyPositiveAttr(Operation *op, StringRef name, double value) {
  return verifyFloat32Value([&] { return op->emitOpError(); }, name, value, /*allowZero=*/false);
}

static Type elementType(Value value) {
  return cast<ShapedType>(value.getType()).getElementType();
}

/// A linear product's two factors share their element type (f32, or bf16
/// with f32 accumulation).
static LogicalResult verifySameFactorTypes(Operation *op, Value lhs, StringRef lhsName,
                                           Value rhs, StringRef rhsName) {
  if (elementType(lhs) != elementType(rhs))
    return op->emitOpError() << lhsName << " (" << elementType(lhs) << ") and " << rhsName
                             << " (" << elementType(rhs) << ") must have one element type";
  return success();
}

/// An op computed in f32 whose result may be rounded to bf16 has its input's shape.
static LogicalResult verifySameShape(Operation *op, Value input, Value result) {
  if (cast<ShapedType>(input.getType()).getShape() !=
      cast<ShapedType>(result.getType()).getShape())
    return op->emitOpError() << "result type " << result.getType()
                             << " must have the shape of the input type " << input.getType();
  return success();
}

/// A matrix-vector projection: `input [.., in]`, `weight [out, in]`, `result [.., out]`.
static LogicalResult verifyProjection(Operation *op, Value input, Value weight,
                                      Value result) {
  ArrayRef<int64_t> w = cast<RankedTensorType>(weight.getType()).getShape();
  if (failed(verifySameFactorTypes(op, input, "the input", weight, "the weight")) ||
      failed(verifyTokenDims(op, input, "the input", result, "the result")) ||
      failed(verifyFeatures(op, "weight columns", w[1], "input features",
                            features(input))) ||
      failed(verifyFeatures(op, "result features", features(result), "weight rows",
                            w[0])))
    return failure();
  return success();
}

namespace {
/// Looks up parameters named by model-level ops and checks their shapes.
class ParameterChecker {
public:
  ParameterChecker(Operation *op, SymbolTableCollection &tables) : op(op), tables(tables) {}

  /// Fails unless `name` is an `ee.parameter` of exactly `shape` (a `kDynamic`
  /// entry accepts any size and is set to the size found).
  LogicalResult expect(StringRef name, MutableArrayRef<int64_t> shape) {
    auto param = tables.lookupNearestSymbolFrom<ParameterOp>(
        op, StringAttr::get(op->getContext(), name));
    if (!param)
      return op->emitOpError() << "needs the parameter '@" << name
                               << "', which is not declared by an ee.parameter";
    ArrayRef<int64_t> found = param.getTensorType().getShape();
    bool matches = found.size() == shape.size();
    for (size_t i = 0; matches && i < shape.size(); ++i)
      matches = ShapedType::isDynamic(shape[i]) || shape[i] == found[i];
    if (!matches)
      return op->emitOpError() << "parameter '@" << name << "' has shape "
                               << formatShape(found) << " but " << formatShape(shape)
                               << " is needed";
    llvm::copy(found, shape.begin());
    return success();
  }

  LogicalResult expectVector(StringRef name, int64_t size) {
    SmallVector<int64_t> shape{size};
    return expect(name, shape);
  }

  LogicalResult expectMatrix(StringRef name, int64_t rows, int64_t cols) {
    SmallVector<int64_t> shape{rows, cols};
    return expect(name, shape);
  }

  /// The SwiGLU MLP `<prefix>.{gate,up,down}_proj.weight` of any intermediate size.
  LogicalResult expectMLP(StringRef prefix, int64_t hidden) {
    SmallVector<int64_t> gate{ShapedType::kDynamic, hidden};
    if (failed(expect((prefix + ".gate_proj.weight").str(), gate)))
      return failure();
    int64_t intermediate = gate[0];
    return failure(failed(expectMatrix((prefix + ".up_proj.weight").str(), intermediate,
                                       hidden)) ||
                   failed(expectMatrix((prefix + ".down_proj.weight").str(), hidden,
                                       intermediate)));
  }

  /// The weights of a whole decoder block under `prefix`.
  LogicalResult expectBlock(StringRef prefix, int64_t hidden, LayerAttr layer) {
    auto emitError = [&] { return op->emitOpError(); };
    if (failed(verifyHeadLayout(emitError, hidden, layer.getNumHeads(),
                                layer.getNumKvHeads(), "hidden size", "num_heads",
                                "num_kv_heads")))
      return failure();
    int64_t headDim = hidden / layer.getNumHeads();
    int64_t kvFeatures = layer.getNumKvHeads() * headDim;
    auto name = [&](StringRef suffix) { return (prefix + "." + suffix).str(); };
    return failure(
        failed(expectVector(name("input_layernorm.weight"), hidden)) ||
        failed(expectMatrix(name("self_attn.q_proj.weight"), hidden, hidden)) ||
        failed(expectMatrix(name("self_attn.k_proj.weight"), kvFeatures, hidden)) ||
        failed(expectMatrix(name("self_attn.v_proj.weight"), kvFeatures, hidden)) ||
        failed(expectMatrix(name("self_attn.o_proj.weight"), hidden, hidden)) ||
        failed(expectVector(name("post_attention_layernorm.weight"), hidden)) ||
        failed(expectMLP(name("mlp"), hidden)));
  }

private:
  Operation *op;
  SymbolTableCollection &tables;
};
} // namespace

//===----------------------------------------------------------------------===//
// Custom directives
//===----------------------------------------------------------------------===//

static ParseResult parseExitBranch(OpAsmParser &parser, ExitBranchAttr &branch) {
  StringRef keyword;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseKeyword(&keyword))
    return failure();
  std::optional<ExitBranch> value = symbolizeExitBranch(keyword);
  if (!value)
    return parser.emitError(loc) << "unknown exit branch '" << keyword
                                 << "', expected none, mlp or block";
  branch = ExitBranchAttr::get(parser.getContext(), *value);
  return success();
}

static void printExitBranch(OpAsmPrinter &printer, Operation *, ExitBranchAttr branch) {
  printer << stringifyExitBranch(branch.getValue());
}

/// `-> type` where an op's result type differs from its input's (a bf16
/// result of an f32 computation), nothing where they are the same.
static ParseResult parseConvertedType(OpAsmParser &parser, Type inputType, Type &resultType) {
  resultType = inputType;
  if (failed(parser.parseOptionalArrow()))
    return success();
  return parser.parseType(resultType);
}

static void printConvertedType(OpAsmPrinter &printer, Operation *, Type inputType,
                               Type resultType) {
  if (resultType != inputType)
    printer << " -> " << resultType;
}

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

LogicalResult ParameterOp::verify() {
  if (!getTensorType().getElementType().isF32() && !getTensorType().getElementType().isBF16())
    return emitOpError() << "parameter '@" << getSymName()
                         << "' must be an f32 or bf16 tensor, got " << getType();
  return success();
}

LogicalResult GetParameterOp::verifySymbolUses(SymbolTableCollection &tables) {
  auto param = tables.lookupNearestSymbolFrom<ParameterOp>(*this, getNameAttr());
  if (!param)
    return emitOpError() << "'@" << getName() << "' does not name an ee.parameter";
  if (param.getType() != getType())
    return emitOpError() << "result type " << getType() << " differs from the type "
                         << param.getType() << " of '@" << getName() << "'";
  return success();
}

//===----------------------------------------------------------------------===//
// Model-level ops
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verifySymbolUses(SymbolTableCollection &tables) {
  if (failed(verifyTokenDims(*this, getIds(), "the ids", getResult(), "the result")))
    return failure();
  if (ConfigAttr config = moduleConfig(*this);
      config && failed(verifyFeatures(*this, "result features", features(getResult()),
                                      "the module's ee.config hidden_size",
                                      config.getHiddenSize())))
    return failure();
  return ParameterChecker(*this, tables)
      .expectMatrix(getTable(), ShapedType::kDynamic, features(getResult()));
}

LogicalResult DecoderLayerOp::verifySymbolUses(SymbolTableCollection &tables) {
  if (failed(verifyTokenDims(*this, getInput(), "the input", getPositions(),
                             "the positions")) ||
      failed(verifyLayerMatchesConfig(*this, getLayer(), moduleConfig(*this))))
    return failure();
  return ParameterChecker(*this, tables)
      .expectBlock(getPrefix(), features(getInput()), getLayer());
}

LogicalResult ExitOp::verify() {
  auto emitError = [&] { return emitOpError(); };
  ExitBranch branch = getBranch();
  if (failed(verifyExitStructure(emitError, branch == ExitBranch::MLP,
                                 branch == ExitBranch::Block, getPreExit(), "")) ||
      failed(verifyTemperature(emitError, getTemperature().convertToDouble(),
                               "temperature")) ||
      failed(verifyTokenDims(*this, getInput(), "the input", getLogits(), "the logits")))
    return failure();
  if (branch == ExitBranch::Block && !getPositions())
    return emitOpError() << "a block exit needs the token positions (rotary embedding)";
  if (getPositions() &&
      failed(verifyTokenDims(*this, getInput(), "the input", getPositions(),
                             "the positions")))
    return failure();
  return success();
}

/// An exit's declared place against the layers its input has passed and
/// against the module's config: `layer L` reads layer L's output (its
/// mid-layer residual for an MLP branch), or with `pre_exit` its input.
LogicalResult ExitOp::verifyPlacement() {
  int64_t layer = getLayer();
  if (std::optional<int64_t> below = layersBelow(getInput())) {
    int64_t expected = getPreExit() ? layer - 1 : layer;
    if (*below != expected)
      return emitOpError() << "declares layer " << layer
                           << (getPreExit() ? " (pre_exit: that layer's input, the output of layer "
                                            : " (that layer's output, the output of layer ")
                           << expected << ") but its input has passed " << *below
                           << " decoder layers";
  }
  ConfigAttr config = moduleConfig(*this);
  if (!config)
    return success();
  EarlyExitAttr exits = config.getEarlyExit();
  int64_t count = config.getNumExits();
  int64_t index = getIndex();
  if (index >= count)
    return emitOpError() << "is exit " << index << " but the module's ee.config declares "
                         << count << " exits";
  if (exits.getExitLayerNums()[index] != layer)
    return emitOpError() << "declares layer " << layer << " but the module's ee.config puts exit "
                         << index << " at layer " << exits.getExitLayerNums()[index];
  if (exits.getPreExit() != getPreExit() || exits.getBranch() != getBranch() ||
      exits.getUseExitNorm() != getNorm())
    return emitOpError() << "structure (" << (getPreExit() ? "pre_exit, " : "") << "branch "
                         << stringifyExitBranch(getBranch()) << (getNorm() ? ", norm" : "")
                         << ") differs from the module's ee.config ("
                         << (exits.getPreExit() ? "pre_exit, " : "") << "branch "
                         << stringifyExitBranch(exits.getBranch())
                         << (exits.getUseExitNorm() ? ", norm" : "") << ")";
  return verifyLayerMatchesConfig(*this, getLayerSpec(), config);
}

LogicalResult ExitOp::verifySymbolUses(SymbolTableCollection &tables) {
  if (failed(verifyPlacement()))
    return failure();
  ParameterChecker params(*this, tables);
  int64_t hidden = features(getInput());
  std::string prefix = getWeightPrefix();
  switch (getBranch()) {
  case ExitBranch::None:
    break;
  case ExitBranch::MLP:
    if (failed(params.expectVector(getSharedPostNormName(), hidden)) ||
        failed(params.expectMLP(prefix + ".mlp", hidden)))
      return failure();
    break;
  case ExitBranch::Block:
    if (failed(params.expectBlock(prefix + ".block", hidden, getLayerSpec())))
      return failure();
    break;
  }
  if (getNorm() && failed(params.expectVector(prefix + ".norm.weight", hidden)))
    return failure();
  return params.expectMatrix(getOutput(), features(getLogits()), hidden);
}

LogicalResult FinalHeadOp::verify() {
  if (failed(verifyPositiveAttr(*this, "eps", getRmsNormEps().convertToDouble())))
    return failure();
  return verifyTokenDims(*this, getInput(), "the input", getLogits(), "the logits");
}

LogicalResult FinalHeadOp::verifySymbolUses(SymbolTableCollection &tables) {
  if (ConfigAttr config = moduleConfig(*this)) {
    std::optional<int64_t> below = layersBelow(getInput());
    if (below && *below != config.getNumHiddenLayers())
      return emitOpError() << "reads the output of layer " << *below
                           << " but the module's ee.config declares num_hidden_layers = "
                           << config.getNumHiddenLayers();
    if (getRmsNormEps().convertToDouble() != config.getRmsNormEps())
      return emitOpError() << "eps " << formatF64(getRmsNormEps().convertToDouble())
                           << " differs from the module's ee.config rms_norm_eps ("
                           << formatF64(config.getRmsNormEps()) << ")";
    if (failed(verifyFeatures(*this, "logits features", features(getLogits()),
                              "the module's ee.config vocab_size", config.getVocabSize())))
      return failure();
  }
  ParameterChecker params(*this, tables);
  int64_t hidden = features(getInput());
  return failure(failed(params.expectVector(getNorm(), hidden)) ||
                 failed(params.expectMatrix(getOutput(), features(getLogits()), hidden)));
}

LogicalResult ExitLossOp::verify() {
  auto emitError = [&] { return emitOpError(); };
  if (failed(verifyTemperature(emitError, getTemperature().convertToDouble(),
                               "temperature")) ||
      failed(verifyTokenDims(*this, getLogits(), "the logits", getLabels(), "the labels")))
    return failure();
  if (auto exit = getLogits().getDefiningOp<ExitOp>()) {
    if (exit.getTemperature() != getTemperature())
      return emitOpError() << "temperature " << formatF64(getTemperature().convertToDouble())
                           << " differs from that of exit " << exit.getIndex() << " ("
                           << formatF64(exit.getTemperature().convertToDouble()) << ")";
    if (exit.getLossWeight() != getLossWeight())
      return emitOpError() << "loss weight " << getLossWeight()
                           << " differs from that of exit " << exit.getIndex() << " ("
                           << exit.getLossWeight() << ")";
  }
  return success();
}

namespace {
/// An exit whose loss weight is zero at every iteration adds nothing.
struct FoldZeroWeightExitLoss : OpRewritePattern<ExitLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ExitLossOp op, PatternRewriter &rewriter) const override {
    LossWeightAttr weight = op.getLossWeight();
    if (!weight.isConstant() || weight.getTarget() != 0.0)
      return failure();
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, rewriter.getF32FloatAttr(0.0f));
    return success();
  }
};
} // namespace

void ExitLossOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                             MLIRContext *context) {
  patterns.add<FoldZeroWeightExitLoss>(context);
}

//===----------------------------------------------------------------------===//
// Primitive ops
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingLookupOp::verify() {
  if (failed(verifyTokenDims(*this, getIds(), "the ids", getResult(), "the result")))
    return failure();
  return verifyFeatures(*this, "result features", features(getResult()),
                        "embedding columns", getTable().getType().getShape()[1]);
}

LogicalResult RMSNormOp::verify() {
  if (failed(verifyPositiveAttr(*this, "eps", getEps().convertToDouble())) ||
      failed(verifySameShape(*this, getInput(), getResult())))
    return failure();
  if (elementType(getResult()).isBF16() && !elementType(getWeight()).isBF16())
    return emitOpError("rounds its result to bf16 with a bf16 weight only (ee-mixed-precision)");
  return verifyFeatures(*this, "weight size", getWeight().getType().getShape()[0],
                        "input features", features(getInput()));
}

LogicalResult LinearOp::verify() {
  return verifyProjection(*this, getInput(), getWeight(), getResult());
}

LogicalResult LogitsOp::verify() {
  return verifyProjection(*this, getInput(), getWeight(), getResult());
}

LogicalResult SwiGLUOp::verify() { return verifySameShape(*this, getGate(), getResult()); }

LogicalResult ConvertOp::verify() {
  if (failed(verifySameShape(*this, getInput(), getResult())))
    return failure();
  if (elementType(getInput()) == elementType(getResult()))
    return emitOpError() << "converts " << elementType(getInput())
                         << " to itself; it must change the element type";
  return success();
}

LogicalResult LinearGradInputOp::verify() {
  return verifySameFactorTypes(*this, getDy(), "dy", getWeight(), "the weight");
}

LogicalResult LinearGradWeightOp::verify() {
  return verifySameFactorTypes(*this, getDy(), "dy", getInput(), "the input");
}

LogicalResult RMSNormGradOp::verify() {
  if (getWeight().getType().getShape() != getDweight().getType().getShape())
    return emitOpError() << "dweight type " << getDweight().getType()
                         << " must have the shape of the weight type " << getWeight().getType();
  return success();
}

LogicalResult RotaryOp::verify() {
  if (failed(verifyPositiveAttr(*this, "theta", getTheta().convertToDouble())) ||
      failed(verifyTokenDims(*this, getInput(), "the input", getPositions(),
                             "the positions")))
    return failure();
  int64_t width = features(getInput()), heads = getNumHeads();
  if (width % heads != 0)
    return emitOpError() << "'num_heads' (" << heads << ") must divide the input features ("
                         << width << ")";
  if ((width / heads) % 2 != 0)
    return emitOpError() << "head dimension " << width / heads
                         << " must be even for rotary embeddings";
  return success();
}

LogicalResult AttentionOp::verify() {
  int64_t heads = getNumHeads(), kvHeads = getNumKvHeads();
  int64_t width = features(getQuery());
  if (width % heads != 0)
    return emitOpError() << "'num_heads' (" << heads << ") must divide the query features ("
                         << width << ")";
  if (heads % kvHeads != 0)
    return emitOpError() << "'num_kv_heads' (" << kvHeads << ") must divide 'num_heads' ("
                         << heads << ")";
  int64_t kvWidth = kvHeads * (width / heads);
  if (failed(verifyFeatures(*this, "key features", features(getKey()),
                            "'num_kv_heads' x head dimension", kvWidth)) ||
      failed(verifyFeatures(*this, "value features", features(getValue()),
                            "'num_kv_heads' x head dimension", kvWidth)) ||
      failed(verifyTokenDims(*this, getQuery(), "the query", getKey(), "the key")) ||
      failed(verifyTokenDims(*this, getQuery(), "the query", getValue(), "the value")))
    return failure();
  if (getOutput().getType() != getQuery().getType())
    return emitOpError() << "result type " << getOutput().getType()
                         << " must equal the query type " << getQuery().getType();

  bool hasCache = static_cast<bool>(getKCache());
  if (hasCache != static_cast<bool>(getVCache()))
    return emitOpError() << "a KV cache needs both the key and the value cache";
  if (hasCache != static_cast<bool>(getPositions()))
    return emitOpError() << (hasCache ? "a KV cache needs the positions of the new tokens"
                                      : "'positions' are only used with a KV cache");
  if (getRows() && !hasCache)
    return emitOpError() << "'rows' are only used with a KV cache";
  if (!hasCache) {
    if (!getUpdatedCache().empty())
      return emitOpError() << "returns updated caches but has no KV cache";
    return success();
  }
  if (getUpdatedCache().size() != 2)
    return emitOpError() << "with a KV cache, returns the output and the updated key and "
                            "value caches";
  for (auto [cache, name] : {std::pair{getKCache(), "key cache"},
                             std::pair{getVCache(), "value cache"}})
    if (failed(verifyFeatures(*this, std::string(name) + " features", features(cache),
                              "'num_kv_heads' x head dimension", kvWidth)))
      return failure();
  if (getKCache().getType() != getVCache().getType())
    return emitOpError() << "key and value caches must have the same type";
  for (Value updated : getUpdatedCache())
    if (updated.getType() != getKCache().getType())
      return emitOpError() << "updated caches must have the type of the caches";
  return verifyTokenDims(*this, getQuery(), "the query", getPositions(), "the positions");
}

LogicalResult CrossEntropyOp::verify() {
  if (failed(verifyPositiveAttr(*this, "temperature", getTemperature().convertToDouble())))
    return failure();
  return verifyTokenDims(*this, getLogits(), "the logits", getLabels(), "the labels");
}

LogicalResult ExitConfidenceOp::verify() {
  return verifyTokenDims(*this, getLogits(), "the logits", getConfidence(),
                         "the confidence");
}

LogicalResult ExitDecisionOp::verify() {
  for (auto [value, name] : {std::pair{getConfidence(), "the confidence"},
                             std::pair{getChoice(), "the choice"}, std::pair{getState(), "the state"},
                             std::pair{getDecision(), "the decision"}, std::pair{getToken(), "the token"},
                             std::pair{getLogprob(), "the log-probability"},
                             std::pair{getNextState(), "the next state"}})
    if (failed(verifyTokenDims(*this, getLogits(), "the logits", value, name)))
      return failure();
  if (features(getChoice()) != 4)
    return emitOpError() << "takes 4 choice values per token (threshold, temperature, top_k, "
                            "top_p), got "
                         << features(getChoice());
  return success();
}

LogicalResult TPAllGatherOp::verify() {
  if (failed(verifyTokenDims(*this, getInput(), "the input", getResult(), "the result")))
    return failure();
  if (features(getResult()) % features(getInput()) != 0)
    return emitOpError() << "gathers " << features(getResult())
                         << " features, not a multiple of the input's " << features(getInput());
  return success();
}

OpFoldResult ScaleOp::fold(FoldAdaptor adaptor) {
  auto factor = dyn_cast_if_present<FloatAttr>(adaptor.getFactor());
  if (factor && factor.getValueAsDouble() == 1.0)
    return getInput();
  return {};
}

OpFoldResult LossWeightOp::fold(FoldAdaptor) {
  LossWeightAttr schedule = getSchedule();
  if (!schedule.isConstant())
    return {};
  return FloatAttr::get(getType(), schedule.getTarget());
}

#define GET_OP_CLASSES
#include "ee/EEOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Communication
//===----------------------------------------------------------------------===//

static LogicalResult verifyPeer(Operation *op, int64_t peer) {
  if (peer == 0)
    return op->emitOpError() << "peer 0 is this stage itself; a peer is a stage offset such as 1 "
                                "(the next stage) or -1 (the previous one)";
  return success();
}

LogicalResult SendOp::verify() {
  if (failed(verifyPeer(*this, getPeer())))
    return failure();
  if (getRequest().getType().getPayload())
    return emitOpError() << "a send delivers nothing: its request is !ee.request, not "
                         << getRequest().getType();
  return success();
}

LogicalResult RecvOp::verify() {
  if (failed(verifyPeer(*this, getPeer())))
    return failure();
  auto tensor = dyn_cast_or_null<RankedTensorType>(getRequest().getType().getPayload());
  if (!tensor)
    return emitOpError() << "a receive delivers a ranked tensor: its request must be "
                            "!ee.request<tensor<...>>, got "
                         << getRequest().getType();
  if (static_cast<int64_t>(getSizes().size()) != tensor.getNumDynamicDims())
    return emitOpError() << "has " << getSizes().size() << " sizes for the "
                         << tensor.getNumDynamicDims() << " dynamic dimensions of " << tensor;
  return success();
}

/// The rules every collective start shares: a tensor payload of the input's
/// element type and rank, and a weight named exactly for the tied group.
static FailureOr<RankedTensorType> verifyCollective(Operation *op, RankedTensorType input,
                                                    RequestType request, Group group,
                                                    bool hasWeight) {
  if (group == Group::Tied && !hasWeight)
    return op->emitOpError() << "over the tied group names the weight its stages share: "
                                "tied(@weight)";
  if (group != Group::Tied && hasWeight)
    return op->emitOpError() << "names a weight, which only the tied group takes";
  auto result = dyn_cast_or_null<RankedTensorType>(request.getPayload());
  if (!result || result.getElementType() != input.getElementType() ||
      result.getRank() != input.getRank())
    return op->emitOpError() << "delivers a tensor of the input's element type and rank: "
                                "its request must be !ee.request<tensor<...>> like "
                             << input << ", got " << request;
  return result;
}

LogicalResult AllReduceStartOp::verify() {
  if (getInput().getType().isF32()) {
    if (getRequest().getType().getPayload() != getInput().getType())
      return emitOpError() << "sums a scalar: its request must be !ee.request<f32>, got "
                           << getRequest().getType();
    if (getGroup() == Group::Tied || getWeight())
      return emitOpError() << "sums a scalar over the tp, pp or dp group, not a tied group";
    return success();
  }
  FailureOr<RankedTensorType> result =
      verifyCollective(*this, cast<RankedTensorType>(getInput().getType()),
                       getRequest().getType(), getGroup(), getWeight().has_value());
  if (failed(result))
    return failure();
  if (*result != getInput().getType())
    return emitOpError() << "delivers a sum of the input's type " << getInput().getType()
                         << ", not " << *result;
  return success();
}

/// A reduce-scatter's blocks are of the row-major elements of a statically
/// shaped tensor (the group's size is known at run time only: a block is
/// tensor<?xT>); all-gather joins them again. Over the tied group neither.
static LogicalResult verifyBlocks(Operation *op, Type wholeType, Type blockType, Group group,
                                  bool hasWeight, bool scatter) {
  const char *verb = scatter ? "scatters" : "gathers";
  auto whole = dyn_cast<RankedTensorType>(wholeType);
  if (!whole || !whole.hasStaticShape())
    return op->emitOpError() << verb << " the blocks of a statically shaped tensor, not "
                             << wholeType;
  if (group == Group::Tied || hasWeight)
    return op->emitOpError() << verb << " over the tp, pp or dp group, not a tied group";
  auto block = dyn_cast_or_null<RankedTensorType>(blockType);
  if (!block || block.getRank() != 1 || !block.isDynamicDim(0) ||
      block.getElementType() != whole.getElementType())
    return op->emitOpError() << (scatter ? "delivers" : "takes") << " a block of " << whole
                             << " as " << RankedTensorType::get({ShapedType::kDynamic}, whole.getElementType())
                             << ", not " << blockType;
  return success();
}

LogicalResult ReduceScatterStartOp::verify() {
  return verifyBlocks(*this, getInput().getType(), getRequest().getType().getPayload(),
                      getGroup(), getWeight().has_value(), /*scatter=*/true);
}

LogicalResult AllGatherStartOp::verify() {
  return verifyBlocks(*this, getRequest().getType().getPayload(), getInput().getType(),
                      getGroup(), getWeight().has_value(), /*scatter=*/false);
}

LogicalResult AllGatherParameterStartOp::verify() {
  if (getGroup() != Group::DP)
    return emitOpError() << "gathers a parameter's blocks over the data-parallel group (dp) only";
  if (getRequest().getType().getPayload())
    return emitOpError() << "updates the parameter in place: its request is !ee.request, not "
                         << getRequest().getType();
  return success();
}

LogicalResult AllGatherParameterStartOp::verifySymbolUses(SymbolTableCollection &tables) {
  if (!tables.lookupNearestSymbolFrom<ParameterOp>(*this, getParamAttr()))
    return emitOpError() << "'@" << getParam() << "' does not name an ee.parameter";
  return success();
}

LogicalResult WaitOp::verify() {
  Type payload = getRequest().getType().getPayload();
  if (!payload && getResult())
    return emitOpError() << "waits on a send, which delivers nothing, yet has a result";
  if (payload && (!getResult() || getResult().getType() != payload))
    return emitOpError() << "must yield the request's payload " << payload;
  // Reported at every wait after the first, which itself is fine.
  int64_t waits = 0;
  bool first = true;
  for (Operation *user : getRequest().getUsers())
    if (isa<WaitOp>(user)) {
      ++waits;
      if (user != getOperation() && user->getBlock() == (*this)->getBlock() &&
          user->isBeforeInBlock(*this))
        first = false;
    }
  if (waits > 1 && !first)
    return emitOpError() << "is one of " << waits
                         << " waits on the same request; each request is waited on once";
  return success();
}

LogicalResult ZerosOp::verify() {
  auto type = cast<RankedTensorType>(getResult().getType());
  if (static_cast<int64_t>(getSizes().size()) != type.getNumDynamicDims())
    return emitOpError() << "has " << getSizes().size() << " sizes for the "
                         << type.getNumDynamicDims() << " dynamic dimensions of " << type;
  return success();
}

//===----------------------------------------------------------------------===//
// Tracing
//===----------------------------------------------------------------------===//

LogicalResult SpanEndOp::verify() {
  // The nearest span_begin before it names the same span: spans do not nest.
  for (Operation *op = (*this)->getPrevNode(); op; op = op->getPrevNode()) {
    if (isa<SpanEndOp>(op))
      break;
    if (auto begin = dyn_cast<SpanBeginOp>(op)) {
      if (begin.getName() == getName())
        return success();
      return emitOpError() << "ends span '" << getName() << "' inside span '" << begin.getName()
                           << "'; spans do not nest";
    }
  }
  return emitOpError() << "ends span '" << getName() << "', which no ee.span_begin before it started";
}

//===----------------------------------------------------------------------===//
// Optimizer
//===----------------------------------------------------------------------===//

LogicalResult AdamWOp::verifySymbolUses(SymbolTableCollection &tables) {
  auto param = tables.lookupNearestSymbolFrom<ParameterOp>(*this, getParamAttr());
  if (!param)
    return emitOpError() << "'@" << getParam() << "' does not name an ee.parameter";
  // Gradients are f32, of a bf16 parameter too (its update is on an f32 master).
  auto grad = cast<RankedTensorType>(getGrad().getType());
  Type f32 = Float32Type::get(getContext());
  if (getDpShard()) {
    auto block = RankedTensorType::get({ShapedType::kDynamic}, f32);
    if (grad != block)
      return emitOpError() << "with dp_shard takes a block of '@" << getParam() << "' as "
                           << block << ", not " << grad;
    return success();
  }
  auto expected = param.getTensorType().clone(f32);
  if (expected != grad)
    return emitOpError() << "gradient type " << grad << " differs from " << expected
                         << ", the f32 gradient of '@" << getParam() << "'";
  return success();
}
