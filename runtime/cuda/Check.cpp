// Check.cpp - the libraries' failures as exceptions (shared by the loaded libraries and the emulator's).
#include "cuda/Libraries.h"

#include <stdexcept>

namespace eert::cuda {

void check(const char *call, CUresult result) {
  if (result != CUDA_SUCCESS)
    throw std::runtime_error(describe(call, result));
}
void check(const char *call, cublasStatus_t status) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(describe(call, status));
}
void check(const char *call, ncclResult_t result) {
  if (result != ncclSuccess)
    throw std::runtime_error(describe(call, result));
}

} // namespace eert::cuda
