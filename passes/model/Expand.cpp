//===- Expand.cpp - ee-expand: model-level ops to primitive ops -----------===//

#include "ee/EEOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::ee {
#define GEN_PASS_DEF_EEEXPANDPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

/// Emits primitive ops for the pieces that several model-level ops share
/// (norms, projections, the SwiGLU MLP, a whole decoder block).
class PrimitiveBuilder {
public:
  PrimitiveBuilder(OpBuilder &builder, Location loc, SymbolTableCollection &tables,
                   Operation *user)
      : b(builder), loc(loc), tables(tables), user(user) {}

  Value parameter(StringRef name) {
    auto param = tables.lookupNearestSymbolFrom<ParameterOp>(
        user, StringAttr::get(b.getContext(), name));
    assert(param && "the model-level op's verifier checked its parameters");
    return GetParameterOp::create(b, loc, param.getTensorType(), name);
  }

  /// `x` with its feature dimension replaced by `width`.
  static RankedTensorType withFeatures(Value x, int64_t width) {
    auto type = cast<RankedTensorType>(x.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape.back() = width;
    return RankedTensorType::get(shape, type.getElementType());
  }

  Value rmsNorm(Value x, StringRef weight, double eps) {
    return RMSNormOp::create(b, loc, x.getType(), x, parameter(weight),
                             b.getF64FloatAttr(eps));
  }

  Value linear(Value x, StringRef weightName) {
    Value weight = parameter(weightName);
    int64_t rows = cast<RankedTensorType>(weight.getType()).getShape()[0];
    return LinearOp::create(b, loc, withFeatures(x, rows), x, weight);
  }

  Value logits(Value z, StringRef weightName) {
    Value weight = parameter(weightName);
    int64_t vocab = cast<RankedTensorType>(weight.getType()).getShape()[0];
    return LogitsOp::create(b, loc, withFeatures(z, vocab), z, weight);
  }

  Value add(Value lhs, Value rhs) { return AddOp::create(b, loc, lhs, rhs); }

  /// `down(swiglu(gate(x), up(x)))` with the weights `<prefix>.*_proj.weight`.
  Value mlp(Value x, StringRef prefix) {
    Value gate = linear(x, (prefix + ".gate_proj.weight").str());
    Value up = linear(x, (prefix + ".up_proj.weight").str());
    Value act = SwiGLUOp::create(b, loc, gate.getType(), gate, up);
    return linear(act, (prefix + ".down_proj.weight").str());
  }

  /// A decoder block; returns {output, mid-layer residual}.
  std::pair<Value, Value> block(Value x, Value positions, StringRef prefix,
                                LayerAttr layer) {
    auto name = [&](StringRef suffix) { return (prefix + "." + suffix).str(); };
    double eps = layer.getRmsNormEps();
    llvm::APFloat theta(layer.getRopeTheta());
    int64_t heads = layer.getNumHeads(), kvHeads = layer.getNumKvHeads();

    Value normed = rmsNorm(x, name("input_layernorm.weight"), eps);
    Value q = linear(normed, name("self_attn.q_proj.weight"));
    Value k = linear(normed, name("self_attn.k_proj.weight"));
    Value v = linear(normed, name("self_attn.v_proj.weight"));
    q = RotaryOp::create(b, loc, q.getType(), q, positions, heads, theta);
    k = RotaryOp::create(b, loc, k.getType(), k, positions, kvHeads, theta);
    Value attn = AttentionOp::create(b, loc, q.getType(), /*updated_cache=*/TypeRange{},
                                     q, k, v, /*k_cache=*/Value(), /*v_cache=*/Value(),
                                     /*positions=*/Value(), /*rows=*/Value(), heads, kvHeads)
                     .getOutput();
    Value residual = add(x, linear(attn, name("self_attn.o_proj.weight")));
    Value mlpIn = rmsNorm(residual, name("post_attention_layernorm.weight"), eps);
    return {add(residual, mlp(mlpIn, name("mlp"))), residual};
  }

private:
  OpBuilder &b;
  Location loc;
  SymbolTableCollection &tables;
  Operation *user;
};

template <typename OpT>
struct ExpandPattern : OpConversionPattern<OpT> {
  ExpandPattern(MLIRContext *context, SymbolTableCollection &tables)
      : OpConversionPattern<OpT>(context), tables(tables) {}

protected:
  PrimitiveBuilder primitives(ConversionPatternRewriter &rewriter, OpT op) const {
    return PrimitiveBuilder(rewriter, op.getLoc(), tables, op);
  }
  SymbolTableCollection &tables;
};

struct ExpandEmbedding : ExpandPattern<EmbeddingOp> {
  using ExpandPattern::ExpandPattern;
  LogicalResult matchAndRewrite(EmbeddingOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Value table = primitives(rewriter, op).parameter(op.getTable());
    rewriter.replaceOpWithNewOp<EmbeddingLookupOp>(op, op.getType(), table,
                                                   adaptor.getIds());
    return success();
  }
};

struct ExpandDecoderLayer : ExpandPattern<DecoderLayerOp> {
  using ExpandPattern::ExpandPattern;
  LogicalResult matchAndRewrite(DecoderLayerOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto [output, residual] = primitives(rewriter, op).block(
        adaptor.getInput(), adaptor.getPositions(), op.getPrefix(), op.getLayer());
    rewriter.replaceOp(op, ValueRange{output, residual});
    return success();
  }
};

struct ExpandExit : ExpandPattern<ExitOp> {
  using ExpandPattern::ExpandPattern;
  LogicalResult matchAndRewrite(ExitOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    PrimitiveBuilder build = primitives(rewriter, op);
    std::string prefix = op.getWeightPrefix();
    double eps = op.getLayerSpec().getRmsNormEps();
    Value z = adaptor.getInput();
    switch (op.getBranch()) {
    case ExitBranch::None:
      break;
    case ExitBranch::MLP: {
      // The input is the layer's mid-layer residual h: z = h + MLP_exit(RMSNorm_post(h)).
      Value normed = build.rmsNorm(z, op.getSharedPostNormName(), eps);
      z = build.add(z, build.mlp(normed, prefix + ".mlp"));
      break;
    }
    case ExitBranch::Block:
      z = build.block(z, adaptor.getPositions(), prefix + ".block", op.getLayerSpec())
              .first;
      break;
    }
    if (op.getNorm())
      z = build.rmsNorm(z, prefix + ".norm.weight", eps);
    rewriter.replaceOp(op, build.logits(z, op.getOutput()));
    return success();
  }
};

struct ExpandFinalHead : ExpandPattern<FinalHeadOp> {
  using ExpandPattern::ExpandPattern;
  LogicalResult matchAndRewrite(FinalHeadOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    PrimitiveBuilder build = primitives(rewriter, op);
    Value normed = build.rmsNorm(adaptor.getInput(), op.getNorm(),
                                 op.getRmsNormEps().convertToDouble());
    rewriter.replaceOp(op, build.logits(normed, op.getOutput()));
    return success();
  }
};

struct ExpandExitLoss : OpConversionPattern<ExitLossOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ExitLossOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value weight = LossWeightOp::create(rewriter, loc, rewriter.getF32Type(),
                                        adaptor.getIteration(), op.getLossWeight());
    Value loss = CrossEntropyOp::create(rewriter, loc, rewriter.getF32Type(),
                                        adaptor.getLogits(), adaptor.getLabels(),
                                        op.getTemperatureAttr());
    rewriter.replaceOpWithNewOp<arith::MulFOp>(op, weight, loss);
    return success();
  }
};

struct EEExpandPass : ee::impl::EEExpandPassBase<EEExpandPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    SymbolTableCollection tables;
    RewritePatternSet patterns(context);
    patterns.add<ExpandEmbedding, ExpandDecoderLayer, ExpandExit, ExpandFinalHead>(
        context, tables);
    patterns.add<ExpandExitLoss>(context);

    ConversionTarget target(*context);
    target.addLegalDialect<EEDialect, arith::ArithDialect>();
    target.addIllegalOp<EmbeddingOp, DecoderLayerOp, ExitOp, FinalHeadOp, ExitLossOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
