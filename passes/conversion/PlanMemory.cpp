//===- PlanMemory.cpp - ee-plan-memory: every value's place in the arena --===//
//
// First fit over live ranges in program order, recorded on the IR: each op's
// results get an #ee.buffer (ee.buffers), each function its #ee.arena.
//
//===----------------------------------------------------------------------===//

#include "passes/conversion/MemoryPlan.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"

#include <map>
#include <queue>

namespace mlir::ee {
#define GEN_PASS_DEF_EEPLANMEMORYPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

WaitOp mlir::ee::waitOf(Value request) {
  for (Operation *user : request.getUsers())
    if (auto wait = dyn_cast<WaitOp>(user))
      return wait;
  return nullptr;
}

bool mlir::ee::reducesInPlace(Operation *start) {
  if (!isa_and_nonnull<AllReduceStartOp, ReduceScatterStartOp>(start))
    return false;
  Value input = start->getOperand(0);
  return isa<RankedTensorType>(input.getType()) && input.hasOneUse() && input.getDefiningOp() &&
         !isa<GetParameterOp>(input.getDefiningOp());
}

FailureOr<MemoryPlan> mlir::ee::readMemoryPlan(func::FuncOp func) {
  auto arena = func->getAttrOfType<ArenaAttr>(EEDialect::getArenaAttrName());
  if (!arena)
    return func.emitError() << "ee-lower-to-eert needs the function's memory plan (run ee-plan-memory first)";
  MemoryPlan plan;
  plan.perTokenBytes = arena.getPerTokenBytes();
  plan.fixedBytes = arena.getFixedBytes();
  for (Operation &op : func.front()) {
    auto buffers = op.getAttrOfType<ArrayAttr>(EEDialect::getBuffersAttrName());
    if (!buffers)
      continue;
    for (auto [result, entry] : llvm::zip(op.getResults(), buffers))
      if (auto buffer = dyn_cast<BufferAttr>(entry))
        (buffer.getRegion() == ArenaRegion::PerToken ? plan.perTokenOffset
                                                     : plan.fixedOffset)[result] = buffer.getOffset();
  }
  return plan;
}

namespace {

constexpr int64_t kAlignment = 64;

int64_t alignTo(int64_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

/// Bytes per token of a value that lives in the per-token region: activations
/// [batch, seq, features] (f32 or bf16) and per-token vectors [batch, seq]
/// (those and the i32 tokens and i64 random states a head's choice makes).
std::optional<int64_t> bytesPerToken(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type)
    return std::nullopt;
  Type element = type.getElementType();
  bool perTokenInteger = type.getRank() == 2 && (element.isInteger(32) || element.isInteger(64));
  if (!(element.isF32() || element.isBF16() || perTokenInteger))
    return std::nullopt;
  int64_t bytes = elementBytes(type);
  if (type.getRank() == 3)
    return bytes * type.getShape()[2];
  if (type.getRank() == 2)
    return bytes;
  return std::nullopt;
}

/// The per-token slices of an arena: first fit over the free gaps below the
/// high-water mark. Gaps are kept coalesced in offset order, so each request
/// scans only the gaps (few in practice), never every live value: planning
/// stays linear in the number of ops for thousands of layers.
class ArenaSlices {
public:
  int64_t allocate(int64_t size) {
    for (auto it = gaps.begin(); it != gaps.end(); ++it) {
      auto [offset, gapSize] = *it;
      if (gapSize < size)
        continue;
      gaps.erase(it);
      if (gapSize > size)
        gaps.emplace(offset + size, gapSize - size);
      return offset;
    }
    int64_t offset = top;
    top += size;
    peak = std::max(peak, top);
    return offset;
  }

  void release(int64_t offset, int64_t size) {
    auto next = gaps.lower_bound(offset);
    if (next != gaps.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        offset = prev->first;
        size += prev->second;
        gaps.erase(prev);
      }
    }
    if (next != gaps.end() && offset + size == next->first) {
      size += next->second;
      gaps.erase(next);
    }
    if (offset + size == top)
      top = offset;
    else
      gaps.emplace(offset, size);
  }

  int64_t peakBytes() const { return peak; }

private:
  std::map<int64_t, int64_t> gaps; // offset -> size, below `top`
  int64_t top = 0, peak = 0;
};

/// First fit over live ranges in program order: a value's slice is free again
/// after the op that last reads it. Per-token values (activations) and fixed
/// ones (weight-shaped tensors) are planned in two regions; scalars and
/// requests get slots of their own after the fixed tensors.
/// A received tensor lives from its receive to the last read of what its wait
/// yields; a sent tensor until the send's wait.
MemoryPlan planMemory(func::FuncOp func) {
  MemoryPlan plan;
  Block &body = func.front();
  DenseMap<Operation *, unsigned> index;
  for (auto [i, op] : llvm::enumerate(body))
    index[&op] = i;
  DenseMap<Value, unsigned> lastUse;
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      lastUse[operand] = std::max(lastUse.lookup(operand), index[&op]);
  for (Value returned : body.getTerminator()->getOperands())
    lastUse[returned] = std::numeric_limits<unsigned>::max();
  // A receive's or all-reduce's request -> what its wait yields, which lives
  // from the start (the buffer the runtime writes into).
  DenseMap<Value, Value> delivered;
  for (auto wait : body.getOps<WaitOp>())
    if (auto send = wait.getRequest().getDefiningOp<SendOp>())
      lastUse[send.getInput()] = std::max(lastUse.lookup(send.getInput()), index[wait]);
  // After the sends: a sum may be sent on, which keeps it longer.
  for (auto wait : body.getOps<WaitOp>()) {
    Operation *start = wait.getRequest().getDefiningOp();
    if (reducesInPlace(start)) {
      // The sum is the input's buffer: it lives as long as the sum.
      Value input = start->getOperand(0);
      lastUse[input] = std::max({lastUse.lookup(input), index[wait], lastUse.lookup(wait.getResult())});
    } else if (isa_and_nonnull<RecvOp, AllReduceStartOp, ReduceScatterStartOp>(start)) {
      delivered[wait.getRequest()] = wait.getResult();
    }
  }

  struct Live {
    unsigned until;
    int64_t offset, size;
    bool perToken;
    bool operator>(const Live &other) const { return until > other.until; }
  };
  // The live slices by the op after which they are free, soonest first.
  std::priority_queue<Live, std::vector<Live>, std::greater<Live>> live;
  ArenaSlices perToken, fixed;
  SmallVector<Value> scalars;
  auto place = [&](Value value, unsigned until, RankedTensorType capacity = nullptr) {
    // Scalars, requests and statically shaped tensors (weight gradients) get fixed slots.
    auto shaped = capacity ? capacity : dyn_cast<RankedTensorType>(value.getType());
    if (!shaped && !value.getType().isF32() && !isa<RequestType>(value.getType()))
      return; // lowered to registers
    if (!shaped) {
      // One slot each after the fixed tensors, never reused: freeing these
      // small slots between large long-lived gradients would leave a gap
      // list that every later allocation scans (quadratic in depth).
      scalars.push_back(value);
      return;
    }
    if (shaped.hasStaticShape()) {
      int64_t size = alignTo(elementBytes(shaped) * shaped.getNumElements());
      int64_t offset = fixed.allocate(size);
      live.push({until, offset, size, false});
      plan.fixedOffset[value] = offset;
      return;
    }
    std::optional<int64_t> bytes = bytesPerToken(value);
    if (!bytes)
      return;
    int64_t size = alignTo(*bytes);
    int64_t offset = perToken.allocate(size);
    live.push({until, offset, size, true});
    plan.perTokenOffset[value] = offset;
  };
  for (Operation &op : body) {
    unsigned now = index[&op];
    while (!live.empty() && live.top().until < now) {
      (live.top().perToken ? perToken : fixed).release(live.top().offset, live.top().size);
      live.pop();
    }
    // Parameters, in-place cache updates and what a wait delivers (the
    // receive's buffer) need no memory of their own.
    if (isa<GetParameterOp, WaitOp>(op))
      continue;
    if (isa<RecvOp, AllReduceStartOp, ReduceScatterStartOp>(op))
      if (Value payload = delivered.lookup(op.getResult(0)))
        // A reduce-scatter's block lies in a copy of the whole input.
        place(payload, lastUse.lookup(payload),
              isa<ReduceScatterStartOp>(op) ? cast<RankedTensorType>(op.getOperand(0).getType())
                                            : RankedTensorType());
    auto attention = dyn_cast<AttentionOp>(op);
    for (Value result : op.getResults()) {
      if (attention && result != attention.getOutput())
        continue;
      place(result, lastUse.lookup(result));
    }
  }
  plan.perTokenBytes = perToken.peakBytes();
  plan.fixedBytes = fixed.peakBytes();
  for (Value scalar : scalars) {
    plan.fixedOffset[scalar] = plan.fixedBytes;
    plan.fixedBytes += kAlignment;
  }
  return plan;
}


struct EEPlanMemoryPass : ee::impl::EEPlanMemoryPassBase<EEPlanMemoryPass> {
  void runOnOperation() override {
    for (func::FuncOp func : getOperation().getOps<func::FuncOp>()) {
      if (func.isDeclaration())
        continue;
      if (!func.getBody().hasOneBlock()) {
        func.emitError("ee-plan-memory needs single-block functions");
        return signalPassFailure();
      }
      MemoryPlan plan = planMemory(func);
      Builder b(func.getContext());
      for (Operation &op : func.front()) {
        SmallVector<Attribute> buffers;
        bool any = false;
        for (Value result : op.getResults()) {
          if (auto it = plan.perTokenOffset.find(result); it != plan.perTokenOffset.end())
            buffers.push_back(BufferAttr::get(b.getContext(), ArenaRegion::PerToken, it->second));
          else if (auto it = plan.fixedOffset.find(result); it != plan.fixedOffset.end())
            buffers.push_back(BufferAttr::get(b.getContext(), ArenaRegion::Fixed, it->second));
          else
            buffers.push_back(b.getUnitAttr());
          any |= !isa<UnitAttr>(buffers.back());
        }
        if (any)
          op.setAttr(EEDialect::getBuffersAttrName(), b.getArrayAttr(buffers));
      }
      func->setAttr(EEDialect::getArenaAttrName(),
                    ArenaAttr::get(b.getContext(), plan.perTokenBytes, plan.fixedBytes));
    }
  }
};

} // namespace
