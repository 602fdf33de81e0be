//===- LowerToEERT.cpp - ee-lower-to-eert: runtime calls over planned buffers -===//
//
// Three steps per function. The entry-point wrapper gives it the runtime's
// calling convention (parameter table, arena, batch, seq, input and output
// tables -> status) and writes its manifest record as `ee.entry`. Conversion
// patterns, one per ee op, then replace tensors by the buffers ee-plan-memory
// placed them in and ops by eert runtime calls. Last, the statuses the calls
// return are checked: right after the call, or (collectives) combined and
// checked at the next point where a failure could spread.
//
//===----------------------------------------------------------------------===//

#include "ee/EEOps.h"
#include "passes/Passes.h"
#include "passes/conversion/MemoryPlan.h"

#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

namespace mlir::ee {
#define GEN_PASS_DEF_EELOWERTOEERTPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

/// The runtime's tensor-parallel, pipeline and data-parallel groups (abi.def: eert_comm_grid).
constexpr int64_t kTensorGroup = 1, kPipelineGroup = 2, kDataGroup = 3;
/// Slots per parameter in an update step's optimizer-state table
/// (docs/runtime-abi.md): exp_avg, exp_avg_sq, fp32 master weight.
constexpr int64_t kOptimizerStatesPerParameter = 3;
/// Compiled code's message tags start here (abi.def: eert_comm_irecv).
constexpr int64_t kMessageTagBase = 1000;
/// Marks a runtime call's status for the last step: "check" right after the
/// call, or "defer" to the next flush point.
constexpr StringLiteral kStatusAttr = "ee.status";
/// Deferred statuses are checked at least this often: LLVM's code generation
/// grows faster than linearly in the size of a basic block.
constexpr int64_t kDeferredPerCheck = 16;

/// What the lowering of an entry point's ops reads: its memory plan and the
/// values its prologue computed. Fixed before the patterns run.
struct EntryPoint {
  MemoryPlan plan;
  Value params, arena, batch, seq, tokens, fixedBase;
  Value optimizerState;     // the trailing input of a function that updates parameters
  Value dataRank, dataSize; // this rank's place in the data-parallel group, when blocks need it
  llvm::StringMap<int64_t> spanIndex; // span name -> its number in the manifest
};
using EntryPoints = DenseMap<Operation *, EntryPoint>;

Type pointerType(MLIRContext *context) { return LLVM::LLVMPointerType::get(context); }

/// Pointer and index arithmetic shared by the wrapper and the patterns.
class Emitter {
public:
  Emitter(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value i64(int64_t value) { return arith::ConstantIntOp::create(b, loc, value, 64); }
  Value f32(double value) {
    return arith::ConstantFloatOp::create(b, loc, b.getF32Type(),
                                          llvm::APFloat(static_cast<float>(value)));
  }
  Type ptr() { return pointerType(b.getContext()); }
  /// base + byteOffset.
  Value offsetPtr(Value base, Value byteOffset) {
    return LLVM::GEPOp::create(b, loc, ptr(), b.getI8Type(), base, ValueRange{byteOffset});
  }
  /// base + `elements` floats.
  Value floatOffset(Value base, Value elements) {
    return offsetPtr(base, arith::MulIOp::create(b, loc, elements, i64(4)));
  }
  /// The pointer stored at array[index] (an array of pointers).
  Value loadPointer(Value array, int64_t index) {
    return LLVM::LoadOp::create(b, loc, ptr(), slot(array, index));
  }
  void storePointer(Value array, int64_t index, Value pointer) {
    LLVM::StoreOp::create(b, loc, pointer, slot(array, index));
  }
  /// A scalar result in backend memory (the GPU's for cuda), read to the host.
  Value loadF32(Value pointer) {
    return eert::MemoryLoadF32Op::create(b, loc, b.getF32Type(), pointer);
  }
  void storeF32(Value value, Value pointer) { eert::MemoryStoreF32Op::create(b, loc, pointer, value); }

  OpBuilder &b;
  Location loc;

private:
  Value slot(Value array, int64_t index) {
    return LLVM::GEPOp::create(b, loc, ptr(), ptr(), array,
                               ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(index)});
  }
};

int64_t features(Value value) {
  return cast<RankedTensorType>(value.getType()).getShape().back();
}

bool isBF16(Value value) { return getElementTypeOrSelf(value.getType()).isBF16(); }

/// The reduce-scatter whose wait delivers `value`, if it is such a block.
ReduceScatterStartOp blockSource(Value value) {
  auto wait = value.getDefiningOp<WaitOp>();
  return wait ? wait.getRequest().getDefiningOp<ReduceScatterStartOp>() : nullptr;
}

/// Builds one op's runtime calls over the entry point's buffers.
class CallBuilder : public Emitter {
public:
  CallBuilder(ConversionPatternRewriter &rewriter, Location loc, const EntryPoint &entry,
              const llvm::StringMap<int64_t> &parameterIndex)
      : Emitter(rewriter, loc), rewriter(rewriter), entry(entry), parameterIndex(parameterIndex) {}

  /// The buffer a source value already converted is in.
  Value remapped(Value original) { return rewriter.getRemappedValue(original); }

  Value tokens() { return entry.tokens; }
  Value batch() { return entry.batch; }
  Value seq() { return entry.seq; }

  /// The buffer ee-plan-memory placed `result` (a value of the source) in.
  Value allocate(Value result) {
    if (auto it = entry.plan.perTokenOffset.find(result); it != entry.plan.perTokenOffset.end())
      return offsetPtr(entry.arena, arith::MulIOp::create(b, loc, entry.tokens, i64(it->second)));
    return offsetPtr(entry.fixedBase, i64(entry.plan.fixedOffset.lookup(result)));
  }

  /// Elements [begin, begin + count) of an n-element tensor are this rank's
  /// block: c = ceil(n / size), begin = min(n, rank c), count = min(n, begin + c) - begin.
  std::pair<Value, Value> dataBlock(int64_t n) {
    Value size = entry.dataSize;
    Value c = arith::DivSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, i64(n), arith::SubIOp::create(b, loc, size, i64(1))),
        size);
    Value begin =
        arith::MinSIOp::create(b, loc, i64(n), arith::MulIOp::create(b, loc, entry.dataRank, c));
    Value end = arith::MinSIOp::create(b, loc, i64(n), arith::AddIOp::create(b, loc, begin, c));
    return {begin, arith::SubIOp::create(b, loc, end, begin)};
  }
  static int64_t numElements(Value value) {
    return cast<RankedTensorType>(value.getType()).getNumElements();
  }

  /// Number of elements of a source value: a data-parallel block's, static,
  /// or tokens x features for activations.
  Value elements(Value value) {
    if (ReduceScatterStartOp start = blockSource(value))
      return dataBlock(numElements(start.getInput())).second;
    auto type = cast<RankedTensorType>(value.getType());
    if (type.hasStaticShape())
      return i64(type.getNumElements());
    return arith::MulIOp::create(b, loc, entry.tokens, i64(type.getShape().back()));
  }
  Value bytes(Value value) {
    return arith::MulIOp::create(b, loc, elements(value),
                                 i64(elementBytes(cast<ShapedType>(value.getType()))));
  }

  Value parameter(StringRef name) { return loadPointer(entry.params, parameterIndex.lookup(name)); }
  /// Optimizer state `k` of parameter `name`: 0 exp_avg, 1 exp_avg_sq, 2 the
  /// fp32 master weight of a bf16 parameter (null for an fp32 one).
  Value optimizerState(StringRef name, int64_t k) {
    return loadPointer(entry.optimizerState,
                       kOptimizerStatesPerParameter * parameterIndex.lookup(name) + k);
  }
  int64_t spanIndex(StringRef name) { return entry.spanIndex.lookup(name); }

  /// The world rank of the pipeline stage `offset` stages away.
  Value stagePeer(int64_t offset) {
    Value rank = eert::CommGroupPeerOp::create(b, loc, b.getI32Type(), i64(kPipelineGroup),
                                               i64(offset));
    return arith::ExtSIOp::create(b, loc, b.getI64Type(), rank);
  }

  /// The status a call returns, checked right after it.
  void check(Operation *call) { call->setAttr(kStatusAttr, b.getStringAttr("check")); }
  /// The status a collective returns, checked at the next flush point.
  void defer(Operation *call) { call->setAttr(kStatusAttr, b.getStringAttr("defer")); }

private:
  ConversionPatternRewriter &rewriter;
  const EntryPoint &entry;
  const llvm::StringMap<int64_t> &parameterIndex;
};

using Results = SmallVector<Value>;

//===----------------------------------------------------------------------===//
// One lowering per op: the runtime calls, and what replaces the op's results
//===----------------------------------------------------------------------===//

Results lower(GetParameterOp op, GetParameterOp::Adaptor, CallBuilder &c) {
  return {c.parameter(op.getName())};
}

Results lower(EmbeddingLookupOp op, EmbeddingLookupOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  auto shape = op.getTable().getType().getShape();
  Value vocab = c.i64(shape[0]), hidden = c.i64(shape[1]), group = c.i64(kTensorGroup);
  Type status = c.b.getI32Type();
  Operation *call;
  if (isBF16(op.getTable()))
    call = op.getVocabParallel()
               ? eert::EmbeddingLookupParallelBf16Op::create(c.b, c.loc, status, a.getTable(),
                                                             a.getIds(), out, c.tokens(), vocab,
                                                             hidden, group)
               : eert::EmbeddingLookupBf16Op::create(c.b, c.loc, status, a.getTable(), a.getIds(),
                                                     out, c.tokens(), vocab, hidden);
  else
    call = op.getVocabParallel()
               ? eert::EmbeddingLookupParallelOp::create(c.b, c.loc, status, a.getTable(),
                                                         a.getIds(), out, c.tokens(), vocab,
                                                         hidden, group)
               : eert::EmbeddingLookupOp::create(c.b, c.loc, status, a.getTable(), a.getIds(),
                                                 out, c.tokens(), vocab, hidden);
  c.check(call);
  return {out};
}

Results lower(TPCopyOp op, TPCopyOp::Adaptor a, CallBuilder &c) {
  // A copy, not an alias: the memory plan frees the input after its last use.
  Value out = c.allocate(op.getResult());
  eert::MemoryCopyOp::create(c.b, c.loc, out, a.getInput(), c.bytes(op.getResult()));
  return {out};
}

Results lower(ConvertOp op, ConvertOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  if (isBF16(op.getResult()))
    eert::ToBf16Op::create(c.b, c.loc, a.getInput(), out, c.elements(op.getResult()));
  else
    eert::FromBf16Op::create(c.b, c.loc, a.getInput(), out, c.elements(op.getResult()));
  return {out};
}

Results lower(TPAllGatherOp op, TPAllGatherOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  c.check(eert::GatherColumnsOp::create(c.b, c.loc, c.b.getI32Type(), a.getInput(), out,
                                        c.tokens(), c.i64(features(op.getInput())),
                                        c.i64(kTensorGroup)));
  return {out};
}

Results lower(TPAllReduceOp op, TPAllReduceOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  Value count = c.elements(op.getResult());
  eert::ScaleOp::create(c.b, c.loc, a.getInput(), c.f32(1.0), out, count);
  c.check(eert::CommAllReduceOp::create(c.b, c.loc, c.b.getI32Type(), out, count,
                                        c.i64(kTensorGroup)));
  return {out};
}

Results lower(RMSNormOp op, RMSNormOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  Value cols = c.i64(features(op.getInput())), eps = c.f32(op.getEps().convertToDouble());
  // The verifier admits a bf16 result with a bf16 weight only.
  if (isBF16(op.getResult()))
    eert::RmsNormBf16Op::create(c.b, c.loc, a.getInput(), a.getWeight(), out, c.tokens(), cols,
                                eps);
  else if (isBF16(op.getWeight()))
    eert::RmsNormBf16F32Op::create(c.b, c.loc, a.getInput(), a.getWeight(), out, c.tokens(), cols,
                                   eps);
  else
    eert::RmsNormOp::create(c.b, c.loc, a.getInput(), a.getWeight(), out, c.tokens(), cols, eps);
  return {out};
}

template <typename Projection>
Results lowerProjection(Projection op, typename Projection::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  Value in = c.i64(features(op.getInput())), outFeatures = c.i64(features(op.getResult()));
  if (isBF16(op.getInput()))
    eert::LinearBf16F32Op::create(c.b, c.loc, a.getInput(), a.getWeight(), out, c.tokens(), in,
                                  outFeatures);
  else
    eert::LinearOp::create(c.b, c.loc, a.getInput(), a.getWeight(), out, c.tokens(), in,
                           outFeatures);
  return {out};
}
Results lower(LinearOp op, LinearOp::Adaptor a, CallBuilder &c) { return lowerProjection(op, a, c); }
Results lower(LogitsOp op, LogitsOp::Adaptor a, CallBuilder &c) { return lowerProjection(op, a, c); }

Results lower(RotaryOp op, RotaryOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  int64_t heads = op.getNumHeads();
  eert::RotaryOp::create(c.b, c.loc, a.getInput(), a.getPositions(), out, c.tokens(),
                         c.i64(heads), c.i64(features(op.getInput()) / heads),
                         c.f32(op.getTheta().convertToDouble()));
  return {out};
}

Results lower(AttentionOp op, AttentionOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getOutput());
  int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
  Value headDim = c.i64(features(op.getQuery()) / heads);
  if (!op.getKCache()) {
    eert::AttentionOp::create(c.b, c.loc, a.getQuery(), a.getKey(), a.getValue(), out, c.batch(),
                              c.seq(), c.i64(heads), c.i64(kvHeads), headDim);
    return {out};
  }
  auto cacheType = cast<RankedTensorType>(op.getKCache().getType());
  // Explicit rows index caches whose row count the function does not know.
  Value rows = op.getRows() ? a.getRows() : LLVM::ZeroOp::create(c.b, c.loc, c.ptr()).getResult();
  c.check(eert::AttentionCachedOp::create(
      c.b, c.loc, c.b.getI32Type(), a.getQuery(), a.getKey(), a.getValue(), a.getKCache(),
      a.getVCache(), a.getPositions(), rows, out, c.batch(), c.seq(),
      op.getRows() ? c.i64(0) : c.batch(), c.i64(cacheType.getDimSize(1)), c.i64(heads),
      c.i64(kvHeads), headDim));
  // The caches are updated in place.
  return {out, a.getKCache(), a.getVCache()};
}

Results lower(SwiGLUOp op, SwiGLUOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  if (isBF16(op.getResult()))
    eert::SwigluBf16Op::create(c.b, c.loc, a.getGate(), a.getUp(), out, c.elements(op.getResult()));
  else
    eert::SwigluOp::create(c.b, c.loc, a.getGate(), a.getUp(), out, c.elements(op.getResult()));
  return {out};
}

Results lower(AddOp op, AddOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  eert::AddOp::create(c.b, c.loc, a.getLhs(), a.getRhs(), out, c.elements(op.getResult()));
  return {out};
}

Results lower(InnerProductOp op, InnerProductOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  eert::InnerProductOp::create(c.b, c.loc, a.getLhs(), a.getRhs(), out, c.elements(op.getLhs()));
  return {c.loadF32(out)};
}

Results lower(ScaleOp op, ScaleOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  eert::ScaleOp::create(c.b, c.loc, a.getInput(), a.getFactor(), out, c.elements(op.getResult()));
  return {out};
}

Results lower(CrossEntropyOp op, CrossEntropyOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getLoss());
  Value vocab = c.i64(features(op.getLogits()));
  Value temperature = c.f32(op.getTemperature().convertToDouble());
  Operation *call =
      op.getVocabParallel()
          ? eert::CrossEntropyParallelOp::create(c.b, c.loc, c.b.getI32Type(), a.getLogits(),
                                                 a.getLabels(), out, c.tokens(), vocab,
                                                 temperature, c.i64(kTensorGroup))
          : eert::CrossEntropyOp::create(c.b, c.loc, c.b.getI32Type(), a.getLogits(),
                                         a.getLabels(), out, c.tokens(), vocab, temperature);
  c.check(call);
  return {c.loadF32(out)};
}

Results lower(CrossEntropyGradOp op, CrossEntropyGradOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getDlogits());
  Value vocab = c.i64(features(op.getLogits()));
  Value temperature = c.f32(op.getTemperature().convertToDouble());
  Operation *call =
      op.getVocabParallel()
          ? eert::CrossEntropyBackwardParallelOp::create(
                c.b, c.loc, c.b.getI32Type(), a.getLogits(), a.getLabels(), out, c.tokens(),
                vocab, temperature, a.getDloss(), c.i64(kTensorGroup))
          : eert::CrossEntropyBackwardOp::create(c.b, c.loc, c.b.getI32Type(), a.getLogits(),
                                                 a.getLabels(), out, c.tokens(), vocab,
                                                 temperature, a.getDloss());
  c.check(call);
  return {out};
}

Results lower(ExitConfidenceOp op, ExitConfidenceOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getConfidence());
  Value vocab = c.i64(features(op.getLogits()));
  if (op.getVocabParallel())
    c.check(eert::ExitConfidenceParallelOp::create(c.b, c.loc, c.b.getI32Type(), a.getLogits(),
                                                   out, c.tokens(), vocab, c.i64(kTensorGroup)));
  else
    eert::ExitConfidenceOp::create(c.b, c.loc, a.getLogits(), out, c.tokens(), vocab);
  return {out};
}

Results lower(ExitDecisionOp op, ExitDecisionOp::Adaptor a, CallBuilder &c) {
  Value decision = c.allocate(op.getDecision()), token = c.allocate(op.getToken()),
        logprob = c.allocate(op.getLogprob()), next = c.allocate(op.getNextState());
  c.check(eert::ExitDecisionOp::create(c.b, c.loc, c.b.getI32Type(), a.getLogits(),
                                       a.getConfidence(), a.getChoice(), a.getState(), decision,
                                       token, logprob, next, c.tokens(),
                                       c.i64(features(op.getLogits()))));
  return {decision, token, logprob, next};
}

Results lower(LinearGradInputOp op, LinearGradInputOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getDx());
  Value in = c.i64(features(op.getDx())), outFeatures = c.i64(features(op.getDy()));
  if (isBF16(op.getDy()))
    eert::LinearBackwardInputBf16Op::create(c.b, c.loc, a.getDy(), a.getWeight(), out, c.tokens(),
                                            in, outFeatures);
  else
    eert::LinearBackwardInputOp::create(c.b, c.loc, a.getDy(), a.getWeight(), out, c.tokens(), in,
                                        outFeatures);
  return {out};
}

Results lower(LinearGradWeightOp op, LinearGradWeightOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getDweight());
  Value in = c.i64(features(op.getInput())), outFeatures = c.i64(features(op.getDy()));
  if (isBF16(op.getDy()))
    eert::LinearBackwardWeightBf16Op::create(c.b, c.loc, a.getDy(), a.getInput(), out, c.tokens(),
                                             in, outFeatures);
  else
    eert::LinearBackwardWeightOp::create(c.b, c.loc, a.getDy(), a.getInput(), out, c.tokens(), in,
                                         outFeatures);
  return {out};
}

Results lower(RMSNormGradOp op, RMSNormGradOp::Adaptor a, CallBuilder &c) {
  Value dx = c.allocate(op.getDx()), dw = c.allocate(op.getDweight());
  Value cols = c.i64(features(op.getInput())), eps = c.f32(op.getEps().convertToDouble());
  if (isBF16(op.getWeight()))
    eert::RmsNormBackwardBf16Op::create(c.b, c.loc, a.getInput(), a.getWeight(), a.getDy(), dx,
                                        dw, c.tokens(), cols, eps);
  else
    eert::RmsNormBackwardOp::create(c.b, c.loc, a.getInput(), a.getWeight(), a.getDy(), dx, dw,
                                    c.tokens(), cols, eps);
  return {dx, dw};
}

Results lower(RotaryGradOp op, RotaryGradOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getDx());
  int64_t heads = op.getNumHeads();
  eert::RotaryBackwardOp::create(c.b, c.loc, a.getDy(), a.getPositions(), out, c.tokens(),
                                 c.i64(heads), c.i64(features(op.getDy()) / heads),
                                 c.f32(op.getTheta().convertToDouble()));
  return {out};
}

Results lower(AttentionGradOp op, AttentionGradOp::Adaptor a, CallBuilder &c) {
  Value dq = c.allocate(op.getDquery()), dk = c.allocate(op.getDkey()),
        dv = c.allocate(op.getDvalue());
  int64_t heads = op.getNumHeads();
  eert::AttentionBackwardOp::create(c.b, c.loc, a.getQuery(), a.getKey(), a.getValue(),
                                    a.getDoutput(), dq, dk, dv, c.batch(), c.seq(), c.i64(heads),
                                    c.i64(op.getNumKvHeads()),
                                    c.i64(features(op.getQuery()) / heads));
  return {dq, dk, dv};
}

Results lower(SwiGLUGradOp op, SwiGLUGradOp::Adaptor a, CallBuilder &c) {
  Value dg = c.allocate(op.getDgate()), du = c.allocate(op.getDup());
  eert::SwigluBackwardOp::create(c.b, c.loc, a.getGate(), a.getUp(), a.getDy(), dg, du,
                                 c.elements(op.getDgate()));
  return {dg, du};
}

Results lower(EmbeddingGradOp op, EmbeddingGradOp::Adaptor a, CallBuilder &c) {
  Value out = c.allocate(op.getDtable());
  auto shape = op.getDtable().getType().getShape();
  Operation *call =
      op.getVocabParallel()
          ? eert::EmbeddingBackwardParallelOp::create(c.b, c.loc, c.b.getI32Type(), a.getIds(),
                                                      a.getDy(), out, c.tokens(), c.i64(shape[0]),
                                                      c.i64(shape[1]), c.i64(kTensorGroup))
          : eert::EmbeddingBackwardOp::create(c.b, c.loc, c.b.getI32Type(), a.getIds(), a.getDy(),
                                              out, c.tokens(), c.i64(shape[0]), c.i64(shape[1]));
  c.check(call);
  return {out};
}

Results lower(LossWeightOp op, LossWeightOp::Adaptor a, CallBuilder &c) {
  LossWeightAttr schedule = op.getSchedule();
  if (schedule.isConstant())
    return {c.f32(schedule.getTarget())};
  // w(t) = t >= T ? target : formula(t / T), evaluated in f64.
  OpBuilder &b = c.b;
  Location loc = c.loc;
  auto f64 = b.getF64Type();
  auto k = [&](double v) { return arith::ConstantFloatOp::create(b, loc, f64, llvm::APFloat(v)); };
  Value t = arith::SIToFPOp::create(b, loc, f64, a.getIteration());
  t = arith::MaximumFOp::create(b, loc, t, k(0.0));
  double init = schedule.getInit(), target = schedule.getTarget();
  Value progress = arith::DivFOp::create(b, loc, t, k(schedule.getWarmupIters()));
  Value during;
  if (schedule.getStyle() == WarmupStyle::Cosine) {
    Value angle = arith::MulFOp::create(b, loc, progress, k(M_PI));
    Value half = arith::MulFOp::create(
        b, loc, arith::AddFOp::create(b, loc, math::CosOp::create(b, loc, angle), k(1.0)),
        k(0.5 * (init - target)));
    during = arith::AddFOp::create(b, loc, half, k(target));
  } else {
    during = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, progress, k(target - init)), k(init));
  }
  Value done =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, t, k(schedule.getWarmupIters()));
  Value weight = arith::SelectOp::create(b, loc, done, k(target), during);
  return {arith::TruncFOp::create(b, loc, b.getF32Type(), weight)};
}

Results lower(tensor::DimOp op, tensor::DimOp::Adaptor, CallBuilder &c) {
  // Token tensors and activations are [batch, seq, ...] (checked before).
  Value size = *op.getConstantIndex() == 0 ? c.batch() : c.seq();
  return {arith::IndexCastOp::create(c.b, c.loc, c.b.getIndexType(), size)};
}

Results lower(RecvOp op, RecvOp::Adaptor, CallBuilder &c) {
  // What the wait yields is the buffer received into.
  Value payload = waitOf(op.getRequest()).getResult();
  Value buffer = c.allocate(payload), request = c.allocate(op.getRequest());
  c.check(eert::CommIrecvOp::create(c.b, c.loc, c.b.getI32Type(), buffer, c.bytes(payload),
                                    c.stagePeer(op.getPeer()),
                                    c.i64(kMessageTagBase + op.getTag()), request));
  return {request};
}

Results lower(SendOp op, SendOp::Adaptor a, CallBuilder &c) {
  Value request = c.allocate(op.getRequest());
  c.check(eert::CommIsendOp::create(c.b, c.loc, c.b.getI32Type(), a.getInput(),
                                    c.bytes(op.getInput()), c.stagePeer(op.getPeer()),
                                    c.i64(kMessageTagBase + op.getTag()), request));
  return {request};
}

int64_t runtimeGroup(Group group) {
  switch (group) {
  case Group::TP: return kTensorGroup;
  case Group::PP: return kPipelineGroup;
  case Group::DP: return kDataGroup;
  case Group::Tied: break; // refused before lowering
  }
  llvm_unreachable("a tied group has no runtime group");
}

/// Where the sum of an all-reduce lands: a scalar in its wait's slot, a
/// tensor in its own buffer when nothing else reads it, else in a copy.
Value allReduceBuffer(AllReduceStartOp start, CallBuilder &c) {
  Value sum = waitOf(start.getRequest()).getResult();
  if (reducesInPlace(start))
    return c.remapped(start.getInput());
  return c.allocate(sum);
}

Results lower(AllReduceStartOp op, AllReduceStartOp::Adaptor a, CallBuilder &c) {
  Value request = c.allocate(op.getRequest());
  Value data = allReduceBuffer(op, c), count;
  if (op.getInput().getType().isF32()) {
    c.storeF32(a.getInput(), data);
    count = c.i64(1);
  } else {
    count = c.elements(op.getInput());
    if (!reducesInPlace(op))
      eert::ScaleOp::create(c.b, c.loc, a.getInput(), c.f32(1.0), data, count);
  }
  c.defer(eert::CommIallReduceOp::create(c.b, c.loc, c.b.getI32Type(), data, count,
                                         c.i64(runtimeGroup(op.getGroup())), request));
  return {request};
}

/// The buffer a reduce-scatter sums in: its input's own, or a copy.
Value reduceScatterBuffer(ReduceScatterStartOp start, CallBuilder &c) {
  if (reducesInPlace(start))
    return c.remapped(start.getInput());
  return c.allocate(waitOf(start.getRequest()).getResult());
}

Results lower(ReduceScatterStartOp op, ReduceScatterStartOp::Adaptor a, CallBuilder &c) {
  Value request = c.allocate(op.getRequest());
  int64_t n = CallBuilder::numElements(op.getInput());
  Value data = reduceScatterBuffer(op, c);
  if (!reducesInPlace(op))
    eert::ScaleOp::create(c.b, c.loc, a.getInput(), c.f32(1.0), data, c.i64(n));
  c.defer(eert::CommIreduceScatterOp::create(c.b, c.loc, c.b.getI32Type(), data, c.i64(n),
                                             c.i64(kDataGroup), request));
  return {request};
}

RankedTensorType parameterType(Operation *user, FlatSymbolRefAttr name) {
  return SymbolTable::lookupNearestSymbolFrom<ParameterOp>(user, name).getTensorType();
}

bool isBF16Parameter(Operation *user, FlatSymbolRefAttr name) {
  return parameterType(user, name).getElementType().isBF16();
}

Results lower(AllGatherParameterStartOp op, AllGatherParameterStartOp::Adaptor, CallBuilder &c) {
  RankedTensorType type = parameterType(op, op.getParamAttr());
  Value request = c.allocate(op.getRequest());
  // A bf16 parameter's blocks are gathered as its fp32 master (its blocks
  // align with the f32 gradient's), which every rank then rounds whole.
  Value data = isBF16Parameter(op, op.getParamAttr()) ? c.optimizerState(op.getParam(), 2)
                                                      : c.parameter(op.getParam());
  c.defer(eert::CommIallGatherOp::create(c.b, c.loc, c.b.getI32Type(), data,
                                         c.i64(type.getNumElements()), c.i64(kDataGroup),
                                         request));
  return {request};
}

Results lower(WaitOp op, WaitOp::Adaptor a, CallBuilder &c) {
  Operation *start = op.getRequest().getDefiningOp();
  auto wait = eert::CommWaitOp::create(c.b, c.loc, c.b.getI32Type(), a.getRequest());
  if (isa<SendOp, RecvOp>(start))
    c.check(wait);
  else
    c.defer(wait);
  if (auto gather = dyn_cast<AllGatherParameterStartOp>(start);
      gather && isBF16Parameter(gather, gather.getParamAttr()))
    eert::ToBf16Op::create(c.b, c.loc, c.optimizerState(gather.getParam(), 2),
                           c.parameter(gather.getParam()),
                           c.i64(parameterType(gather, gather.getParamAttr()).getNumElements()));
  Value result = op.getResult();
  if (!result)
    return {};
  if (isa<RecvOp>(start))
    return {c.allocate(result)};
  if (auto reduce = dyn_cast<AllReduceStartOp>(start)) {
    Value sum = allReduceBuffer(reduce, c);
    return {result.getType().isF32() ? c.loadF32(sum) : sum};
  }
  // This rank's block of the buffer the reduce-scatter summed in.
  auto scatter = cast<ReduceScatterStartOp>(start);
  Value data = reduceScatterBuffer(scatter, c);
  return {c.floatOffset(data, c.dataBlock(CallBuilder::numElements(scatter.getInput())).first)};
}

Results lower(AdamWOp op, AdamWOp::Adaptor a, CallBuilder &c) {
  // The moments (and a bf16 parameter's master) are the optimizer-state
  // table's; under ZeRO-1 of this rank's block only.
  Value decay = op.getNoDecay() ? c.f32(0.0) : a.getWeightDecay();
  Value param = c.parameter(op.getParam());
  Value expAvg = c.optimizerState(op.getParam(), 0), expAvgSq = c.optimizerState(op.getParam(), 1);
  bool bf16 = isBF16Parameter(op, op.getParamAttr());
  // The host holds every master weight whole, the bf16 parameter 2 bytes an element.
  Value master = bf16 ? c.optimizerState(op.getParam(), 2) : Value();
  if (op.getDpShard()) {
    Value begin =
        c.dataBlock(CallBuilder::numElements(blockSource(op.getGrad()).getInput())).first;
    param = c.offsetPtr(param, arith::MulIOp::create(c.b, c.loc, begin, c.i64(bf16 ? 2 : 4)));
    if (bf16)
      master = c.floatOffset(master, begin);
  }
  if (bf16)
    eert::AdamwBf16Op::create(c.b, c.loc, param, master, a.getGrad(),
                              expAvg, expAvgSq, c.elements(op.getGrad()), a.getScale(), a.getLr(),
                              a.getBeta1(), a.getBeta2(), a.getEps(), decay, a.getStep());
  else
    eert::AdamwOp::create(c.b, c.loc, param, a.getGrad(), expAvg, expAvgSq,
                          c.elements(op.getGrad()), a.getScale(), a.getLr(), a.getBeta1(),
                          a.getBeta2(), a.getEps(), decay, a.getStep());
  return {};
}

Results lower(ZerosOp op, ZerosOp::Adaptor, CallBuilder &c) {
  Value out = c.allocate(op.getResult());
  eert::MemoryZeroOp::create(c.b, c.loc, out, c.bytes(op.getResult()));
  return {out};
}

Results lower(SpanBeginOp op, SpanBeginOp::Adaptor, CallBuilder &c) {
  eert::TraceBeginOp::create(c.b, c.loc, c.i64(c.spanIndex(op.getName())));
  return {};
}

Results lower(SpanEndOp op, SpanEndOp::Adaptor, CallBuilder &c) {
  eert::TraceEndOp::create(c.b, c.loc, c.i64(c.spanIndex(op.getName())));
  return {};
}

/// Replaces an op of an entry point by its lowering.
template <typename Op>
class RuntimeCallPattern : public OpConversionPattern<Op> {
public:
  RuntimeCallPattern(const TypeConverter &converter, MLIRContext *context,
                     const EntryPoints &entries, const llvm::StringMap<int64_t> &parameterIndex)
      : OpConversionPattern<Op>(converter, context), entries(entries),
        parameterIndex(parameterIndex) {}

  LogicalResult matchAndRewrite(Op op, typename Op::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto entry = entries.find(op->template getParentOfType<func::FuncOp>());
    if (entry == entries.end())
      return rewriter.notifyMatchFailure(op, "not in an entry point");
    CallBuilder builder(rewriter, op.getLoc(), entry->second, parameterIndex);
    rewriter.replaceOp(op, lower(op, adaptor, builder));
    return success();
  }

private:
  const EntryPoints &entries;
  const llvm::StringMap<int64_t> &parameterIndex;
};

/// The ops ee-lower-to-eert lowers, each by its `lower` above.
template <typename... Ops>
struct OpList {
  static bool contains(Operation *op) { return isa<Ops...>(op); }
  static void addPatterns(RewritePatternSet &patterns, const TypeConverter &converter,
                          const EntryPoints &entries,
                          const llvm::StringMap<int64_t> &parameterIndex) {
    patterns.add<RuntimeCallPattern<Ops>...>(converter, patterns.getContext(), entries,
                                             parameterIndex);
  }
};
using LoweredOps =
    OpList<GetParameterOp, EmbeddingLookupOp, TPCopyOp, ConvertOp, TPAllGatherOp, TPAllReduceOp,
           RMSNormOp, LinearOp, LogitsOp, RotaryOp, AttentionOp, SwiGLUOp, AddOp, InnerProductOp, ScaleOp,
           CrossEntropyOp, CrossEntropyGradOp, ExitConfidenceOp, ExitDecisionOp, LinearGradInputOp,
           LinearGradWeightOp, RMSNormGradOp, RotaryGradOp, AttentionGradOp, SwiGLUGradOp,
           EmbeddingGradOp, LossWeightOp, tensor::DimOp, RecvOp, SendOp, AllReduceStartOp,
           ReduceScatterStartOp, AllGatherParameterStartOp, WaitOp, AdamWOp, ZerosOp,
           SpanBeginOp, SpanEndOp>;

//===----------------------------------------------------------------------===//
// Before the patterns: what they cannot lower is refused with a reason
//===----------------------------------------------------------------------===//

LogicalResult checkLowerable(Operation &op) {
  auto neverWaited = [&](Value request) -> LogicalResult {
    if (waitOf(request))
      return success();
    return op.emitOpError() << "is never waited on";
  };
  if (auto dim = dyn_cast<tensor::DimOp>(op)) {
    std::optional<int64_t> index = dim.getConstantIndex();
    auto type = dyn_cast<RankedTensorType>(dim.getSource().getType());
    if (!index || *index > 1 || !type || !type.isDynamicDim(*index))
      return dim.emitOpError() << "ee-lower-to-eert reads only the batch (0) and sequence (1) "
                                  "sizes of a tensor";
    return success();
  }
  if (auto attention = dyn_cast<AttentionOp>(op)) {
    if (attention.getKCache() &&
        cast<RankedTensorType>(attention.getKCache().getType()).isDynamicDim(1))
      return attention.emitOpError() << "needs a KV cache with a static number of positions";
    return success();
  }
  if (auto recv = dyn_cast<RecvOp>(op))
    return neverWaited(recv.getRequest());
  if (auto start = dyn_cast<AllReduceStartOp>(op)) {
    if (start.getGroup() == Group::Tied)
      return start.emitOpError() << "over a tied group is not lowered (ee-data-parallel sums "
                                    "tied gradients with ee.send and ee.recv)";
    return neverWaited(start.getRequest());
  }
  if (auto start = dyn_cast<ReduceScatterStartOp>(op)) {
    if (start.getGroup() != Group::DP)
      return start.emitOpError() << "is lowered over the data-parallel group (dp) only";
    return neverWaited(start.getRequest());
  }
  if (auto wait = dyn_cast<WaitOp>(op)) {
    if (!isa_and_nonnull<SendOp, RecvOp, AllReduceStartOp, ReduceScatterStartOp,
                         AllGatherParameterStartOp>(wait.getRequest().getDefiningOp()))
      return wait.emitOpError()
             << "ee-lower-to-eert lowers the waits of ee.send, ee.recv, ee.all_reduce_start, "
                "ee.reduce_scatter_start and ee.all_gather_parameter_start only";
    return success();
  }
  if (auto adamw = dyn_cast<AdamWOp>(op)) {
    if (adamw.getDpShard() && !blockSource(adamw.getGrad()))
      return adamw.emitOpError() << "with dp_shard needs its gradient block from an "
                                    "ee.reduce_scatter_start of this function";
    return success();
  }
  if (LoweredOps::contains(&op))
    return success();
  // Scalar arithmetic (the objective, the gradient norm) stays as it is.
  if (isa<arith::ArithDialect, math::MathDialect>(op.getDialect()) &&
      llvm::none_of(op.getResultTypes(), llvm::IsaPred<ShapedType>))
    return success();
  return op.emitOpError() << "cannot be lowered to runtime calls (ee-lower-to-eert needs "
                             "expanded, inlined functions of primitive ee ops)";
}

//===----------------------------------------------------------------------===//
// The entry-point wrapper and its manifest record
//===----------------------------------------------------------------------===//

/// A manifest record (ee-emit-manifest writes it as a JSON object).
DictionaryAttr record(Builder &b, ArrayRef<std::pair<StringRef, Attribute>> fields) {
  NamedAttrList list;
  for (auto [name, value] : fields)
    list.append(name, value);
  return list.getDictionary(b.getContext());
}
DictionaryAttr kind(Builder &b, StringRef what) {
  return record(b, {{"kind", b.getStringAttr(what)}});
}

/// An input tensor as the manifest describes it to the runtime.
FailureOr<DictionaryAttr> inputRecord(Builder &b, RankedTensorType tensor) {
  auto features = b.getI64IntegerAttr(tensor.getShape().back());
  if (tensor.getElementType().isInteger(32))
    return kind(b, "tokens");
  if (tensor.getElementType().isInteger(64))
    return kind(b, "states");
  if (tensor.getRank() == 3 && !tensor.isDynamicDim(1))
    return record(b, {{"kind", b.getStringAttr("kv_cache")},
                      {"positions", b.getI64IntegerAttr(tensor.getDimSize(1))},
                      {"features", features}});
  if (tensor.hasStaticShape() && tensor.getElementType().isF32())
    return record(b, {{"kind", b.getStringAttr("tensor")},
                      {"shape", b.getI64ArrayAttr(tensor.getShape())}});
  if (tensor.getRank() == 3 && tensor.getElementType().isF32())
    return record(b, {{"kind", b.getStringAttr("activation")}, {"features", features}});
  return failure();
}

/// An output tensor as the manifest describes it to the runtime.
DictionaryAttr outputRecord(Builder &b, RankedTensorType tensor) {
  if (tensor.hasStaticShape())
    return record(b, {{"kind", b.getStringAttr("tensor")},
                      {"shape", b.getI64ArrayAttr(tensor.getShape())}});
  if (tensor.getElementType().isInteger(32))
    return kind(b, "tokens");
  if (tensor.getElementType().isInteger(64))
    return kind(b, "states");
  bool cache = tensor.getRank() == 3 && !tensor.isDynamicDim(1);
  // A [batch, seq] tensor (confidences, log-probabilities) has one value per token.
  int64_t features = tensor.getRank() == 2 ? 1 : tensor.getShape().back();
  return record(b, {{"kind", b.getStringAttr(cache ? "kv_cache" : "activation")},
                    {"features", b.getI64IntegerAttr(features)}});
}

/// Gives `source` the runtime's calling convention: a new function
/// `ee_<name>(params, arena, batch, seq, inputs, outputs) -> status` whose
/// prologue loads the inputs and whose epilogue stores the outputs, with the
/// source's ops moved in between (its tensors cast from and to their buffers
/// until the patterns run). Erases `source`.
FailureOr<func::FuncOp> wrapEntryPoint(func::FuncOp source, EntryPoint &entry, OpBuilder &b) {
  FailureOr<MemoryPlan> plan = readMemoryPlan(source);
  if (failed(plan))
    return failure();
  entry.plan = std::move(*plan);
  Block &body = source.front();
  for (Operation &op : body.without_terminator())
    if (failed(checkLowerable(op)))
      return failure();

  Location loc = source.getLoc();
  Emitter e(b, loc);
  std::string name = ("ee_" + source.getSymName()).str();
  Type ptr = e.ptr(), i64 = b.getI64Type();
  auto type = b.getFunctionType({ptr, ptr, i64, i64, ptr, ptr}, {b.getI32Type()});
  auto func = func::FuncOp::create(b, loc, name, type);
  Block *block = func.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(block);
  entry.params = block->getArgument(0);
  entry.arena = block->getArgument(1);
  entry.batch = block->getArgument(2);
  entry.seq = block->getArgument(3);
  Value inputs = block->getArgument(4), outputs = block->getArgument(5);
  entry.tokens = arith::MulIOp::create(b, loc, entry.batch, entry.seq);
  if (!body.getOps<ReduceScatterStartOp>().empty()) {
    auto groupValue = [&](Value value) { return arith::ExtSIOp::create(b, loc, i64, value); };
    entry.dataRank = groupValue(
        eert::CommGroupRankOp::create(b, loc, b.getI32Type(), e.i64(kDataGroup)).getResult());
    entry.dataSize = groupValue(
        eert::CommGroupSizeOp::create(b, loc, b.getI32Type(), e.i64(kDataGroup)).getResult());
  }
  entry.fixedBase = e.offsetPtr(
      entry.arena, arith::MulIOp::create(b, loc, entry.tokens, e.i64(entry.plan.perTokenBytes)));

  SmallVector<Attribute> inputKinds;
  for (auto [i, arg] : llvm::enumerate(source.getArguments())) {
    Value pointer = e.loadPointer(inputs, i);
    Type argType = arg.getType();
    if (auto tensor = dyn_cast<RankedTensorType>(argType)) {
      FailureOr<DictionaryAttr> kindRecord = inputRecord(b, tensor);
      if (failed(kindRecord))
        return source.emitError() << "ee-lower-to-eert: unsupported argument type " << argType;
      inputKinds.push_back(*kindRecord);
      arg.replaceAllUsesWith(UnrealizedConversionCastOp::create(b, loc, argType, pointer).getResult(0));
    } else if (argType.isInteger(64) || argType.isF32()) {
      arg.replaceAllUsesWith(LLVM::LoadOp::create(b, loc, argType, pointer));
      inputKinds.push_back(kind(b, argType.isF32() ? "f32" : "i64"));
    } else {
      return source.emitError() << "ee-lower-to-eert: unsupported argument type " << argType;
    }
  }
  // A function that updates parameters takes their AdamW moments as one more
  // input: a table of 2 x parameters pointers, (exp_avg, exp_avg_sq) of each.
  SmallVector<Attribute> updates;
  for (AdamWOp adamw : body.getOps<AdamWOp>())
    updates.push_back(adamw.getParamAttr().getAttr());
  if (!updates.empty()) {
    entry.optimizerState = e.loadPointer(inputs, source.getNumArguments());
    inputKinds.push_back(kind(b, "optimizer_state"));
  }
  SmallVector<Attribute> spans;
  for (SpanBeginOp begin : body.getOps<SpanBeginOp>())
    if (entry.spanIndex.try_emplace(begin.getName(), spans.size()).second)
      spans.push_back(record(b, {{"category", begin.getCategoryAttr()}, {"name", begin.getNameAttr()}}));

  Operation *terminator = body.getTerminator();
  block->getOperations().splice(block->end(), body.getOperations(), body.begin(),
                                Block::iterator(terminator));
  b.setInsertionPointToEnd(block);
  SmallVector<Attribute> outputKinds;
  for (auto [k, result] : llvm::enumerate(terminator->getOperands())) {
    if (result.getType().isF32()) {
      Value slot = e.offsetPtr(entry.fixedBase, e.i64(entry.plan.fixedBytes + 64 * k));
      e.storeF32(result, slot);
      e.storePointer(outputs, k, slot);
      outputKinds.push_back(kind(b, "f32"));
    } else {
      e.storePointer(outputs, k, UnrealizedConversionCastOp::create(b, loc, ptr, result).getResult(0));
      outputKinds.push_back(outputRecord(b, cast<RankedTensorType>(result.getType())));
    }
  }
  func::ReturnOp::create(b, loc, arith::ConstantIntOp::create(b, loc, 0, 32).getResult());

  SmallVector<std::pair<StringRef, Attribute>> fields = {
      {"name", source.getSymNameAttr()},
      {"symbol", b.getStringAttr(name)},
      {"per_token_bytes", b.getI64IntegerAttr(entry.plan.perTokenBytes)},
      {"fixed_bytes", b.getI64IntegerAttr(entry.plan.fixedBytes + 64 * source.getNumResults())},
      {"inputs", b.getArrayAttr(inputKinds)},
      {"outputs", b.getArrayAttr(outputKinds)}};
  if (!spans.empty())
    fields.push_back({"spans", b.getArrayAttr(spans)});
  if (!updates.empty())
    fields.push_back({"updates", b.getArrayAttr(updates)});
  if (auto names = source->getAttrOfType<ArrayAttr>(EEDialect::getGradientsAttrName()))
    fields.push_back({"gradients", names});
  func->setAttr(EEDialect::getEntryAttrName(), record(b, fields));
  source.erase();
  return func;
}

//===----------------------------------------------------------------------===//
// After the patterns: the calls' statuses checked
//===----------------------------------------------------------------------===//

/// Branches to a block returning the status wherever a call's status is
/// marked: right after a checked call; the deferred ones (collectives'
/// starts and waits, thousands in a deep model, which then need no block
/// each) combined, the first failure kept, and checked before what would
/// spread a failed sum (an update, a message), every kDeferredPerCheck
/// statuses and before returning.
void checkStatuses(func::FuncOp func) {
  Location loc = func.getLoc();
  OpBuilder b(func.getContext());
  Block *entryBlock = &func.front();
  Block *failBlock = b.createBlock(&func.getBody(), func.getBody().end(), {b.getI32Type()}, {loc});
  func::ReturnOp::create(b, loc, failBlock->getArgument(0));
  // The ops are moved, in order, into the entry block and the blocks each
  // check opens after it: every op moves once (splitting the block at each
  // check would move the rest of it each time).
  SmallVector<Operation *> ops =
      llvm::map_to_vector(entryBlock->getOperations(), [](Operation &op) { return &op; });
  for (Operation *op : ops)
    op->remove();
  Block *current = entryBlock;
  auto zero = [&] { return arith::ConstantIntOp::create(b, loc, 0, 32); };
  // What follows continues in a new block if `status` is 0.
  auto branchUnlessZero = [&](Value status) {
    b.setInsertionPointToEnd(current);
    Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, status, zero());
    Block *next = b.createBlock(failBlock);
    b.setInsertionPointToEnd(current);
    cf::CondBranchOp::create(b, loc, ok, next, ValueRange{}, failBlock, ValueRange{status});
    current = next;
  };
  Value deferred;
  int64_t numDeferred = 0;
  auto flush = [&] {
    if (deferred)
      branchUnlessZero(deferred);
    deferred = nullptr;
  };
  for (Operation *op : ops) {
    if (isa<eert::AdamwOp, eert::CommIsendOp, eert::CommIrecvOp, func::ReturnOp>(op))
      flush();
    current->push_back(op);
    op->removeAttr(EEDialect::getBuffersAttrName());
    auto mark = op->getAttrOfType<StringAttr>(kStatusAttr);
    if (!mark)
      continue;
    op->removeAttr(kStatusAttr);
    Value status = op->getResult(0);
    if (mark.getValue() == "check") {
      branchUnlessZero(status);
      continue;
    }
    if (!deferred) {
      deferred = status;
    } else {
      b.setInsertionPointToEnd(current);
      Value failedBefore = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, deferred, zero());
      deferred = arith::SelectOp::create(b, loc, failedBefore, deferred, status);
    }
    if (++numDeferred % kDeferredPerCheck == 0)
      flush();
  }
}

struct EELowerToEERTPass : ee::impl::EELowerToEERTPassBase<EELowerToEERTPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    llvm::StringMap<int64_t> parameterIndex;
    for (ParameterOp param : module.getOps<ParameterOp>())
      parameterIndex[param.getSymName()] = parameterIndex.size();

    EntryPoints entries;
    OpBuilder builder(module.getBodyRegion());
    for (func::FuncOp source : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (source.isDeclaration())
        continue;
      if (!source.getBody().hasOneBlock()) {
        source.emitError("ee-lower-to-eert needs single-block functions");
        return signalPassFailure();
      }
      builder.setInsertionPointToEnd(module.getBody());
      EntryPoint entry;
      FailureOr<func::FuncOp> wrapped = wrapEntryPoint(source, entry, builder);
      if (failed(wrapped))
        return signalPassFailure();
      entries[*wrapped] = std::move(entry);
    }

    TypeConverter converter;
    converter.addConversion([](Type type) { return type; });
    converter.addConversion([](RankedTensorType type) { return pointerType(type.getContext()); });
    converter.addConversion([](RequestType type) { return pointerType(type.getContext()); });
    auto castTo = [](OpBuilder &b, Type type, ValueRange inputs, Location loc) -> Value {
      return UnrealizedConversionCastOp::create(b, loc, type, inputs).getResult(0);
    };
    converter.addSourceMaterialization(castTo);
    converter.addTargetMaterialization(castTo);
    ConversionTarget target(*context);
    target.addLegalDialect<eert::EERTDialect, arith::ArithDialect, math::MathDialect,
                           LLVM::LLVMDialect, cf::ControlFlowDialect, func::FuncDialect>();
    target.addIllegalDialect<EEDialect>();
    target.addIllegalOp<tensor::DimOp>();
    target.addLegalOp<ParameterOp, UnrealizedConversionCastOp>(); // ee-emit-manifest's
    RewritePatternSet patterns(context);
    LoweredOps::addPatterns(patterns, converter, entries, parameterIndex);
    ConversionConfig config;
    config.foldingMode = DialectConversionFoldingMode::Never; // no ee op folds
    if (failed(applyPartialConversion(module, target, std::move(patterns), config)))
      return signalPassFailure();

    // The wrapper's casts meet the buffers the patterns made.
    SmallVector<UnrealizedConversionCastOp> casts, remaining;
    module.walk([&](UnrealizedConversionCastOp cast) { casts.push_back(cast); });
    reconcileUnrealizedCasts(casts, &remaining);
    if (!remaining.empty()) {
      remaining.front().emitError("ee-lower-to-eert: a tensor is left without its buffer");
      return signalPassFailure();
    }
    for (auto &[func, entry] : entries)
      checkStatuses(cast<func::FuncOp>(func));
  }
};

} // namespace
