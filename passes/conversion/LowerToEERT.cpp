//===- LowerToEERT.cpp - ee-lower-to-eert: runtime calls over planned buffers -===//

#include "ee/EEOps.h"
#include "passes/Passes.h"
#include "passes/conversion/MemoryPlan.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/TypeSwitch.h"

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
/// Compiled code's message tags start here (abi.def: eert_comm_irecv).
constexpr int64_t kMessageTagBase = 1000;

/// Emits the buffer-level function for one tensor-level function.
class FunctionLowering {
public:
  FunctionLowering(func::FuncOp source, const MemoryPlan &plan,
                   const llvm::StringMap<int64_t> &parameterIndex, OpBuilder &builder)
      : source(source), plan(plan), parameterIndex(parameterIndex), b(builder),
        loc(source.getLoc()) {}

  /// Emits the entry point, its manifest record as its ee.entry attribute.
  LogicalResult lower();

private:
  Type ptrType() { return LLVM::LLVMPointerType::get(b.getContext()); }
  Value i64(int64_t value) { return arith::ConstantIntOp::create(b, loc, value, 64); }
  Value f32(double value) { return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), llvm::APFloat(static_cast<float>(value))); }

  /// base + byteOffset.
  Value offsetPtr(Value base, Value byteOffset) {
    return LLVM::GEPOp::create(b, loc, ptrType(), b.getI8Type(), base, ValueRange{byteOffset});
  }
  /// The pointer stored at array[index] (an array of pointers).
  Value loadPointer(Value array, int64_t index) {
    Value slot = LLVM::GEPOp::create(b, loc, ptrType(), ptrType(), array,
                                     ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(index)});
    return LLVM::LoadOp::create(b, loc, ptrType(), slot);
  }
  void storePointer(Value array, int64_t index, Value pointer) {
    Value slot = LLVM::GEPOp::create(b, loc, ptrType(), ptrType(), array,
                                     ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(index)});
    LLVM::StoreOp::create(b, loc, pointer, slot);
  }

  /// Branches to the failure block unless `status` is 0.
  void checkStatus(Value status) {
    Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, status,
                                     arith::ConstantIntOp::create(b, loc, 0, 32));
    Block *current = b.getBlock();
    Block *next = b.createBlock(current->getParent(), std::next(Region::iterator(current)));
    b.setInsertionPointToEnd(current);
    cf::CondBranchOp::create(b, loc, ok, next, ValueRange{}, failBlock, ValueRange{status});
    b.setInsertionPointToStart(next);
  }

  /// Checks `status` later, at the next flushStatus(): the gradient
  /// all-reduces' starts and waits (thousands in a deep model) then need no
  /// block each. The first failure's status is the one returned.
  void deferStatus(Value status) {
    if (!deferred) {
      deferred = status;
    } else {
      Value failedBefore = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, deferred,
                                                 arith::ConstantIntOp::create(b, loc, 0, 32));
      deferred = arith::SelectOp::create(b, loc, failedBefore, deferred, status);
    }
    // Checked now and then all the same: LLVM's code generation grows faster
    // than linearly in the size of a basic block.
    if (++numDeferred % kDeferredPerCheck == 0)
      flushStatus();
  }
  /// Branches to the failure block if a deferred status failed: before what
  /// would spread a failed sum (an update, a message) and before returning.
  void flushStatus() {
    if (deferred)
      checkStatus(deferred);
    deferred = nullptr;
  }

  Value pointerOf(Value value) {
    auto it = pointers.find(value);
    assert(it != pointers.end() && "every tensor operand has a buffer");
    return it->second;
  }

  /// A fresh buffer for `result` per the plan.
  Value allocate(Value result) {
    Value pointer;
    if (auto it = plan.perTokenOffset.find(result); it != plan.perTokenOffset.end())
      pointer = offsetPtr(arena, arith::MulIOp::create(b, loc, tokens, i64(it->second)));
    else
      pointer = offsetPtr(fixedBase, i64(plan.fixedOffset.lookup(result)));
    pointers[result] = pointer;
    return pointer;
  }

  /// A manifest record (ee-emit-manifest writes it as a JSON object).
  DictionaryAttr record(ArrayRef<std::pair<StringRef, Attribute>> fields) {
    NamedAttrList list;
    for (auto [name, value] : fields)
      list.append(name, value);
    return list.getDictionary(b.getContext());
  }
  DictionaryAttr kind(StringRef what) { return record({{"kind", b.getStringAttr(what)}}); }

  /// Number of elements: static, a data-parallel block's, or tokens x
  /// features for activations.
  Value elements(Value value) {
    if (auto block = blocks.find(value); block != blocks.end())
      return block->second.second;
    auto type = cast<RankedTensorType>(value.getType());
    if (type.hasStaticShape())
      return i64(type.getNumElements());
    return arith::MulIOp::create(b, loc, tokens, i64(type.getShape().back()));
  }

  static int64_t features(Value value) {
    return cast<RankedTensorType>(value.getType()).getShape().back();
  }

  LogicalResult lowerOp(Operation &op);
  Value lossWeight(LossWeightOp op);
  /// Bytes of a tensor value.
  Value bytes(Value value) { return arith::MulIOp::create(b, loc, elements(value), i64(4)); }
  static std::optional<int64_t> runtimeGroup(Group group) {
    switch (group) {
    case Group::TP: return kTensorGroup;
    case Group::PP: return kPipelineGroup;
    case Group::DP: return kDataGroup;
    case Group::Tied: return std::nullopt;
    }
    return std::nullopt;
  }
  /// The world rank of the pipeline stage `offset` stages away.
  Value stagePeer(int64_t offset) {
    Value rank = eert::CommGroupPeerOp::create(b, loc, b.getI32Type(), i64(kPipelineGroup),
                                               i64(offset));
    return arith::ExtSIOp::create(b, loc, b.getI64Type(), rank);
  }

  func::FuncOp source;
  const MemoryPlan &plan;
  const llvm::StringMap<int64_t> &parameterIndex;
  OpBuilder &b;
  Location loc;
  Value params, arena, batch, seq, tokens, fixedBase;
  static constexpr int64_t kDeferredPerCheck = 16;
  Value deferred;       // the statuses deferStatus() holds, combined
  int64_t numDeferred = 0;
  Value optimizerState; // the trailing input of a function that updates parameters
  SmallVector<Attribute> updates; // the parameters its ee.adamw ops update, in order
  Block *failBlock = nullptr;
  DenseMap<Value, Value> pointers; // tensor value -> its buffer
  /// A reduce-scatter's block -> (its first element, its elements) in the whole tensor.
  DenseMap<Value, std::pair<Value, Value>> blocks;
  Value dataRank, dataSize; // this rank's place in the data-parallel group, when blocks need it
  /// Elements [begin, begin + count) of an n-element tensor are this rank's
  /// block: c = ceil(n / size), begin = min(n, rank c), count = min(n, begin + c) - begin.
  std::pair<Value, Value> dataBlock(int64_t n) {
    Value c = arith::DivSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, i64(n), arith::SubIOp::create(b, loc, dataSize, i64(1))),
        dataSize);
    Value begin = arith::MinSIOp::create(b, loc, i64(n), arith::MulIOp::create(b, loc, dataRank, c));
    Value end = arith::MinSIOp::create(b, loc, i64(n), arith::AddIOp::create(b, loc, begin, c));
    return {begin, arith::SubIOp::create(b, loc, end, begin)};
  }
  /// base + `elements` floats.
  Value floatOffset(Value base, Value elements) {
    return offsetPtr(base, arith::MulIOp::create(b, loc, elements, i64(4)));
  }
  IRMapping scalars;               // scalar value -> lowered scalar
  llvm::StringMap<int64_t> spanIndex; // span name -> its number in the manifest
  SmallVector<Attribute> spans;
};

LogicalResult FunctionLowering::lower() {
  std::string name = ("ee_" + source.getSymName()).str();
  Type ptr = ptrType();
  auto type = b.getFunctionType({ptr, ptr, b.getI64Type(), b.getI64Type(), ptr, ptr},
                                {b.getI32Type()});
  auto func = func::FuncOp::create(b, loc, name, type);
  Block *entry = func.addEntryBlock();
  failBlock = b.createBlock(&func.getBody(), {}, {b.getI32Type()}, {loc});
  func::ReturnOp::create(b, loc, failBlock->getArgument(0));
  b.setInsertionPointToStart(entry);
  params = entry->getArgument(0);
  arena = entry->getArgument(1);
  batch = entry->getArgument(2);
  seq = entry->getArgument(3);
  Value inputs = entry->getArgument(4), outputs = entry->getArgument(5);
  tokens = arith::MulIOp::create(b, loc, batch, seq);
  if (!source.front().getOps<ReduceScatterStartOp>().empty()) {
    dataRank = arith::ExtSIOp::create(
        b, loc, b.getI64Type(),
        eert::CommGroupRankOp::create(b, loc, b.getI32Type(), i64(kDataGroup)).getResult());
    dataSize = arith::ExtSIOp::create(
        b, loc, b.getI64Type(),
        eert::CommGroupSizeOp::create(b, loc, b.getI32Type(), i64(kDataGroup)).getResult());
  }
  fixedBase = offsetPtr(arena, arith::MulIOp::create(b, loc, tokens, i64(plan.perTokenBytes)));

  SmallVector<Attribute> inputKinds;
  for (auto [i, arg] : llvm::enumerate(source.getArguments())) {
    Value pointer = loadPointer(inputs, i);
    Type argType = arg.getType();
    if (auto tensor = dyn_cast<RankedTensorType>(argType)) {
      pointers[arg] = pointer;
      if (tensor.getElementType().isInteger(32))
        inputKinds.push_back(kind("tokens"));
      else if (tensor.getRank() == 3 && !tensor.isDynamicDim(1))
        inputKinds.push_back(record({{"kind", b.getStringAttr("kv_cache")},
                                     {"positions", b.getI64IntegerAttr(tensor.getDimSize(1))},
                                     {"features", b.getI64IntegerAttr(tensor.getDimSize(2))}}));
      else if (tensor.hasStaticShape() && tensor.getElementType().isF32())
        inputKinds.push_back(record({{"kind", b.getStringAttr("tensor")},
                                     {"shape", b.getI64ArrayAttr(tensor.getShape())}}));
      else if (tensor.getRank() == 3 && tensor.getElementType().isF32())
        inputKinds.push_back(record({{"kind", b.getStringAttr("activation")},
                                     {"features", b.getI64IntegerAttr(tensor.getDimSize(2))}}));
      else
        return source.emitError() << "ee-lower-to-eert: unsupported argument type " << argType;
    } else if (argType.isInteger(64) || argType.isF32()) {
      scalars.map(arg, LLVM::LoadOp::create(b, loc, argType, pointer));
      inputKinds.push_back(kind(argType.isF32() ? "f32" : "i64"));
    } else {
      return source.emitError() << "ee-lower-to-eert: unsupported argument type " << argType;
    }
  }

  // A function that updates parameters takes their AdamW moments as one more
  // input: a table of 2 x parameters pointers, (exp_avg, exp_avg_sq) of each.
  if (!source.front().getOps<AdamWOp>().empty()) {
    optimizerState = loadPointer(inputs, source.getNumArguments());
    inputKinds.push_back(kind("optimizer_state"));
  }
  for (Operation &op : source.front().without_terminator()) {
    if (isa<AdamWOp, SendOp, RecvOp>(op))
      flushStatus();
    if (failed(lowerOp(op)))
      return failure();
  }
  flushStatus();

  SmallVector<Attribute> outputKinds;
  for (auto [k, result] : llvm::enumerate(source.front().getTerminator()->getOperands())) {
    if (result.getType().isF32()) {
      Value slot = offsetPtr(fixedBase, i64(plan.fixedBytes + 64 * k));
      LLVM::StoreOp::create(b, loc, scalars.lookup(result), slot);
      storePointer(outputs, k, slot);
      outputKinds.push_back(kind("f32"));
    } else {
      storePointer(outputs, k, pointerOf(result));
      auto type = cast<RankedTensorType>(result.getType());
      if (type.hasStaticShape())
        outputKinds.push_back(record({{"kind", b.getStringAttr("tensor")},
                                      {"shape", b.getI64ArrayAttr(type.getShape())}}));
      else
        outputKinds.push_back(record(
            {{"kind", b.getStringAttr(type.getRank() == 3 && !type.isDynamicDim(1) ? "kv_cache"
                                                                                    : "activation")},
             {"features", b.getI64IntegerAttr(features(result))}}));
    }
  }
  func::ReturnOp::create(b, loc, arith::ConstantIntOp::create(b, loc, 0, 32).getResult());

  int64_t numResults = source.getNumResults();
  SmallVector<std::pair<StringRef, Attribute>> fields = {
      {"name", source.getSymNameAttr()},
      {"symbol", b.getStringAttr(name)},
      {"per_token_bytes", b.getI64IntegerAttr(plan.perTokenBytes)},
      {"fixed_bytes", b.getI64IntegerAttr(plan.fixedBytes + 64 * numResults)},
      {"inputs", b.getArrayAttr(inputKinds)},
      {"outputs", b.getArrayAttr(outputKinds)}};
  if (!spans.empty())
    fields.push_back({"spans", b.getArrayAttr(spans)});
  if (!updates.empty())
    fields.push_back({"updates", b.getArrayAttr(updates)});
  if (auto names = source->getAttrOfType<ArrayAttr>(EEDialect::getGradientsAttrName()))
    fields.push_back({"gradients", names});
  func->setAttr(EEDialect::getEntryAttrName(), record(fields));
  return success();
}

Value FunctionLowering::lossWeight(LossWeightOp op) {
  LossWeightAttr schedule = op.getSchedule();
  if (schedule.isConstant())
    return f32(schedule.getTarget());
  // w(t) = t >= T ? target : formula(t / T), evaluated in f64.
  Type f64 = b.getF64Type();
  auto c = [&](double v) { return arith::ConstantFloatOp::create(b, loc, cast<FloatType>(f64), llvm::APFloat(v)); };
  Value t = arith::SIToFPOp::create(b, loc, f64, scalars.lookup(op.getIteration()));
  t = arith::MaximumFOp::create(b, loc, t, c(0.0));
  double init = schedule.getInit(), target = schedule.getTarget();
  Value progress = arith::DivFOp::create(b, loc, t, c(schedule.getWarmupIters()));
  Value during;
  if (schedule.getStyle() == WarmupStyle::Cosine) {
    Value angle = arith::MulFOp::create(b, loc, progress, c(M_PI));
    Value half = arith::MulFOp::create(
        b, loc, arith::AddFOp::create(b, loc, math::CosOp::create(b, loc, angle), c(1.0)),
        c(0.5 * (init - target)));
    during = arith::AddFOp::create(b, loc, half, c(target));
  } else {
    during = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, progress, c(target - init)), c(init));
  }
  Value done = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, t,
                                     c(schedule.getWarmupIters()));
  Value weight = arith::SelectOp::create(b, loc, done, c(target), during);
  return arith::TruncFOp::create(b, loc, b.getF32Type(), weight);
}

LogicalResult FunctionLowering::lowerOp(Operation &op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(&op)
      .Case([&](GetParameterOp get) {
        auto it = parameterIndex.find(get.getName());
        pointers[get.getResult()] = loadPointer(params, it->second);
        return success();
      })
      .Case([&](EmbeddingLookupOp lookup) {
        Value out = allocate(lookup.getResult());
        auto shape = lookup.getTable().getType().getShape();
        Value table = pointerOf(lookup.getTable()), ids = pointerOf(lookup.getIds());
        checkStatus(lookup.getVocabParallel()
                        ? eert::EmbeddingLookupParallelOp::create(b, loc, b.getI32Type(), table, ids,
                                                                  out, tokens, i64(shape[0]),
                                                                  i64(shape[1]), i64(kTensorGroup))
                              .getResult()
                        : eert::EmbeddingLookupOp::create(b, loc, b.getI32Type(), table, ids, out,
                                                          tokens, i64(shape[0]), i64(shape[1]))
                              .getResult());
        return success();
      })
      .Case([&](TPCopyOp copy) {
        // A copy, not an alias: the memory plan frees the input after its last use.
        Value out = allocate(copy.getResult());
        eert::ScaleOp::create(b, loc, pointerOf(copy.getInput()), f32(1.0), out,
                              elements(copy.getResult()));
        return success();
      })
      .Case([&](TPAllGatherOp gather) {
        Value out = allocate(gather.getResult());
        checkStatus(eert::GatherColumnsOp::create(b, loc, b.getI32Type(), pointerOf(gather.getInput()),
                                                  out, tokens, i64(features(gather.getInput())),
                                                  i64(kTensorGroup)));
        return success();
      })
      .Case([&](TPAllReduceOp reduce) {
        Value out = allocate(reduce.getResult());
        Value count = elements(reduce.getResult());
        eert::ScaleOp::create(b, loc, pointerOf(reduce.getInput()), f32(1.0), out, count);
        checkStatus(eert::CommAllReduceOp::create(b, loc, b.getI32Type(), out, count,
                                                  i64(kTensorGroup)));
        return success();
      })
      .Case([&](RMSNormOp norm) {
        Value out = allocate(norm.getResult());
        eert::RmsNormOp::create(b, loc, pointerOf(norm.getInput()), pointerOf(norm.getWeight()),
                                out, tokens, i64(features(norm.getInput())),
                                f32(norm.getEps().convertToDouble()));
        return success();
      })
      .Case<LinearOp, LogitsOp>([&](auto projection) {
        Value out = allocate(projection.getResult());
        eert::LinearOp::create(b, loc, pointerOf(projection.getInput()),
                               pointerOf(projection.getWeight()), out, tokens,
                               i64(features(projection.getInput())),
                               i64(features(projection.getResult())));
        return success();
      })
      .Case([&](RotaryOp rotary) {
        Value out = allocate(rotary.getResult());
        int64_t heads = rotary.getNumHeads();
        eert::RotaryOp::create(b, loc, pointerOf(rotary.getInput()),
                               pointerOf(rotary.getPositions()), out, tokens, i64(heads),
                               i64(features(rotary.getInput()) / heads),
                               f32(rotary.getTheta().convertToDouble()));
        return success();
      })
      .Case([&](AttentionOp attention) -> LogicalResult {
        Value out = allocate(attention.getOutput());
        int64_t heads = attention.getNumHeads(), kvHeads = attention.getNumKvHeads();
        Value headDim = i64(features(attention.getQuery()) / heads);
        Value q = pointerOf(attention.getQuery()), k = pointerOf(attention.getKey()),
              v = pointerOf(attention.getValue());
        if (!attention.getKCache()) {
          eert::AttentionOp::create(b, loc, q, k, v, out, batch, seq, i64(heads), i64(kvHeads),
                                    headDim);
          return success();
        }
        auto cacheType = cast<RankedTensorType>(attention.getKCache().getType());
        if (cacheType.isDynamicDim(1))
          return attention.emitOpError() << "needs a KV cache with a static number of positions";
        Value kc = pointerOf(attention.getKCache()), vc = pointerOf(attention.getVCache());
        // Explicit rows index caches whose row count the function does not know.
        Value rows = attention.getRows() ? pointerOf(attention.getRows())
                                         : LLVM::ZeroOp::create(b, loc, ptrType()).getResult();
        checkStatus(eert::AttentionCachedOp::create(
            b, loc, b.getI32Type(), q, k, v, kc, vc, pointerOf(attention.getPositions()), rows,
            out, batch, seq, attention.getRows() ? i64(0) : batch, i64(cacheType.getDimSize(1)),
            i64(heads), i64(kvHeads), headDim));
        // The caches are updated in place.
        pointers[attention.getUpdatedCache()[0]] = kc;
        pointers[attention.getUpdatedCache()[1]] = vc;
        return success();
      })
      .Case([&](SwiGLUOp swiglu) {
        Value out = allocate(swiglu.getResult());
        eert::SwigluOp::create(b, loc, pointerOf(swiglu.getGate()), pointerOf(swiglu.getUp()),
                               out, elements(swiglu.getResult()));
        return success();
      })
      .Case([&](AddOp add) {
        Value out = allocate(add.getResult());
        eert::AddOp::create(b, loc, pointerOf(add.getLhs()), pointerOf(add.getRhs()), out,
                            elements(add.getResult()));
        return success();
      })
      .Case([&](InnerProductOp product) {
        Value out = allocate(product.getResult());
        eert::InnerProductOp::create(b, loc, pointerOf(product.getLhs()),
                                     pointerOf(product.getRhs()), out,
                                     elements(product.getLhs()));
        scalars.map(product.getResult(), LLVM::LoadOp::create(b, loc, b.getF32Type(), out));
        return success();
      })
      .Case([&](ScaleOp scale) {
        Value out = allocate(scale.getResult());
        eert::ScaleOp::create(b, loc, pointerOf(scale.getInput()),
                              scalars.lookup(scale.getFactor()), out, elements(scale.getResult()));
        return success();
      })
      .Case([&](CrossEntropyGradOp grad) {
        Value out = allocate(grad.getDlogits());
        Value logits = pointerOf(grad.getLogits()), labels = pointerOf(grad.getLabels());
        Value vocab = i64(features(grad.getLogits()));
        Value temperature = f32(grad.getTemperature().convertToDouble());
        Value dloss = scalars.lookup(grad.getDloss());
        checkStatus(grad.getVocabParallel()
                        ? eert::CrossEntropyBackwardParallelOp::create(
                              b, loc, b.getI32Type(), logits, labels, out, tokens, vocab,
                              temperature, dloss, i64(kTensorGroup))
                              .getResult()
                        : eert::CrossEntropyBackwardOp::create(b, loc, b.getI32Type(), logits,
                                                               labels, out, tokens, vocab,
                                                               temperature, dloss)
                              .getResult());
        return success();
      })
      .Case([&](LinearGradInputOp grad) {
        Value out = allocate(grad.getDx());
        eert::LinearBackwardInputOp::create(b, loc, pointerOf(grad.getDy()),
                                            pointerOf(grad.getWeight()), out, tokens,
                                            i64(features(grad.getDx())), i64(features(grad.getDy())));
        return success();
      })
      .Case([&](LinearGradWeightOp grad) {
        Value out = allocate(grad.getDweight());
        eert::LinearBackwardWeightOp::create(b, loc, pointerOf(grad.getDy()),
                                             pointerOf(grad.getInput()), out, tokens,
                                             i64(features(grad.getInput())),
                                             i64(features(grad.getDy())));
        return success();
      })
      .Case([&](RMSNormGradOp grad) {
        Value dx = allocate(grad.getDx()), dw = allocate(grad.getDweight());
        eert::RmsNormBackwardOp::create(b, loc, pointerOf(grad.getInput()),
                                        pointerOf(grad.getWeight()), pointerOf(grad.getDy()), dx,
                                        dw, tokens, i64(features(grad.getInput())),
                                        f32(grad.getEps().convertToDouble()));
        return success();
      })
      .Case([&](RotaryGradOp grad) {
        Value out = allocate(grad.getDx());
        int64_t heads = grad.getNumHeads();
        eert::RotaryBackwardOp::create(b, loc, pointerOf(grad.getDy()),
                                       pointerOf(grad.getPositions()), out, tokens, i64(heads),
                                       i64(features(grad.getDy()) / heads),
                                       f32(grad.getTheta().convertToDouble()));
        return success();
      })
      .Case([&](AttentionGradOp grad) {
        Value dq = allocate(grad.getDquery()), dk = allocate(grad.getDkey()),
              dv = allocate(grad.getDvalue());
        int64_t heads = grad.getNumHeads();
        eert::AttentionBackwardOp::create(
            b, loc, pointerOf(grad.getQuery()), pointerOf(grad.getKey()),
            pointerOf(grad.getValue()), pointerOf(grad.getDoutput()), dq, dk, dv, batch, seq,
            i64(heads), i64(grad.getNumKvHeads()), i64(features(grad.getQuery()) / heads));
        return success();
      })
      .Case([&](SwiGLUGradOp grad) {
        Value dg = allocate(grad.getDgate()), du = allocate(grad.getDup());
        eert::SwigluBackwardOp::create(b, loc, pointerOf(grad.getGate()), pointerOf(grad.getUp()),
                                       pointerOf(grad.getDy()), dg, du, elements(grad.getDgate()));
        return success();
      })
      .Case([&](EmbeddingGradOp grad) {
        Value out = allocate(grad.getDtable());
        auto shape = grad.getDtable().getType().getShape();
        Value ids = pointerOf(grad.getIds()), dy = pointerOf(grad.getDy());
        checkStatus(grad.getVocabParallel()
                        ? eert::EmbeddingBackwardParallelOp::create(b, loc, b.getI32Type(), ids, dy,
                                                                    out, tokens, i64(shape[0]),
                                                                    i64(shape[1]), i64(kTensorGroup))
                              .getResult()
                        : eert::EmbeddingBackwardOp::create(b, loc, b.getI32Type(), ids, dy, out,
                                                            tokens, i64(shape[0]), i64(shape[1]))
                              .getResult());
        return success();
      })
      .Case([&](CrossEntropyOp ce) {
        Value out = allocate(ce.getLoss());
        Value logits = pointerOf(ce.getLogits()), labels = pointerOf(ce.getLabels());
        Value vocab = i64(features(ce.getLogits()));
        Value temperature = f32(ce.getTemperature().convertToDouble());
        checkStatus(ce.getVocabParallel()
                        ? eert::CrossEntropyParallelOp::create(b, loc, b.getI32Type(), logits,
                                                               labels, out, tokens, vocab,
                                                               temperature, i64(kTensorGroup))
                              .getResult()
                        : eert::CrossEntropyOp::create(b, loc, b.getI32Type(), logits, labels, out,
                                                       tokens, vocab, temperature)
                              .getResult());
        scalars.map(ce.getLoss(), LLVM::LoadOp::create(b, loc, b.getF32Type(), out));
        return success();
      })
      .Case([&](ExitConfidenceOp confidence) {
        Value out = allocate(confidence.getConfidence());
        Value logits = pointerOf(confidence.getLogits());
        Value vocab = i64(features(confidence.getLogits()));
        if (confidence.getVocabParallel())
          checkStatus(eert::ExitConfidenceParallelOp::create(b, loc, b.getI32Type(), logits, out,
                                                             tokens, vocab, i64(kTensorGroup)));
        else
          eert::ExitConfidenceOp::create(b, loc, logits, out, tokens, vocab);
        return success();
      })
      .Case([&](tensor::DimOp dim) -> LogicalResult {
        // Token tensors and activations are [batch, seq, ...].
        std::optional<int64_t> index = dim.getConstantIndex();
        auto type = dyn_cast<RankedTensorType>(dim.getSource().getType());
        if (!index || *index > 1 || !type || !type.isDynamicDim(*index))
          return dim.emitOpError() << "ee-lower-to-eert reads only the batch (0) and sequence (1) "
                                      "sizes of a tensor";
        scalars.map(dim.getResult(), arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                                                *index == 0 ? batch : seq)
                                         .getResult());
        return success();
      })
      .Case([&](RecvOp recv) -> LogicalResult {
        auto waits = llvm::make_filter_range(recv.getRequest().getUsers(), llvm::IsaPred<WaitOp>);
        if (waits.empty())
          return recv.emitOpError() << "is never waited on";
        // What the wait yields is the buffer received into.
        Value payload = cast<WaitOp>(*waits.begin()).getResult();
        Value buffer = allocate(payload), request = allocate(recv.getRequest());
        checkStatus(eert::CommIrecvOp::create(b, loc, b.getI32Type(), buffer, bytes(payload),
                                              stagePeer(recv.getPeer()),
                                              i64(kMessageTagBase + recv.getTag()), request));
        return success();
      })
      .Case([&](SendOp send) {
        Value request = allocate(send.getRequest());
        checkStatus(eert::CommIsendOp::create(b, loc, b.getI32Type(), pointerOf(send.getInput()),
                                              bytes(send.getInput()), stagePeer(send.getPeer()),
                                              i64(kMessageTagBase + send.getTag()), request));
        return success();
      })
      .Case([&](AllReduceStartOp start) -> LogicalResult {
        std::optional<int64_t> group = runtimeGroup(start.getGroup());
        if (!group)
          return start.emitOpError() << "over a tied group is not lowered (ee-data-parallel sums "
                                        "tied gradients with ee.send and ee.recv)";
        WaitOp wait = waitOf(start.getRequest());
        if (!wait)
          return start.emitOpError() << "is never waited on";
        Value request = allocate(start.getRequest()), data, count;
        if (start.getInput().getType().isF32()) {
          // A scalar is summed in its wait's slot.
          data = allocate(wait.getResult());
          LLVM::StoreOp::create(b, loc, scalars.lookup(start.getInput()), data);
          count = i64(1);
        } else if (reducesInPlace(start)) {
          data = pointers[wait.getResult()] = pointerOf(start.getInput());
          count = elements(start.getInput());
        } else {
          data = allocate(wait.getResult());
          count = elements(start.getInput());
          eert::ScaleOp::create(b, loc, pointerOf(start.getInput()), f32(1.0), data, count);
        }
        deferStatus(eert::CommIallReduceOp::create(b, loc, b.getI32Type(), data, count,
                                                   i64(*group), request));
        return success();
      })
      .Case([&](ReduceScatterStartOp start) -> LogicalResult {
        if (start.getGroup() != Group::DP)
          return start.emitOpError() << "is lowered over the data-parallel group (dp) only";
        WaitOp wait = waitOf(start.getRequest());
        if (!wait)
          return start.emitOpError() << "is never waited on";
        Value request = allocate(start.getRequest());
        Value input = start.getInput(), data;
        int64_t n = cast<RankedTensorType>(input.getType()).getNumElements();
        if (reducesInPlace(start)) {
          data = pointerOf(input);
        } else {
          data = allocate(wait.getResult());
          eert::ScaleOp::create(b, loc, pointerOf(input), f32(1.0), data, i64(n));
        }
        // The block is this rank's part of the buffer the sum lands in.
        std::pair<Value, Value> block = dataBlock(n);
        blocks[wait.getResult()] = block;
        pointers[wait.getResult()] = floatOffset(data, block.first);
        deferStatus(eert::CommIreduceScatterOp::create(b, loc, b.getI32Type(), data, i64(n),
                                                       i64(kDataGroup), request));
        return success();
      })
      .Case([&](AllGatherParameterStartOp start) {
        int64_t i = parameterIndex.lookup(start.getParam());
        auto param = SymbolTable::lookupNearestSymbolFrom<ParameterOp>(start, start.getParamAttr());
        Value request = allocate(start.getRequest());
        deferStatus(eert::CommIallGatherOp::create(b, loc, b.getI32Type(), loadPointer(params, i),
                                                   i64(param.getTensorType().getNumElements()),
                                                   i64(kDataGroup), request));
        return success();
      })
      .Case([&](WaitOp wait) -> LogicalResult {
        Operation *start = wait.getRequest().getDefiningOp();
        if (!isa_and_nonnull<SendOp, RecvOp, AllReduceStartOp, ReduceScatterStartOp,
                             AllGatherParameterStartOp>(start))
          return wait.emitOpError()
                 << "ee-lower-to-eert lowers the waits of ee.send, ee.recv, ee.all_reduce_start, "
                    "ee.reduce_scatter_start and ee.all_gather_parameter_start only";
        Value status = eert::CommWaitOp::create(b, loc, b.getI32Type(), pointerOf(wait.getRequest()));
        if (isa<AllReduceStartOp, ReduceScatterStartOp, AllGatherParameterStartOp>(start))
          deferStatus(status);
        else
          checkStatus(status);
        if (wait.getResult() && wait.getResult().getType().isF32())
          scalars.map(wait.getResult(),
                      LLVM::LoadOp::create(b, loc, b.getF32Type(), pointerOf(wait.getResult())));
        return success();
      })
      .Case([&](AdamWOp adamw) -> LogicalResult {
        // The moments are the optimizer-state table's: (exp_avg, exp_avg_sq) of
        // parameter i at 2i, 2i+1 (under ZeRO-1 of this rank's block only).
        int64_t i = parameterIndex.lookup(adamw.getParam());
        Value decay = adamw.getNoDecay() ? f32(0.0) : scalars.lookup(adamw.getWeightDecay());
        Value param = loadPointer(params, i), expAvg = loadPointer(optimizerState, 2 * i),
              expAvgSq = loadPointer(optimizerState, 2 * i + 1);
        if (adamw.getDpShard()) {
          auto block = blocks.find(adamw.getGrad());
          if (block == blocks.end())
            return adamw.emitOpError() << "with dp_shard needs its gradient block from an "
                                          "ee.reduce_scatter_start of this function";
          param = floatOffset(param, block->second.first);
        }
        eert::AdamwOp::create(b, loc, param, pointerOf(adamw.getGrad()), expAvg, expAvgSq,
                              elements(adamw.getGrad()),
                              scalars.lookup(adamw.getScale()), scalars.lookup(adamw.getLr()),
                              scalars.lookup(adamw.getBeta1()), scalars.lookup(adamw.getBeta2()),
                              scalars.lookup(adamw.getEps()), decay,
                              scalars.lookup(adamw.getStep()));
        updates.push_back(adamw.getParamAttr().getAttr());
        return success();
      })
      .Case([&](ZerosOp zeros) {
        Value out = allocate(zeros.getResult());
        Value zero = arith::ConstantIntOp::create(b, loc, 0, 8);
        LLVM::MemsetOp::create(b, loc, out, zero, bytes(zeros.getResult()), /*isVolatile=*/false);
        return success();
      })
      .Case([&](SpanBeginOp begin) {
        auto [it, added] = spanIndex.try_emplace(begin.getName(), spans.size());
        if (added)
          spans.push_back(record({{"category", begin.getCategoryAttr()}, {"name", begin.getNameAttr()}}));
        eert::TraceBeginOp::create(b, loc, i64(it->second));
        return success();
      })
      .Case([&](SpanEndOp end) {
        eert::TraceEndOp::create(b, loc, i64(spanIndex.lookup(end.getName())));
        return success();
      })
      .Case([&](LossWeightOp weight) {
        scalars.map(weight.getWeight(), lossWeight(weight));
        return success();
      })
      .Default([&](Operation *other) -> LogicalResult {
        // Scalar arithmetic (the objective, the gradient norm) stays as it is.
        if (isa<arith::ArithDialect, math::MathDialect>(other->getDialect()) &&
            llvm::none_of(other->getResultTypes(), llvm::IsaPred<ShapedType>)) {
          b.clone(*other, scalars)->removeAttr(EEDialect::getBuffersAttrName());
          return success();
        }
        return other->emitOpError()
               << "cannot be lowered to runtime calls (ee-lower-to-eert needs expanded, "
                  "inlined functions of primitive ee ops)";
      });
}

struct EELowerToEERTPass : ee::impl::EELowerToEERTPassBase<EELowerToEERTPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::StringMap<int64_t> parameterIndex;
    for (ParameterOp param : module.getOps<ParameterOp>())
      parameterIndex[param.getSymName()] = parameterIndex.size();
    OpBuilder builder(module.getBodyRegion());
    SmallVector<func::FuncOp> functions(module.getOps<func::FuncOp>());
    for (func::FuncOp source : functions) {
      if (source.isDeclaration())
        continue;
      if (!source.getBody().hasOneBlock()) {
        source.emitError("ee-lower-to-eert needs single-block functions");
        return signalPassFailure();
      }
      FailureOr<MemoryPlan> plan = readMemoryPlan(source);
      if (failed(plan))
        return signalPassFailure();
      builder.setInsertionPointToEnd(module.getBody());
      if (failed(FunctionLowering(source, *plan, parameterIndex, builder).lower()))
        return signalPassFailure();
    }
    for (func::FuncOp source : functions)
      source.erase();
  }
};

} // namespace
