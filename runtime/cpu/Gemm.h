// Gemm.h - the runtime's fp32 matrix products: oneDNN matmul primitives (created once per shape) or OpenBLAS, per shape class.
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

/// The library for `rows` x `in` -> `out` features: the fastest measured per
/// shape class (bench/gemm_bench.py, bench/README.md), unless EERT_GEMM,
/// read at the first call, names one ("onednn", "openblas", "fewrows"; the
/// few-row kernel only where it applies, forward products of up to 16 rows).
Library libraryFor(int64_t rows, int64_t in, int64_t out, bool forward);

} // namespace eert::gemm

#endif // EERT_CPU_GEMM_H
