// EmulatedDriver.cpp - the driver API entry points of Libraries.h on host memory and fibers.
//
// One emulated device ("emulated GPU (cpu)", compute capability 9.0). Its memory is host
// memory mapped per allocation, ending at a guard page and filled with NaN bytes, so that a
// kernel running past an allocation faults and a read of memory nothing wrote shows. Every
// stream runs its work when it is issued, in order; a stream being captured records it
// instead, and refuses (invalidating the capture) what the driver refuses while capturing:
// synchronizing it, copies between the host and it. Errors come back as the driver's codes,
// with the emulator's reason as cuGetErrorString's text.
//
// The emulated NCCL's messages (EmulatedNccl.cpp) are the one exception to running at issue: a
// send or receive must hold only its own stream until the peer's counterpart runs, as on a GPU,
// or the host would block where the real backend does not. So a stream keeps the completions
// still pending on it (hold()); an event takes those of its stream when recorded. Querying
// either tests them; synchronizing, waiting on the event (cuStreamWaitEvent blocks the host, as
// the work after it runs at issue) or issuing more work on the stream completes them first.
// A capture extends, as on a GPU, to a stream made to wait on an event recorded in it, so that
// collectives on a communicator's stream are recorded with the kernels around them.
#include "cuda/Libraries.h"
#include "cuda/emulator/Emulator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using eert::cuda::emulator::Kernel;
using eert::cuda::emulator::Module;

// The driver's opaque handles, defined here.
struct CUctx_st {};
struct CUmod_st {
  const Module *module;
  std::vector<std::unique_ptr<CUfunc_st>> functions;
};
struct CUfunc_st {
  const Kernel *kernel;
  int maxDynamicShared = 48 << 10;
};
struct CUgraph_st {
  std::vector<std::function<void()>> work;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> work;
};
/// Work a stream holds past its issue: done(false) tests it, done(true) waits for it.
struct Held {
  std::function<bool(bool wait)> done;
  bool finished = false;
};
using HeldList = std::vector<std::shared_ptr<Held>>;
struct CUstream_st {
  CUgraph_st *recording = nullptr; // while captured
  bool invalidated = false;
  bool joined = false; // captured through an event of another stream's capture
  HeldList held;
};
struct CUevent_st {
  HeldList held;
  CUgraph_st *capture = nullptr; // recorded in this capture
};

namespace eert::cuda::emulator {
namespace {

constexpr int kMaxSharedOptIn = 232448; // sm_90's 227 KiB a block
constexpr size_t kNominalMemory = size_t(80) << 30;

std::recursive_mutex driverMutex;
#define EMU_LOCK std::lock_guard<std::recursive_mutex> lock(driverMutex)

bool initialized = false;
CUctx_st primaryContext;
thread_local CUcontext currentContext = nullptr; // per host thread, as the driver's
CUstream_st legacyStream;

thread_local CUresult detailResult = CUDA_SUCCESS;
thread_local std::string detail;

struct Allocation {
  size_t bytes;  // as asked
  void *mapping; // the whole mapping, guard page included
  size_t mappedBytes;
  bool device; // false: page-locked host memory (cuMemAllocHost)
};
std::map<uintptr_t, Allocation> allocations; // by start

CUresult fail(CUresult result, const std::string &why) {
  detailResult = result;
  detail = "emulated GPU: " + why;
  return result;
}

#define EMU_CHECK_INIT                                                                             \
  if (!initialized)                                                                                \
    return fail(CUDA_ERROR_NOT_INITIALIZED, "cuInit has not been called");
#define EMU_CHECK_CONTEXT                                                                          \
  EMU_CHECK_INIT                                                                                   \
  if (!currentContext)                                                                             \
    return fail(CUDA_ERROR_INVALID_CONTEXT, "no context is current to this host thread");

std::string hex(uintptr_t value) {
  char text[32];
  snprintf(text, sizeof(text), "0x%lx", static_cast<unsigned long>(value));
  return text;
}

/// The allocation holding `p` (one past its end counts when `end` is set), or nullptr.
const Allocation *allocationOf(uintptr_t p, bool end, uintptr_t *start = nullptr) {
  auto found = allocations.upper_bound(p);
  if (found == allocations.begin())
    return nullptr;
  --found;
  uintptr_t limit = found->first + found->second.bytes;
  if (p < limit || (end && p == limit)) {
    if (start)
      *start = found->first;
    return &found->second;
  }
  return nullptr;
}

bool deviceRange(uintptr_t p, size_t bytes) {
  uintptr_t start = 0;
  const Allocation *a = allocationOf(p, bytes == 0, &start);
  return a && a->device && p + bytes <= start + a->bytes;
}

CUresult checkDeviceRange(uintptr_t p, size_t bytes, const char *what) {
  if (deviceRange(p, bytes))
    return CUDA_SUCCESS;
  return fail(CUDA_ERROR_INVALID_VALUE, std::string(what) + " [" + hex(p) + ", +" +
                                            std::to_string(bytes) +
                                            ") is not within one allocation of device memory");
}

CUstream_st *streamOf(CUstream stream) { return stream ? stream : &legacyStream; }

/// Tests (or, with `wait`, completes) `held`, dropping what finished: whether none is left.
bool settle(HeldList &held, bool wait) {
  for (auto &h : held)
    if (!h->finished)
      h->finished = h->done(wait);
  held.erase(std::remove_if(held.begin(), held.end(), [](auto &h) { return h->finished; }),
             held.end());
  return held.empty();
}

/// Streams that joined a capture, detached when its stream ends it.
std::map<CUgraph_st *, std::vector<CUstream_st *>> joinedStreams;

/// What the driver refuses on a stream being captured: the capture is invalidated.
CUresult refuseIfCapturing(CUstream_st *stream, const char *what) {
  if (!stream->recording)
    return CUDA_SUCCESS;
  stream->invalidated = true;
  return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
              std::string(what) + " on a stream being captured (the capture is invalidated)");
}

CUresult run(std::function<void()> &work) {
  try {
    work();
    return CUDA_SUCCESS;
  } catch (const std::exception &e) {
    return fail(CUDA_ERROR_LAUNCH_FAILED, e.what());
  }
}

CUresult issue(CUstream stream, std::function<void()> work) {
  CUstream_st *s = streamOf(stream);
  if (s->recording) {
    s->recording->work.push_back(std::move(work));
    return CUDA_SUCCESS;
  }
  settle(s->held, true);
  return run(work);
}

// The entry points, named as Libraries.h's table names them (cuda.h's macros apply alike).
namespace entry {

CUresult cuInit(unsigned int flags) {
  EMU_LOCK;
  if (flags != 0)
    return fail(CUDA_ERROR_INVALID_VALUE, "cuInit takes flags 0");
  initialized = true;
  return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int *version) {
  if (!version)
    return fail(CUDA_ERROR_INVALID_VALUE, "null version");
  *version = CUDA_VERSION;
  return CUDA_SUCCESS;
}

const char *errorName(CUresult error) {
  switch (error) {
#define EMU_NAME(code)                                                                             \
  case code:                                                                                       \
    return #code;
    EMU_NAME(CUDA_SUCCESS)
    EMU_NAME(CUDA_ERROR_INVALID_VALUE)
    EMU_NAME(CUDA_ERROR_OUT_OF_MEMORY)
    EMU_NAME(CUDA_ERROR_NOT_INITIALIZED)
    EMU_NAME(CUDA_ERROR_INVALID_DEVICE)
    EMU_NAME(CUDA_ERROR_INVALID_CONTEXT)
    EMU_NAME(CUDA_ERROR_INVALID_IMAGE)
    EMU_NAME(CUDA_ERROR_INVALID_HANDLE)
    EMU_NAME(CUDA_ERROR_NOT_FOUND)
    EMU_NAME(CUDA_ERROR_NOT_READY)
    EMU_NAME(CUDA_ERROR_ILLEGAL_ADDRESS)
    EMU_NAME(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES)
    EMU_NAME(CUDA_ERROR_LAUNCH_FAILED)
    EMU_NAME(CUDA_ERROR_NOT_SUPPORTED)
    EMU_NAME(CUDA_ERROR_ILLEGAL_STATE)
    EMU_NAME(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED)
    EMU_NAME(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED)
#undef EMU_NAME
  default:
    return nullptr;
  }
}

CUresult cuGetErrorName(CUresult error, const char **text) {
  *text = errorName(error);
  return *text ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult error, const char **text) {
  *text = error == detailResult && !detail.empty() ? detail.c_str() : errorName(error);
  return *text ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuDeviceGetCount(int *count) {
  EMU_CHECK_INIT
  *count = 1;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  EMU_CHECK_INIT
  if (ordinal != 0)
    return fail(CUDA_ERROR_INVALID_DEVICE, "there is one device, 0");
  *device = 0;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int length, CUdevice device) {
  EMU_CHECK_INIT
  if (device != 0 || !name || length <= 0)
    return fail(CUDA_ERROR_INVALID_VALUE, "cuDeviceGetName's arguments");
  snprintf(name, static_cast<size_t>(length), "%s", "emulated GPU (cpu)");
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *value, CUdevice_attribute attribute, CUdevice device) {
  EMU_CHECK_INIT
  if (device != 0)
    return fail(CUDA_ERROR_INVALID_DEVICE, "there is one device, 0");
  switch (attribute) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
    *value = 9;
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
    *value = 0;
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
    *value = 132;
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
    *value = 1024;
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_WARP_SIZE:
    *value = 32;
    return CUDA_SUCCESS;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
    *value = kMaxSharedOptIn;
    return CUDA_SUCCESS;
  default:
    return fail(CUDA_ERROR_NOT_SUPPORTED,
                "device attribute " + std::to_string(attribute) + " is not emulated");
  }
}

CUresult cuDeviceTotalMem(size_t *bytes, CUdevice device) {
  EMU_CHECK_INIT
  if (device != 0)
    return fail(CUDA_ERROR_INVALID_DEVICE, "there is one device, 0");
  *bytes = kNominalMemory;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice device) {
  EMU_CHECK_INIT
  if (device != 0)
    return fail(CUDA_ERROR_INVALID_DEVICE, "there is one device, 0");
  *context = &primaryContext;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease(CUdevice device) {
  EMU_CHECK_INIT
  return device == 0 ? CUDA_SUCCESS : fail(CUDA_ERROR_INVALID_DEVICE, "there is one device, 0");
}

CUresult cuCtxSetCurrent(CUcontext context) {
  EMU_CHECK_INIT
  if (context && context != &primaryContext)
    return fail(CUDA_ERROR_INVALID_CONTEXT, "not the emulated device's context");
  currentContext = context;
  return CUDA_SUCCESS;
}

CUresult cuMemGetInfo(size_t *free, size_t *total) {
  EMU_LOCK;
  EMU_CHECK_CONTEXT
  size_t used = 0;
  for (const auto &[start, a] : allocations)
    used += a.device ? a.bytes : 0;
  *total = kNominalMemory;
  *free = used < kNominalMemory ? kNominalMemory - used : 0;
  return CUDA_SUCCESS;
}

/// A mapping of `bytes` rounded up to 256 (cuMemAlloc's alignment) ending at a guard page.
CUresult allocate(void **pointer, size_t bytes, bool device) {
  if (bytes == 0)
    return fail(CUDA_ERROR_INVALID_VALUE, "an allocation of 0 bytes");
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t rounded = (bytes + 255) / 256 * 256, pages = (rounded + page - 1) / page * page;
  void *mapping = mmap(nullptr, pages + page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED)
    return fail(CUDA_ERROR_OUT_OF_MEMORY, "mmap of " + std::to_string(bytes) + " bytes failed");
  char *base = static_cast<char *>(mapping);
  mprotect(base + pages, page, PROT_NONE);
  char *start = base + pages - rounded;
  std::memset(start, 0xff, rounded); // garbage: NaN as floats, -1 as integers
  allocations[reinterpret_cast<uintptr_t>(start)] = {bytes, mapping, pages + page, device};
  *pointer = start;
  return CUDA_SUCCESS;
}

CUresult release(void *pointer, bool device) {
  auto found = allocations.find(reinterpret_cast<uintptr_t>(pointer));
  if (found == allocations.end() || found->second.device != device)
    return fail(CUDA_ERROR_INVALID_VALUE,
                hex(reinterpret_cast<uintptr_t>(pointer)) + " is not the start of an allocation" +
                    (device ? " of device memory" : " of page-locked host memory"));
  munmap(found->second.mapping, found->second.mappedBytes); // a later use faults
  allocations.erase(found);
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc(CUdeviceptr *pointer, size_t bytes) {
  EMU_LOCK;
  EMU_CHECK_CONTEXT
  void *p = nullptr;
  CUresult result = allocate(&p, bytes, true);
  *pointer = reinterpret_cast<CUdeviceptr>(p);
  return result;
}

CUresult cuMemFree(CUdeviceptr pointer) {
  EMU_LOCK;
  EMU_CHECK_CONTEXT
  return release(reinterpret_cast<void *>(pointer), true);
}

CUresult cuMemAllocHost(void **pointer, size_t bytes) {
  EMU_LOCK;
  EMU_CHECK_CONTEXT
  return allocate(pointer, bytes, false);
}

CUresult cuMemFreeHost(void *pointer) {
  EMU_LOCK;
  EMU_CHECK_CONTEXT
  return release(pointer, false);
}

CUresult cuMemcpyHtoDAsync(CUdeviceptr to, const void *from, size_t bytes, CUstream stream) {
  EMU_LOCK;
  EMU_CHECK_INIT
  if (!bytes)
    return CUDA_SUCCESS;
  if (CUresult r = checkDeviceRange(to, bytes, "cuMemcpyHtoDAsync's destination"))
    return r;
  if (CUresult r = refuseIfCapturing(streamOf(stream), "a copy from pageable host memory"))
    return r;
  // From pageable memory the copy is staged before the call returns: done now.
  settle(streamOf(stream)->held, true);
  std::memcpy(reinterpret_cast<void *>(to), from, bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoHAsync(void *to, CUdeviceptr from, size_t bytes, CUstream stream) {
  EMU_LOCK;
  EMU_CHECK_INIT
  if (!bytes)
    return CUDA_SUCCESS;
  if (CUresult r = checkDeviceRange(from, bytes, "cuMemcpyDtoHAsync's source"))
    return r;
  if (CUresult r = refuseIfCapturing(streamOf(stream), "a copy to pageable host memory"))
    return r;
  settle(streamOf(stream)->held, true);
  std::memcpy(to, reinterpret_cast<const void *>(from), bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoDAsync(CUdeviceptr to, CUdeviceptr from, size_t bytes, CUstream stream) {
  EMU_LOCK;
  EMU_CHECK_INIT
  if (!bytes)
    return CUDA_SUCCESS;
  if (CUresult r = checkDeviceRange(to, bytes, "cuMemcpyDtoDAsync's destination"))
    return r;
  if (CUresult r = checkDeviceRange(from, bytes, "cuMemcpyDtoDAsync's source"))
    return r;
  if (to < from + bytes && from < to + bytes)
    return fail(CUDA_ERROR_INVALID_VALUE, "cuMemcpyDtoDAsync between overlapping ranges");
  return issue(stream, [to, from, bytes] {
    std::memcpy(reinterpret_cast<void *>(to), reinterpret_cast<const void *>(from), bytes);
  });
}

CUresult cuMemsetD8Async(CUdeviceptr to, unsigned char value, size_t count, CUstream stream) {
  EMU_LOCK;
  EMU_CHECK_INIT
  if (!count)
    return CUDA_SUCCESS;
  if (CUresult r = checkDeviceRange(to, count, "cuMemsetD8Async's destination"))
    return r;
  return issue(stream,
               [to, value, count] { std::memset(reinterpret_cast<void *>(to), value, count); });
}

CUresult cuStreamCreate(CUstream *stream, unsigned int) {
  EMU_LOCK;
  EMU_CHECK_CONTEXT
  *stream = new CUstream_st();
  return CUDA_SUCCESS;
}

CUresult cuStreamDestroy(CUstream stream) {
  EMU_LOCK;
  if (!stream)
    return fail(CUDA_ERROR_INVALID_HANDLE, "the legacy stream cannot be destroyed");
  if (stream->recording)
    return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "destroying a stream being captured");
  // What it still holds is left to finish (or never, past an aborted communicator).
  delete stream;
  return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream stream) {
  EMU_LOCK;
  EMU_CHECK_INIT
  if (CUresult r = refuseIfCapturing(streamOf(stream), "cuStreamSynchronize"))
    return r;
  settle(streamOf(stream)->held, true);
  return CUDA_SUCCESS;
}

CUresult cuStreamQuery(CUstream stream) {
  EMU_LOCK;
  EMU_CHECK_INIT
  if (CUresult r = refuseIfCapturing(streamOf(stream), "cuStreamQuery"))
    return r;
  return settle(streamOf(stream)->held, false) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult cuStreamWaitEvent(CUstream stream, CUevent event, unsigned int) {
  EMU_LOCK;
  if (!event)
    return fail(CUDA_ERROR_INVALID_HANDLE, "a null event");
  CUstream_st *s = streamOf(stream);
  if (event->capture && !s->recording) {
    s->recording = event->capture;
    s->invalidated = false;
    s->joined = true;
    joinedStreams[event->capture].push_back(s);
    return CUDA_SUCCESS;
  }
  // Every other stream's work is done when issued, but for what the event holds.
  settle(event->held, true);
  return CUDA_SUCCESS;
}

CUresult cuEventCreate(CUevent *event, unsigned int) {
  EMU_LOCK;
  EMU_CHECK_CONTEXT
  *event = new CUevent_st();
  return CUDA_SUCCESS;
}

CUresult cuEventRecord(CUevent event, CUstream stream) {
  EMU_LOCK;
  if (!event)
    return fail(CUDA_ERROR_INVALID_HANDLE, "a null event");
  CUstream_st *s = streamOf(stream);
  event->capture = s->recording;
  event->held.clear();
  if (!s->recording) {
    settle(s->held, false);
    event->held = s->held;
  }
  return CUDA_SUCCESS;
}

CUresult cuEventQuery(CUevent event) {
  EMU_LOCK;
  if (!event)
    return fail(CUDA_ERROR_INVALID_HANDLE, "a null event");
  return settle(event->held, false) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult cuEventDestroy(CUevent event) {
  EMU_LOCK;
  delete event;
  return CUDA_SUCCESS;
}

CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr pointer) {
  EMU_LOCK;
  EMU_CHECK_INIT
  if (attribute != CU_POINTER_ATTRIBUTE_MEMORY_TYPE)
    return fail(CUDA_ERROR_NOT_SUPPORTED,
                "pointer attribute " + std::to_string(attribute) + " is not emulated");
  const Allocation *a = allocationOf(pointer, false);
  if (!a) // host memory the driver never saw
    return fail(CUDA_ERROR_INVALID_VALUE, hex(pointer) + " is not memory the driver allocated");
  *static_cast<unsigned *>(data) = a->device ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
  return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  EMU_LOCK;
  EMU_CHECK_CONTEXT
  const auto *m = static_cast<const Module *>(image);
  if (!m || m->magic != Module::kMagic)
    return fail(CUDA_ERROR_INVALID_IMAGE, "not an emulator module (a real fatbin?)");
  auto *loaded = new CUmod_st{m, {}};
  for (size_t i = 0; i < m->count; ++i)
    loaded->functions.push_back(std::make_unique<CUfunc_st>(CUfunc_st{&m->kernels[i]}));
  *module = loaded;
  return CUDA_SUCCESS;
}

CUresult cuModuleUnload(CUmodule module) {
  EMU_LOCK;
  delete module;
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction *function, CUmodule module, const char *name) {
  EMU_LOCK;
  if (!module)
    return fail(CUDA_ERROR_INVALID_HANDLE, "a null module");
  for (auto &f : module->functions)
    if (std::strcmp(f->kernel->name, name) == 0) {
      *function = f.get();
      return CUDA_SUCCESS;
    }
  return fail(CUDA_ERROR_NOT_FOUND,
              std::string("no kernel ") + name + " in module " + module->module->name);
}

CUresult cuFuncSetAttribute(CUfunction function, CUfunction_attribute attribute, int value) {
  EMU_LOCK;
  if (!function)
    return fail(CUDA_ERROR_INVALID_HANDLE, "a null function");
  if (attribute == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) {
    if (value < 0 || value > kMaxSharedOptIn)
      return fail(CUDA_ERROR_INVALID_VALUE, std::to_string(value) +
                                                " bytes of dynamic shared memory exceed the "
                                                "227 KiB of sm_90");
    function->maxDynamicShared = value;
  }
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction function, unsigned int gridX, unsigned int gridY,
                        unsigned int gridZ, unsigned int blockX, unsigned int blockY,
                        unsigned int blockZ, unsigned int sharedBytes, CUstream stream,
                        void **params, void **extra) {
  EMU_LOCK;
  EMU_CHECK_INIT
  if (!stream && !currentContext)
    return fail(CUDA_ERROR_INVALID_CONTEXT, "a launch on the legacy stream without a context");
  if (!function)
    return fail(CUDA_ERROR_INVALID_HANDLE, "a null function");
  const Kernel &kernel = *function->kernel;
  std::string name = std::string("kernel ") + kernel.name;
  if (extra)
    return fail(CUDA_ERROR_NOT_SUPPORTED, name + ": `extra` parameters are not emulated");
  if (!gridX || !gridY || !gridZ || !blockX || !blockY || !blockZ || gridY > 65535 ||
      gridZ > 65535 || gridX > 0x7fffffffu || blockX > 1024 || blockY > 1024 || blockZ > 64 ||
      uint64_t(blockX) * blockY * blockZ > 1024)
    return fail(CUDA_ERROR_INVALID_VALUE,
                name + ": grid (" + std::to_string(gridX) + "," + std::to_string(gridY) + "," +
                    std::to_string(gridZ) + ") of blocks (" + std::to_string(blockX) + "," +
                    std::to_string(blockY) + "," + std::to_string(blockZ) + ")");
  unsigned threads = blockX * blockY * blockZ;
  if (kernel.maxThreads && threads > kernel.maxThreads)
    return fail(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
                name + ": " + std::to_string(threads) + " threads a block, over its " +
                    "__launch_bounds__ of " + std::to_string(kernel.maxThreads));
  if (static_cast<int>(sharedBytes) > function->maxDynamicShared)
    return fail(CUDA_ERROR_INVALID_VALUE, name + ": " + std::to_string(sharedBytes) +
                                              " bytes of dynamic shared memory, over the " +
                                              std::to_string(function->maxDynamicShared) +
                                              " allowed it");
  if (kernel.parameters && !params)
    return fail(CUDA_ERROR_INVALID_VALUE, name + ": no kernelParams");
  // Launch helpers (Device.h) end the addresses with nullptr: a count that differs from the
  // kernel's is a mismatch the real driver would not notice.
  for (size_t i = 0; i < kernel.parameters; ++i)
    if (!params[i])
      return fail(CUDA_ERROR_INVALID_VALUE, name + " takes " + std::to_string(kernel.parameters) +
                                                " parameters; the launch passed " +
                                                std::to_string(i));
  if (params && params[kernel.parameters] != nullptr)
    return fail(CUDA_ERROR_INVALID_VALUE, name + " takes " + std::to_string(kernel.parameters) +
                                              " parameters; the launch passed more");
  // The driver copies each parameter's bytes at the launch: so does this (16-byte aligned).
  std::vector<size_t> offsets(kernel.parameters);
  size_t total = 0;
  for (size_t i = 0; i < kernel.parameters; ++i) {
    offsets[i] = total;
    total += (kernel.sizes[i] + 15) / 16 * 16;
  }
  auto buffer = std::make_shared<std::vector<unsigned char>>(total + 16);
  for (size_t i = 0; i < kernel.parameters; ++i) {
    std::memcpy(buffer->data() + offsets[i], params[i], kernel.sizes[i]);
    if (!kernel.pointers[i])
      continue;
    uintptr_t p = 0;
    std::memcpy(&p, params[i], sizeof(p));
    if (p && !deviceRange(p, 0))
      return fail(CUDA_ERROR_ILLEGAL_ADDRESS, name + ": parameter " + std::to_string(i) + " is " +
                                                  hex(p) +
                                                  ", not device memory (a GPU would fault)");
  }
  Dim3 grid{gridX, gridY, gridZ}, block{blockX, blockY, blockZ};
  return issue(stream, [&kernel, buffer, offsets, grid, block, sharedBytes] {
    std::vector<void *> addresses(offsets.size() + 1, nullptr);
    for (size_t i = 0; i < offsets.size(); ++i)
      addresses[i] = buffer->data() + offsets[i];
    runGrid(kernel, grid, block, sharedBytes, addresses.data());
  });
}

CUresult cuStreamBeginCapture(CUstream stream, CUstreamCaptureMode) {
  EMU_LOCK;
  if (!stream)
    return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "capturing the legacy stream");
  if (stream->recording)
    return fail(CUDA_ERROR_ILLEGAL_STATE, "the stream is being captured already");
  stream->recording = new CUgraph_st();
  stream->invalidated = false;
  return CUDA_SUCCESS;
}

CUresult cuStreamEndCapture(CUstream stream, CUgraph *graph) {
  EMU_LOCK;
  *graph = nullptr;
  if (!stream || !stream->recording || stream->joined)
    return fail(CUDA_ERROR_ILLEGAL_STATE, "the stream is not being captured");
  std::unique_ptr<CUgraph_st> recorded(stream->recording);
  stream->recording = nullptr;
  for (CUstream_st *joined : joinedStreams[recorded.get()]) {
    joined->recording = nullptr;
    joined->joined = false;
    stream->invalidated = stream->invalidated || joined->invalidated;
  }
  joinedStreams.erase(recorded.get());
  if (stream->invalidated)
    return fail(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED,
                "the capture was invalidated by an operation it cannot hold");
  *graph = recorded.release();
  return CUDA_SUCCESS;
}

CUresult cuGraphInstantiateWithFlags(CUgraphExec *exec, CUgraph graph, unsigned long long) {
  EMU_LOCK;
  EMU_CHECK_CONTEXT
  if (!graph)
    return fail(CUDA_ERROR_INVALID_VALUE, "a null graph");
  *exec = new CUgraphExec_st{graph->work};
  return CUDA_SUCCESS;
}

CUresult cuGraphLaunch(CUgraphExec exec, CUstream stream) {
  EMU_LOCK;
  if (!exec)
    return fail(CUDA_ERROR_INVALID_HANDLE, "a null graph");
  for (const auto &work : exec->work)
    if (CUresult r = issue(stream, work))
      return r;
  return CUDA_SUCCESS;
}

CUresult cuGraphExecDestroy(CUgraphExec exec) {
  EMU_LOCK;
  delete exec;
  return CUDA_SUCCESS;
}

CUresult cuGraphDestroy(CUgraph graph) {
  EMU_LOCK;
  delete graph;
  return CUDA_SUCCESS;
}

} // namespace entry
} // namespace

void submit(void *stream, std::function<void()> work) {
  EMU_LOCK;
  CUstream_st *s = streamOf(static_cast<CUstream>(stream));
  if (s->recording) {
    s->recording->work.push_back(std::move(work));
    return;
  }
  settle(s->held, true);
  work();
}

bool capturing(void *stream) {
  EMU_LOCK;
  return streamOf(static_cast<CUstream>(stream))->recording != nullptr;
}

void hold(void *stream, std::function<bool(bool wait)> done) {
  EMU_LOCK;
  streamOf(static_cast<CUstream>(stream))
      ->held.push_back(std::make_shared<Held>(Held{std::move(done)}));
}

bool isDeviceRange(const void *pointer, size_t bytes) {
  EMU_LOCK;
  return deviceRange(reinterpret_cast<uintptr_t>(pointer), bytes);
}

int failWith(int result, const std::string &why) {
  return fail(static_cast<CUresult>(result), why);
}

void fillDriver(DriverApi &api) {
#define EMU_FILL(name) api.name = &entry::name;
  EERT_CUDA_DRIVER_FUNCTIONS(EMU_FILL)
#undef EMU_FILL
}

} // namespace eert::cuda::emulator
