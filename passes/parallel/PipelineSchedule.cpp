//===- PipelineSchedule.cpp - ee-pipeline-schedule: 1F1B per stage --------===//
//
// Plans every pipeline stage's one-forward-one-backward order over the plan's
// micro-batches, checks it by simulation with the cost model's durations,
// optionally fills the idle gaps with partial passes of extra micro-batches
// that only run up to the last exit (EE-LLM), and writes the plan (and, on
// request, a Chrome trace of it).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/ToolOutputFile.h"

#include <algorithm>
#include <map>

namespace mlir::ee {
#define GEN_PASS_DEF_EEPIPELINESCHEDULEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::ee

using namespace mlir;
using namespace mlir::ee;

namespace {

/// One pass of one micro-batch on one stage.
struct Action {
  enum Kind { Forward, Backward, PartialForward, PartialBackward } kind;
  int64_t microbatch;
  double start = 0, end = 0; // planned, in FLOPs of work at the stage's rate
  int64_t depth = -1;        // partial passes: the last stage they run on

  std::string name() const {
    static const char *letters[] = {"F", "B", "f", "b"};
    return letters[kind] + std::to_string(microbatch);
  }
};

/// Plain 1F1B: min(P - s - 1, M) forwards, then forward/backward pairs, then
/// the remaining backwards.
SmallVector<SmallVector<Action>> oneForwardOneBackward(int64_t stages, int64_t microbatches) {
  SmallVector<SmallVector<Action>> order(stages);
  for (int64_t s = 0; s < stages; ++s) {
    int64_t warmup = std::min(stages - s - 1, microbatches);
    for (int64_t m = 0; m < warmup; ++m)
      order[s].push_back({Action::Forward, m});
    for (int64_t i = 0; i < microbatches - warmup; ++i) {
      order[s].push_back({Action::Forward, warmup + i});
      order[s].push_back({Action::Backward, i});
    }
    for (int64_t m = microbatches - warmup; m < microbatches; ++m)
      order[s].push_back({Action::Backward, m});
  }
  return order;
}

/// Runs every stage's order with the durations `forward[s]` (backward twice
/// that) and fills in start/end times; fails naming the stuck stages if some
/// stage waits for a pass that never comes.
LogicalResult simulate(SmallVector<SmallVector<Action>> &order, ArrayRef<double> forward,
                       std::string &stuck) {
  int64_t stages = order.size();
  // Finish time of each (stage, kind, micro-batch).
  std::map<std::tuple<int64_t, int, int64_t>, double> done;
  SmallVector<size_t> next(stages, 0);
  SmallVector<double> free(stages, 0.0);
  auto dependency = [&](int64_t s, const Action &a) -> std::optional<std::tuple<int64_t, int, int64_t>> {
    switch (a.kind) {
    case Action::Forward:
      if (s == 0)
        return std::nullopt;
      return std::tuple{s - 1, static_cast<int>(Action::Forward), a.microbatch};
    case Action::PartialForward:
      if (s == 0)
        return std::nullopt;
      return std::tuple{s - 1, static_cast<int>(Action::PartialForward), a.microbatch};
    case Action::Backward:
      if (s == stages - 1)
        return std::tuple{s, static_cast<int>(Action::Forward), a.microbatch};
      return std::tuple{s + 1, static_cast<int>(Action::Backward), a.microbatch};
    case Action::PartialBackward:
      if (s == a.depth)
        return std::tuple{s, static_cast<int>(Action::PartialForward), a.microbatch};
      return std::tuple{s + 1, static_cast<int>(Action::PartialBackward), a.microbatch};
    }
    return std::nullopt;
  };
  bool progress = true;
  while (progress) {
    progress = false;
    for (int64_t s = 0; s < stages; ++s) {
      while (next[s] < order[s].size()) {
        Action &a = order[s][next[s]];
        double ready = 0;
        if (auto dep = dependency(s, a)) {
          auto it = done.find(*dep);
          if (it == done.end())
            break;
          ready = it->second;
        }
        bool backward = a.kind == Action::Backward || a.kind == Action::PartialBackward;
        a.start = std::max(free[s], ready);
        a.end = a.start + forward[s] * (backward ? 2 : 1);
        free[s] = a.end;
        done[{s, static_cast<int>(a.kind), a.microbatch}] = a.end;
        ++next[s];
        progress = true;
      }
    }
  }
  for (int64_t s = 0; s < stages; ++s)
    if (next[s] < order[s].size())
      stuck += (stuck.empty() ? "" : ", ") + llvm::formatv("stage {0} at {1}", s,
                                                           order[s][next[s]].name())
                                                  .str();
  return success(stuck.empty());
}

double makespanOf(ArrayRef<SmallVector<Action>> order) {
  double makespan = 0;
  for (const auto &stage : order)
    for (const Action &a : stage)
      makespan = std::max(makespan, a.end);
  return makespan;
}

double bubbleFraction(ArrayRef<SmallVector<Action>> order) {
  double busy = 0, makespan = makespanOf(order);
  for (const auto &stage : order)
    for (const Action &a : stage)
      busy += a.end - a.start;
  return makespan > 0 ? 1 - busy / (order.size() * makespan) : 0;
}

/// Places partial passes of up to `extra` micro-batches (numbered after the
/// real ones) into the idle gaps of the stages without moving anything already
/// planned; returns how many fit. Each goes as deep as fits among
/// `exitStages` (stages holding exits, deepest first), contributing the losses
/// of the exits it reaches.
int64_t fillIdleGaps(SmallVector<SmallVector<Action>> &order, ArrayRef<double> forward,
                     ArrayRef<int64_t> exitStages, int64_t microbatches, int64_t extra) {
  double makespan = makespanOf(order), slack = 1e-9 * makespan;
  // The earliest start >= ready in an idle gap of stage s for `length`.
  auto place = [&](int64_t s, double ready, double length,
                   ArrayRef<std::pair<int64_t, Action>> pending) -> std::optional<double> {
    SmallVector<std::pair<double, double>> busy;
    for (const Action &a : order[s])
      busy.push_back({a.start, a.end});
    for (auto &[stage, a] : pending)
      if (stage == s)
        busy.push_back({a.start, a.end});
    llvm::sort(busy);
    double at = ready;
    for (auto [begin, end] : busy) {
      if (at + length <= begin + slack)
        break;
      at = std::max(at, end);
    }
    if (at + length > makespan + slack)
      return std::nullopt;
    return at;
  };
  int64_t placed = 0;
  for (int64_t e = 0; e < extra; ++e) {
    int64_t m = microbatches + e;
    std::optional<SmallVector<std::pair<int64_t, Action>>> fitted;
    for (int64_t depth : exitStages) {
      SmallVector<std::pair<int64_t, Action>> passes;
      double ready = 0;
      bool fits = true;
      for (int64_t s = 0; s <= depth && fits; ++s) {
        auto at = place(s, ready, forward[s], passes);
        fits = at.has_value();
        if (fits) {
          passes.push_back({s, {Action::PartialForward, m, *at, *at + forward[s], depth}});
          ready = *at + forward[s];
        }
      }
      for (int64_t s = depth; s >= 0 && fits; --s) {
        auto at = place(s, ready, 2 * forward[s], passes);
        fits = at.has_value();
        if (fits) {
          passes.push_back({s, {Action::PartialBackward, m, *at, *at + 2 * forward[s], depth}});
          ready = *at + 2 * forward[s];
        }
      }
      if (fits) {
        fitted = std::move(passes);
        break;
      }
    }
    if (!fitted)
      break;
    for (auto &[s, a] : *fitted)
      order[s].push_back(a);
    ++placed;
  }
  for (auto &stage : order)
    llvm::stable_sort(stage, [](const Action &a, const Action &b) { return a.start < b.start; });
  return placed;
}

/// The planned schedule as a Chrome trace (JSON, for Perfetto or chrome://tracing).
LogicalResult writeTrace(StringRef path, ArrayRef<SmallVector<Action>> order, double plain,
                         double filled, int64_t microbatches, int64_t extra, Location loc) {
  constexpr double flopsPerMicrosecond = 1e5; // a nominal 100 GFLOP/s
  llvm::json::Array events;
  for (auto [s, stage] : llvm::enumerate(order)) {
    events.push_back(llvm::json::Object{{"name", "thread_name"}, {"ph", "M"}, {"pid", 0},
                                        {"tid", static_cast<int64_t>(s)},
                                        {"args", llvm::json::Object{{"name", "stage " + std::to_string(s)}}}});
    for (const Action &a : stage) {
      static const char *categories[] = {"forward", "backward", "partial forward",
                                         "partial backward"};
      events.push_back(llvm::json::Object{{"name", a.name()},
                                          {"cat", categories[a.kind]},
                                          {"ph", "X"},
                                          {"pid", 0},
                                          {"tid", static_cast<int64_t>(s)},
                                          {"ts", a.start / flopsPerMicrosecond},
                                          {"dur", (a.end - a.start) / flopsPerMicrosecond}});
    }
  }
  llvm::json::Object trace{
      {"traceEvents", std::move(events)},
      {"displayTimeUnit", "ms"},
      {"otherData", llvm::json::Object{{"schedule", "1F1B"},
                                       {"stages", static_cast<int64_t>(order.size())},
                                       {"microbatches", microbatches},
                                       {"filled_microbatches", extra},
                                       {"bubble_fraction", filled},
                                       {"plain_1f1b_bubble_fraction", plain},
                                       {"time_base", "nominal 100 GFLOP/s per stage"}}}};
  std::string error;
  auto file = openOutputFile(path, &error);
  if (!file)
    return emitError(loc) << "ee-pipeline-schedule: cannot write the trace: " << error;
  file->os() << llvm::formatv("{0:2}", llvm::json::Value(std::move(trace))) << "\n";
  file->keep();
  return success();
}

struct EEPipelineSchedulePass : ee::impl::EEPipelineSchedulePassBase<EEPipelineSchedulePass> {
  using EEPipelineSchedulePassBase::EEPipelineSchedulePassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto plan = module->getAttrOfType<PipelineAttr>(EEDialect::getPipelineAttrName());
    if (!plan || plan.getSchedule()) {
      module.emitError("ee-pipeline-schedule needs the stages of ee-pipeline-partition "
                       "(and no schedule yet)");
      return signalPassFailure();
    }
    if (fillBubbles < 0) {
      module.emitError("ee-pipeline-schedule: fill-bubbles must be >= 0");
      return signalPassFailure();
    }
    int64_t stages = plan.getStages().size(), microbatches = plan.getMicrobatches();
    double tokens = plan.getSeqLen() * plan.getMicroBatch();
    SmallVector<double> forward;
    SmallVector<int64_t> exitStages; // deepest first
    int64_t lastExitStage = -1;
    for (auto [s, stage] : llvm::enumerate(plan.getStageList())) {
      // A third of the training FLOPs is the forward pass.
      forward.push_back(stage.getFlopsPerToken() * tokens / 3);
      if (!stage.getExits().empty())
        exitStages.insert(exitStages.begin(), s);
    }
    if (!exitStages.empty())
      lastExitStage = exitStages.front();

    SmallVector<SmallVector<Action>> order = oneForwardOneBackward(stages, microbatches);
    std::string stuck;
    if (failed(simulate(order, forward, stuck))) {
      module.emitError() << "ee-pipeline-schedule: the schedule deadlocks (" << stuck << ")";
      return signalPassFailure();
    }
    double plain = bubbleFraction(order), makespan = makespanOf(order);
    int64_t filled = 0;
    if (fillBubbles > 0 && lastExitStage >= 0) {
      filled = fillIdleGaps(order, forward, exitStages, microbatches, fillBubbles);
      // Check the merged order the same way: it must run to the same end.
      SmallVector<SmallVector<Action>> check = order;
      if (failed(simulate(check, forward, stuck)) || makespanOf(check) > makespan * (1 + 1e-6)) {
        module.emitError() << "ee-pipeline-schedule: filling the bubbles broke the schedule"
                           << (stuck.empty() ? "" : " (" + stuck + ")");
        return signalPassFailure();
      }
    }
    double fraction = bubbleFraction(order);
    emitRemark(module.getLoc()) << llvm::formatv(
        "1F1B over {0} micro-batches on {1} stages: bubble fraction {2:F3} (plain 1F1B "
        "{3:F3}), {4} partial micro-batches (exit losses only) on stages up to {5}",
        microbatches, stages, fraction, plain, filled, lastExitStage);

    Builder b(module.getContext());
    SmallVector<Attribute> schedule;
    for (const auto &stage : order) {
      SmallVector<Attribute> names;
      for (const Action &a : stage)
        names.push_back(b.getStringAttr(a.name()));
      schedule.push_back(b.getArrayAttr(names));
    }
    module->setAttr(EEDialect::getPipelineAttrName(),
                    plan.withSchedule(PipelineScheduleAttr::get(
                        b.getContext(), b.getArrayAttr(schedule), fraction, plain, filled,
                        makespan)));
    if (!trace.empty() &&
        failed(writeTrace(trace, order, plain, fraction, microbatches, filled, module.getLoc())))
      return signalPassFailure();
  }
};

} // namespace
