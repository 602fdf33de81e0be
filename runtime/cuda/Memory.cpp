// Memory.cpp - the cuda backend's memory calls: device memory, copies on the
// rank's stream.
#include "cpu/Error.h"
#include "cuda/Device.h"
#include "cuda/Entry.h"
#include "eert/eert.h"

#include <exception>
#include <string>

using eert::cuda::Device;

namespace {

/// Runs `body` on the started device; false, with eert_last_error set, if it
/// fails.
template <typename Body> bool onDevice(const char *entry, Body &&body) {
  try {
    body(Device::get());
    return true;
  } catch (const std::exception &e) {
    eert::fail(std::string(entry) + ": " + e.what());
    return false;
  }
}

/// The same for an entry that returns nothing: its failure is also kept for
/// eert_backend_check, which the caller runs after each step.
template <typename Body> void onDeviceKept(const char *entry, Body &&body) {
  eert::cuda::guarded(entry, [&] { body(Device::get()); });
}

} // namespace

extern "C" {

const char *eert_backend_name(void) { return "cuda"; }

int32_t eert_backend_start(void) {
  std::string why;
  if (!Device::start(why))
    return eert::fail(why);
  if (eert_comm_size() == 1)
    return 0;
  // Between GPUs: collectives and pipeline messages on device memory over
  // NCCL (Nccl.cpp), one GPU per local rank.
  if (!eert::cuda::ncclApi(why))
    return eert::fail(std::to_string(eert_comm_size()) + " ranks on GPUs need NCCL: " + why);
  eert::cuda::installNcclTransport();
  Device::get().setWaitLimit(eert_comm_timeout());
  return 0;
}

void *eert_memory_allocate(int64_t bytes) {
  void *pointer = nullptr;
  if (bytes > 0)
    onDevice("eert_memory_allocate",
             [&](Device &device) { pointer = device.allocate(static_cast<size_t>(bytes)); });
  return pointer;
}

void eert_memory_free(void *pointer) {
  if (pointer)
    onDeviceKept("eert_memory_free", [&](Device &device) { device.release(pointer); });
}

void eert_memory_to_backend(void *backend, const void *host, int64_t bytes) {
  onDeviceKept("eert_memory_to_backend", [&](Device &device) {
    device.copyToDevice(backend, host, static_cast<size_t>(bytes));
  });
}

void eert_memory_to_host(void *host, const void *backend, int64_t bytes) {
  onDeviceKept("eert_memory_to_host", [&](Device &device) {
    device.copyToHost(host, backend, static_cast<size_t>(bytes));
  });
}

void eert_memory_copy(void *to, const void *from, int64_t bytes) {
  onDeviceKept("eert_memory_copy",
               [&](Device &device) { device.copyOnDevice(to, from, static_cast<size_t>(bytes)); });
}

void eert_memory_zero(void *to, int64_t bytes) {
  onDeviceKept("eert_memory_zero",
               [&](Device &device) { device.zero(to, static_cast<size_t>(bytes)); });
}

float eert_memory_load_f32(const float *from) {
  float value = 0.0f;
  onDeviceKept("eert_memory_load_f32",
               [&](Device &device) { device.copyToHost(&value, from, sizeof(float)); });
  return value;
}

void eert_memory_store_f32(float *to, float value) {
  // The value must outlive the asynchronous copy: wait for it.
  onDeviceKept("eert_memory_store_f32", [&](Device &device) {
    device.copyToDevice(to, &value, sizeof(float));
    device.synchronize();
  });
}

void eert_memory_synchronize(void) {
  onDeviceKept("eert_memory_synchronize", [](Device &device) { device.synchronize(); });
}

int32_t eert_graph_begin(void) {
  return onDevice("eert_graph_begin", [](Device &device) { device.beginCapture(); }) ? 0 : 1;
}

int32_t eert_graph_end(uint64_t *graph) {
  *graph = 0;
  return onDevice("eert_graph_end",
                  [&](Device &device) { *graph = reinterpret_cast<uint64_t>(device.endCapture()); })
             ? 0
             : 1;
}

int32_t eert_graph_launch(int64_t graph) {
  return onDevice("eert_graph_launch",
                  [&](Device &device) { device.launchGraph(reinterpret_cast<CUgraphExec>(graph)); })
             ? 0
             : 1;
}

void eert_graph_destroy(int64_t graph) {
  if (graph)
    onDeviceKept("eert_graph_destroy", [&](Device &device) {
      device.destroyGraph(reinterpret_cast<CUgraphExec>(graph));
    });
}

// The host never touches device memory: nothing to open.
void eert_memory_host_access(int64_t) {}

int32_t eert_backend_check(void) {
  std::string message;
  if (!onDevice("eert_backend_check", [&](Device &device) { message = device.checkFaults(); }))
    return 1;
  return message.empty() ? 0 : eert::fail(message);
}

} // extern "C"
