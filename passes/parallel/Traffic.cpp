//===- Traffic.cpp - the deadlock check of generated pipeline traffic -----===//

#include "passes/parallel/Traffic.h"
#include "ee/EEOps.h"

#include "llvm/Support/FormatVariadic.h"

#include <map>
#include <set>

using namespace mlir;
using namespace mlir::ee;

namespace {

/// One stage's traffic in program order, for the deadlock check.
struct Event {
  enum Kind { PostSend, PostRecv, WaitSend, WaitRecv } kind;
  int64_t peer, tag;
  Operation *op;
  Type payload;
};

} // namespace

LogicalResult mlir::ee::checkTraffic(ModuleOp module, ArrayRef<func::FuncOp> steps, StringRef pass) {
  int64_t stages = steps.size();
  SmallVector<SmallVector<Event>> events(stages);
  using Key = std::tuple<int64_t, int64_t, int64_t>; // from, to, tag
  std::map<Key, Type> sent, expected;
  for (auto [s, step] : llvm::enumerate(steps)) {
    func::FuncOp function = step;
    int64_t self = s;
    for (Operation &op : function.front()) {
      Event event{};
      event.op = &op;
      if (auto send = dyn_cast<SendOp>(op)) {
        event = {Event::PostSend, self + static_cast<int64_t>(send.getPeer()),
                 static_cast<int64_t>(send.getTag()), &op, send.getInput().getType()};
        sent[{self, event.peer, event.tag}] = event.payload;
      } else if (auto recv = dyn_cast<RecvOp>(op)) {
        event = {Event::PostRecv, self + static_cast<int64_t>(recv.getPeer()),
                 static_cast<int64_t>(recv.getTag()), &op, recv.getTensorType()};
        expected[{event.peer, self, event.tag}] = event.payload;
      } else if (auto wait = dyn_cast<WaitOp>(op)) {
        Operation *start = wait.getRequest().getDefiningOp();
        if (auto send = dyn_cast_or_null<SendOp>(start))
          event = {Event::WaitSend, self + static_cast<int64_t>(send.getPeer()),
                   static_cast<int64_t>(send.getTag()), &op, Type()};
        else if (auto recv = dyn_cast_or_null<RecvOp>(start))
          event = {Event::WaitRecv, self + static_cast<int64_t>(recv.getPeer()),
                   static_cast<int64_t>(recv.getTag()), &op, Type()};
        else
          continue;
      } else {
        continue;
      }
      if (event.peer < 0 || event.peer >= stages)
        return op.emitError() << pass << ": stage " << self << " talks to stage "
                              << event.peer << " of " << stages;
      events[s].push_back(event);
    }
  }
  for (auto &[key, type] : sent) {
    auto it = expected.find(key);
    if (it == expected.end() || it->second != type)
      return module.emitError() << pass << llvm::formatv(
                 ": stage {0} sends message {2} of type {3} to stage {1}, which "
                 "does not receive it as such",
                 std::get<0>(key), std::get<1>(key), std::get<2>(key), type);
  }
  for (auto &[key, type] : expected)
    if (!sent.count(key))
      return module.emitError() << pass << llvm::formatv(
                 ": stage {1} receives message {2} from stage {0}, which never "
                 "sends it",
                 std::get<0>(key), std::get<1>(key), std::get<2>(key));

  SmallVector<size_t> next(stages, 0);
  std::set<Key> posted, waiting;
  for (bool progress = true; progress;) {
    progress = false;
    for (int64_t s = 0; s < stages; ++s) {
      while (next[s] < events[s].size()) {
        const Event &e = events[s][next[s]];
        if (e.kind == Event::WaitRecv) {
          progress |= waiting.insert({e.peer, s, e.tag}).second;
          if (!posted.count({e.peer, s, e.tag}))
            break;
        } else if (e.kind == Event::WaitSend && !waiting.count({s, e.peer, e.tag})) {
          break;
        } else if (e.kind == Event::PostSend) {
          posted.insert({s, e.peer, e.tag});
        }
        ++next[s];
        progress = true;
      }
    }
  }
  std::string stuck;
  for (int64_t s = 0; s < stages; ++s)
    if (next[s] < events[s].size()) {
      const Event &e = events[s][next[s]];
      stuck += llvm::formatv("{0}stage {1} waits to {2} message {3} {4} stage {5}",
                             stuck.empty() ? "" : "; ", s,
                             e.kind == Event::WaitSend ? "send" : "receive", e.tag,
                             e.kind == Event::WaitSend ? "to" : "from", e.peer)
                   .str();
    }
  if (!stuck.empty())
    return module.emitError() << pass << ": the step deadlocks: " << stuck;
  return success();
}

