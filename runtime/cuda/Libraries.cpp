// Libraries.cpp - dlopen and symbol lookup for libcuda, cuBLASLt and NCCL.
#include "cuda/Libraries.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace eert::cuda {
namespace {

std::vector<std::string> searchFolders() {
  std::vector<std::string> folders;
  if (const char *path = std::getenv("EERT_CUDA_LIBRARY_PATH")) {
    std::stringstream list(path);
    for (std::string folder; std::getline(list, folder, ':');)
      if (!folder.empty())
        folders.push_back(folder);
  }
  return folders;
}

/// The first of `sonames` that opens, in the search folders then where the
/// dynamic loader looks; nullptr with every attempt's reason in `error`.
void *openLibrary(const std::vector<const char *> &sonames, std::string &error) {
  std::string reasons;
  for (const std::string &folder : searchFolders())
    for (const char *soname : sonames) {
      std::string path = folder + "/" + soname;
      if (void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL))
        return handle;
      reasons += std::string("; ") + dlerror();
    }
  for (const char *soname : sonames) {
    if (void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL))
      return handle;
    reasons += std::string("; ") + dlerror();
  }
  error = std::string("cannot load ") + sonames.front() + reasons;
  return nullptr;
}

template <typename T> bool lookup(void *handle, const char *name, T &entry, std::string &error) {
  entry = reinterpret_cast<T>(dlsym(handle, name));
  if (!entry)
    error = std::string("missing entry point ") + name;
  return entry != nullptr;
}

template <typename Api> struct Loaded {
  std::once_flag once;
  Api api;
  bool ok = false;
  std::string error;
};

Loaded<DriverApi> driverTable;
Loaded<CublasLtApi> cublasLtTable;
Loaded<NcclApi> ncclTable;

/// Why cuGetProcAddress gave no `name`: its result code by name (the stub
/// libcuda of the toolkit answers every call with CUDA_ERROR_STUB_LIBRARY),
/// or a driver older than this binary's CUDA.
std::string missingDriverEntry(const char *name, CUresult result,
                               CUdriverProcAddressQueryResult found,
                               decltype(&::cuGetErrorName) errorName) {
  if (result == CUDA_ERROR_STUB_LIBRARY) // the stub names no errors either
    return "this libcuda is the CUDA toolkit's stub (CUDA_ERROR_STUB_LIBRARY): no NVIDIA "
           "driver is installed";
  const char *text = nullptr;
  if (result != CUDA_SUCCESS)
    return std::string("cuGetProcAddress(") + name + ") failed: " +
           (errorName(result, &text) == CUDA_SUCCESS && text
                ? std::string(text)
                : "CUresult " + std::to_string(result));
  std::string version =
      std::to_string(CUDA_VERSION / 1000) + "." + std::to_string(CUDA_VERSION % 1000 / 10);
  return std::string("libcuda has no ") + name + " for CUDA " + version +
         (found == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
              ? " (the NVIDIA driver is older than this binary's CUDA)"
              : "");
}

void loadDriver(Loaded<DriverApi> &t) {
  // The driver's own library: never bundled, so only its soname is tried.
  void *handle = openLibrary({"libcuda.so.1", "libcuda.so"}, t.error);
  if (!handle)
    return;
  decltype(&::cuGetProcAddress) getProcAddress = nullptr;
  decltype(&::cuGetErrorName) errorName = nullptr;
  if (!lookup(handle, "cuGetProcAddress_v2", getProcAddress, t.error) ||
      !lookup(handle, "cuGetErrorName", errorName, t.error))
    return;
  bool ok = true;
#define EERT_LOOKUP(name)                                                                          \
  if (ok) {                                                                                        \
    void *pointer = nullptr;                                                                       \
    CUdriverProcAddressQueryResult found = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;                   \
    CUresult result =                                                                              \
        getProcAddress(#name, &pointer, CUDA_VERSION, CU_GET_PROC_ADDRESS_DEFAULT, &found);        \
    if (result != CUDA_SUCCESS || !pointer) {                                                      \
      t.error = missingDriverEntry(#name, result, found, errorName);                               \
      ok = false;                                                                                  \
    } else {                                                                                       \
      t.api.name = reinterpret_cast<decltype(t.api.name)>(pointer);                                \
    }                                                                                              \
  }
  EERT_CUDA_DRIVER_FUNCTIONS(EERT_LOOKUP)
#undef EERT_LOOKUP
  t.ok = ok;
}

// A library whose entry points are found by name: `handle`'s table `t.api`.
#define EERT_LOOKUP_BY_NAME(name) ok = ok && lookup(handle, #name, t.api.name, t.error);

void loadCublasLt(Loaded<CublasLtApi> &t) {
  // cuBLASLt's matmul API is the same in CUDA 12 and 13 for what we call.
  void *handle = openLibrary({"libcublasLt.so.13", "libcublasLt.so.12"}, t.error);
  bool ok = handle != nullptr;
  if (ok) {
    EERT_CUBLASLT_FUNCTIONS(EERT_LOOKUP_BY_NAME)
  }
  t.ok = ok;
}

void loadNccl(Loaded<NcclApi> &t) {
  void *handle = openLibrary({"libnccl.so.2"}, t.error);
  bool ok = handle != nullptr;
  if (ok) {
    EERT_NCCL_FUNCTIONS(EERT_LOOKUP_BY_NAME)
  }
  t.ok = ok;
}

#undef EERT_LOOKUP_BY_NAME

template <typename Api>
const Api *load(Loaded<Api> &t, void (*loader)(Loaded<Api> &), std::string &error) {
  std::call_once(t.once, [&] { loader(t); });
  if (!t.ok)
    error = t.error;
  return t.ok ? &t.api : nullptr;
}

template <typename Api> const Api &loaded(Loaded<Api> &t, const char *library) {
  if (!t.ok)
    throw std::logic_error(std::string(library) + " used before it was loaded");
  return t.api;
}

} // namespace

const DriverApi *driverApi(std::string &error) { return load(driverTable, loadDriver, error); }
const CublasLtApi *cublasLtApi(std::string &error) {
  return load(cublasLtTable, loadCublasLt, error);
}
const NcclApi *ncclApi(std::string &error) { return load(ncclTable, loadNccl, error); }

const DriverApi &driver() { return loaded(driverTable, "libcuda"); }
const CublasLtApi &cublasLt() { return loaded(cublasLtTable, "cuBLASLt"); }
const NcclApi &nccl() { return loaded(ncclTable, "NCCL"); }

std::string describe(const char *call, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  if (driverTable.ok) {
    driverTable.api.cuGetErrorName(result, &name);
    driverTable.api.cuGetErrorString(result, &text);
  }
  return std::string(call) + " failed: " + (name ? name : "CUresult " + std::to_string(result)) +
         (text ? std::string(" (") + text + ")" : "");
}

std::string describe(const char *call, cublasStatus_t status) {
  const char *text = cublasLtTable.ok ? cublasLtTable.api.cublasLtGetStatusString(status) : nullptr;
  return std::string(call) +
         " failed: " + (text ? std::string(text) : "cublasStatus_t " + std::to_string(status));
}

std::string describe(const char *call, ncclResult_t result) {
  const char *text = ncclTable.ok ? ncclTable.api.ncclGetErrorString(result) : nullptr;
  return std::string(call) +
         " failed: " + (text ? std::string(text) : "ncclResult_t " + std::to_string(result));
}

} // namespace eert::cuda
