// EmulatedLibraries.cpp - Libraries.h's tables for the emulator: the emulated driver, cuBLASLt
// and NCCL (over MPI, a process a rank) in place of the loaded libraries.
#include "cuda/Libraries.h"

namespace eert::cuda {
namespace emulator {
void fillDriver(DriverApi &api);
void fillCublasLt(CublasLtApi &api);
void fillNccl(NcclApi &api);
} // namespace emulator

namespace {

const DriverApi &driverTable() {
  static const DriverApi table = [] {
    DriverApi api;
    emulator::fillDriver(api);
    return api;
  }();
  return table;
}

const CublasLtApi &cublasLtTable() {
  static const CublasLtApi table = [] {
    CublasLtApi api;
    emulator::fillCublasLt(api);
    return api;
  }();
  return table;
}

const NcclApi &ncclTable() {
  static const NcclApi table = [] {
    NcclApi api;
    emulator::fillNccl(api);
    return api;
  }();
  return table;
}

} // namespace

const DriverApi *driverApi(std::string &) { return &driverTable(); }
const CublasLtApi *cublasLtApi(std::string &) { return &cublasLtTable(); }
const NcclApi *ncclApi(std::string &) { return &ncclTable(); }

const DriverApi &driver() { return driverTable(); }
const CublasLtApi &cublasLt() { return cublasLtTable(); }
const NcclApi &nccl() { return ncclTable(); }

// As Libraries.cpp words them.
std::string describe(const char *call, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  driver().cuGetErrorName(result, &name);
  driver().cuGetErrorString(result, &text);
  return std::string(call) + " failed: " + (name ? name : "CUresult " + std::to_string(result)) +
         (text ? std::string(" (") + text + ")" : "");
}

std::string describe(const char *call, cublasStatus_t status) {
  const char *text = cublasLt().cublasLtGetStatusString(status);
  return std::string(call) +
         " failed: " + (text ? std::string(text) : "cublasStatus_t " + std::to_string(status));
}

std::string describe(const char *call, ncclResult_t result) {
  const char *text = nccl().ncclGetErrorString(result);
  return std::string(call) +
         " failed: " + (text ? std::string(text) : "ncclResult_t " + std::to_string(result));
}

} // namespace eert::cuda
