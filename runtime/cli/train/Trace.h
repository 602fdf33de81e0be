// Trace.h - measured timelines of the ranks as a Chrome trace (JSON, for Perfetto).
#ifndef EERT_CLI_TRACE_H
#define EERT_CLI_TRACE_H

#include "eert/eert.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>

namespace eert {

/// Spans of work recorded on each rank; `write` gathers them on rank 0, one
/// track per rank and, where a rank's communication overlaps its compute (the
/// all-reduces a compiled step starts), a second track for that
/// communication. Disabled, it records nothing and writes nothing.
class MeasuredTrace {
public:
  explicit MeasuredTrace(bool enabled) : enabled_(enabled) {}

  static double now() {
    return std::chrono::duration<double, std::micro>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  bool enabled() const { return enabled_; }

  /// A span from `begin` (now()) to now.
  void span(const std::string &name, const char *category, double begin,
            nlohmann::json args = nlohmann::json::object()) {
    span(name, category, begin, now(), std::move(args));
  }

  /// A span from `begin` to `end` (microseconds of the steady clock, as now()),
  /// on the rank's communication track when `overlapping`.
  void span(const std::string &name, const char *category, double begin, double end,
            nlohmann::json args, bool overlapping = false) {
    if (enabled_)
      events_.push_back({{"name", name}, {"cat", category}, {"ph", "X"}, {"ts", begin},
                         {"dur", end - begin}, {"args", std::move(args)},
                         {"lane", overlapping ? 1 : 0}});
  }

  /// Collective over the world: rank 0 writes every rank's spans to `path`
  /// (times from the earliest span; the ranks share one machine's clock).
  void write(const std::string &path, const nlohmann::json &about) {
    if (!enabled_)
      return;
    constexpr int64_t tag = 31;
    int32_t rank = eert_comm_rank(), size = eert_comm_size();
    auto check = [](int32_t status) {
      if (status)
        throw std::runtime_error(std::string("gathering the trace failed: ") + eert_last_error());
    };
    if (rank != 0) {
      std::string text = events_.dump();
      uint64_t bytes = text.size();
      check(eert_comm_send(&bytes, sizeof(bytes), 0, tag));
      check(eert_comm_send(text.data(), static_cast<int64_t>(bytes), 0, tag));
      return;
    }
    std::vector<nlohmann::json> perRank{events_};
    for (int32_t peer = 1; peer < size; ++peer) {
      uint64_t bytes = 0;
      check(eert_comm_recv(&bytes, sizeof(bytes), peer, tag, nullptr));
      std::string text(bytes, '\0');
      check(eert_comm_recv(text.data(), static_cast<int64_t>(bytes), peer, tag, nullptr));
      perRank.push_back(nlohmann::json::parse(text));
    }
    double origin = INFINITY;
    for (const auto &events : perRank)
      for (const auto &event : events)
        origin = std::min(origin, event["ts"].get<double>());
    nlohmann::json all = nlohmann::json::array();
    for (size_t r = 0; r < perRank.size(); ++r) {
      all.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 0}, {"tid", r},
                     {"args", {{"name", "rank " + std::to_string(r)}}}});
      bool named = false; // the communication track, once it has a span
      for (auto event : perRank[r]) {
        bool overlapping = event.value("lane", 0) == 1;
        size_t track = overlapping ? perRank.size() + r : r;
        if (overlapping && !named) {
          all.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 0}, {"tid", track},
                         {"args", {{"name", "rank " + std::to_string(r) + " communication"}}}});
          named = true;
        }
        event.erase("lane");
        event["ts"] = event["ts"].get<double>() - origin;
        event["pid"] = 0;
        event["tid"] = track;
        all.push_back(std::move(event));
      }
    }
    std::ofstream out(path);
    out << nlohmann::json{{"traceEvents", all}, {"displayTimeUnit", "ms"}, {"otherData", about}}
               .dump(1)
        << "\n";
    if (!out)
      throw std::runtime_error(path + ": cannot write the trace");
  }

private:
  bool enabled_;
  nlohmann::json events_ = nlohmann::json::array();
};

} // namespace eert

#endif // EERT_CLI_TRACE_H
