// Device.cpp - starting the GPU, its memory, its kernels and their launches.
#include "cuda/Device.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <thread>

// The fatbins of runtime/cuda/kernels (SASS for sm_90, PTX for newer GPUs),
// one per source file; cmake/EmbedFiles.py writes the table.
struct EmbeddedFile {
  const char *name;
  const unsigned char *bytes;
  size_t size;
};
extern "C" const EmbeddedFile eert_cuda_modules[];

namespace eert::cuda {
namespace {

int localRank() {
  for (const char *name :
       {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "LOCAL_RANK"})
    if (const char *value = std::getenv(name))
      return std::max(0, std::atoi(value));
  return 0;
}

std::once_flag startOnce;
std::unique_ptr<Device> started;
std::string startError;

} // namespace

unsigned rowThreads(int64_t cols) { return cols >= 1024 ? 1024 : cols >= 256 ? 256 : 128; }

unsigned blocksFor(int64_t n, unsigned threads) {
  int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, 65535));
}

bool Device::start(std::string &why) {
  std::call_once(startOnce, [] {
    std::string error;
    if (!driverApi(error)) {
      startError = "no usable CUDA GPU: " + error;
      return;
    }
    std::unique_ptr<Device> device(new Device());
    try {
      device->open();
      started = std::move(device);
    } catch (const std::exception &e) {
      startError = std::string("no usable CUDA GPU: ") + e.what();
    }
  });
  if (!started)
    why = startError;
  return started != nullptr;
}

Device &Device::get() {
  std::string why;
  if (!start(why))
    throw std::runtime_error(why);
  return *started;
}

void Device::open() {
  EERT_CU(cuInit(0));
  int count = 0;
  EERT_CU(cuDeviceGetCount(&count));
  if (count == 0)
    throw std::runtime_error("the driver sees no CUDA device");
  ordinal_ = localRank() % count;
  EERT_CU(cuDeviceGet(&device_, ordinal_));
  char name[256] = {};
  EERT_CU(cuDeviceGetName(name, sizeof(name), device_));
  name_ = name;
  int major = 0, minor = 0;
  EERT_CU(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device_));
  EERT_CU(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device_));
  EERT_CU(
      cuDeviceGetAttribute(&multiprocessors_, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device_));
  capability_ = major * 10 + minor;
  if (capability_ < 90)
    throw std::runtime_error(name_ + " has compute capability " + std::to_string(major) + "." +
                             std::to_string(minor) +
                             "; the kernels are built for 9.0 (sm_90) and newer");
  EERT_CU(cuDeviceTotalMem(&totalMemory_, device_));
  EERT_CU(cuDevicePrimaryCtxRetain(&context_, device_));
  EERT_CU(cuCtxSetCurrent(context_));
  EERT_CU(cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING));
  for (const EmbeddedFile *file = eert_cuda_modules; file->name; ++file) {
    CUmodule module = nullptr;
    CUresult result = driver().cuModuleLoadData(&module, file->bytes);
    if (result != CUDA_SUCCESS)
      throw std::runtime_error(describe("cuModuleLoadData", result) + " for the kernels of " +
                               file->name + ".cu");
    modules_.push_back(module);
  }
  fault_ = static_cast<Fault *>(allocate(sizeof(Fault)));
  zero(fault_, sizeof(Fault));
  nonfiniteFlags_ = static_cast<int32_t *>(allocate(sizeof(int32_t) * kNonfiniteFlags));
  zero(nonfiniteFlags_, sizeof(int32_t) * kNonfiniteFlags);
  synchronize();
}

void Device::beginCapture() {
  if (capturing_)
    throw std::runtime_error("a graph is being recorded already");
  EERT_CU(cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_RELAXED));
  capturing_ = true;
  recordingBroken_.clear();
}

void Device::refuseWhileRecording(const std::string &why) {
  if (recordingBroken_.empty())
    recordingBroken_ = why;
  throw std::runtime_error(why);
}

CUgraphExec Device::endCapture() {
  capturing_ = false;
  CUgraph graph = nullptr;
  EERT_CU(cuStreamEndCapture(stream_, &graph));
  // The refused call threw before reaching the stream, so the capture itself
  // is valid but lacks its work: replaying it would skip that work.
  if (!recordingBroken_.empty()) {
    driver().cuGraphDestroy(graph);
    std::string why;
    std::swap(why, recordingBroken_);
    throw std::runtime_error("the recording broke: " + why);
  }
  CUgraphExec exec = nullptr;
  CUresult result = driver().cuGraphInstantiateWithFlags(&exec, graph, 0);
  driver().cuGraphDestroy(graph);
  check("cuGraphInstantiateWithFlags", result);
  ++liveGraphs_;
  return exec;
}

void Device::launchGraph(CUgraphExec graph) { EERT_CU(cuGraphLaunch(graph, stream_)); }

void Device::destroyGraph(CUgraphExec graph) {
  EERT_CU(cuGraphExecDestroy(graph));
  if (--liveGraphs_ > 0 || retiredScratch_.empty())
    return;
  synchronize(); // a replay may still read the retired scratch
  for (void *retired : retiredScratch_)
    release(retired);
  retiredScratch_.clear();
}

void *Device::scratch(size_t bytes) {
  if (bytes > scratchBytes_) {
    // Growing waits for the stream, which a recording cannot: the warm-up
    // call of a shape sizes the scratch before its graph is recorded.
    if (capturing_)
      refuseWhileRecording("scratch memory would grow while a graph is recorded");
    synchronize();
    // A recorded graph keeps the address it was recorded with.
    if (liveGraphs_ > 0)
      retiredScratch_.push_back(scratch_);
    else
      release(scratch_);
    scratchBytes_ = std::max(bytes, scratchBytes_ * 2);
    scratch_ = allocate(scratchBytes_);
  }
  return scratch_;
}

void Device::recordError(std::string message) {
  std::lock_guard<std::mutex> lock(errorMutex_);
  if (error_.empty())
    error_ = std::move(message);
}

namespace {
const char *sourceName(int32_t source) {
  switch (static_cast<FaultSource>(source)) {
  case FaultSource::EmbeddingLookup:
    return "eert_embedding_lookup";
  case FaultSource::EmbeddingBackward:
    return "eert_embedding_backward";
  case FaultSource::CrossEntropy:
    return "eert_cross_entropy";
  case FaultSource::CrossEntropyBackward:
    return "eert_cross_entropy_backward";
  case FaultSource::AttentionCached:
    return "eert_attention_cached";
  case FaultSource::ExitDecision:
    return "eert_exit_decision";
  }
  return "a kernel";
}

std::string describeFault(const Fault &fault) {
  std::string where = std::string(sourceName(fault.source)) + ": ";
  std::string token = " of token " + std::to_string(fault.index);
  std::string value = std::to_string(fault.value), limit = std::to_string(fault.limit);
  switch (static_cast<FaultKind>(fault.kind)) {
  case FaultKind::Id:
    return where + "token id " + value + " at position " + std::to_string(fault.index) +
           " is outside the vocabulary [0, " + limit + ")";
  case FaultKind::Label:
    return where + "label " + value + " at position " + std::to_string(fault.index) +
           " is outside the vocabulary [0, " + limit + ")";
  case FaultKind::Position:
    return where + "position " + value + token + " is outside the KV cache [0, " + limit + ")";
  case FaultKind::Row:
    return where + "cache row " + value + token + " is outside the KV cache's " + limit + " rows";
  case FaultKind::Choice:
    return where + "token " + std::to_string(fault.index) +
           " needs temperature >= 0, top_k in [0, vocab] and 0 < top_p <= 1";
  case FaultKind::None:
    break;
  }
  return where + "fault " + std::to_string(fault.kind);
}
} // namespace

std::string Device::checkFaults() {
  Fault fault{};
  copyToHost(&fault, fault_, sizeof(Fault));
  std::string message;
  {
    std::lock_guard<std::mutex> lock(errorMutex_);
    std::swap(message, error_);
  }
  if (fault.kind != 0) {
    zero(fault_, sizeof(Fault));
    if (message.empty())
      message = describeFault(fault);
  }
  return message;
}

int32_t *Device::nonfiniteFlag() {
  if (nonfiniteUsed_ == kNonfiniteFlags)
    nonfiniteCounted_ += takeNonfiniteUpdates();
  return nonfiniteFlags_ + nonfiniteUsed_++;
}

int32_t Device::takeNonfiniteUpdates() {
  std::vector<int32_t> flags(nonfiniteUsed_);
  copyToHost(flags.data(), nonfiniteFlags_, sizeof(int32_t) * flags.size());
  zero(nonfiniteFlags_, sizeof(int32_t) * flags.size());
  int32_t count = nonfiniteCounted_;
  for (int32_t flag : flags)
    count += flag != 0;
  nonfiniteUsed_ = nonfiniteCounted_ = 0;
  return count;
}

void *Device::allocate(size_t bytes) {
  if (bytes == 0)
    return nullptr;
  CUdeviceptr pointer = 0;
  CUresult result = driver().cuMemAlloc(&pointer, bytes);
  if (result != CUDA_SUCCESS)
    throw std::runtime_error(describe("cuMemAlloc", result) + " allocating " +
                             std::to_string(bytes) + " bytes on " + name_);
  return reinterpret_cast<void *>(pointer);
}

void Device::release(void *pointer) {
  if (pointer)
    EERT_CU(cuMemFree(reinterpret_cast<CUdeviceptr>(pointer)));
}

void Device::copyToDevice(void *device, const void *host, size_t bytes) {
  // A recorded copy would read the host bytes again at each replay, long
  // after the caller's buffer is gone.
  if (capturing_)
    refuseWhileRecording("copying host memory to the GPU, which a graph being recorded cannot");
  if (bytes)
    EERT_CU(cuMemcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(device), host, bytes, stream_));
}

void Device::copyToHost(void *host, const void *device, size_t bytes) {
  if (!bytes)
    return;
  // A copy to pageable host memory returns only once done: poll for the
  // stream first, so a peer that never joined a collective is a timeout.
  synchronize();
  EERT_CU(cuMemcpyDtoHAsync(host, reinterpret_cast<CUdeviceptr>(device), bytes, stream_));
  synchronize();
}

void Device::copyOnDevice(void *to, const void *from, size_t bytes) {
  if (bytes && to != from)
    EERT_CU(cuMemcpyDtoDAsync(reinterpret_cast<CUdeviceptr>(to),
                              reinterpret_cast<CUdeviceptr>(from), bytes, stream_));
}

void Device::zero(void *device, size_t bytes) {
  if (bytes)
    EERT_CU(cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(device), 0, bytes, stream_));
}

void Device::synchronize() {
  if (capturing_)
    refuseWhileRecording("waiting for the GPU, which a graph being recorded cannot");
  waitFor(stream_);
}

void Device::waitFor(CUstream stream) {
  if (waitLimitSeconds_ <= 0) {
    EERT_CU(cuStreamSynchronize(stream));
    return;
  }
  // The stream may wait on NCCL for a peer: poll under the deadline.
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    CUresult result = driver().cuStreamQuery(stream);
    if (result == CUDA_SUCCESS)
      return;
    if (result != CUDA_ERROR_NOT_READY)
      check("cuStreamQuery", result);
    if (std::chrono::steady_clock::now() - start > std::chrono::duration<double>(waitLimitSeconds_))
      throw std::runtime_error(
          "waited " + std::to_string(static_cast<int64_t>(waitLimitSeconds_)) +
          " s for the GPU, whose stream waits on a collective or message "
          "over NCCL that a peer never joined (--comm-timeout sets the limit)");
    std::this_thread::yield();
  }
}

bool Device::isDeviceMemory(const void *pointer) const {
  unsigned type = 0;
  // Host memory the driver never saw fails the query: not the GPU's.
  return driver().cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                        reinterpret_cast<CUdeviceptr>(pointer)) == CUDA_SUCCESS &&
         type == CU_MEMORYTYPE_DEVICE;
}

CUfunction Device::kernel(const char *name) {
  std::lock_guard<std::mutex> lock(kernelsMutex_);
  auto found = kernels_.find(name);
  if (found != kernels_.end())
    return found->second;
  for (CUmodule module : modules_) {
    CUfunction function = nullptr;
    if (driver().cuModuleGetFunction(&function, module, name) == CUDA_SUCCESS)
      return kernels_[name] = function;
  }
  throw std::runtime_error(std::string("no kernel ") + name + " in the embedded modules");
}

void Device::launch(const char *name, unsigned gridX, unsigned gridY, unsigned gridZ,
                    unsigned blockX, size_t sharedBytes, void **args) {
  CUfunction function = kernel(name);
  if (sharedBytes > 48 * 1024)
    EERT_CU(cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                               static_cast<int>(sharedBytes)));
  CUresult result =
      driver().cuLaunchKernel(function, gridX, gridY, gridZ, blockX, 1, 1,
                              static_cast<unsigned>(sharedBytes), stream_, args, nullptr);
  if (result != CUDA_SUCCESS)
    throw std::runtime_error(describe("cuLaunchKernel", result) + " for kernel " + name);
}

cublasLtHandle_t Device::blas() {
  if (!blas_) {
    std::string error;
    if (!cublasLtApi(error))
      throw std::runtime_error(error);
    EERT_CUBLASLT(cublasLtCreate(&blas_));
    workspace_ = allocate(kBlasWorkspaceBytes);
  }
  return blas_;
}

} // namespace eert::cuda
