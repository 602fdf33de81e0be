// Spans.h - the runtime's own spans in the measured trace (beside those compiled code marks).
#ifndef EERT_TRACE_SPANS_H
#define EERT_TRACE_SPANS_H

#include <cstdint>

namespace eert::trace {

/// The span number of a non-blocking all-reduce, from eert_comm_iall_reduce
/// to its eert_comm_wait (abi.def: negative numbers are the runtime's).
constexpr int64_t kAllReduceSpan = -1;
/// ZeRO-1's halves: eert_comm_ireduce_scatter and eert_comm_iall_gather to their waits.
constexpr int64_t kReduceScatterSpan = -2, kAllGatherSpan = -3;

/// Whether spans are being recorded (eert_trace_enable).
bool recording();
/// The steady clock in ns, as recorded spans use it.
uint64_t now();
/// Records a finished span.
void record(int64_t span, uint64_t begin, uint64_t end);

} // namespace eert::trace

#endif // EERT_TRACE_SPANS_H
