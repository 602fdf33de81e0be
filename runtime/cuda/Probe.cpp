// Probe.cpp - eert-cuda-probe: which of libcuda, cuBLASLt and NCCL load here, and the GPU if any.
//
// Prints one line per library and one for the device; exits 0 when the
// device can run the cuda backend, 1 otherwise (lit's "cuda-gpu" feature and
// scripts/gpu-check.sh ask it first).
#include "cuda/Device.h"

#include <cstdio>
#include <string>

using namespace eert::cuda;

int main() {
  std::string error;
  if (const DriverApi *api = driverApi(error)) {
    int version = 0;
    api->cuDriverGetVersion(&version);
    std::printf("libcuda: loaded (driver API %d.%d)\n", version / 1000, version % 1000 / 10);
  } else {
    std::printf("libcuda: %s\n", error.c_str());
  }
  error.clear();
  if (const CublasLtApi *api = cublasLtApi(error))
    std::printf("cuBLASLt: loaded (version %zu)\n", api->cublasLtGetVersion());
  else
    std::printf("cuBLASLt: %s\n", error.c_str());
  error.clear();
  if (const NcclApi *api = ncclApi(error)) {
    int version = 0;
    api->ncclGetVersion(&version);
    std::printf("NCCL: loaded (version %d)\n", version);
  } else {
    std::printf("NCCL: %s\n", error.c_str());
  }
  std::string why;
  if (!Device::start(why)) {
    std::printf("device: %s\n", why.c_str());
    return 1;
  }
  Device &device = Device::get();
  std::printf("device: %s (GPU %d, compute capability %d.%d, %zu MiB, %d multiprocessors)\n",
              device.name().c_str(), device.ordinal(), device.computeCapability() / 10,
              device.computeCapability() % 10, device.totalMemory() >> 20,
              device.multiprocessors());
  return 0;
}
