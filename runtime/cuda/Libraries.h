// Libraries.h - libcuda, cuBLASLt and NCCL through symbol tables filled at run
// time.
//
// A cuda binary must start on a machine without CUDA (and say so), and a cpu
// binary must never touch these libraries, so nothing here is linked: each
// library is dlopen'ed on first use and its entry points are looked up into a
// table. The headers only supply the types and signatures.
#ifndef EERT_CUDA_LIBRARIES_H
#define EERT_CUDA_LIBRARIES_H

#include <cublasLt.h>
#include <cuda.h>
#include <nccl.h>

#include <string>

namespace eert::cuda {

/// The driver API entry points the runtime calls, looked up through
/// cuGetProcAddress (so each resolves to the version of this header, as
/// cudart does). The names expand through cuda.h's versioning macros.
/// cuGraphInstantiateWithFlags by its own name: cuda.h maps
/// cuGraphInstantiate to it, but the driver's "cuGraphInstantiate" is the
/// older five-argument function at every version.
// clang-format off
#define EERT_CUDA_DRIVER_FUNCTIONS(X) \
  X(cuInit)                           \
  X(cuDriverGetVersion)               \
  X(cuGetErrorName)                   \
  X(cuGetErrorString)                 \
  X(cuDeviceGetCount)                 \
  X(cuDeviceGet)                      \
  X(cuDeviceGetName)                  \
  X(cuDeviceGetAttribute)             \
  X(cuDeviceTotalMem)                 \
  X(cuDevicePrimaryCtxRetain)         \
  X(cuDevicePrimaryCtxRelease)        \
  X(cuCtxSetCurrent)                  \
  X(cuMemGetInfo)                     \
  X(cuMemAlloc)                       \
  X(cuMemFree)                        \
  X(cuMemAllocHost)                   \
  X(cuMemFreeHost)                    \
  X(cuMemcpyHtoDAsync)                \
  X(cuMemcpyDtoHAsync)                \
  X(cuMemcpyDtoDAsync)                \
  X(cuMemsetD8Async)                  \
  X(cuStreamCreate)                   \
  X(cuStreamDestroy)                  \
  X(cuStreamSynchronize)              \
  X(cuStreamQuery)                    \
  X(cuStreamWaitEvent)                \
  X(cuEventCreate)                    \
  X(cuEventRecord)                    \
  X(cuEventQuery)                     \
  X(cuEventDestroy)                   \
  X(cuPointerGetAttribute)            \
  X(cuModuleLoadData)                 \
  X(cuModuleUnload)                   \
  X(cuModuleGetFunction)              \
  X(cuFuncSetAttribute)               \
  X(cuLaunchKernel)                   \
  X(cuStreamBeginCapture)             \
  X(cuStreamEndCapture)               \
  X(cuGraphInstantiateWithFlags)      \
  X(cuGraphLaunch)                    \
  X(cuGraphExecDestroy)               \
  X(cuGraphDestroy)
// clang-format on

/// cuBLASLt, looked up by name (its entry points are not versioned).
// clang-format off
#define EERT_CUBLASLT_FUNCTIONS(X)        \
  X(cublasLtCreate)                       \
  X(cublasLtDestroy)                      \
  X(cublasLtGetStatusString)              \
  X(cublasLtGetVersion)                   \
  X(cublasLtMatmul)                       \
  X(cublasLtMatmulDescCreate)             \
  X(cublasLtMatmulDescDestroy)            \
  X(cublasLtMatmulDescSetAttribute)       \
  X(cublasLtMatrixLayoutCreate)           \
  X(cublasLtMatrixLayoutDestroy)          \
  X(cublasLtMatmulPreferenceCreate)       \
  X(cublasLtMatmulPreferenceDestroy)      \
  X(cublasLtMatmulPreferenceSetAttribute) \
  X(cublasLtMatmulAlgoGetHeuristic)
// clang-format on

/// NCCL, looked up by name.
// clang-format off
#define EERT_NCCL_FUNCTIONS(X) \
  X(ncclGetVersion)            \
  X(ncclGetUniqueId)           \
  X(ncclCommInitRank)          \
  X(ncclCommDestroy)           \
  X(ncclCommAbort)             \
  X(ncclCommGetAsyncError)     \
  X(ncclGetErrorString)        \
  X(ncclAllReduce)             \
  X(ncclBroadcast)             \
  X(ncclReduceScatter)         \
  X(ncclAllGather)             \
  X(ncclSend)                  \
  X(ncclRecv)                  \
  X(ncclGroupStart)            \
  X(ncclGroupEnd)
// clang-format on

#define EERT_DECLARE_ENTRY(name) decltype(&::name) name = nullptr;

struct DriverApi {
  EERT_CUDA_DRIVER_FUNCTIONS(EERT_DECLARE_ENTRY)
};
struct CublasLtApi {
  EERT_CUBLASLT_FUNCTIONS(EERT_DECLARE_ENTRY)
};
struct NcclApi {
  EERT_NCCL_FUNCTIONS(EERT_DECLARE_ENTRY)
};

#undef EERT_DECLARE_ENTRY

/// Each library's table, loaded on the first call: nullptr, with `error`
/// naming the library or the missing entry point, when it cannot be. The
/// libraries are searched by soname in $EERT_CUDA_LIBRARY_PATH (a ':'-separated
/// list of folders), then where the dynamic loader looks (LD_LIBRARY_PATH, the
/// runtime's RUNPATH, the system's cache). Thread-safe; the result is kept.
const DriverApi *driverApi(std::string &error);
const CublasLtApi *cublasLtApi(std::string &error);
const NcclApi *ncclApi(std::string &error);

/// The loaded tables; only valid once the Device has started (Device.h).
const DriverApi &driver();
const CublasLtApi &cublasLt();
const NcclApi &nccl();

/// "cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)" and the like.
std::string describe(const char *call, CUresult result);
std::string describe(const char *call, cublasStatus_t status);
std::string describe(const char *call, ncclResult_t result);

/// Throws std::runtime_error with describe(call, result) unless it succeeded.
void check(const char *call, CUresult result);
void check(const char *call, cublasStatus_t status);
void check(const char *call, ncclResult_t result);

} // namespace eert::cuda

/// One checking macro per library: runs `call` (an entry point of the
/// library's table and its arguments) and throws, naming the call, unless it
/// succeeded. EERT_CU(cuMemAlloc(&p, n)) calls driver().cuMemAlloc.
#define EERT_CU(call) ::eert::cuda::check(#call, ::eert::cuda::driver().call)
#define EERT_CUBLASLT(call) ::eert::cuda::check(#call, ::eert::cuda::cublasLt().call)
#define EERT_NCCL(call) ::eert::cuda::check(#call, ::eert::cuda::nccl().call)

#endif // EERT_CUDA_LIBRARIES_H
