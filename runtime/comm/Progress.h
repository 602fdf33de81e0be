// Progress.h - lets the kernels move the started collectives on (MPI has no progress thread here).
#ifndef EERT_COMM_PROGRESS_H
#define EERT_COMM_PROGRESS_H

namespace eert::comm {

/// Tests one started non-blocking all-reduce, which lets MPI advance every
/// pending collective; nothing when none is in flight. Called by the large
/// kernels before they compute, so a gradient bucket's reduction moves while
/// the backward pass goes on (on the calling thread, outside parallel regions).
void progress();

} // namespace eert::comm

#endif // EERT_COMM_PROGRESS_H
