// Nccl.cpp - the cuda backend's DeviceTransport: collectives and messages on GPU memory over NCCL.
//
// Collectives: one communicator per group (world, TP, PP, DP), made at the
// group's first collective on device memory (its members call collectives
// in the same order, so they all meet there), the unique id broadcast over
// the group's MPI communicator. Each communicator has its own stream: the
// rank's stream records an event the collective waits for, and
// eert_comm_wait makes the rank's stream wait for the collective's end, so
// a gradient all-reduce runs beside the backward kernels queued after its
// start and the host never blocks. An all-reduce is a reduce-scatter then an
// all-gather, as on the MPI path: each block is summed once, by one rank, so
// every replica gets the same bits.
//
// Messages: NCCL has no tags, and a send or receive holds its stream until
// the peer's counterpart runs. So each direction between two stages of the
// rank's pipeline gets a communicator of two ranks and a stream, made at
// eert_comm_grid (a lazily made one would need both ends at once). Every
// pair, not only neighbours: the gradients of a weight tied across stages
// (the embedding and the heads that share it) go from stage to stage. A send is
// queued when posted and a receive when waited for (or tested): the order
// ee-pipeline-step's deadlock check assumes, where a send completes once its
// receiver waits for it. A direction's messages match in the order sent.
#include "comm/DeviceTransport.h"
#include "cuda/Device.h"
#include "cuda/Entry.h"
#include "eert/eert.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace eert::cuda {
namespace {

/// Host messages that carry the pair communicators' unique ids (below the
/// compiled steps' tags, which start at 1000).
constexpr int64_t kUniqueIdTag = 990;

/// A communicator, its stream, and scratch for reductions whose blocks do
/// not divide the data (reused: the stream orders its operations).
struct Channel {
  ncclComm_t comm = nullptr;
  CUstream stream = nullptr;
  int rank = 0, size = 1;
  float *scratch = nullptr;
  size_t scratchFloats = 0;
  /// Receives posted on this link and not queued yet, in the order posted.
  std::deque<uint64_t> unqueuedReceives;
};

/// An event recorded on `stream` now.
CUevent recordOn(CUstream stream) {
  CUevent event = nullptr;
  EERT_CU(cuEventCreate(&event, CU_EVENT_DISABLE_TIMING));
  EERT_CU(cuEventRecord(event, stream));
  return event;
}

/// `later` waits for what `earlier` has queued so far.
void follow(CUstream later, CUstream earlier) {
  CUevent event = recordOn(earlier);
  EERT_CU(cuStreamWaitEvent(later, event, 0));
  EERT_CU(cuEventDestroy(event)); // released once the wait is done
}

class NcclTransport final : public eert::comm::DeviceTransport {
public:
  bool owns(const void *buffer) override { return Device::get().isDeviceMemory(buffer); }

  int32_t groupsBuilt(const MPI_Comm groups[4]) override {
    return guardedStatus("eert_comm_grid (NCCL)", [&] {
      release();
      std::copy(groups, groups + 4, mpi_);
      makePipelineLinks();
    });
  }

  int32_t start(Reduction kind, float *data, int64_t count, int64_t group,
                uint64_t *handle) override {
    *handle = 0;
    return guardedStatus("eert_comm_iall_reduce (NCCL)", [&] {
      Channel &ch = groupChannel(group);
      if (ch.size == 1)
        return;
      follow(ch.stream, Device::get().stream());
      size_t block = (count + ch.size - 1) / ch.size, whole = block * ch.size;
      float *buffer = data;
      if (whole != static_cast<size_t>(count)) {
        buffer = scratch(ch, whole);
        EERT_CU(cuMemcpyDtoDAsync(address(buffer), address(data), bytes(count), ch.stream));
        EERT_CU(cuMemsetD8Async(address(buffer + count), 0, bytes(whole - count), ch.stream));
      }
      float *mine = buffer + ch.rank * block;
      if (kind != Reduction::AllGather)
        EERT_NCCL(ncclReduceScatter(buffer, mine, block, ncclFloat, ncclSum, ch.comm, ch.stream));
      if (kind != Reduction::ReduceScatter)
        EERT_NCCL(ncclAllGather(mine, buffer, block, ncclFloat, ch.comm, ch.stream));
      if (buffer != data) {
        // Back: all of it, or (a reduce-scatter) this rank's block.
        size_t first = kind == Reduction::ReduceScatter ? ch.rank * block : 0;
        size_t last = kind == Reduction::ReduceScatter ? std::min<size_t>(count, first + block)
                                                       : static_cast<size_t>(count);
        if (last > first)
          EERT_CU(cuMemcpyDtoDAsync(address(data + first), address(buffer + first),
                                    bytes(last - first), ch.stream));
      }
      *handle = add({&ch, recordOn(ch.stream)});
    });
  }

  int32_t allGather(const float *input, float *output, int64_t count, int64_t group) override {
    return blocking("eert_comm_all_gather (NCCL)", group, input, output, count, [&](Channel &ch) {
      EERT_NCCL(ncclAllGather(input, output, count, ncclFloat, ch.comm, ch.stream));
    });
  }

  int32_t reduceScatter(const float *input, float *output, int64_t count, int64_t group) override {
    return blocking("eert_comm_reduce_scatter (NCCL)", group, input, output, count,
                    [&](Channel &ch) {
                      EERT_NCCL(ncclReduceScatter(input, output, count, ncclFloat, ncclSum, ch.comm,
                                                  ch.stream));
                    });
  }

  int32_t broadcast(void *buffer, int64_t byteCount, int64_t root, int64_t group) override {
    return blocking("eert_comm_broadcast (NCCL)", group, nullptr, nullptr, 0, [&](Channel &ch) {
      EERT_NCCL(ncclBroadcast(buffer, buffer, byteCount, ncclUint8, static_cast<int>(root), ch.comm,
                              ch.stream));
    });
  }

  int32_t send(const void *buffer, int64_t byteCount, int64_t peer, uint64_t *handle) override {
    *handle = 0;
    return guardedStatus("eert_comm_isend (NCCL)", [&] {
      Channel &ch = link(eert_comm_rank(), peer);
      follow(ch.stream, Device::get().stream());
      EERT_NCCL(ncclSend(buffer, byteCount, ncclUint8, 1, ch.comm, ch.stream));
      *handle = add({&ch, recordOn(ch.stream)});
    });
  }

  int32_t recv(void *buffer, int64_t byteCount, int64_t peer, uint64_t *handle) override {
    *handle = 0;
    return guardedStatus("eert_comm_irecv (NCCL)", [&] {
      Channel &ch = link(peer, eert_comm_rank());
      *handle = add({&ch, nullptr, buffer, byteCount});
      ch.unqueuedReceives.push_back(*handle);
    });
  }

  int32_t wait(uint64_t handle) override {
    return guardedStatus("eert_comm_wait (NCCL)", [&] {
      auto found = operations_.find(handle);
      if (found == operations_.end())
        throw std::runtime_error("no device operation " + std::to_string(handle));
      queue(found->second);
      Operation op = found->second;
      operations_.erase(found);
      EERT_CU(cuStreamWaitEvent(Device::get().stream(), op.done, 0));
      EERT_CU(cuEventDestroy(op.done));
      ncclResult_t state = ncclSuccess;
      EERT_NCCL(ncclCommGetAsyncError(op.channel->comm, &state));
      check("NCCL (asynchronous)", state);
    });
  }

  int32_t test(uint64_t handle, bool &done) override {
    return guardedStatus("eert_comm_test (NCCL)", [&] {
      auto found = operations_.find(handle);
      if (found == operations_.end())
        throw std::runtime_error("no device operation " + std::to_string(handle));
      queue(found->second);
      CUresult result = driver().cuEventQuery(found->second.done);
      if (result != CUDA_ERROR_NOT_READY)
        check("cuEventQuery", result);
      done = result == CUDA_SUCCESS;
    });
  }

  void finalize() override {
    guardedStatus("eert_comm_finalize (NCCL)", [&] { release(); });
  }

private:
  /// A started operation; a receive is queued (its `done` recorded) when
  /// first waited for or tested.
  struct Operation {
    Channel *channel = nullptr;
    CUevent done = nullptr;
    void *receiveInto = nullptr;
    int64_t receiveBytes = 0;
  };

  static CUdeviceptr address(const void *pointer) { return reinterpret_cast<CUdeviceptr>(pointer); }
  static size_t bytes(size_t floats) { return floats * sizeof(float); }

  uint64_t add(Operation op) {
    operations_[next_] = op;
    return next_++;
  }

  /// Queues `op` if it is a receive not queued yet, after the link's
  /// receives posted before it: messages match in the order sent, so a
  /// receive waited for out of its posting order must not take an earlier one's.
  void queue(Operation &op) {
    Channel &ch = *op.channel;
    while (!op.done) {
      if (ch.unqueuedReceives.empty())
        throw std::runtime_error("a receive missing from its link's queue");
      Operation &next = operations_.at(ch.unqueuedReceives.front());
      follow(ch.stream, Device::get().stream());
      EERT_NCCL(ncclRecv(next.receiveInto, next.receiveBytes, ncclUint8, 0, ch.comm, ch.stream));
      next.done = recordOn(ch.stream);
      ch.unqueuedReceives.pop_front();
    }
  }

  float *scratch(Channel &ch, size_t floats) {
    if (floats > ch.scratchFloats) {
      // Earlier operations on the stream may still read the old scratch.
      if (ch.scratch)
        retired_.push_back(ch.scratch);
      ch.scratchFloats = std::max(floats, 2 * ch.scratchFloats);
      ch.scratch = static_cast<float *>(Device::get().allocate(bytes(ch.scratchFloats)));
    }
    return ch.scratch;
  }

  /// A blocking collective from `input` to `output` (count floats per rank):
  /// the rank's stream waits for it; alone, the input is the output.
  template <typename Run>
  int32_t blocking(const char *entry, int64_t group, const float *input, float *output,
                   int64_t count, Run run) {
    return guardedStatus(entry, [&] {
      Channel &ch = groupChannel(group);
      Device &device = Device::get();
      if (ch.size == 1) {
        if (input)
          device.copyOnDevice(output, input, bytes(count));
        return;
      }
      follow(ch.stream, device.stream());
      run(ch);
      follow(device.stream(), ch.stream);
    });
  }

  Channel &groupChannel(int64_t group) {
    if (group < 0 || group > 3)
      throw std::runtime_error("no communication group " + std::to_string(group));
    Channel &ch = groups_[group];
    if (ch.comm)
      return ch;
    MPI_Comm comm = group == 0 ? MPI_COMM_WORLD : mpi_[group];
    if (comm == MPI_COMM_NULL)
      throw std::runtime_error("communication group " + std::to_string(group) +
                               " used before eert_comm_grid");
    MPI_Comm_rank(comm, &ch.rank);
    MPI_Comm_size(comm, &ch.size);
    if (ch.size == 1)
      return ch;
    ncclUniqueId id{};
    if (ch.rank == 0)
      EERT_NCCL(ncclGetUniqueId(&id));
    if (eert_comm_broadcast(&id, sizeof(id), 0, group) != 0)
      throw std::runtime_error(std::string("sharing the NCCL id: ") + eert_last_error());
    EERT_NCCL(ncclCommInitRank(&ch.comm, ch.size, id, ch.rank));
    EERT_CU(cuStreamCreate(&ch.stream, CU_STREAM_NON_BLOCKING));
    return ch;
  }

  Channel &link(int64_t from, int64_t to) {
    auto found = links_.find({from, to});
    if (found == links_.end())
      throw std::runtime_error("no NCCL link from rank " + std::to_string(from) + " to rank " +
                               std::to_string(to) +
                               ": messages in GPU memory go between stages of one pipeline");
    return found->second;
  }

  /// Both directions to every other stage of the rank's pipeline, all ranks
  /// in one order (sorted by (from, to)) inside one NCCL group.
  void makePipelineLinks() {
    constexpr int64_t kPipelineGroup = 2;
    int64_t self = eert_comm_rank();
    int stages = 1;
    if (mpi_[kPipelineGroup] != MPI_COMM_NULL)
      MPI_Comm_size(mpi_[kPipelineGroup], &stages);
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (int offset = 1 - stages; offset < stages; ++offset) {
      int64_t peer = eert_comm_group_peer(kPipelineGroup, offset);
      if (peer >= 0 && peer != self) {
        pairs.push_back({self, peer});
        pairs.push_back({peer, self});
      }
    }
    if (pairs.empty())
      return;
    std::sort(pairs.begin(), pairs.end());
    std::vector<ncclUniqueId> ids(pairs.size());
    std::vector<uint64_t> requests(pairs.size(), 0);
    for (size_t i = 0; i < pairs.size(); ++i) {
      auto [from, to] = pairs[i];
      int32_t status = 0;
      if (from == self) {
        EERT_NCCL(ncclGetUniqueId(&ids[i]));
        status = eert_comm_isend(&ids[i], sizeof(ncclUniqueId), to, kUniqueIdTag, &requests[i]);
      } else {
        status = eert_comm_irecv(&ids[i], sizeof(ncclUniqueId), from, kUniqueIdTag, &requests[i]);
      }
      if (status != 0)
        throw std::runtime_error(std::string("sharing an NCCL id: ") + eert_last_error());
    }
    for (uint64_t &request : requests)
      if (eert_comm_wait(&request) != 0)
        throw std::runtime_error(std::string("sharing an NCCL id: ") + eert_last_error());
    EERT_NCCL(ncclGroupStart());
    for (size_t i = 0; i < pairs.size(); ++i) {
      Channel &ch = links_[pairs[i]];
      ch.size = 2;
      ch.rank = pairs[i].first == self ? 0 : 1;
      ncclResult_t result = nccl().ncclCommInitRank(&ch.comm, 2, ids[i], ch.rank);
      if (result != ncclSuccess) {
        nccl().ncclGroupEnd();
        check("ncclCommInitRank", result);
      }
    }
    EERT_NCCL(ncclGroupEnd());
    for (auto &[pair, ch] : links_)
      EERT_CU(cuStreamCreate(&ch.stream, CU_STREAM_NON_BLOCKING));
  }

  /// Destroys the communicators and their streams once the rank's work is
  /// done; a communicator whose stream still waits past the limit (a send
  /// no peer received) is aborted instead.
  void release() {
    Device &device = Device::get();
    device.synchronize();
    auto drop = [&](Channel &ch) {
      bool stuck = false;
      if (ch.stream) {
        try {
          device.waitFor(ch.stream);
        } catch (const std::exception &) {
          stuck = true;
        }
      }
      if (ch.comm && stuck)
        nccl().ncclCommAbort(ch.comm);
      else if (ch.comm)
        EERT_NCCL(ncclCommDestroy(ch.comm));
      if (ch.stream)
        EERT_CU(cuStreamDestroy(ch.stream));
      device.release(ch.scratch);
      ch = Channel{};
    };
    for (Channel &ch : groups_)
      drop(ch);
    for (auto &[pair, ch] : links_)
      drop(ch);
    links_.clear();
    for (float *old : retired_)
      device.release(old);
    retired_.clear();
    for (auto &[handle, op] : operations_)
      if (op.done)
        driver().cuEventDestroy(op.done);
    operations_.clear();
  }

  MPI_Comm mpi_[4] = {MPI_COMM_NULL, MPI_COMM_NULL, MPI_COMM_NULL, MPI_COMM_NULL};
  Channel groups_[4];
  std::map<std::pair<int64_t, int64_t>, Channel> links_; // (from, to) world ranks
  std::unordered_map<uint64_t, Operation> operations_;
  uint64_t next_ = 1;
  std::vector<float *> retired_;
};

} // namespace

/// Installs NCCL as the transport of GPU buffers (several ranks: Memory.cpp).
void installNcclTransport() {
  static NcclTransport transport;
  eert::comm::setDeviceTransport(&transport);
}

} // namespace eert::cuda
