// Gemm.h - matrix products through cuBLASLt (fp32, or bf16 factors with fp32
// accumulation).
#ifndef EERT_CUDA_GEMM_H
#define EERT_CUDA_GEMM_H

#include <cstdint>

namespace eert::cuda {

enum class GemmTypes {
  F32,       // fp32 factors and result (fp32 arithmetic; EERT_CUDA_TF32=1 allows
             // TF32)
  BF16,      // bf16 factors, fp32 accumulation, the result rounded to bf16
  BF16ToF32, // bf16 factors, fp32 accumulation and result
};

/// Column-major C[m, n] = op(A) op(B) (+ C when accumulate), as BLAS: op(A)
/// is m x k (A stored k x m when transA), op(B) is k x n. The plan (layouts,
/// algorithm from cuBLASLt's heuristic) is made once per shape, types and
/// pointer alignment, and kept.
void gemm(GemmTypes types, bool transA, bool transB, int64_t m, int64_t n, int64_t k, const void *a,
          int64_t lda, const void *b, int64_t ldb, void *c, int64_t ldc, bool accumulate = false);

} // namespace eert::cuda

#endif // EERT_CUDA_GEMM_H
