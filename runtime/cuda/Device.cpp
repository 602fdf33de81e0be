// Device.cpp - starting the GPU, its memory, its kernels and their launches.
#include "cuda/Device.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>

// The kernels of runtime/cuda/kernels, compiled by nvcc for sm_90 with PTX for
// newer GPUs (cmake/EmbedFile.py writes it).
extern "C" const unsigned char eert_cuda_fatbin[];

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
  EERT_CU(cuDeviceGetAttribute(&multiprocessors_, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                               device_));
  capability_ = major * 10 + minor;
  if (capability_ < 80)
    throw std::runtime_error(name_ + " has compute capability " + std::to_string(major) + "." +
                             std::to_string(minor) + "; the kernels need 8.0 or newer (bf16)");
  EERT_CU(cuDeviceTotalMem(&totalMemory_, device_));
  EERT_CU(cuDevicePrimaryCtxRetain(&context_, device_));
  EERT_CU(cuCtxSetCurrent(context_));
  EERT_CU(cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING));
  EERT_CU(cuModuleLoadData(&module_, eert_cuda_fatbin));
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
  if (bytes)
    EERT_CU(cuMemcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(device), host, bytes, stream_));
}

void Device::copyToHost(void *host, const void *device, size_t bytes) {
  if (!bytes)
    return;
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

void Device::synchronize() { EERT_CU(cuStreamSynchronize(stream_)); }

CUfunction Device::kernel(const char *name) {
  std::lock_guard<std::mutex> lock(kernelsMutex_);
  auto [it, inserted] = kernels_.try_emplace(name, nullptr);
  if (inserted) {
    CUresult result = driver().cuModuleGetFunction(&it->second, module_, name);
    if (result != CUDA_SUCCESS) {
      kernels_.erase(it);
      throw std::runtime_error(describe("cuModuleGetFunction", result) + " for kernel " + name);
    }
  }
  return it->second;
}

void Device::launch(const char *name, unsigned gridX, unsigned gridY, unsigned blockX,
                    size_t sharedBytes, void **args) {
  CUresult result = driver().cuLaunchKernel(kernel(name), gridX, gridY, 1, blockX, 1, 1,
                                            static_cast<unsigned>(sharedBytes), stream_, args,
                                            nullptr);
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
