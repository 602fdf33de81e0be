// EmulatedLibraries.cpp - Libraries.h's tables for the emulator: the emulated driver and
// cuBLASLt in place of the loaded libraries, and no NCCL.
#include "cuda/Libraries.h"

#include <stdexcept>

namespace eert::cuda {
namespace emulator {
void fillDriver(DriverApi &api);
void fillCublasLt(CublasLtApi &api);
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

const NcclApi noNccl{};

} // namespace

const DriverApi *driverApi(std::string &) { return &driverTable(); }
const CublasLtApi *cublasLtApi(std::string &) { return &cublasLtTable(); }
const NcclApi *ncclApi(std::string &error) {
  // Several ranks would need several emulated GPUs between processes.
  error = "the emulated GPU has no NCCL (one rank only)";
  return nullptr;
}

const DriverApi &driver() { return driverTable(); }
const CublasLtApi &cublasLt() { return cublasLtTable(); }
const NcclApi &nccl() { throw std::logic_error("NCCL used on the emulated GPU, which has none"); }

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
  return std::string(call) + " failed: ncclResult_t " + std::to_string(result);
}

} // namespace eert::cuda
