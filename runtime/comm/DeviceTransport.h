// DeviceTransport.h - how Comm.cpp hands buffers in a GPU's memory to the backend.
#ifndef EERT_COMM_DEVICETRANSPORT_H
#define EERT_COMM_DEVICETRANSPORT_H

#include <mpi.h>

#include <cstdint>

namespace eert::comm {

/// Communication on backend memory the host cannot address (a GPU's, over
/// NCCL). Comm.cpp keeps the world, the groups, the deadlines and every
/// message in host memory (MPI); a backend whose memory is not the host's
/// installs a transport at eert_backend_start, and each eert_comm_* call on a
/// buffer the transport owns goes to it. Calls return 0, or 1 with
/// eert_last_error set; a started operation gives a nonzero handle for
/// wait() and test(), or 0 when there was nothing to do.
class DeviceTransport {
public:
  virtual ~DeviceTransport() = default;
  virtual bool owns(const void *buffer) = 0;
  /// eert_comm_grid built the groups: `groups[g]` is group g's MPI
  /// communicator (abi.def: 0 world, 1 TP, 2 PP, 3 DP).
  virtual int32_t groupsBuilt(const MPI_Comm groups[4]) = 0;

  /// The in-place reductions of eert_comm_iall_reduce and ZeRO-1's halves
  /// (same blocks and bits as the MPI path's).
  enum class Reduction { AllReduce, ReduceScatter, AllGather };
  virtual int32_t start(Reduction kind, float *data, int64_t count, int64_t group,
                        uint64_t *handle) = 0;
  virtual int32_t allGather(const float *input, float *output, int64_t count, int64_t group) = 0;
  virtual int32_t reduceScatter(const float *input, float *output, int64_t count,
                                int64_t group) = 0;
  virtual int32_t broadcast(void *buffer, int64_t bytes, int64_t root, int64_t group) = 0;
  /// Messages to and from world rank `peer`; a pair's messages are matched
  /// in the order they were sent (device messages carry no tag).
  virtual int32_t send(const void *buffer, int64_t bytes, int64_t peer, uint64_t *handle) = 0;
  virtual int32_t recv(void *buffer, int64_t bytes, int64_t peer, uint64_t *handle) = 0;
  /// Completes `handle` for the backend's compute (its stream waits; the
  /// host need not).
  virtual int32_t wait(uint64_t handle) = 0;
  virtual int32_t test(uint64_t handle, bool &done) = 0;
  /// Before MPI_Finalize: releases the communicators.
  virtual void finalize() = 0;
};

/// Installs `transport` (null: none); it stays owned by the caller.
void setDeviceTransport(DeviceTransport *transport);

} // namespace eert::comm

#endif // EERT_COMM_DEVICETRANSPORT_H
