// EmulatedNccl.cpp - Libraries.h's NCCL table for the emulator: communicators and their
// operations over MPI, one rank a process, each with its own emulated GPU.
//
// The emulated device memory is host memory, so an operation is the MPI call on the buffers.
// MPI is the runtime's (Comm.cpp starts it before any NCCL call); every call is on the thread
// that started it (MPI_THREAD_FUNNELED).
//
// - Bootstrap: the unique id names its maker's world rank and a count of the ids it made. At
//   ncclCommInitRank the other members send their rank to the maker over MPI_COMM_WORLD, which
//   answers with the members' world ranks in rank order; the members then make their
//   communicator with MPI_Comm_create_group, collective over them alone, so inits of disjoint
//   communicators need not meet. The tags lie above kTagBase, past every tag of the runtime
//   (compiled steps from 1000, NCCL ids at 990), and differ between the ids of one maker. The
//   maker must be a member, as in Nccl.cpp. An init blocks until every member has called it:
//   Nccl.cpp's several inits inside one group (makePipelineLinks) come in one order on every
//   rank, sorted by (from, to) pair, so the first pair left of that order always has both ends
//   at it and sequential inits cannot deadlock, whatever the number of stages.
// - Collectives run at issue (in stream order, recorded into a graph being captured) as
//   MPI collectives completed there; NCCL's in-place forms MPI lacks go through a copy.
// - Completing an operation polls under the runtime's --comm-timeout, which a real GPU's stream
//   has no need of (the host polls it: Device::waitFor) but the emulated one, which runs at
//   issue, does: past it the operation fails (the communicator's asynchronous error, as NCCL's
//   for a peer gone) instead of hanging the host.
// - ncclSend and ncclRecv must not block the host: a real one holds only its stream until the
//   peer's counterpart runs, and Nccl.cpp queues a receive only when it is waited for. So each
//   is an MPI_Isend or MPI_Irecv on the communicator (a pipeline link's own, so messages of
//   different links never match) that its stream holds until done (EmulatedDriver.cpp's hold).
//
// Only what the backend uses is emulated: reductions are ncclSum on ncclFloat; the rest fails
// with ncclInvalidArgument and the reason as ncclGetErrorString's text.
#include "cuda/Libraries.h"
#include "cuda/emulator/Emulator.h"
#include "eert/eert.h"

#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

/// What a communicator's queued messages report back: the first failure.
struct AsyncState {
  ncclResult_t error = ncclSuccess;
  std::string why;
};

} // namespace

struct ncclComm {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1;
  std::shared_ptr<AsyncState> state = std::make_shared<AsyncState>();
};

namespace eert::cuda::emulator {
namespace {

/// The tags of the bootstrap messages start here (each id takes two).
constexpr int kTagBase = 1 << 28;
constexpr uint64_t kIdMagic = 0x65656e63636cull; // "eenccl"

/// The unique id's bytes.
struct Id {
  uint64_t magic;
  int32_t maker; // world rank
  int32_t unused;
  uint64_t serial; // the maker's count of ids
};
static_assert(sizeof(Id) <= sizeof(ncclUniqueId));

thread_local ncclResult_t detailResult = ncclSuccess;
thread_local std::string detail;
int groupDepth = 0;
uint64_t idsMade = 0;

ncclResult_t fail(ncclResult_t result, const std::string &why) {
  detailResult = result;
  detail = "emulated NCCL: " + why;
  return result;
}

std::string mpiError(const char *call, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    length = 0;
  return std::string(call) + " failed: " + std::string(text, length);
}

ncclResult_t mpiFailure(const char *call, int code) {
  return fail(ncclSystemError, mpiError(call, code));
}

/// Records a failure of work that ran after its call returned, for ncclCommGetAsyncError.
void failLater(AsyncState &state, ncclResult_t result, const std::string &why) {
  if (state.error == ncclSuccess) {
    state.error = result;
    state.why = why;
  }
  fail(result, why);
}

/// Completes `request` (its status in `status`), polling under --comm-timeout (0: no limit):
/// false when the limit passed first, the request then left to MPI.
bool complete(MPI_Request *request, MPI_Status *status, int &code) {
  float limit = eert_comm_timeout();
  if (limit <= 0) {
    code = MPI_Wait(request, status);
    return true;
  }
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    int done = 0;
    code = MPI_Test(request, &done, status);
    if (code != MPI_SUCCESS || done)
      return true;
    if (std::chrono::steady_clock::now() - start > std::chrono::duration<double>(limit))
      return false;
    std::this_thread::yield();
  }
}

std::string timedOut(const std::string &what, int size) {
  return "waited " + std::to_string(static_cast<int64_t>(eert_comm_timeout())) + " s for " + what +
         " on a communicator of " + std::to_string(size) +
         " ranks, which a peer never joined (--comm-timeout sets the limit)";
}

ncclResult_t requireMpi() {
  int started = 0, ended = 0;
  MPI_Initialized(&started);
  MPI_Finalized(&ended);
  if (!started || ended)
    return fail(ncclInvalidUsage, "MPI is not running (the runtime starts it under mpirun)");
  return ncclSuccess;
}

size_t typeBytes(ncclDataType_t type) {
  switch (type) {
  case ncclInt8:
  case ncclUint8:
  case ncclFloat8e4m3:
  case ncclFloat8e5m2:
    return 1;
  case ncclFloat16:
  case ncclBfloat16:
    return 2;
  case ncclInt32:
  case ncclUint32:
  case ncclFloat32:
    return 4;
  case ncclInt64:
  case ncclUint64:
  case ncclFloat64:
    return 8;
  default:
    return 0;
  }
}

/// Checks `count` elements of `type` at `pointer` are device memory MPI can count in bytes.
ncclResult_t checkBuffer(const char *what, const void *pointer, size_t count, ncclDataType_t type) {
  size_t size = typeBytes(type);
  if (!size)
    return fail(ncclInvalidArgument,
                std::string(what) + ": data type " + std::to_string(type) + " is not emulated");
  if (count > size_t(INT_MAX) / size)
    return fail(ncclInvalidArgument, std::string(what) + ": " + std::to_string(count) +
                                         " elements exceed MPI's int count of bytes");
  if (count && !isDeviceRange(pointer, count * size))
    return fail(ncclInvalidArgument,
                std::string(what) + ": the buffer is not within one allocation of device memory");
  return ncclSuccess;
}

ncclResult_t checkComm(ncclComm_t comm) {
  if (!comm || comm->comm == MPI_COMM_NULL)
    return fail(ncclInvalidArgument, "a null or destroyed communicator");
  return ncclSuccess;
}

ncclResult_t checkReduction(const char *what, ncclDataType_t type, ncclRedOp_t op) {
  if (type != ncclFloat || op != ncclSum)
    return fail(ncclInvalidArgument, std::string(what) + ": only ncclSum on ncclFloat is emulated" +
                                         " (got op " + std::to_string(op) + ", type " +
                                         std::to_string(type) + ")");
  return ncclSuccess;
}

bool overlap(const void *a, size_t aBytes, const void *b, size_t bBytes) {
  auto x = reinterpret_cast<uintptr_t>(a), y = reinterpret_cast<uintptr_t>(b);
  return x < y + bBytes && y < x + aBytes;
}

/// Runs `collective` in `stream`'s order: collective(copy, request) starts the MPI call (its
/// status), any copy of the input in `copy`, which lives until the call is done. A failure is
/// the call's when it runs now, the communicator's asynchronous error when it runs later (a
/// graph's replay); a timeout is both.
template <typename Collective>
ncclResult_t inOrder(const char *what, ncclComm_t comm, void *stream, Collective collective) {
  std::shared_ptr<AsyncState> state = comm->state;
  bool now = !capturing(stream);
  int size = comm->size;
  ncclResult_t result = ncclSuccess;
  submit(stream, [=, &result] {
    auto copy = std::make_unique<std::vector<char>>();
    MPI_Request request = MPI_REQUEST_NULL;
    int code = collective(*copy, &request);
    if (code == MPI_SUCCESS && !complete(&request, MPI_STATUS_IGNORE, code)) {
      copy.release(); // MPI may still read it
      failLater(*state, ncclRemoteError, timedOut(what, size));
      if (now) // `result` is gone by a replay
        result = ncclRemoteError;
      return;
    }
    if (code == MPI_SUCCESS)
      return;
    std::string why = mpiError(what, code);
    if (now)
      result = fail(ncclSystemError, why);
    else
      failLater(*state, ncclSystemError, why);
  });
  return result;
}

/// A send or receive of `count` elements of `buffer` with the peer on `comm`, held by `stream`
/// until MPI completes it; `start(bytes, comm, request)` starts it.
template <typename Start>
ncclResult_t message(const char *what, const void *buffer, size_t count, ncclDataType_t datatype,
                     int peer, ncclComm_t comm, void *stream, Start start) {
  if (ncclResult_t r = checkComm(comm))
    return r;
  if (ncclResult_t r =
          checkBuffer((std::string(what) + "'s buffer").c_str(), buffer, count, datatype))
    return r;
  int bytes = static_cast<int>(count * typeBytes(datatype));
  if (peer < 0 || peer >= comm->size || peer == comm->rank)
    return fail(ncclInvalidArgument, std::string(what) + ": peer " + std::to_string(peer) +
                                         " of a communicator of " + std::to_string(comm->size));
  if (capturing(stream))
    return fail(ncclInvalidUsage,
                std::string(what) + " on a stream being captured is not emulated");
  // Earlier work on the stream is done (it ran at issue) but for messages it holds, which MPI
  // orders before this one on the same communicator.
  auto request = std::make_shared<MPI_Request>(MPI_REQUEST_NULL);
  if (int code = start(bytes, comm->comm, request.get()))
    return mpiFailure(what, code);
  std::shared_ptr<AsyncState> state = comm->state;
  std::string name = what;
  int size = comm->size;
  hold(stream, [request, state, name, bytes, size](bool wait) {
    MPI_Status status;
    int done = 1, code = MPI_SUCCESS;
    if (!wait)
      code = MPI_Test(request.get(), &done, &status);
    else if (!complete(request.get(), &status, code)) {
      failLater(*state, ncclRemoteError, timedOut(name, size));
      return true; // given up: the stream's later work runs, and the error tells
    }
    if (code != MPI_SUCCESS) {
      failLater(*state, ncclSystemError, mpiError(name.c_str(), code));
      return true;
    }
    if (done && name == "ncclRecv") {
      int received = 0;
      MPI_Get_count(&status, MPI_BYTE, &received);
      if (received != bytes)
        failLater(*state, ncclInvalidUsage,
                  "ncclRecv of " + std::to_string(bytes) + " bytes matched a send of " +
                      std::to_string(received));
    }
    return done != 0;
  });
  return ncclSuccess;
}

// The entry points, named as Libraries.h's table names them.
namespace entry {

ncclResult_t ncclGetVersion(int *version) {
  if (!version)
    return fail(ncclInvalidArgument, "a null version");
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId) {
  if (!uniqueId)
    return fail(ncclInvalidArgument, "a null unique id");
  if (ncclResult_t r = requireMpi())
    return r;
  Id id{kIdMagic, 0, 0, ++idsMade};
  MPI_Comm_rank(MPI_COMM_WORLD, &id.maker);
  std::memset(uniqueId, 0, sizeof(*uniqueId));
  std::memcpy(uniqueId->internal, &id, sizeof(id));
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *newComm, int ranks, ncclUniqueId uniqueId, int rank) {
  if (!newComm)
    return fail(ncclInvalidArgument, "a null communicator");
  *newComm = nullptr;
  if (ncclResult_t r = requireMpi())
    return r;
  Id id;
  std::memcpy(&id, uniqueId.internal, sizeof(id));
  int worldRank = 0, worldSize = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &worldRank);
  MPI_Comm_size(MPI_COMM_WORLD, &worldSize);
  if (id.magic != kIdMagic || id.maker < 0 || id.maker >= worldSize)
    return fail(ncclInvalidArgument, "not a unique id of ncclGetUniqueId");
  if (ranks < 1 || ranks > worldSize || rank < 0 || rank >= ranks)
    return fail(ncclInvalidArgument, "rank " + std::to_string(rank) + " of " +
                                         std::to_string(ranks) + " in a world of " +
                                         std::to_string(worldSize));
  int *upper = nullptr, found = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &upper, &found);
  if (!found || *upper < kTagBase + 1)
    return fail(ncclSystemError,
                "MPI's largest tag is below the bootstrap's " + std::to_string(kTagBase + 1));
  int pairs = (*upper - kTagBase) / 2 + 1;
  int tag = kTagBase + static_cast<int>(id.serial % static_cast<uint64_t>(pairs)) * 2;

  // The members' world ranks by rank, from the maker; -1 first when they do not fit together.
  std::vector<int> members(ranks, -1);
  if (worldRank == id.maker) {
    bool valid = true;
    std::vector<int> senders;
    members[rank] = worldRank;
    for (int i = 1; i < ranks; ++i) {
      int entry[3]; // rank, world rank, size
      if (int code =
              MPI_Recv(entry, 3, MPI_INT, MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE))
        return mpiFailure("MPI_Recv (ncclCommInitRank)", code);
      senders.push_back(entry[1]);
      if (entry[0] < 0 || entry[0] >= ranks || members[entry[0]] >= 0 || entry[2] != ranks)
        valid = false;
      else
        members[entry[0]] = entry[1];
    }
    // Every sender waits for an answer, even when the ranks do not fit.
    if (!valid)
      members.assign(ranks, -1);
    for (int sender : senders)
      if (int code = MPI_Send(members.data(), ranks, MPI_INT, sender, tag + 1, MPI_COMM_WORLD))
        return mpiFailure("MPI_Send (ncclCommInitRank)", code);
    if (!valid)
      return fail(ncclInvalidUsage, "the members of a communicator of " + std::to_string(ranks) +
                                        " disagree on its size or repeat a rank");
  } else {
    int entry[3] = {rank, worldRank, ranks};
    if (int code = MPI_Send(entry, 3, MPI_INT, id.maker, tag, MPI_COMM_WORLD))
      return mpiFailure("MPI_Send (ncclCommInitRank)", code);
    if (int code = MPI_Recv(members.data(), ranks, MPI_INT, id.maker, tag + 1, MPI_COMM_WORLD,
                            MPI_STATUS_IGNORE))
      return mpiFailure("MPI_Recv (ncclCommInitRank)", code);
    if (members[0] < 0)
      return fail(ncclInvalidUsage, "the members of a communicator of " + std::to_string(ranks) +
                                        " disagree on its size or repeat a rank");
  }

  MPI_Group world, group;
  MPI_Comm_group(MPI_COMM_WORLD, &world);
  int code = MPI_Group_incl(world, ranks, members.data(), &group);
  MPI_Group_free(&world);
  if (code)
    return mpiFailure("MPI_Group_incl (ncclCommInitRank)", code);
  auto comm = std::make_unique<ncclComm>();
  code = MPI_Comm_create_group(MPI_COMM_WORLD, group, tag, &comm->comm);
  MPI_Group_free(&group);
  if (code)
    return mpiFailure("MPI_Comm_create_group (ncclCommInitRank)", code);
  MPI_Comm_set_errhandler(comm->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm->comm, &comm->rank);
  MPI_Comm_size(comm->comm, &comm->size);
  *newComm = comm.release();
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (!comm)
    return ncclSuccess;
  int ended = 0;
  MPI_Finalized(&ended);
  // Messages still queued complete on their own; MPI_Comm_free does not wait for them.
  if (!ended && comm->comm != MPI_COMM_NULL)
    MPI_Comm_free(&comm->comm);
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) { return entry::ncclCommDestroy(comm); }

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError) {
  if (!comm || !asyncError)
    return fail(ncclInvalidArgument, "a null communicator or result");
  *asyncError = comm->state->error;
  if (comm->state->error != ncclSuccess)
    fail(comm->state->error, comm->state->why);
  return ncclSuccess;
}

const char *ncclGetErrorString(ncclResult_t result) {
  if (result == detailResult && !detail.empty())
    return detail.c_str();
  switch (result) {
  case ncclSuccess:
    return "no error";
  case ncclUnhandledCudaError:
    return "unhandled cuda error";
  case ncclSystemError:
    return "unhandled system error";
  case ncclInternalError:
    return "internal error";
  case ncclInvalidArgument:
    return "invalid argument";
  case ncclInvalidUsage:
    return "invalid usage";
  case ncclRemoteError:
    return "remote process exited or there was a network error";
  case ncclInProgress:
    return "NCCL operation in progress";
  default:
    return "unknown result code";
  }
}

ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t stream) {
  if (ncclResult_t r = checkComm(comm))
    return r;
  if (ncclResult_t r = checkReduction("ncclAllReduce", datatype, op))
    return r;
  if (ncclResult_t r = checkBuffer("ncclAllReduce's input", sendbuff, count, datatype))
    return r;
  if (ncclResult_t r = checkBuffer("ncclAllReduce's output", recvbuff, count, datatype))
    return r;
  MPI_Comm c = comm->comm;
  int n = static_cast<int>(count);
  return inOrder("ncclAllReduce", comm, stream, [=](std::vector<char> &copy, MPI_Request *r) {
    size_t bytes = count * sizeof(float);
    if (sendbuff == recvbuff)
      return MPI_Iallreduce(MPI_IN_PLACE, recvbuff, n, MPI_FLOAT, MPI_SUM, c, r);
    const void *input = sendbuff;
    if (overlap(sendbuff, bytes, recvbuff, bytes)) {
      copy.assign(static_cast<const char *>(sendbuff), static_cast<const char *>(sendbuff) + bytes);
      input = copy.data();
    }
    return MPI_Iallreduce(input, recvbuff, n, MPI_FLOAT, MPI_SUM, c, r);
  });
}

ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount,
                               ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                               cudaStream_t stream) {
  if (ncclResult_t r = checkComm(comm))
    return r;
  if (ncclResult_t r = checkReduction("ncclReduceScatter", datatype, op))
    return r;
  size_t total = recvcount * comm->size;
  if (ncclResult_t r = checkBuffer("ncclReduceScatter's input", sendbuff, total, datatype))
    return r;
  if (ncclResult_t r = checkBuffer("ncclReduceScatter's output", recvbuff, recvcount, datatype))
    return r;
  MPI_Comm c = comm->comm;
  return inOrder("ncclReduceScatter", comm, stream, [=](std::vector<char> &copy, MPI_Request *r) {
    // MPI's in-place form reads the whole input from the output buffer; NCCL's (the output
    // being this rank's block of the input) and any other overlap go through a copy.
    const void *input = sendbuff;
    size_t bytes = total * sizeof(float);
    if (overlap(sendbuff, bytes, recvbuff, recvcount * sizeof(float))) {
      copy.assign(static_cast<const char *>(sendbuff), static_cast<const char *>(sendbuff) + bytes);
      input = copy.data();
    }
    return MPI_Ireduce_scatter_block(input, recvbuff, static_cast<int>(recvcount), MPI_FLOAT,
                                     MPI_SUM, c, r);
  });
}

ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount,
                           ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream) {
  if (ncclResult_t r = checkComm(comm))
    return r;
  size_t total = sendcount * comm->size, size = typeBytes(datatype);
  if (ncclResult_t r = checkBuffer("ncclAllGather's input", sendbuff, sendcount, datatype))
    return r;
  if (ncclResult_t r = checkBuffer("ncclAllGather's output", recvbuff, total, datatype))
    return r;
  MPI_Comm c = comm->comm;
  int rank = comm->rank, bytes = static_cast<int>(sendcount * size);
  return inOrder("ncclAllGather", comm, stream, [=](std::vector<char> &copy, MPI_Request *r) {
    auto *out = static_cast<char *>(recvbuff);
    // NCCL's in-place form (the input at this rank's block of the output) is MPI's too.
    if (sendbuff == out + size_t(rank) * bytes)
      return MPI_Iallgather(MPI_IN_PLACE, 0, MPI_BYTE, out, bytes, MPI_BYTE, c, r);
    const void *input = sendbuff;
    if (overlap(sendbuff, bytes, recvbuff, total * size)) {
      copy.assign(static_cast<const char *>(sendbuff), static_cast<const char *>(sendbuff) + bytes);
      input = copy.data();
    }
    return MPI_Iallgather(input, bytes, MPI_BYTE, out, bytes, MPI_BYTE, c, r);
  });
}

ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t datatype, int root, ncclComm_t comm,
                           cudaStream_t stream) {
  if (ncclResult_t r = checkComm(comm))
    return r;
  if (root < 0 || root >= comm->size)
    return fail(ncclInvalidArgument, "ncclBroadcast from rank " + std::to_string(root) +
                                         " of a communicator of " + std::to_string(comm->size));
  if (comm->rank == root)
    if (ncclResult_t r = checkBuffer("ncclBroadcast's input", sendbuff, count, datatype))
      return r;
  if (ncclResult_t r = checkBuffer("ncclBroadcast's output", recvbuff, count, datatype))
    return r;
  MPI_Comm c = comm->comm;
  bool sender = comm->rank == root;
  int bytes = static_cast<int>(count * typeBytes(datatype));
  return inOrder("ncclBroadcast", comm, stream, [=](std::vector<char> &, MPI_Request *r) {
    if (sender && sendbuff != recvbuff)
      std::memmove(recvbuff, sendbuff, bytes);
    return MPI_Ibcast(recvbuff, bytes, MPI_BYTE, root, c, r);
  });
}

ncclResult_t ncclSend(const void *sendbuff, size_t count, ncclDataType_t datatype, int peer,
                      ncclComm_t comm, cudaStream_t stream) {
  // From the buffer itself: the sender keeps it until the send's stream is done.
  return message("ncclSend", sendbuff, count, datatype, peer, comm, stream,
                 [=](int bytes, MPI_Comm c, MPI_Request *request) {
                   return MPI_Isend(sendbuff, bytes, MPI_BYTE, peer, 0, c, request);
                 });
}

ncclResult_t ncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype, int peer,
                      ncclComm_t comm, cudaStream_t stream) {
  return message("ncclRecv", recvbuff, count, datatype, peer, comm, stream,
                 [=](int bytes, MPI_Comm c, MPI_Request *request) {
                   return MPI_Irecv(recvbuff, bytes, MPI_BYTE, peer, 0, c, request);
                 });
}

// A group changes nothing here: every call runs (or is queued) as it comes, and the inits a
// group holds need not meet at once (the header comment).
ncclResult_t ncclGroupStart() {
  ++groupDepth;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
  if (groupDepth == 0)
    return fail(ncclInvalidUsage, "ncclGroupEnd without ncclGroupStart");
  --groupDepth;
  return ncclSuccess;
}

} // namespace entry
} // namespace

void fillNccl(NcclApi &api) {
#define EMU_FILL(name) api.name = &entry::name;
  EERT_NCCL_FUNCTIONS(EMU_FILL)
#undef EMU_FILL
}

} // namespace eert::cuda::emulator
