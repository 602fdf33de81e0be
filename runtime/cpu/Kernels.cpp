// Kernels.cpp - CPU fp32 primitive kernels: embedding, norm, GEMM, rotary,
// SwiGLU, residual add, inner product, scale, cross-entropy, exit confidence.
//
// GEMMs go to oneDNN or OpenBLAS as cpu/Gemm.cpp chooses per shape, but for
// 1-16 rows (decode, see linearFewRows); elementwise and row-wise kernels split rows over OpenMP
// threads when there are enough of them (minParallelElements).
#include "cpu/Error.h"
#include "cpu/FewRows.h"
#include "cpu/Gemm.h"
#include "cpu/Rotary.h"
#include "cpu/Simd.h"
#include "cpu/Softmax.h"
#include "eert/eert.h"


#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

using eert::fail;

namespace {

/// Rows of an fp32 or bf16 table, widened to fp32.
template <typename Table>
int32_t embeddingLookup(const Table *table, const int32_t *ids, float *output, int64_t tokens,
                        int64_t vocab, int64_t hidden) {
  for (int64_t t = 0; t < tokens; ++t)
    if (ids[t] < 0 || ids[t] >= vocab)
      return fail("token id " + std::to_string(ids[t]) + " at position " +
                  std::to_string(t) + " is outside the vocabulary [0, " +
                  std::to_string(vocab) + ")");
  eert::parallelFor(tokens, tokens * hidden >= eert::minParallelElements, [&](int64_t t) {
    const Table *row = table + static_cast<int64_t>(ids[t]) * hidden;
    for (int64_t c = 0; c < hidden; ++c)
      output[t * hidden + c] = eert::value(row[c]);
  });
  return 0;
}

/// fp32 computation over an fp32 input; the weight and the result fp32 or bf16.
template <typename Weight, typename Out>
void rmsNorm(const float *input, const Weight *weight, Out *output, int64_t rows, int64_t cols,
             float eps) {
  eert::parallelFor(rows, rows * cols >= eert::minParallelElements, [&](int64_t r) {
    const float *x = input + r * cols;
    Out *y = output + r * cols;
    double sumSquares = 0.0;
    for (int64_t c = 0; c < cols; ++c)
      sumSquares += static_cast<double>(x[c]) * x[c];
    float scale = static_cast<float>(1.0 / std::sqrt(sumSquares / cols + eps));
    for (int64_t c = 0; c < cols; ++c)
      eert::store(y + c, x[c] * scale * eert::value(weight[c]));
  });
}

template <typename Out>
void swiglu(const float *gate, const float *up, Out *output, int64_t n) {
  int64_t blocks = (n + 15) / 16;
  eert::parallelFor(blocks, n >= eert::minParallelElements, [&](int64_t b) {
    int64_t i = 16 * b, lanes = std::min<int64_t>(16, n - i);
    eert::Floats16 g, u;
    eert::loadFloats(g, gate + i, lanes);
    eert::loadFloats(u, up + i, lanes);
    eert::Floats16 sigmoid = g;
    eert::vectorSigmoid(sigmoid);
    eert::Floats16 y = g * sigmoid * u;
    for (int64_t j = 0; j < lanes; ++j)
      eert::store(output + i + j, y[j]);
  });
}

} // namespace

extern "C" int32_t eert_embedding_lookup(const float *table, const int32_t *ids,
                                         float *output, int64_t tokens, int64_t vocab,
                                         int64_t hidden) {
  return embeddingLookup(table, ids, output, tokens, vocab, hidden);
}

extern "C" int32_t eert_embedding_lookup_bf16(const uint16_t *table, const int32_t *ids,
                                              float *output, int64_t tokens, int64_t vocab,
                                              int64_t hidden) {
  return embeddingLookup(table, ids, output, tokens, vocab, hidden);
}

extern "C" void eert_rms_norm(const float *input, const float *weight, float *output,
                              int64_t rows, int64_t cols, float eps) {
  rmsNorm(input, weight, output, rows, cols, eps);
}

extern "C" void eert_rms_norm_bf16(const float *input, const uint16_t *weight, uint16_t *output,
                                   int64_t rows, int64_t cols, float eps) {
  rmsNorm(input, weight, output, rows, cols, eps);
}

extern "C" void eert_rms_norm_bf16_f32(const float *input, const uint16_t *weight, float *output,
                                       int64_t rows, int64_t cols, float eps) {
  rmsNorm(input, weight, output, rows, cols, eps);
}

namespace {

template <int R>
void linearFewRows(const float *x, const float *w, float *y, int64_t in, int64_t out) {
  eert::overOutputPairs<R, float, float>(eert::linearPairs<R, float, float>, x, w, y, in, out);
}

constexpr eert::FewRowsKernel<float, float> fewRowsKernels[] = {
    linearFewRows<1>, linearFewRows<2>, linearFewRows<3>, linearFewRows<4>,
    linearFewRows<5>, linearFewRows<6>, linearFewRows<7>, linearFewRows<8>};

} // namespace

extern "C" void eert_linear(const float *input, const float *weight, float *output,
                            int64_t rows, int64_t inFeatures, int64_t outFeatures) {
  if (rows == 0)
    return;
  using eert::gemm::Library;
  Library library = eert::gemm::libraryFor(rows, inFeatures, outFeatures, /*forward=*/true);
  if (library == Library::FewRows) {
    eert::fewRows(fewRowsKernels, input, weight, output, rows, inFeatures, outFeatures);
    return;
  }
  if (library == Library::OpenBLAS && rows <= 32) {
    // A few rows (decode batches, recomputed KV entries): OpenBLAS is much
    // faster at W x^T, whose long side is the weight's, than at x W^T, so
    // compute the transposed product and transpose it back.
    thread_local std::vector<float> transposed;
    transposed.resize(rows * outFeatures);
    eert::gemm::multiply(library, false, true, outFeatures, rows, inFeatures, weight, inFeatures,
                         input, inFeatures, transposed.data(), rows);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < outFeatures; ++o)
        output[r * outFeatures + o] = transposed[o * rows + r];
    return;
  }
  eert::gemm::multiply(library, false, true, rows, outFeatures, inFeatures, input, inFeatures,
                       weight, inFeatures, output, outFeatures);
}

extern "C" void eert_rotary(const float *input, const int32_t *positions, float *output,
                            int64_t tokens, int64_t heads, int64_t headDim, float theta) {
  int64_t half = headDim / 2;
  const float *frequencies = eert::rotaryFrequencies(theta, headDim); // the angle in fp32 too
  eert::parallelFor(tokens, tokens * heads * headDim >= eert::minParallelElements, [&](int64_t t) {
    double position = positions[t];
    for (int64_t i = 0; i < half; ++i) {
      float angle = static_cast<float>(position) * frequencies[i];
      float cosA = std::cos(angle), sinA = std::sin(angle);
      for (int64_t h = 0; h < heads; ++h) {
        int64_t base = (t * heads + h) * headDim;
        float x1 = input[base + i], x2 = input[base + i + half];
        output[base + i] = x1 * cosA - x2 * sinA;
        output[base + i + half] = x2 * cosA + x1 * sinA;
      }
    }
  });
}

// 16 values at a time with the vectorised sigmoid, the last block partial
// (a demo layer's SwiGLU for 8 tokens: 6.8 us with glibc's scalar expf, 2.3).
extern "C" void eert_swiglu(const float *gate, const float *up, float *output, int64_t n) {
  swiglu(gate, up, output, n);
}

extern "C" void eert_swiglu_bf16(const float *gate, const float *up, uint16_t *output, int64_t n) {
  swiglu(gate, up, output, n);
}

extern "C" void eert_add(const float *lhs, const float *rhs, float *output, int64_t n) {
  eert::parallelFor(n, n >= eert::minParallelElements,
                    [&](int64_t i) { output[i] = lhs[i] + rhs[i]; });
}

extern "C" void eert_inner_product(const float *lhs, const float *rhs, float *result,
                                   int64_t n) {
  // Fixed chunks summed in order: the same bits whatever the thread count.
  constexpr int64_t chunk = 1 << 14;
  int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for
  for (int64_t c = 0; c < chunks; ++c) {
    double sum = 0.0;
    for (int64_t i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i)
      sum += static_cast<double>(lhs[i]) * rhs[i];
    partial[c] = sum;
  }
  double total = 0.0;
  for (double p : partial)
    total += p;
  *result = static_cast<float>(total);
}

extern "C" void eert_first_nonfinite(const float *values, int64_t n, int64_t nonNegative,
                                     uint64_t *index) {
  // A branch-free scan of the bits per chunk, which the compiler vectorizes
  // (exponent all ones: inf or NaN; sign set on a nonzero value: negative);
  // the exact search runs only in a chunk where something was found.
  constexpr int64_t chunk = 1 << 16;
  int64_t chunks = (n + chunk - 1) / chunk;
  uint32_t negativeMask = nonNegative ? 0x80000000u : 0u;
  std::vector<uint8_t> found(chunks, 0);
  eert::parallelFor(chunks, n >= eert::minParallelElements, [&](int64_t c) {
    uint32_t any = 0;
    for (int64_t j = c * chunk; j < std::min(n, (c + 1) * chunk); ++j) {
      uint32_t bits;
      std::memcpy(&bits, values + j, 4);
      any |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u) |
             static_cast<uint32_t>((bits & negativeMask) != 0 && (bits & 0x7fffffffu) != 0);
    }
    found[c] = any != 0;
  });
  *index = static_cast<uint64_t>(n);
  for (int64_t c = 0; c < chunks; ++c) {
    if (!found[c])
      continue;
    for (int64_t j = c * chunk; j < std::min(n, (c + 1) * chunk); ++j)
      if (!std::isfinite(values[j]) || (nonNegative && values[j] < 0.0f)) {
        *index = static_cast<uint64_t>(j);
        return;
      }
  }
}

extern "C" void eert_scale(const float *input, float factor, float *output, int64_t n) {
  eert::parallelFor(n, n >= eert::minParallelElements,
                    [&](int64_t i) { output[i] = factor * input[i]; });
}

extern "C" int32_t eert_cross_entropy(const float *logits, const int32_t *labels, float *loss,
                                      int64_t tokens, int64_t vocab, float temperature) {
  for (int64_t t = 0; t < tokens; ++t)
    if (labels[t] < 0 || labels[t] >= vocab)
      return fail("label " + std::to_string(labels[t]) + " at position " +
                  std::to_string(t) + " is outside the vocabulary [0, " +
                  std::to_string(vocab) + ")");
  if (tokens == 0)
    return fail("cross-entropy over zero tokens");
  double invTemperature = 1.0 / temperature;
  // Per-token terms summed in order: the same bits for any thread count.
  std::vector<double> terms(tokens);
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    const float *row = logits + t * vocab;
    terms[t] = eert::logSumExp(row, vocab, invTemperature) - row[labels[t]] * invTemperature;
  }
  double total = 0.0;
  for (double term : terms)
    total += term;
  *loss = static_cast<float>(total / tokens);
  return 0;
}

extern "C" void eert_exit_confidence(const float *logits, float *confidence, int64_t tokens,
                                     int64_t vocab) {
  eert::parallelFor(tokens, tokens * vocab >= eert::minParallelElements, [&](int64_t t) {
    double maximum;
    double lse = eert::logSumExp(logits + t * vocab, vocab, 1.0, &maximum);
    confidence[t] = static_cast<float>(std::exp(maximum - lse));
  });
}
