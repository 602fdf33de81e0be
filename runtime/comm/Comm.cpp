// Comm.cpp - the runtime's communication layer over MPI (point-to-point for now).
#include "cpu/Error.h"
#include "eert/eert.h"

#include <mpi.h>

#include <cstdlib>
#include <string>

namespace {

bool started = false; // MPI initialised by us
int worldRank = 0, worldSize = 1;

/// Launched by an MPI launcher (Open MPI's mpirun, or any PMI/PMIx one)?
bool launchedByMpirun() {
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(name))
      return true;
  return false;
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

} // namespace

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
  return 0;
}

extern "C" int32_t eert_comm_rank(void) { return worldRank; }
extern "C" int32_t eert_comm_size(void) { return worldSize; }

extern "C" int32_t eert_comm_send(const void *buffer, int64_t bytes, int64_t peer, int64_t tag) {
  if (int32_t status = checkPeer(peer, false))
    return status;
  if (int code = MPI_Send(buffer, static_cast<int>(bytes), MPI_BYTE, static_cast<int>(peer),
                          static_cast<int>(tag), MPI_COMM_WORLD))
    return mpiFailure("MPI_Send", code);
  return 0;
}

extern "C" int32_t eert_comm_recv(void *buffer, int64_t bytes, int64_t peer, int64_t tag,
                                  uint64_t *source) {
  if (int32_t status = checkPeer(peer, true))
    return status;
  MPI_Status status;
  int code = MPI_Recv(buffer, static_cast<int>(bytes), MPI_BYTE,
                      peer < 0 ? MPI_ANY_SOURCE : static_cast<int>(peer), static_cast<int>(tag),
                      MPI_COMM_WORLD, &status);
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

extern "C" int32_t eert_comm_isend(const void *buffer, int64_t bytes, int64_t peer, int64_t tag,
                                   uint64_t *request) {
  if (int32_t status = checkPeer(peer, false))
    return status;
  auto *pending = new MPI_Request;
  if (int code = MPI_Isend(buffer, static_cast<int>(bytes), MPI_BYTE, static_cast<int>(peer),
                           static_cast<int>(tag), MPI_COMM_WORLD, pending)) {
    delete pending;
    return mpiFailure("MPI_Isend", code);
  }
  *request = reinterpret_cast<uint64_t>(pending);
  return 0;
}

extern "C" int32_t eert_comm_wait(uint64_t *request) {
  if (*request == 0)
    return 0;
  auto *pending = reinterpret_cast<MPI_Request *>(*request);
  *request = 0;
  int code = MPI_Wait(pending, MPI_STATUS_IGNORE);
  delete pending;
  return code ? mpiFailure("MPI_Wait", code) : 0;
}

extern "C" int32_t eert_comm_finalize(void) {
  if (!started)
    return 0;
  started = false;
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
