// Gemm.h - the runtime's matrix products (fp32, and bf16 inputs): oneDNN matmul primitives (created once per shape) or OpenBLAS, per shape class.
#ifndef EERT_CPU_GEMM_H
#define EERT_CPU_GEMM_H

#include <cstdint>

namespace eert::gemm {

/// What multiplies a product: oneDNN, OpenBLAS, or (eert_linear with at most
/// 16 rows) the runtime's own few-row kernel.
enum class Library { OneDNN, OpenBLAS, FewRows };

/// C[m, n] = op(A) op(B), row-major fp32, by `library` (oneDNN or OpenBLAS;
/// oneDNN falls back to OpenBLAS on a shape it cannot build a kernel for):
/// op(A) is A[m, k] (lda) or, with transA, the transpose of A[k, m]; op(B)
/// is B[k, n] (ldb) or, with transB, the transpose of B[n, k]. C has leading
/// dimension ldc and is overwritten.
void multiply(Library library, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
              const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);

/// C[m, n] = op(A) op(B) with bf16 A and B (their 16 bits, as safetensors
/// stores BF16) and fp32 accumulation, through oneDNN (AVX512-BF16 where the
/// CPU has it); C is bf16 (rounded to nearest even) or fp32.
void multiplyBF16(bool transA, bool transB, int64_t m, int64_t n, int64_t k, const uint16_t *a,
                  int64_t lda, const uint16_t *b, int64_t ldb, void *c, int64_t ldc,
                  bool bf16Output);

/// The library for `rows` x `in` -> `out` features (fp32, or bf16 inputs):
/// the fastest measured per shape class (bench/gemm_bench.py,
/// bench/README.md), unless EERT_GEMM, read at the first call, names one
/// ("onednn", "openblas", "fewrows"; the few-row kernel only where it
/// applies, forward products of up to 16 rows; bf16 products have no
/// OpenBLAS path and take oneDNN).
Library libraryFor(int64_t rows, int64_t in, int64_t out, bool forward, bool bf16 = false);

} // namespace eert::gemm

#endif // EERT_CPU_GEMM_H
