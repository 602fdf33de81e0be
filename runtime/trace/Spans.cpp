// Spans.cpp - the spans compiled step functions mark (ee.span_begin/end), recorded for the measured trace.
#include "trace/Spans.h"
#include "cpu/Error.h"
#include "eert/eert.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace {

struct Span {
  int64_t span;
  uint64_t begin, end; // steady clock, ns; end 0 while open
};

// Step functions run on the host thread that calls them; the OpenMP workers
// inside the kernels never mark spans, so one recording needs no lock.
bool recording = false;
std::vector<Span> spans;

} // namespace

bool eert::trace::recording() { return ::recording; }

uint64_t eert::trace::now() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

void eert::trace::record(int64_t span, uint64_t begin, uint64_t end) {
  if (::recording)
    spans.push_back({span, begin, end});
}

using eert::trace::now;

extern "C" void eert_trace_enable(int64_t on) { recording = on != 0; }

extern "C" void eert_trace_begin(int64_t span) {
  if (recording)
    spans.push_back({span, now(), 0});
}

extern "C" void eert_trace_end(int64_t span) {
  if (!recording)
    return;
  uint64_t at = now();
  // The latest open span of that number (spans do not nest, but may straddle a disable).
  for (auto it = spans.rbegin(); it != spans.rend(); ++it)
    if (it->span == span && it->end == 0) {
      it->end = at;
      return;
    }
}

extern "C" int32_t eert_trace_count(void) { return static_cast<int32_t>(spans.size()); }

extern "C" int32_t eert_trace_span(int64_t index, uint64_t *span, uint64_t *begin, uint64_t *end) {
  if (index < 0 || index >= static_cast<int64_t>(spans.size()))
    return eert::fail("no recorded span " + std::to_string(index) + " of " +
                      std::to_string(spans.size()));
  const Span &s = spans[index];
  *span = static_cast<uint64_t>(s.span);
  *begin = s.begin;
  *end = s.end ? s.end : s.begin;
  return 0;
}

extern "C" void eert_trace_clear(void) {
  spans.clear();
}
