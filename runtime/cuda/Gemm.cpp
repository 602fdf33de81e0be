// Gemm.cpp - cuBLASLt matmul plans, made once per shape and kept.
#include "cuda/Gemm.h"

#include "cuda/Device.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

namespace eert::cuda {
namespace {

using Key =
    std::tuple<int, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, bool>;

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

/// The largest power of two up to 256 dividing every pointer (cuBLASLt's
/// heuristic picks kernels for the alignment it is told).
int alignmentOf(const void *a, const void *b, const void *c) {
  uintptr_t bits = reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b) |
                   reinterpret_cast<uintptr_t>(c) | 256;
  return static_cast<int>(bits & (~bits + 1));
}

bool allowTF32() {
  const char *value = std::getenv("EERT_CUDA_TF32");
  return value && std::string(value) == "1";
}

Plan makePlan(GemmTypes types, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
              int64_t lda, int64_t ldb, int64_t ldc, int alignment) {
  Device &device = Device::get();
  cublasLtHandle_t handle = device.blas();
  cudaDataType_t factor = types == GemmTypes::F32 ? CUDA_R_32F : CUDA_R_16BF;
  cudaDataType_t result = types == GemmTypes::BF16 ? CUDA_R_16BF : CUDA_R_32F;
  cublasComputeType_t compute =
      types == GemmTypes::F32 && allowTF32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  Plan plan;
  EERT_CUBLASLT(cublasLtMatmulDescCreate(&plan.desc, compute, CUDA_R_32F));
  cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  EERT_CUBLASLT(
      cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)));
  EERT_CUBLASLT(
      cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)));
  EERT_CUBLASLT(cublasLtMatrixLayoutCreate(&plan.a, factor, transA ? k : m, transA ? m : k, lda));
  EERT_CUBLASLT(cublasLtMatrixLayoutCreate(&plan.b, factor, transB ? n : k, transB ? k : n, ldb));
  EERT_CUBLASLT(cublasLtMatrixLayoutCreate(&plan.c, result, m, n, ldc));
  cublasLtMatmulPreference_t preference = nullptr;
  EERT_CUBLASLT(cublasLtMatmulPreferenceCreate(&preference));
  uint64_t workspace = Device::kBlasWorkspaceBytes;
  uint32_t align = static_cast<uint32_t>(alignment);
  EERT_CUBLASLT(cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)));
  for (auto attribute :
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    EERT_CUBLASLT(
        cublasLtMatmulPreferenceSetAttribute(preference, attribute, &align, sizeof(align)));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  cublasStatus_t status = cublasLt().cublasLtMatmulAlgoGetHeuristic(
      handle, plan.desc, plan.a, plan.b, plan.c, plan.c, preference, 1, &heuristic, &found);
  cublasLt().cublasLtMatmulPreferenceDestroy(preference);
  check("cublasLtMatmulAlgoGetHeuristic", status);
  if (found == 0)
    throw std::runtime_error("cuBLASLt has no algorithm for a " + std::to_string(m) + "x" +
                             std::to_string(n) + "x" + std::to_string(k) + " product");
  plan.algo = heuristic.algo;
  return plan;
}

std::mutex plansMutex;
std::map<Key, Plan> plans;

} // namespace

void gemm(GemmTypes types, bool transA, bool transB, int64_t m, int64_t n, int64_t k, const void *a,
          int64_t lda, const void *b, int64_t ldb, void *c, int64_t ldc, bool accumulate) {
  if (m == 0 || n == 0)
    return;
  Device &device = Device::get();
  size_t resultBytes = types == GemmTypes::BF16 ? 2 : 4;
  if (k == 0) {
    if (accumulate)
      return;
    if (ldc == m) // an empty sum: zeros
      device.zero(c, m * n * resultBytes);
    else
      for (int64_t column = 0; column < n; ++column)
        device.zero(static_cast<char *>(c) + column * ldc * resultBytes, m * resultBytes);
    return;
  }
  int alignment = alignmentOf(a, b, c);
  Key key{static_cast<int>(types),
          transA,
          transB,
          m,
          n,
          k,
          lda,
          ldb,
          ldc,
          alignment,
          types == GemmTypes::F32 && allowTF32()};
  const Plan *plan;
  {
    std::lock_guard<std::mutex> lock(plansMutex);
    auto found = plans.find(key);
    if (found == plans.end())
      found = plans.emplace(key, makePlan(types, transA, transB, m, n, k, lda, ldb, ldc, alignment))
                  .first;
    plan = &found->second;
  }
  float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  EERT_CUBLASLT(cublasLtMatmul(device.blas(), plan->desc, &alpha, a, plan->a, b, plan->b, &beta, c,
                               plan->c, c, plan->c, &plan->algo, device.blasWorkspace(),
                               Device::kBlasWorkspaceBytes, device.stream()));
}

} // namespace eert::cuda
