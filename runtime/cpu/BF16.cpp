// BF16.cpp - bf16 kernels: conversion, and the linear products with bf16 inputs and fp32 accumulation (oneDNN, or a few-row kernel on AVX512-BF16 or portable code; the backward products through oneDNN).
#include "comm/Progress.h"
#include "cpu/BF16.h"
#include "cpu/FewRows.h"
#include "cpu/Gemm.h"
#include "cpu/Simd.h"
#include "eert/eert.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
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

/// y[r, o], y[r, o + 1] for R (1-8) rows and the output pairs [begin, end)
/// as FewRows.h's linearPairs (the portable path), with AVX512-BF16's dot
/// products: 16 pairs of bf16 values multiplied and added into 16 fp32
/// lanes per instruction, the tail masked.
template <int R, typename Out>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void
pairsAVX512BF16(const uint16_t *x, const uint16_t *w, Out *y, int64_t in, int64_t out,
                int64_t begin, int64_t end) {
  for (int64_t pair = begin; pair < end; ++pair) {
    int64_t o = 2 * pair;
    bool two = o + 1 < out;
    const uint16_t *w0 = w + o * in, *w1 = two ? w0 + in : w0;
    __m512 a0[R], a1[R];
    for (int r = 0; r < R; ++r)
      a0[r] = a1[r] = _mm512_setzero_ps();
    // The next pair's rows, a cache line per row per step: a bf16 row is
    // short (2 KiB at 1024 features), too short for the hardware prefetcher
    // to run ahead of on its own (decode reached 68% of the bandwidth bound
    // without this).
    const uint16_t *n0 = pair + 1 < end ? w0 + 2 * in : w0, *n1 = pair + 1 < end ? w1 + 2 * in : w1;
    for (int64_t k = 0; k < in; k += 32) {
      _mm_prefetch(reinterpret_cast<const char *>(n0 + k), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char *>(n1 + k), _MM_HINT_T0);
      __mmask32 mask = in - k >= 32 ? ~__mmask32(0) : (__mmask32(1) << (in - k)) - 1;
      __m512bh p = (__m512bh)_mm512_maskz_loadu_epi16(mask, w0 + k);
      __m512bh q = (__m512bh)_mm512_maskz_loadu_epi16(mask, w1 + k);
      for (int r = 0; r < R; ++r) {
        __m512bh v = (__m512bh)_mm512_maskz_loadu_epi16(mask, x + r * in + k);
        a0[r] = _mm512_dpbf16_ps(a0[r], v, p);
        a1[r] = _mm512_dpbf16_ps(a1[r], v, q);
      }
    }
    for (int r = 0; r < R; ++r) {
      eert::store(y + r * out + o, _mm512_reduce_add_ps(a0[r]));
      if (two)
        eert::store(y + r * out + o + 1, _mm512_reduce_add_ps(a1[r]));
    }
  }
}

template <int R, typename Out>
void fewRowsBF16(const uint16_t *x, const uint16_t *w, Out *y, int64_t in, int64_t out) {
  eert::overOutputPairs<R, uint16_t, Out>(eert::bf16::useAVX512BF16()
                                              ? pairsAVX512BF16<R, Out>
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

extern "C" void eert_linear_backward_input_bf16(const uint16_t *doutput, const uint16_t *weight,
                                                float *dinput, int64_t rows, int64_t inFeatures,
                                                int64_t outFeatures) {
  eert::comm::progress();
  if (rows == 0)
    return;
  eert::gemm::multiplyBF16(false, false, rows, inFeatures, outFeatures, doutput, outFeatures,
                           weight, inFeatures, dinput, inFeatures, /*bf16Output=*/false);
}

extern "C" void eert_linear_backward_weight_bf16(const uint16_t *doutput, const uint16_t *input,
                                                 float *dweight, int64_t rows, int64_t inFeatures,
                                                 int64_t outFeatures) {
  eert::comm::progress();
  if (rows == 0) {
    std::memset(dweight, 0, sizeof(float) * inFeatures * outFeatures);
    return;
  }
  eert::gemm::multiplyBF16(true, false, outFeatures, inFeatures, rows, doutput, outFeatures, input,
                           inFeatures, dweight, inFeatures, /*bf16Output=*/false);
}
