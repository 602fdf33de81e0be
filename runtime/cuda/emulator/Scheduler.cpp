// Scheduler.cpp - an emulated grid: blocks one after another, a block's threads as fibers.
//
// A fiber runs until it reaches a barrier: __syncthreads (all threads of the block) or a warp
// shuffle (the lanes of its mask). When no fiber can run, the barriers whose threads have all
// arrived are released; if none can be, the kernel would hang or be undefined on a GPU (a
// barrier in divergent code, a shuffle with lanes that returned) and the launch fails saying
// which. Threads run in order, or in reverse with EERT_CUDA_EMULATOR_ORDER=reverse, so that a
// race on shared memory shows one way or the other; shared memory starts as NaN bytes.
#include "cuda/emulator/Emulator.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

// The kernels' static __shared__ arrays (Shim.h puts them in this section).
extern "C" char __start_eert_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_eert_shared[] __attribute__((weak, visibility("hidden")));

namespace eert::cuda::emulator {

ThreadState *currentThread = nullptr;
BlockState currentBlock{};

namespace {

constexpr size_t kStackBytes = 256 << 10; // the attention kernels keep rows of 256 floats
constexpr unsigned kMaxThreads = 1024;

enum class State { Ready, AtBarrier, AtShuffle, Done, Failed };

struct Fiber {
  ThreadState thread;
  ucontext_t context;
  State state = State::Ready;
  // The shuffle it waits at, and its result.
  ShuffleKind kind;
  unsigned mask, size;
  int operand, width;
  uint64_t bits, result;
};

struct Block {
  const Kernel *kernel;
  void *const *params;
  ucontext_t scheduler;
  std::vector<Fiber> fibers;
  Fiber *running = nullptr;
  std::string error; // a fiber's failure
};

Block *block = nullptr;

/// Stacks for a block of fibers, kept between launches, each above a guard page.
char *stacks() {
  static char *memory = [] {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t bytes = kMaxThreads * (kStackBytes + page);
    void *mapped = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapped == MAP_FAILED)
      throw std::runtime_error("the emulator cannot map its fiber stacks");
    char *base = static_cast<char *>(mapped);
    for (unsigned i = 0; i < kMaxThreads; ++i)
      mprotect(base + i * (kStackBytes + page), page, PROT_NONE);
    return base;
  }();
  return memory;
}

std::string where() {
  const Dim3 &b = currentBlock.blockIdx;
  return "emulated kernel " + std::string(block->kernel->name) + ", block (" + std::to_string(b.x) +
         "," + std::to_string(b.y) + "," + std::to_string(b.z) + ")";
}

void fiberMain() {
  Fiber &fiber = *block->running;
  try {
    block->kernel->call(block->kernel->function, block->params);
    fiber.state = State::Done;
  } catch (const std::exception &e) {
    block->error = e.what();
    fiber.state = State::Failed;
  }
  // Returns to uc_link: the scheduler.
}

/// Back to the scheduler in `state`; returns when the scheduler resumes this fiber.
void yieldAs(State state) {
  Fiber &fiber = *block->running;
  fiber.state = state;
  asm volatile("" ::: "memory");
  swapcontext(&fiber.context, &block->scheduler);
  asm volatile("" ::: "memory");
}

bool reverseOrder() {
  static bool reverse = [] {
    const char *order = std::getenv("EERT_CUDA_EMULATOR_ORDER");
    return order && std::string(order) == "reverse";
  }();
  return reverse;
}

std::string lanes(unsigned mask) {
  std::string text;
  for (int lane = 0; lane < 32; ++lane)
    if (mask & (1u << lane))
      text += (text.empty() ? "" : ",") + std::to_string(lane);
  return text;
}

/// The source lane of `lane` for its shuffle, or -1 where it reads its own value (out of its
/// segment of `width` lanes).
int sourceLane(const Fiber &f, int lane) {
  int width = f.width, segment = lane / width * width;
  switch (f.kind) {
  case ShuffleKind::Index:
    return segment + ((f.operand % width) + width) % width;
  case ShuffleKind::Up:
    return lane - f.operand >= segment ? lane - f.operand : -1;
  case ShuffleKind::Down:
    return lane + f.operand < segment + width ? lane + f.operand : -1;
  case ShuffleKind::Xor: {
    int source = lane ^ f.operand;
    return source < segment + width ? source : -1;
  }
  }
  return -1;
}

/// Completes the shuffles whose lanes have all arrived; false if none could be.
bool releaseShuffles(Block &b) {
  bool released = false;
  unsigned threads = static_cast<unsigned>(b.fibers.size());
  for (unsigned first = 0; first < threads; first += 32) {
    unsigned arrived = 0, done = 0, waiting = 0, exists = 0, mask = 0;
    bool masksAgree = true;
    for (unsigned lane = 0; lane < 32 && first + lane < threads; ++lane) {
      const Fiber &f = b.fibers[first + lane];
      exists |= 1u << lane;
      if (f.state == State::AtShuffle) {
        if (arrived && f.mask != mask)
          masksAgree = false;
        mask = f.mask;
        arrived |= 1u << lane;
      } else if (f.state == State::Done) {
        done |= 1u << lane;
      } else {
        waiting |= 1u << lane;
      }
    }
    if (!arrived)
      continue;
    std::string warp = "warp " + std::to_string(first / 32);
    if (!masksAgree)
      throw std::runtime_error(where() + ": the lanes of " + warp +
                               " wait at shuffles with different masks");
    if (mask & ~exists)
      throw std::runtime_error(where() + ": a shuffle of " + warp + " names lanes " +
                               lanes(mask & ~exists) + ", which the block (" +
                               std::to_string(threads) + " threads) lacks");
    if (arrived & ~mask)
      throw std::runtime_error(where() + ": lanes " + lanes(arrived & ~mask) + " of " + warp +
                               " shuffle with a mask that leaves them out");
    if (mask & done)
      throw std::runtime_error(where() + ": a shuffle of " + warp + " waits for lanes " +
                               lanes(mask & done) +
                               ", which returned (undefined in CUDA: all lanes of the mask "
                               "must take part)");
    if ((arrived & mask) != mask)
      continue; // the rest are at __syncthreads: a deadlock, unless another warp moves
    for (unsigned lane = 0; lane < 32; ++lane) {
      if (!(mask & (1u << lane)))
        continue;
      Fiber &f = b.fibers[first + lane];
      int source = sourceLane(f, static_cast<int>(lane));
      if (source < 0) {
        f.result = f.bits;
        continue;
      }
      if (!(mask & (1u << source)))
        throw std::runtime_error(where() + ": lane " + std::to_string(lane) + " of " + warp +
                                 " reads lane " + std::to_string(source) +
                                 ", which is not in the shuffle's mask (undefined)");
      const Fiber &from = b.fibers[first + source];
      if (from.size != f.size)
        throw std::runtime_error(where() + ": lanes of " + warp +
                                 " shuffle values of different sizes");
      f.result = from.bits;
    }
    for (unsigned lane = 0; lane < 32; ++lane)
      if (mask & (1u << lane))
        b.fibers[first + lane].state = State::Ready;
    released = true;
  }
  return released;
}

void runBlock(Block &b, unsigned threads) {
  char *stack = stacks();
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  b.fibers.assign(threads, Fiber{});
  for (unsigned i = 0; i < threads; ++i) {
    Fiber &f = b.fibers[i];
    f.thread.threadIdx = {i, 0, 0};
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = stack + i * (kStackBytes + page) + page;
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &b.scheduler;
    makecontext(&f.context, fiberMain, 0);
  }
  bool reverse = reverseOrder();
  for (;;) {
    for (unsigned n = 0; n < threads; ++n) {
      Fiber &f = b.fibers[reverse ? threads - 1 - n : n];
      if (f.state != State::Ready)
        continue;
      b.running = &f;
      currentThread = &f.thread;
      swapcontext(&b.scheduler, &f.context);
      if (f.state == State::Failed)
        throw std::runtime_error(where() + ", thread " + std::to_string(f.thread.threadIdx.x) +
                                 ": " + b.error);
    }
    if (releaseShuffles(b))
      continue;
    unsigned done = 0, atBarrier = 0, atShuffle = 0;
    for (const Fiber &f : b.fibers) {
      done += f.state == State::Done;
      atBarrier += f.state == State::AtBarrier;
      atShuffle += f.state == State::AtShuffle;
    }
    if (done == threads)
      return;
    if (atBarrier == threads) {
      for (Fiber &f : b.fibers)
        f.state = State::Ready;
      continue;
    }
    if (atShuffle == 0)
      throw std::runtime_error(
          where() + ": __syncthreads reached by " + std::to_string(atBarrier) + " of " +
          std::to_string(threads) + " threads; the other " + std::to_string(done) +
          " returned (a barrier in divergent code: CUDA hangs or is undefined)");
    throw std::runtime_error(where() + ": deadlock: " + std::to_string(atBarrier) +
                             " threads wait at __syncthreads, " + std::to_string(atShuffle) +
                             " at warp shuffles whose other lanes never come, " +
                             std::to_string(done) + " returned");
  }
}

} // namespace

void syncThreads() {
  if (!block)
    throw std::logic_error("__syncthreads outside an emulated kernel");
  yieldAs(State::AtBarrier);
}

uint64_t shuffle(ShuffleKind kind, unsigned mask, uint64_t bits, unsigned size, int operand,
                 int width) {
  Fiber &fiber = *block->running;
  if (width <= 0 || width > 32 || (width & (width - 1)))
    kernelError("a shuffle's width must be a power of two up to 32");
  fiber.kind = kind;
  fiber.mask = mask;
  fiber.bits = bits;
  fiber.size = size;
  fiber.operand = operand;
  fiber.width = width;
  yieldAs(State::AtShuffle);
  return fiber.result;
}

void kernelError(const char *what) {
  block->error = what;
  block->running->state = State::Failed;
  swapcontext(&block->running->context, &block->scheduler);
  std::abort(); // never resumed
}

void runGrid(const Kernel &kernel, Dim3 grid, Dim3 blockDim, size_t sharedBytes,
             void *const *params) {
  if (block)
    throw std::logic_error("an emulated kernel launched from inside another");
  if (blockDim.y != 1 || blockDim.z != 1)
    throw std::runtime_error("the emulator runs 1-D blocks only");
  if (blockDim.x > kMaxThreads)
    throw std::runtime_error("a block of more than 1024 threads");
  std::vector<unsigned char> dynamicShared(sharedBytes ? sharedBytes : 1);
  Block b{&kernel, params, {}, {}, nullptr, {}};
  block = &b;
  currentBlock.blockDim = blockDim;
  currentBlock.gridDim = grid;
  currentBlock.dynamicShared = sharedBytes ? dynamicShared.data() : nullptr;
  try {
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned n = 0; n < grid.x; ++n) {
          unsigned x = reverseOrder() ? grid.x - 1 - n : n;
          currentBlock.blockIdx = {x, y, z};
          // Shared memory holds garbage at a block's start: NaN bytes, so a read of what
          // the block never wrote shows.
          if (__start_eert_shared != __stop_eert_shared)
            std::memset(__start_eert_shared, 0xff,
                        static_cast<size_t>(__stop_eert_shared - __start_eert_shared));
          std::memset(dynamicShared.data(), 0xff, dynamicShared.size());
          runBlock(b, blockDim.x);
        }
  } catch (...) {
    block = nullptr;
    currentThread = nullptr;
    throw;
  }
  block = nullptr;
  currentThread = nullptr;
}

} // namespace eert::cuda::emulator
