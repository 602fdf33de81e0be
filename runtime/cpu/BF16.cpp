// BF16.cpp - bf16 kernels: conversion, and the linear products with bf16 inputs and fp32 accumulation (oneDNN, or a few-row kernel on AVX512-BF16 or portable code); the backward products are in Backward.cpp.
#include "cpu/BF16.h"
#include "cpu/FewRows.h"
#include "cpu/Gemm.h"
#include "cpu/Simd.h"
#include "eert/eert.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>

namespace eert::bf16 {

void fromFloat(const float *input, uint16_t *output, int64_t n) {
  eert::parallelFor(n, n >= eert::minParallelElements,
                    [&](int64_t i) { output[i] = fromFloat(input[i]); });
}

void toFloat(const uint16_t *input, float *output, int64_t n) {
  eert::parallelFor(n, n >= eert::minParallelElements,
                    [&](int64_t i) { output[i] = toFloat(input[i]); });
}

bool useAVX512BF16() {
  static const bool use = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && !std::getenv("EERT_BF16_PORTABLE");
  }();
  return use;
}

} // namespace eert::bf16

namespace {

/// y[r, o..o + N) for R (1-8) rows, N output rows at a time over the output
/// pairs [begin, end), as FewRows.h's linearPairs (the portable path) but
/// with AVX512-BF16's dot products: 16 pairs of bf16 values multiplied and
/// added into 16 fp32 lanes per instruction, the tail masked. Decode (R = 1)
/// reads 4 weight rows at once and prefetches the next 4, a cache line per
/// row per step: a bf16 row is short (2 KiB at 1024 features), and with two
/// rows in flight and no prefetch, decode streamed the weights at 61-68% of
/// the bandwidth bound.
template <int R, int N, typename Out>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void
rowsAVX512BF16(const uint16_t *x, const uint16_t *w, Out *y, int64_t in, int64_t out,
               int64_t begin, int64_t end) {
  for (int64_t pair = begin; pair < end; pair += N / 2) {
    int64_t o = 2 * pair;
    int64_t rows = std::min<int64_t>({N, out - o, 2 * (end - pair)});
    bool more = pair + N / 2 < end;
    const uint16_t *rowPointers[N], *next[N];
    for (int j = 0; j < N; ++j) {
      rowPointers[j] = w + (o + std::min<int64_t>(j, rows - 1)) * in;
      next[j] = more ? rowPointers[j] + N * in : rowPointers[j];
    }
    __m512 a[N][R];
    for (int j = 0; j < N; ++j)
      for (int r = 0; r < R; ++r)
        a[j][r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < in; k += 32) {
      __mmask32 mask = in - k >= 32 ? ~__mmask32(0) : (__mmask32(1) << (in - k)) - 1;
      __m512bh p[N];
      for (int j = 0; j < N; ++j) {
        _mm_prefetch(reinterpret_cast<const char *>(next[j] + k), _MM_HINT_T0);
        p[j] = (__m512bh)_mm512_maskz_loadu_epi16(mask, rowPointers[j] + k);
      }
      for (int r = 0; r < R; ++r) {
        __m512bh v = (__m512bh)_mm512_maskz_loadu_epi16(mask, x + r * in + k);
        for (int j = 0; j < N; ++j)
          a[j][r] = _mm512_dpbf16_ps(a[j][r], v, p[j]);
      }
    }
    // The accumulators row-major (r, j), four reduced at a time.
    float sums[R * N];
    constexpr int count = R * N, grouped = count / 4 * 4;
    auto at = [&](int i) { return a[i % N][i / N]; };
    for (int i = 0; i < grouped; i += 4)
      eert::storeFloats4(sums + i, eert::sumLanes4(eert::Floats16(at(i)), eert::Floats16(at(i + 1)),
                                                   eert::Floats16(at(i + 2)), eert::Floats16(at(i + 3))));
    for (int i = grouped; i < count; ++i)
      sums[i] = _mm512_reduce_add_ps(at(i));
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < rows; ++j)
        eert::store(y + r * out + o + j, sums[r * N + j]);
  }
}

template <int R, typename Out>
void fewRowsBF16(const uint16_t *x, const uint16_t *w, Out *y, int64_t in, int64_t out) {
  // Four rows at once while the accumulators (4 x R) fit the registers.
  constexpr int rowsAtOnce = R <= 2 ? 4 : 2;
  eert::overOutputPairs<R, uint16_t, Out>(eert::bf16::useAVX512BF16()
                                              ? rowsAVX512BF16<R, rowsAtOnce, Out>
                                              : eert::linearPairs<R, uint16_t, Out>,
                                          x, w, y, in, out);
}

template <typename Out>
constexpr eert::FewRowsKernel<uint16_t, Out> fewRowsKernels[] = {
    fewRowsBF16<1, Out>, fewRowsBF16<2, Out>, fewRowsBF16<3, Out>, fewRowsBF16<4, Out>,
    fewRowsBF16<5, Out>, fewRowsBF16<6, Out>, fewRowsBF16<7, Out>, fewRowsBF16<8, Out>};

template <typename Out>
void linearBF16(const uint16_t *input, const uint16_t *weight, Out *output, int64_t rows,
                int64_t in, int64_t out) {
  if (rows == 0)
    return;
  using eert::gemm::Library;
  if (eert::gemm::libraryFor(rows, in, out, /*forward=*/true, /*bf16=*/true) != Library::FewRows) {
    eert::gemm::multiplyBF16(false, true, rows, out, in, input, in, weight, in, output, out,
                             std::is_same_v<Out, uint16_t>);
    return;
  }
  eert::fewRows(fewRowsKernels<Out>, input, weight, output, rows, in, out);
}

} // namespace

extern "C" void eert_to_bf16(const float *input, uint16_t *output, int64_t n) {
  eert::bf16::fromFloat(input, output, n);
}

extern "C" void eert_from_bf16(const uint16_t *input, float *output, int64_t n) {
  eert::bf16::toFloat(input, output, n);
}

extern "C" void eert_linear_bf16(const uint16_t *input, const uint16_t *weight, uint16_t *output,
                                 int64_t rows, int64_t inFeatures, int64_t outFeatures) {
  linearBF16(input, weight, output, rows, inFeatures, outFeatures);
}

extern "C" void eert_linear_bf16_f32(const uint16_t *input, const uint16_t *weight, float *output,
                                     int64_t rows, int64_t inFeatures, int64_t outFeatures) {
  linearBF16(input, weight, output, rows, inFeatures, outFeatures);
}
