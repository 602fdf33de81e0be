// Comm.cpp - the runtime's communication layer over MPI: point-to-point, the grid, collectives.
//
// Every operation that waits for another rank runs as a non-blocking MPI call
// completed under a deadline (eert_comm_set_timeout, EERT_COMM_TIMEOUT): a peer
// that stopped or hangs makes the waiting rank name the operation and the
// peer (or group) it waited for, then end the world, instead of every rank
// waiting forever. MPI_Test in a loop progresses as MPI_Wait does (both spin
// in Open MPI's progress engine), so the deadline costs no latency.
//
// Buffers in a GPU's memory go to the backend's DeviceTransport (NCCL) when
// it installed one; the groups, deadlines and host messages stay here.
#include "comm/DeviceTransport.h"
#include "comm/Progress.h"
#include "cpu/Error.h"
#include "eert/eert.h"
#include "trace/Spans.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

bool started = false; // MPI initialised by us
int worldRank = 0, worldSize = 1;
// Communicators of the groups (see abi.def): world, TP, PP, DP.
MPI_Comm groups[4] = {MPI_COMM_NULL, MPI_COMM_NULL, MPI_COMM_NULL, MPI_COMM_NULL};
eert::comm::DeviceTransport *transport = nullptr;

/// Whether `buffer` is backend memory the transport moves (a GPU's).
bool onDevice(const void *buffer) { return transport && buffer && transport->owns(buffer); }

/// Launched by an MPI launcher (Open MPI's mpirun, or any PMI/PMIx one)?
bool launchedByMpirun() {
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(name))
      return true;
  return false;
}

/// Seconds a rank waits for a peer before it reports and aborts; 0: forever.
double timeoutSeconds = 300.0;

const char *groupName(int64_t group) {
  static const char *names[4] = {"world", "TP", "PP", "DP"};
  return group >= 0 && group < 4 ? names[group] : "unknown";
}

/// "the DP group (world ranks 0, 2)": who a collective over `group` waits for.
std::string describeGroup(int64_t group, MPI_Comm comm) {
  MPI_Group members, world;
  MPI_Comm_group(comm, &members);
  MPI_Comm_group(MPI_COMM_WORLD, &world);
  int size = 0;
  MPI_Group_size(members, &size);
  std::vector<int> local(size), global(size);
  for (int i = 0; i < size; ++i)
    local[i] = i;
  MPI_Group_translate_ranks(members, size, local.data(), world, global.data());
  MPI_Group_free(&members);
  MPI_Group_free(&world);
  std::string text = std::string("the ") + groupName(group) + " group (world ranks";
  for (int i = 0; i < size; ++i)
    text += (i ? ", " : " ") + std::to_string(global[i]);
  return text + ")";
}

/// Completes `request`; past the timeout, reports what this rank waited for
/// (`describe()`) on stderr in one write and aborts the world.
template <typename Describe>
int waitWithDeadline(MPI_Request *request, MPI_Status *status, Describe describe) {
  if (timeoutSeconds <= 0)
    return MPI_Wait(request, status);
  auto start = std::chrono::steady_clock::now();
  auto limit = std::chrono::duration<double>(timeoutSeconds);
  for (;;) {
    int done = 0;
    if (int code = MPI_Test(request, &done, status))
      return code;
    if (done)
      return MPI_SUCCESS;
    if (std::chrono::steady_clock::now() - start > limit) {
      char seconds[32];
      std::snprintf(seconds, sizeof(seconds), "%g", timeoutSeconds);
      std::string line = "error (rank " + std::to_string(worldRank) +
                         "): communication timeout: waited " + seconds + " s for " + describe() +
                         "; aborting every rank (--comm-timeout sets the limit, 0 waits forever)\n";
      std::fwrite(line.data(), 1, line.size(), stderr);
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
      std::_Exit(1);
    }
  }
}

/// Waits for every rank of `comm` under the deadline: before the blocking
/// calls MPI has no non-blocking form of (MPI_Comm_split, MPI_Finalize).
int barrierWithDeadline(MPI_Comm comm, int64_t group, const char *before) {
  MPI_Request request;
  if (int code = MPI_Ibarrier(comm, &request))
    return code;
  return waitWithDeadline(&request, MPI_STATUS_IGNORE,
                          [&] { return describeGroup(group, comm) + " to reach " + before; });
}

/// A non-blocking collective started by `start` (which fills a request) and
/// completed under the deadline.
template <typename Start>
int collective(const char *name, MPI_Comm comm, int64_t group, Start start) {
  MPI_Request request;
  if (int code = start(&request))
    return code;
  return waitWithDeadline(&request, MPI_STATUS_IGNORE, [&] {
    return std::string(name) + " over " + describeGroup(group, comm);
  });
}

int32_t mpiFailure(const char *what, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return eert::fail(std::string(what) + " failed: " + std::string(text, length));
}

int32_t checkPeer(int64_t peer, bool anyAllowed) {
  if ((anyAllowed && peer == -1) || (peer >= 0 && peer < worldSize))
    return 0;
  return eert::fail("rank " + std::to_string(peer) + " is outside the world of " +
                    std::to_string(worldSize) + " ranks");
}

/// The communicator of `group`, or null (alone: every group is this rank).
int32_t groupComm(int64_t group, MPI_Comm &comm) {
  if (group < 0 || group > 3)
    return eert::fail("no communication group " + std::to_string(group) +
                      " (0 world, 1 TP, 2 PP, 3 DP)");
  comm = started ? groups[group] : MPI_COMM_NULL;
  if (started && comm == MPI_COMM_NULL)
    return eert::fail("communication group " + std::to_string(group) +
                      " used before eert_comm_grid");
  return 0;
}

int32_t checkCount(int64_t count) {
  if (count < 0 || count > INT32_MAX)
    return eert::fail("a collective of " + std::to_string(count) +
                      " elements (more than MPI's int count)");
  return 0;
}

} // namespace

void eert::comm::setDeviceTransport(DeviceTransport *installed) { transport = installed; }

extern "C" int32_t eert_comm_init(void) {
  if (started || !launchedByMpirun())
    return 0;
  int provided = 0;
  if (int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided))
    return mpiFailure("MPI_Init_thread", code);
  // Errors come back as codes (reported with their message), not aborts.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &worldRank);
  MPI_Comm_size(MPI_COMM_WORLD, &worldSize);
  started = true;
  groups[0] = MPI_COMM_WORLD;
  if (const char *text = std::getenv("EERT_COMM_TIMEOUT")) {
    char *end = nullptr;
    double seconds = std::strtod(text, &end);
    if (end == text || *end != '\0' || eert_comm_set_timeout(static_cast<float>(seconds)))
      return eert::fail(std::string("EERT_COMM_TIMEOUT must be a number of seconds >= 0, got '") +
                        text + "'");
  }
  return 0;
}

extern "C" int32_t eert_comm_set_timeout(float seconds) {
  if (!(seconds >= 0) || std::isinf(seconds))
    return eert::fail(
        "the communication timeout must be a finite number of seconds >= 0 (0: none)");
  timeoutSeconds = seconds;
  return 0;
}

extern "C" float eert_comm_timeout(void) { return static_cast<float>(timeoutSeconds); }

extern "C" int32_t eert_comm_grid(int64_t tp, int64_t pp) {
  if (tp < 1 || pp < 1 || worldSize % (tp * pp) != 0)
    return eert::fail("a world of " + std::to_string(worldSize) + " ranks cannot hold TP = " +
                      std::to_string(tp) + " x PP = " + std::to_string(pp) +
                      " (the world size must be a multiple of TP * PP)");
  if (!started)
    return 0;
  int64_t dp = worldSize / (tp * pp);
  int64_t tpRank = worldRank % tp, dpRank = (worldRank / tp) % dp, ppRank = worldRank / (tp * dp);
  // Colours: what the members of a group share; keys: their order in it.
  std::pair<int64_t, int64_t> split[3] = {{dpRank + dp * ppRank, tpRank},
                                          {tpRank + tp * dpRank, ppRank},
                                          {tpRank + tp * ppRank, dpRank}};
  if (int code = barrierWithDeadline(MPI_COMM_WORLD, 0, "MPI_Comm_split"))
    return mpiFailure("MPI_Ibarrier", code);
  for (int g = 1; g <= 3; ++g) {
    if (groups[g] != MPI_COMM_NULL)
      MPI_Comm_free(&groups[g]);
    if (int code = MPI_Comm_split(MPI_COMM_WORLD, static_cast<int>(split[g - 1].first),
                                  static_cast<int>(split[g - 1].second), &groups[g]))
      return mpiFailure("MPI_Comm_split", code);
  }
  return transport ? transport->groupsBuilt(groups) : 0;
}

extern "C" int32_t eert_comm_group_rank(int64_t group) {
  MPI_Comm comm;
  int rank = 0;
  if (groupComm(group, comm) == 0 && comm != MPI_COMM_NULL)
    MPI_Comm_rank(comm, &rank);
  return rank;
}

extern "C" int32_t eert_comm_group_size(int64_t group) {
  MPI_Comm comm;
  int size = 1;
  if (groupComm(group, comm) == 0 && comm != MPI_COMM_NULL)
    MPI_Comm_size(comm, &size);
  return size;
}

extern "C" int32_t eert_comm_group_peer(int64_t group, int64_t offset) {
  MPI_Comm comm;
  if (groupComm(group, comm) != 0)
    return -1;
  if (comm == MPI_COMM_NULL)
    return offset == 0 ? worldRank : -1;
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (offset < -rank || offset >= size - rank)
    return -1;
  int peer = static_cast<int>(rank + offset), world = -1;
  MPI_Group from, to;
  MPI_Comm_group(comm, &from);
  MPI_Comm_group(MPI_COMM_WORLD, &to);
  MPI_Group_translate_ranks(from, 1, &peer, to, &world);
  MPI_Group_free(&from);
  MPI_Group_free(&to);
  return world;
}

namespace {

/// An all-reduce in two phases: a reduce-scatter then an all-gather rather
/// than MPI_Allreduce: each block is summed once, by one rank, so every rank
/// gets the same bits (an all-reduce may sum in a different order on each
/// rank, and data-parallel replicas would drift apart).
struct AllReduce;

/// The reduce-scatters started and not yet finished, oldest first: Open MPI
/// moves a non-blocking collective on only inside MPI calls, so the kernels
/// of the backward pass test one now and then (eert::comm::progress).
std::vector<AllReduce *> inFlight;

struct AllReduce {
  /// What finish() completes: both halves (an all-reduce), or ZeRO-1's
  /// reduce-scatter or all-gather alone.
  enum class Phases { Both, Scatter, Gather };
  Phases phases = Phases::Both;
  float *data = nullptr;
  int64_t count = 0, group = 0, block = 0;
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  float *whole = nullptr;    // data, or `padded` when the blocks do not divide it
  std::vector<float> padded; // per started reduction: several may be in flight
  MPI_Request request = MPI_REQUEST_NULL;

  /// Starts the reduce-scatter (the all-gather for Phases::Gather); a group
  /// of one has nothing to do.
  int32_t start(float *values, int64_t n, int64_t g, Phases what = Phases::Both) {
    phases = what;
    data = values;
    count = n;
    group = g;
    if (int32_t status = groupComm(group, comm) ? 1 : checkCount(count))
      return status;
    if (comm == MPI_COMM_NULL)
      return 0;
    int size = 1;
    MPI_Comm_size(comm, &size);
    if (size == 1) {
      comm = MPI_COMM_NULL; // the sum of one
      return 0;
    }
    MPI_Comm_rank(comm, &rank);
    block = (count + size - 1) / size;
    whole = data;
    if (block * size != count) {
      padded.assign(block * size, 0.0f);
      std::copy(data, data + count, padded.begin());
      whole = padded.data();
    }
    if (phases == Phases::Gather) {
      if (int code = MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, whole,
                                    static_cast<int>(block), MPI_FLOAT, comm, &request))
        return mpiFailure("MPI_Allgather", code);
    } else {
      // In place: this rank's block of the sum lands at the start of
      // `whole` (no scratch: fresh pages for every gradient would cost more
      // than the copies).
      if (int code = MPI_Ireduce_scatter_block(MPI_IN_PLACE, whole, static_cast<int>(block),
                                               MPI_FLOAT, MPI_SUM, comm, &request))
        return mpiFailure("MPI_Reduce_scatter_block", code);
    }
    inFlight.push_back(this);
    return 0;
  }

  /// Completes what start() began: the reduce-scatter, then (Phases::Both)
  /// gathers every rank's block; or the all-gather.
  int32_t finish() {
    if (comm == MPI_COMM_NULL)
      return 0;
    if (auto it = std::find(inFlight.begin(), inFlight.end(), this); it != inFlight.end())
      inFlight.erase(it);
    bool gathering = phases == Phases::Gather;
    const char *name = gathering ? "MPI_Allgather" : "MPI_Reduce_scatter_block";
    if (int code = waitWithDeadline(&request, MPI_STATUS_IGNORE, [&] {
          return std::string(name) + " over " + describeGroup(group, comm);
        }))
      return mpiFailure(name, code);
    if (!gathering && rank > 0)
      std::copy(whole, whole + block, whole + rank * block); // disjoint blocks
    if (phases == Phases::Both)
      if (int code = collective("MPI_Allgather", comm, group, [&](MPI_Request *gather) {
            return MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, whole,
                                  static_cast<int>(block), MPI_FLOAT, comm, gather);
          }))
        return mpiFailure("MPI_Allgather", code);
    if (whole != data)
      std::copy(padded.begin(), padded.begin() + count, data);
    return 0;
  }
};

} // namespace

void eert::comm::progress() {
  if (inFlight.empty())
    return;
  // Any test drives every pending collective's schedule; a completed one
  // leaves the list (its wait then finds the request done).
  int done = 0;
  if (MPI_Test(&inFlight.front()->request, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done)
    inFlight.erase(inFlight.begin());
}

namespace {

/// A device operation started by `start` (which fills the transport's
/// handle) and completed at once.
template <typename Start> int32_t startAndWait(Start start) {
  uint64_t handle = 0;
  int32_t status = start(&handle);
  return status ? status : handle ? transport->wait(handle) : 0;
}

/// A group's collective on device buffers: the group checked as the MPI path
/// does, then `run()` on the transport; alone, `alone()`.
template <typename Run, typename Alone>
int32_t deviceCollective(int64_t group, int64_t count, Run run, Alone alone) {
  MPI_Comm comm;
  if (int32_t status = groupComm(group, comm) ? 1 : checkCount(count))
    return status;
  if (comm == MPI_COMM_NULL)
    return alone();
  return run();
}

/// A collective of one rank from `input` to `output` (count floats): a copy.
auto copyOnBackend(const float *input, float *output, int64_t count) {
  return [=] {
    eert_memory_copy(output, input, count * static_cast<int64_t>(sizeof(float)));
    return 0;
  };
}

} // namespace

extern "C" int32_t eert_comm_all_reduce(float *data, int64_t count, int64_t group) {
  if (onDevice(data))
    return deviceCollective(
        group, count,
        [&] {
          return startAndWait([&](uint64_t *handle) {
            return transport->start(eert::comm::DeviceTransport::Reduction::AllReduce, data, count,
                                    group, handle);
          });
        },
        [] { return 0; });
  // Scratch kept between calls: gradient buckets are large, and fresh pages
  // for every call would cost more than the reduction.
  thread_local AllReduce reduction;
  if (int32_t status = reduction.start(data, count, group))
    return status;
  return reduction.finish();
}

/// A collective from `input` (count floats per rank) to `output` over
/// `group`; alone, the input is the output.
template <typename Call>
int32_t floatCollective(const char *name, const float *input, float *output, int64_t count,
                        int64_t group, Call call) {
  MPI_Comm comm;
  if (int32_t status = groupComm(group, comm) ? 1 : checkCount(count))
    return status;
  if (comm == MPI_COMM_NULL) {
    std::copy(input, input + count, output);
    return 0;
  }
  if (int code =
          collective(name, comm, group, [&](MPI_Request *request) { return call(comm, request); }))
    return mpiFailure(name, code);
  return 0;
}

extern "C" int32_t eert_comm_all_gather(const float *input, float *output, int64_t count,
                                        int64_t group) {
  if (onDevice(input))
    return deviceCollective(
        group, count, [&] { return transport->allGather(input, output, count, group); },
        copyOnBackend(input, output, count));
  return floatCollective("MPI_Allgather", input, output, count, group,
                         [&](MPI_Comm comm, MPI_Request *request) {
                           return MPI_Iallgather(input, static_cast<int>(count), MPI_FLOAT, output,
                                                 static_cast<int>(count), MPI_FLOAT, comm, request);
                         });
}

extern "C" int32_t eert_comm_reduce_scatter(const float *input, float *output, int64_t count,
                                            int64_t group) {
  if (onDevice(input))
    return deviceCollective(
        group, count, [&] { return transport->reduceScatter(input, output, count, group); },
        copyOnBackend(input, output, count));
  return floatCollective("MPI_Reduce_scatter_block", input, output, count, group,
                         [&](MPI_Comm comm, MPI_Request *request) {
                           return MPI_Ireduce_scatter_block(input, output, static_cast<int>(count),
                                                            MPI_FLOAT, MPI_SUM, comm, request);
                         });
}

extern "C" int32_t eert_comm_broadcast(void *buffer, int64_t bytes, int64_t root, int64_t group) {
  if (onDevice(buffer))
    return deviceCollective(
        group, bytes, [&] { return transport->broadcast(buffer, bytes, root, group); },
        [] { return 0; });
  MPI_Comm comm;
  if (int32_t status = groupComm(group, comm) ? 1 : checkCount(bytes))
    return status;
  if (comm == MPI_COMM_NULL)
    return 0;
  if (int code = collective("MPI_Bcast", comm, group, [&](MPI_Request *request) {
        return MPI_Ibcast(buffer, static_cast<int>(bytes), MPI_BYTE, static_cast<int>(root), comm,
                          request);
      }))
    return mpiFailure("MPI_Bcast", code);
  return 0;
}

extern "C" int32_t eert_comm_rank(void) { return worldRank; }
extern "C" int32_t eert_comm_size(void) { return worldSize; }

extern "C" int32_t eert_comm_send(const void *buffer, int64_t bytes, int64_t peer, int64_t tag) {
  if (int32_t status = checkPeer(peer, false))
    return status;
  if (onDevice(buffer))
    return startAndWait(
        [&](uint64_t *handle) { return transport->send(buffer, bytes, peer, handle); });
  MPI_Request request;
  int code = MPI_Isend(buffer, static_cast<int>(bytes), MPI_BYTE, static_cast<int>(peer),
                       static_cast<int>(tag), MPI_COMM_WORLD, &request);
  if (!code)
    code = waitWithDeadline(&request, MPI_STATUS_IGNORE, [&] {
      return "rank " + std::to_string(peer) + " to receive a message (MPI_Send of " +
             std::to_string(bytes) + " bytes, tag " + std::to_string(tag) + ")";
    });
  return code ? mpiFailure("MPI_Send", code) : 0;
}

extern "C" int32_t eert_comm_recv(void *buffer, int64_t bytes, int64_t peer, int64_t tag,
                                  uint64_t *source) {
  if (int32_t status = checkPeer(peer, true))
    return status;
  if (onDevice(buffer)) {
    if (peer < 0)
      return eert::fail("a message into GPU memory is received from a named rank, not from any");
    if (int32_t status = startAndWait(
            [&](uint64_t *handle) { return transport->recv(buffer, bytes, peer, handle); }))
      return status;
    if (source)
      *source = static_cast<uint64_t>(peer);
    return 0;
  }
  MPI_Status status;
  MPI_Request request;
  int code = MPI_Irecv(buffer, static_cast<int>(bytes), MPI_BYTE,
                       peer < 0 ? MPI_ANY_SOURCE : static_cast<int>(peer), static_cast<int>(tag),
                       MPI_COMM_WORLD, &request);
  if (!code)
    code = waitWithDeadline(&request, &status, [&] {
      return (peer < 0 ? std::string("any rank") : "rank " + std::to_string(peer)) +
             " to send a message (MPI_Recv of " + std::to_string(bytes) + " bytes, tag " +
             std::to_string(tag) + ")";
    });
  if (code)
    return mpiFailure("MPI_Recv", code);
  int received = 0;
  MPI_Get_count(&status, MPI_BYTE, &received);
  if (received != bytes)
    return eert::fail("expected a message of " + std::to_string(bytes) + " bytes from rank " +
                      std::to_string(status.MPI_SOURCE) + ", got " + std::to_string(received));
  if (source)
    *source = static_cast<uint64_t>(status.MPI_SOURCE);
  return 0;
}

extern "C" int32_t eert_comm_probe(int64_t peer, int64_t tag, uint64_t *waiting) {
  if (int32_t status = checkPeer(peer, false))
    return status;
  int flag = 0;
  if (int code = MPI_Iprobe(static_cast<int>(peer), static_cast<int>(tag), MPI_COMM_WORLD, &flag,
                            MPI_STATUS_IGNORE))
    return mpiFailure("MPI_Iprobe", code);
  *waiting = flag ? 1 : 0;
  return 0;
}

namespace {

/// A started send, receive or all-reduce: what eert_comm_isend/irecv/
/// iall_reduce's *request points at.
struct Pending {
  MPI_Request request;
  int64_t expected; // a receive's size in bytes; -1 for a send
  int64_t peer, tag;
  std::unique_ptr<AllReduce> reduction; // set for an all-reduce
  uint64_t started = 0;                 // its start, for the trace
  uint64_t device = 0;                  // the transport's handle, for device buffers
  int64_t span = 0;                     // a device reduction's trace span
};

/// A device operation's handle as a request for eert_comm_wait (none when
/// the transport had nothing to do).
int32_t deviceRequest(int32_t status, uint64_t handle, uint64_t *request, int64_t span,
                      uint64_t started) {
  *request = 0;
  if (status == 0 && handle)
    *request = reinterpret_cast<uint64_t>(
        new Pending{MPI_REQUEST_NULL, -1, -1, -1, nullptr, started, handle, span});
  return status;
}

/// Frees the completed request and checks a receive's size.
int32_t finish(Pending *pending, const MPI_Status &status) {
  int64_t expected = pending->expected;
  delete pending;
  if (expected < 0)
    return 0;
  int received = 0;
  MPI_Get_count(&status, MPI_BYTE, &received);
  if (received != expected)
    return eert::fail("expected a message of " + std::to_string(expected) + " bytes from rank " +
                      std::to_string(status.MPI_SOURCE) + ", got " + std::to_string(received));
  return 0;
}

} // namespace

extern "C" int32_t eert_comm_isend(const void *buffer, int64_t bytes, int64_t peer, int64_t tag,
                                   uint64_t *request) {
  if (int32_t status = checkPeer(peer, false))
    return status;
  *request = 0;
  if (onDevice(buffer)) {
    uint64_t handle = 0;
    int32_t status = transport->send(buffer, bytes, peer, &handle);
    return deviceRequest(status, handle, request, 0, 0);
  }
  auto *pending = new Pending{MPI_REQUEST_NULL, -1, peer, tag};
  if (int code = MPI_Isend(buffer, static_cast<int>(bytes), MPI_BYTE, static_cast<int>(peer),
                           static_cast<int>(tag), MPI_COMM_WORLD, &pending->request)) {
    delete pending;
    return mpiFailure("MPI_Isend", code);
  }
  *request = reinterpret_cast<uint64_t>(pending);
  return 0;
}

extern "C" int32_t eert_comm_irecv(void *buffer, int64_t bytes, int64_t peer, int64_t tag,
                                   uint64_t *request) {
  if (int32_t status = checkPeer(peer, false))
    return status;
  *request = 0;
  if (onDevice(buffer)) {
    uint64_t handle = 0;
    int32_t status = transport->recv(buffer, bytes, peer, &handle);
    return deviceRequest(status, handle, request, 0, 0);
  }
  auto *pending = new Pending{MPI_REQUEST_NULL, bytes, peer, tag};
  if (int code = MPI_Irecv(buffer, static_cast<int>(bytes), MPI_BYTE, static_cast<int>(peer),
                           static_cast<int>(tag), MPI_COMM_WORLD, &pending->request)) {
    delete pending;
    return mpiFailure("MPI_Irecv", code);
  }
  *request = reinterpret_cast<uint64_t>(pending);
  return 0;
}

namespace {

/// Starts an all-reduce or one of its halves for eert_comm_wait.
int32_t startReduction(float *data, int64_t count, int64_t group, AllReduce::Phases phases,
                       uint64_t *request) {
  *request = 0;
  if (onDevice(data)) {
    using Reduction = eert::comm::DeviceTransport::Reduction;
    Reduction kind = phases == AllReduce::Phases::Both      ? Reduction::AllReduce
                     : phases == AllReduce::Phases::Scatter ? Reduction::ReduceScatter
                                                            : Reduction::AllGather;
    int64_t span = phases == AllReduce::Phases::Both      ? eert::trace::kAllReduceSpan
                   : phases == AllReduce::Phases::Scatter ? eert::trace::kReduceScatterSpan
                                                          : eert::trace::kAllGatherSpan;
    return deviceCollective(
        group, count,
        [&] {
          uint64_t started = eert::trace::now(), handle = 0;
          int32_t status = transport->start(kind, data, count, group, &handle);
          return deviceRequest(status, handle, request, span, started);
        },
        [] { return 0; });
  }
  auto reduction = std::make_unique<AllReduce>();
  if (int32_t status = reduction->start(data, count, group, phases))
    return status;
  if (reduction->comm == MPI_COMM_NULL)
    return 0; // nothing to wait for
  *request = reinterpret_cast<uint64_t>(
      new Pending{MPI_REQUEST_NULL, -1, -1, -1, std::move(reduction), eert::trace::now()});
  return 0;
}

} // namespace

extern "C" int32_t eert_comm_iall_reduce(float *data, int64_t count, int64_t group,
                                         uint64_t *request) {
  return startReduction(data, count, group, AllReduce::Phases::Both, request);
}

extern "C" int32_t eert_comm_ireduce_scatter(float *data, int64_t count, int64_t group,
                                             uint64_t *request) {
  return startReduction(data, count, group, AllReduce::Phases::Scatter, request);
}

extern "C" int32_t eert_comm_iall_gather(float *data, int64_t count, int64_t group,
                                         uint64_t *request) {
  return startReduction(data, count, group, AllReduce::Phases::Gather, request);
}

extern "C" int32_t eert_comm_wait(uint64_t *request) {
  if (*request == 0)
    return 0;
  auto *pending = reinterpret_cast<Pending *>(*request);
  *request = 0;
  if (pending->device) {
    int32_t status = transport->wait(pending->device);
    if (pending->span)
      eert::trace::record(pending->span, pending->started, eert::trace::now());
    delete pending;
    return status;
  }
  if (pending->reduction) {
    int32_t status = pending->reduction->finish();
    using Phases = AllReduce::Phases;
    Phases phases = pending->reduction->phases;
    eert::trace::record(phases == Phases::Both      ? eert::trace::kAllReduceSpan
                        : phases == Phases::Scatter ? eert::trace::kReduceScatterSpan
                                                    : eert::trace::kAllGatherSpan,
                        pending->started, eert::trace::now());
    delete pending;
    return status;
  }
  MPI_Status status;
  int code = waitWithDeadline(&pending->request, &status, [&] {
    return "rank " + std::to_string(pending->peer) +
           (pending->expected < 0 ? " to receive a message (MPI_Wait on MPI_Isend"
                                  : " to send a message (MPI_Wait on MPI_Irecv of " +
                                        std::to_string(pending->expected) + " bytes") +
           ", tag " + std::to_string(pending->tag) + ")";
  });
  if (code) {
    delete pending;
    return mpiFailure("MPI_Wait", code);
  }
  return finish(pending, status);
}

extern "C" int32_t eert_comm_test(uint64_t *request, uint64_t *done) {
  *done = 1;
  if (*request == 0)
    return 0;
  auto *pending = reinterpret_cast<Pending *>(*request);
  if (pending->device) {
    bool finished = false;
    if (int32_t status = transport->test(pending->device, finished))
      return status;
    if (!finished) {
      *done = 0;
      return 0;
    }
    return eert_comm_wait(request);
  }
  if (pending->reduction) {
    // The reduce-scatter's progress; the all-gather then runs to completion.
    int flag = 0;
    if (pending->reduction->comm != MPI_COMM_NULL)
      if (int code = MPI_Test(&pending->reduction->request, &flag, MPI_STATUS_IGNORE))
        return mpiFailure("MPI_Test", code);
    if (!flag && pending->reduction->comm != MPI_COMM_NULL) {
      *done = 0;
      return 0;
    }
    return eert_comm_wait(request); // the reduce-scatter is done: finishes at once
  }
  int flag = 0;
  MPI_Status status;
  if (int code = MPI_Test(&pending->request, &flag, &status))
    return mpiFailure("MPI_Test", code);
  if (!flag) {
    *done = 0;
    return 0;
  }
  *request = 0;
  return finish(pending, status);
}

extern "C" int32_t eert_comm_finalize(void) {
  if (!started)
    return 0;
  started = false;
  // Open MPI's MPI_Finalize waits for every rank: a peer that stopped would
  // hold this one there forever.
  if (int code = barrierWithDeadline(MPI_COMM_WORLD, 0, "MPI_Finalize"))
    return mpiFailure("MPI_Ibarrier", code);
  if (transport)
    transport->finalize();
  for (int g = 1; g <= 3; ++g)
    if (groups[g] != MPI_COMM_NULL)
      MPI_Comm_free(&groups[g]);
  if (int code = MPI_Finalize())
    return mpiFailure("MPI_Finalize", code);
  return 0;
}

extern "C" int32_t eert_comm_abort(int64_t code) {
  if (!started)
    return eert::fail("eert_comm_abort: no MPI world to abort");
  MPI_Abort(MPI_COMM_WORLD, static_cast<int>(code));
  return eert::fail("MPI_Abort returned");
}
