// Emulator.h - what the CPU emulation of the GPU shares: kernels by signature, modules, blocks run
// as fibers.
//
// libeert_cuda_emu is libeert_cuda with the driver and cuBLASLt tables of Libraries.h filled by
// emulations (EmulatedDriver.cpp, EmulatedBlas.cpp) instead of the real libraries, and the
// kernels/*.cu compiled as C++ (Shim.h) instead of into fatbins. So every host source of the
// backend, Device.cpp and Gemm.cpp included, runs as on a GPU; the kernels run their CUDA
// semantics (barriers, warp shuffles, shared memory) on fibers, one block at a time.
#ifndef EERT_CUDA_EMULATOR_EMULATOR_H
#define EERT_CUDA_EMULATOR_EMULATOR_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace eert::cuda::emulator {

struct Dim3 {
  unsigned x, y, z;
};

/// The emulated thread running now (the scheduler sets it before resuming a fiber), and its
/// block; the kernels read them through Shim.h's threadIdx, blockIdx, blockDim and gridDim.
struct ThreadState {
  Dim3 threadIdx;
};
struct BlockState {
  Dim3 blockIdx, blockDim, gridDim;
  void *dynamicShared;
};
extern ThreadState *currentThread;
extern BlockState currentBlock;

/// The barriers a fiber waits at: every thread of the block, or the lanes of a shuffle's mask.
void syncThreads();
enum class ShuffleKind { Index, Up, Down, Xor };
uint64_t shuffle(ShuffleKind kind, unsigned mask, uint64_t bits, unsigned size, int operand,
                 int width);
/// Fails the launch from inside a kernel (CUDA would trap or be undefined).
[[noreturn]] void kernelError(const char *what);

/// A kernel as cuModuleGetFunction finds it: its parameters' sizes (the driver copies that
/// many bytes from each kernelParams entry) and a call that unpacks them as the kernel
/// declares them.
struct Kernel {
  const char *name;
  void (*function)();
  void (*call)(void (*function)(), void *const *params);
  size_t parameters;
  const size_t *sizes;
  const bool *pointers; // which parameters are pointers (must be device memory)
  unsigned maxThreads;  // __launch_bounds__, 0 without
};

template <typename... A> struct Signature {
  static constexpr size_t sizes[sizeof...(A) + 1] = {sizeof(A)..., 0};
  static constexpr bool pointers[sizeof...(A) + 1] = {std::is_pointer_v<A>..., false};
  template <size_t... I>
  static void unpack(void (*function)(A...), void *const *params, std::index_sequence<I...>) {
    // By value from each address, as the driver reads a kernel's parameter buffer: the
    // caller's variable need not have the parameter's type or alignment.
    std::tuple<std::decay_t<A>...> values;
    (std::memcpy(&std::get<I>(values), params[I], sizeof(A)), ...);
    function(std::get<I>(values)...);
  }
  static void call(void (*function)(), void *const *params) {
    unpack(reinterpret_cast<void (*)(A...)>(function), params, std::index_sequence_for<A...>{});
  }
};

template <typename... A>
Kernel kernelEntry(const char *name, void (*function)(A...), unsigned maxThreads) {
  using S = Signature<A...>;
  return {name,      reinterpret_cast<void (*)()>(function),
          &S::call,  sizeof...(A),
          S::sizes,  S::pointers,
          maxThreads};
}

/// The kernels of one kernels/*.cu: what the emulated cuModuleLoadData takes for its fatbin
/// (eert_cuda_modules, written by the build, points at one per file).
struct Module {
  static constexpr uint64_t kMagic = 0x65657274656d75ull; // "eertemu"
  uint64_t magic;
  const char *name;
  const Kernel *kernels;
  size_t count;
};

/// Runs the grid now, its blocks one after another and each block's threads as fibers on this
/// thread; `params` as cuLaunchKernel's. Throws std::runtime_error, naming the kernel and the
/// block, on what a GPU would hang on or leave undefined: a barrier some threads never reach, a
/// shuffle with lanes missing, a deadlock between them.
void runGrid(const Kernel &kernel, Dim3 grid, Dim3 block, size_t sharedBytes, void *const *params);

/// Stream order for the emulated libraries (EmulatedDriver.cpp): runs `work` now, or records
/// it into the graph `stream` (a CUstream) is capturing. Work throws std::runtime_error to fail.
void submit(void *stream, std::function<void()> work);
/// Whether `stream` is being captured (its work recorded, not run).
bool capturing(void *stream);
/// Keeps `done` pending on `stream` (work that holds it past its issue: an emulated NCCL
/// message): done(false) tests whether it finished, done(true) waits until it has. Stream and
/// event queries test it; synchronizing, waiting on an event recorded after it, or more work on
/// the stream completes it.
void hold(void *stream, std::function<bool(bool wait)> done);
/// Whether [pointer, pointer + bytes) lies in one allocation of emulated device memory.
bool isDeviceRange(const void *pointer, size_t bytes);
/// Keeps `detail` as the text cuGetErrorString gives for `result`'s next description.
int failWith(int result, const std::string &detail);

} // namespace eert::cuda::emulator

#endif // EERT_CUDA_EMULATOR_EMULATOR_H
