// Device.h - the process's GPU: context, stream, kernels, memory, cuBLASLt
// handle.
#ifndef EERT_CUDA_DEVICE_H
#define EERT_CUDA_DEVICE_H

#include "cuda/Fault.h"
#include "cuda/Libraries.h"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace eert::cuda {

/// Makes NCCL the transport of eert_comm_* calls on device memory
/// (Nccl.cpp); eert_backend_start calls it when several ranks run.
void installNcclTransport();

/// One device per process: local rank r of a node uses device r % count
/// (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID or LOCAL_RANK),
/// with its primary context and one stream on which every kernel, copy and
/// collective of the rank runs in order.
class Device {
public:
  /// The started device; throws std::runtime_error beginning "no usable CUDA
  /// GPU: " (the library, driver or device problem) when there is none.
  static Device &get();
  /// Starts the device if it can: false with the reason in `why` otherwise.
  static bool start(std::string &why);

  CUstream stream() const { return stream_; }
  int ordinal() const { return ordinal_; }
  const std::string &name() const { return name_; }
  /// Compute capability as major * 10 + minor (90 on an H100/H200).
  int computeCapability() const { return capability_; }
  size_t totalMemory() const { return totalMemory_; }
  int multiprocessors() const { return multiprocessors_; }

  /// Device memory; allocate(0) returns nullptr. Throws on failure.
  void *allocate(size_t bytes);
  void release(void *pointer);
  /// Copies on the stream; the ones to the host wait for it.
  void copyToDevice(void *device, const void *host, size_t bytes);
  void copyToHost(void *host, const void *device, size_t bytes);
  void copyOnDevice(void *to, const void *from, size_t bytes);
  void zero(void *device, size_t bytes);
  /// Waits for the stream; with a wait limit set (eert_comm_timeout, once
  /// NCCL links this rank to others), throws past it instead of hanging on a
  /// peer that stopped.
  void synchronize();
  /// Waits for `stream` (this rank's or a communicator's) under the same limit.
  void waitFor(CUstream stream);
  void setWaitLimit(double seconds) { waitLimitSeconds_ = seconds; }
  /// Whether `pointer` is memory on a GPU (not host memory).
  bool isDeviceMemory(const void *pointer) const;

  /// A kernel of the embedded module by its (extern "C") name.
  CUfunction kernel(const char *name);
  /// Launches `name` on the stream with `args` (the addresses of its
  /// arguments); more than 48 KiB of dynamic shared memory is opted into.
  void launch(const char *name, unsigned gridX, unsigned gridY, unsigned gridZ, unsigned blockX,
              size_t sharedBytes, void **args);

  /// Stream-ordered scratch memory of at least `bytes` for the kernels of one
  /// call (the next call may reuse it: the stream orders them). Grows, never
  /// shrinks; growing waits for the stream.
  void *scratch(size_t bytes);

  /// Where kernels record bad input (Fault.h), and the first failure of a
  /// call that returns nothing; checkFaults reports and clears both.
  Fault *faultRecord() const { return fault_; }
  void recordError(std::string message);
  /// Waits for the stream; the first fault or error since the last check
  /// as a message ("" if none), cleared.
  std::string checkFaults();

  /// A flag for one eert_adamw call (set by the kernel when a weight became
  /// inf or NaN), and the number of flagged calls since the last take.
  int32_t *nonfiniteFlag();
  int32_t takeNonfiniteUpdates();

  /// Records the stream's work instead of running it (relaxed mode: the
  /// kernels, copies and cuBLASLt matmuls an entry point issues), then makes
  /// it a replayable graph; endCapture throws when the recording broke (a
  /// synchronization or a copy from the host inside it), leaving the stream
  /// as before. Scratch memory a live graph may use stays allocated until the
  /// last graph is destroyed.
  void beginCapture();
  CUgraphExec endCapture();
  void launchGraph(CUgraphExec graph);
  void destroyGraph(CUgraphExec graph);
  bool capturing() const { return capturing_; }

  /// cuBLASLt's handle and a workspace for its matmuls on this stream.
  cublasLtHandle_t blas();
  void *blasWorkspace() const { return workspace_; }
  static constexpr size_t kBlasWorkspaceBytes = 32u << 20;

private:
  Device() = default;
  void open();
  /// Throws `why`, which a recording in progress keeps: its endCapture fails
  /// even when the caller swallowed the throw.
  [[noreturn]] void refuseWhileRecording(const std::string &why);

  int ordinal_ = 0, capability_ = 0, multiprocessors_ = 0;
  std::string name_;
  size_t totalMemory_ = 0;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUstream stream_ = nullptr;
  cublasLtHandle_t blas_ = nullptr;
  void *workspace_ = nullptr;
  std::vector<CUmodule> modules_;
  std::mutex kernelsMutex_;
  std::unordered_map<std::string, CUfunction> kernels_;
  bool capturing_ = false;
  std::string recordingBroken_;
  double waitLimitSeconds_ = 0;
  int64_t liveGraphs_ = 0;
  std::vector<void *> retiredScratch_;
  void *scratch_ = nullptr;
  size_t scratchBytes_ = 0;
  Fault *fault_ = nullptr;
  std::mutex errorMutex_;
  std::string error_;
  static constexpr int32_t kNonfiniteFlags = 4096;
  int32_t *nonfiniteFlags_ = nullptr;
  int32_t nonfiniteUsed_ = 0, nonfiniteCounted_ = 0;
};

/// Launches `name` on a grid of blocks of `threads` with the given arguments
/// (each passed as its value, as the kernel declares it).
template <typename... Args>
void launchGrid(const char *name, unsigned gridX, unsigned gridY, unsigned gridZ, unsigned threads,
                size_t sharedBytes, Args... args) {
  void *addresses[] = {static_cast<void *>(&args)..., nullptr};
  Device::get().launch(name, gridX, gridY, gridZ, threads, sharedBytes, addresses);
}

/// The same on a 1-D grid.
template <typename... Args>
void launch(const char *name, unsigned blocks, unsigned threads, size_t sharedBytes, Args... args) {
  launchGrid(name, blocks, 1, 1, threads, sharedBytes, args...);
}

/// Blocks of `threads` covering n elements, capped (the kernels loop over the
/// rest).
unsigned blocksFor(int64_t n, unsigned threads = 256);
/// A block size for kernels with one block per row of `cols` values.
unsigned rowThreads(int64_t cols);

} // namespace eert::cuda

#endif // EERT_CUDA_DEVICE_H
