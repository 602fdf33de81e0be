// Kernels.cpp - the runtime ABI's kernels on the GPU: argument checks,
// launches, cuBLASLt products.
//
// Each entry point launches on the device's stream and returns: a kernel that
// meets bad input (an id, label, position) records a fault that
// eert_backend_check reports, and a call that cannot run (no device, a failed
// launch) fails its status or, returning nothing, is reported there too.
#include "cpu/Error.h"
#include "cuda/Device.h"
#include "cuda/Entry.h"
#include "cuda/Gemm.h"
#include "eert/eert.h"

#include <cmath>
#include <exception>
#include <string>

namespace eert::cuda {
namespace {

Fault *fault() { return Device::get().faultRecord(); }

void linear(GemmTypes types, const void *input, const void *weight, void *output, int64_t rows,
            int64_t in, int64_t out) {
  // Row-major out[rows, out] = in W^T is column-major out^T = W^T' ... : C(out
  // x rows) = op(W, stored in x out) = T times input (stored in x rows).
  gemm(types, true, false, out, rows, in, weight, in, input, in, output, out);
}

void linearBackwardInput(GemmTypes types, const void *doutput, const void *weight, float *dinput,
                         int64_t rows, int64_t in, int64_t out) {
  // dinput^T (in x rows) = W (stored in x out) times dout^T (stored out x
  // rows).
  gemm(types, false, false, in, rows, out, weight, in, doutput, out, dinput, in);
}

void linearBackwardWeight(GemmTypes types, const void *doutput, const void *input, float *dweight,
                          int64_t rows, int64_t in, int64_t out) {
  // dW^T (in x out) = input^T (stored in x rows) times dout (stored out x rows,
  // transposed).
  gemm(types, false, true, in, out, rows, input, in, doutput, out, dweight, in);
}

template <typename Table>
void embeddingLookup(const char *kernel, const Table *table, const int32_t *ids, float *output,
                     int64_t tokens, int64_t vocab, int64_t hidden) {
  int64_t first = 0;
  launch(kernel, blocksFor(tokens * hidden), 256, 0, table, ids, output, tokens, first, vocab,
         vocab, hidden, fault());
}

template <typename Weight, typename Out>
void rmsNorm(const char *kernel, const float *input, const Weight *weight, Out *output,
             int64_t rows, int64_t cols, float eps) {
  if (rows > 0)
    launchGrid(kernel, static_cast<unsigned>(rows), 1, 1, rowThreads(cols), 0, input, weight,
               output, cols, eps);
}

template <typename Weight>
void rmsNormBackward(const char *kernel, const float *input, const Weight *weight,
                     const float *doutput, float *dinput, float *dweight, int64_t rows,
                     int64_t cols, float eps) {
  Device &device = Device::get();
  if (rows == 0) {
    device.zero(dweight, sizeof(float) * cols);
    return;
  }
  float *partial = static_cast<float *>(device.scratch(sizeof(float) * rows * cols));
  launchGrid(kernel, static_cast<unsigned>(rows), 1, 1, rowThreads(cols), 0, input, weight, doutput,
             dinput, partial, cols, eps);
  launch("eert_column_sums_kernel", blocksFor(cols, 128), 128, 0, partial, dweight, rows, cols);
}

/// Scores are scaled by 1/sqrt(d), as the CPU kernel.
struct AttentionShape {
  int64_t batch, seq, heads, kvHeads, d;
  float scale;
};

AttentionShape attentionShape(int64_t batch, int64_t seq, int64_t heads, int64_t kvHeads,
                              int64_t d) {
  return {batch,   seq, heads,
          kvHeads, d,   static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)))};
}

/// The kernel suffix for head size d (the smallest compiled bound that fits).
std::string headBound(int64_t d) {
  for (int64_t bound : {32, 64, 128, 256})
    if (d <= bound)
      return "_d" + std::to_string(bound);
  throw std::runtime_error("head size " + std::to_string(d) + " exceeds the kernels' 256");
}

constexpr unsigned kAttentionRows = 64,
                   kAttentionTile = 32; // as kernels/Attention.cu

/// The training kernels: one thread per row, kAttentionRows a block.
template <typename... Args>
void attentionGrid(const std::string &kernel, unsigned gridX, unsigned gridY, unsigned gridZ,
                   size_t shared, Args... args) {
  launchGrid(kernel.c_str(), gridX, gridY, gridZ, kAttentionRows, shared, args...);
}

/// The output and, where `logSumExp` is given, the rows' log-sum-exps of the
/// scaled scores (the backward's statistics).
void attentionForward(const float *query, const float *key, const float *value, float *output,
                      float *logSumExp, const AttentionShape &shape) {
  unsigned rowBlocks = static_cast<unsigned>((shape.seq + kAttentionRows - 1) / kAttentionRows);
  size_t shared = sizeof(float) * 2 * kAttentionTile * shape.d;
  attentionGrid("eert_attention_forward" + headBound(shape.d), rowBlocks,
                static_cast<unsigned>(shape.heads), static_cast<unsigned>(shape.batch), shared,
                query, key, value, output, logSumExp, shape);
}

} // namespace
} // namespace eert::cuda

using namespace eert::cuda;

extern "C" {

int32_t eert_embedding_lookup(const float *table, const int32_t *ids, float *output, int64_t tokens,
                              int64_t vocab, int64_t hidden) {
  return guardedStatus("eert_embedding_lookup", [&] {
    embeddingLookup("eert_embedding_lookup_kernel", table, ids, output, tokens, vocab, hidden);
  });
}

int32_t eert_embedding_lookup_bf16(const uint16_t *table, const int32_t *ids, float *output,
                                   int64_t tokens, int64_t vocab, int64_t hidden) {
  return guardedStatus("eert_embedding_lookup_bf16", [&] {
    embeddingLookup("eert_embedding_lookup_bf16_kernel", table, ids, output, tokens, vocab, hidden);
  });
}

int32_t eert_embedding_backward(const int32_t *ids, const float *doutput, float *dtable,
                                int64_t tokens, int64_t vocab, int64_t hidden) {
  return guardedStatus("eert_embedding_backward", [&] {
    Device::get().zero(dtable, sizeof(float) * vocab * hidden);
    int64_t first = 0;
    launch("eert_embedding_backward_kernel", blocksFor(tokens * hidden), 256, 0, ids, doutput,
           dtable, tokens, first, vocab, vocab, hidden, fault());
  });
}

void eert_rms_norm(const float *input, const float *weight, float *output, int64_t rows,
                   int64_t cols, float eps) {
  guarded("eert_rms_norm",
          [&] { rmsNorm("eert_rms_norm_kernel", input, weight, output, rows, cols, eps); });
}

void eert_rms_norm_bf16(const float *input, const uint16_t *weight, uint16_t *output, int64_t rows,
                        int64_t cols, float eps) {
  guarded("eert_rms_norm_bf16",
          [&] { rmsNorm("eert_rms_norm_bf16_kernel", input, weight, output, rows, cols, eps); });
}

void eert_rms_norm_bf16_f32(const float *input, const uint16_t *weight, float *output, int64_t rows,
                            int64_t cols, float eps) {
  guarded("eert_rms_norm_bf16_f32", [&] {
    rmsNorm("eert_rms_norm_bf16_f32_kernel", input, weight, output, rows, cols, eps);
  });
}

void eert_rms_norm_backward(const float *input, const float *weight, const float *doutput,
                            float *dinput, float *dweight, int64_t rows, int64_t cols, float eps) {
  guarded("eert_rms_norm_backward", [&] {
    rmsNormBackward("eert_rms_norm_backward_kernel", input, weight, doutput, dinput, dweight, rows,
                    cols, eps);
  });
}

void eert_rms_norm_backward_bf16(const float *input, const uint16_t *weight, const float *doutput,
                                 float *dinput, float *dweight, int64_t rows, int64_t cols,
                                 float eps) {
  guarded("eert_rms_norm_backward_bf16", [&] {
    rmsNormBackward("eert_rms_norm_backward_bf16_kernel", input, weight, doutput, dinput, dweight,
                    rows, cols, eps);
  });
}

void eert_linear(const float *input, const float *weight, float *output, int64_t rows, int64_t in,
                 int64_t out) {
  guarded("eert_linear", [&] { linear(GemmTypes::F32, input, weight, output, rows, in, out); });
}

void eert_linear_bf16(const uint16_t *input, const uint16_t *weight, uint16_t *output, int64_t rows,
                      int64_t in, int64_t out) {
  guarded("eert_linear_bf16",
          [&] { linear(GemmTypes::BF16, input, weight, output, rows, in, out); });
}

void eert_linear_bf16_f32(const uint16_t *input, const uint16_t *weight, float *output,
                          int64_t rows, int64_t in, int64_t out) {
  guarded("eert_linear_bf16_f32",
          [&] { linear(GemmTypes::BF16ToF32, input, weight, output, rows, in, out); });
}

void eert_linear_backward_input(const float *doutput, const float *weight, float *dinput,
                                int64_t rows, int64_t in, int64_t out) {
  guarded("eert_linear_backward_input",
          [&] { linearBackwardInput(GemmTypes::F32, doutput, weight, dinput, rows, in, out); });
}

void eert_linear_backward_weight(const float *doutput, const float *input, float *dweight,
                                 int64_t rows, int64_t in, int64_t out) {
  guarded("eert_linear_backward_weight",
          [&] { linearBackwardWeight(GemmTypes::F32, doutput, input, dweight, rows, in, out); });
}

void eert_linear_backward_input_bf16(const uint16_t *doutput, const uint16_t *weight, float *dinput,
                                     int64_t rows, int64_t in, int64_t out) {
  guarded("eert_linear_backward_input_bf16", [&] {
    linearBackwardInput(GemmTypes::BF16ToF32, doutput, weight, dinput, rows, in, out);
  });
}

void eert_linear_backward_weight_bf16(const uint16_t *doutput, const uint16_t *input,
                                      float *dweight, int64_t rows, int64_t in, int64_t out) {
  guarded("eert_linear_backward_weight_bf16", [&] {
    linearBackwardWeight(GemmTypes::BF16ToF32, doutput, input, dweight, rows, in, out);
  });
}

void eert_to_bf16(const float *input, uint16_t *output, int64_t n) {
  guarded("eert_to_bf16",
          [&] { launch("eert_to_bf16_kernel", blocksFor(n), 256, 0, input, output, n); });
}

void eert_from_bf16(const uint16_t *input, float *output, int64_t n) {
  guarded("eert_from_bf16",
          [&] { launch("eert_from_bf16_kernel", blocksFor(n), 256, 0, input, output, n); });
}

void eert_swiglu(const float *gate, const float *up, float *output, int64_t n) {
  guarded("eert_swiglu",
          [&] { launch("eert_swiglu_kernel", blocksFor(n), 256, 0, gate, up, output, n); });
}

void eert_swiglu_bf16(const float *gate, const float *up, uint16_t *output, int64_t n) {
  guarded("eert_swiglu_bf16",
          [&] { launch("eert_swiglu_bf16_kernel", blocksFor(n), 256, 0, gate, up, output, n); });
}

void eert_swiglu_backward(const float *gate, const float *up, const float *doutput, float *dgate,
                          float *dup, int64_t n) {
  guarded("eert_swiglu_backward", [&] {
    launch("eert_swiglu_backward_kernel", blocksFor(n), 256, 0, gate, up, doutput, dgate, dup, n);
  });
}

void eert_add(const float *lhs, const float *rhs, float *output, int64_t n) {
  guarded("eert_add",
          [&] { launch("eert_add_kernel", blocksFor(n), 256, 0, lhs, rhs, output, n); });
}

void eert_scale(const float *input, float factor, float *output, int64_t n) {
  guarded("eert_scale",
          [&] { launch("eert_scale_kernel", blocksFor(n), 256, 0, input, factor, output, n); });
}

void eert_rotary(const float *input, const int32_t *positions, float *output, int64_t tokens,
                 int64_t heads, int64_t headDim, float theta) {
  guarded("eert_rotary", [&] {
    launch("eert_rotary_kernel", blocksFor(tokens * heads * headDim / 2), 256, 0, input, positions,
           output, tokens, heads, headDim, theta);
  });
}

void eert_rotary_backward(const float *doutput, const int32_t *positions, float *dinput,
                          int64_t tokens, int64_t heads, int64_t headDim, float theta) {
  guarded("eert_rotary_backward", [&] {
    launch("eert_rotary_backward_kernel", blocksFor(tokens * heads * headDim / 2), 256, 0, doutput,
           positions, dinput, tokens, heads, headDim, theta);
  });
}

void eert_attention(const float *query, const float *key, const float *value, float *output,
                    int64_t batch, int64_t seq, int64_t heads, int64_t kvHeads, int64_t headDim) {
  guarded("eert_attention", [&] {
    if (batch * seq > 0)
      attentionForward(query, key, value, output, nullptr,
                       attentionShape(batch, seq, heads, kvHeads, headDim));
  });
}

void eert_attention_backward(const float *query, const float *key, const float *value,
                             const float *doutput, float *dquery, float *dkey, float *dvalue,
                             int64_t batch, int64_t seq, int64_t heads, int64_t kvHeads,
                             int64_t headDim) {
  guarded("eert_attention_backward", [&] {
    if (batch * seq == 0)
      return;
    Device &device = Device::get();
    AttentionShape shape = attentionShape(batch, seq, heads, kvHeads, headDim);
    // The forward again for the row statistics and the output (dQ's and dK's
    // delta = dO . O); the scratch holds [lse | delta], then the output.
    int64_t rowsTotal = batch * heads * seq;
    float *statistics =
        static_cast<float *>(device.scratch(sizeof(float) * (2 * rowsTotal + rowsTotal * headDim)));
    float *out = statistics + 2 * rowsTotal;
    unsigned rowBlocks = static_cast<unsigned>((seq + kAttentionRows - 1) / kAttentionRows);
    std::string bound = headBound(headDim);
    size_t shared = sizeof(float) * 2 * kAttentionTile * headDim;
    float *logSumExp = statistics, *delta = statistics + rowsTotal;
    attentionForward(query, key, value, out, logSumExp, shape);
    launch("eert_attention_delta_kernel", blocksFor(rowsTotal), 256, 0, doutput,
           static_cast<const float *>(out), delta, shape);
    attentionGrid("eert_attention_dquery" + bound, rowBlocks, static_cast<unsigned>(heads),
                  static_cast<unsigned>(batch), shared, query, key, value, doutput, logSumExp,
                  delta, dquery, shape);
    size_t kvShared = shared + sizeof(float) * 2 * kAttentionTile;
    attentionGrid("eert_attention_dkv" + bound, rowBlocks, static_cast<unsigned>(kvHeads),
                  static_cast<unsigned>(batch), kvShared, query, key, value, doutput, logSumExp,
                  delta, dkey, dvalue, shape);
  });
}

int32_t eert_attention_cached(const float *query, const float *key, const float *value,
                              float *kCache, float *vCache, const int32_t *positions,
                              const int32_t *rows, float *output, int64_t batch, int64_t seq,
                              int64_t cacheRows, int64_t maxPositions, int64_t heads,
                              int64_t kvHeads, int64_t headDim) {
  return guardedStatus("eert_attention_cached", [&] {
    int64_t tokens = batch * seq, kvStride = kvHeads * headDim;
    if (tokens == 0)
      return;
    if (headDim > 1024)
      throw std::runtime_error("head size " + std::to_string(headDim) + " exceeds 1024");
    launch("eert_kv_cache_check_kernel", blocksFor(tokens), 256, 0, positions, rows, tokens, seq,
           cacheRows, maxPositions, fault());
    launch("eert_kv_cache_write_kernel", blocksFor(tokens * kvStride), 256, 0, key, value, kCache,
           vCache, positions, rows, tokens, seq, maxPositions, kvStride,
           static_cast<const Fault *>(fault()));
    unsigned threads = static_cast<unsigned>(std::max<int64_t>(128, (headDim + 31) / 32 * 32));
    launchGrid("eert_attention_decode_kernel", static_cast<unsigned>(tokens),
               static_cast<unsigned>(heads), 1, threads, 0, query, kCache, vCache, positions, rows,
               output, seq, cacheRows, maxPositions, heads, kvHeads, headDim,
               attentionShape(batch, seq, heads, kvHeads, headDim).scale);
  });
}

int32_t eert_cross_entropy(const float *logits, const int32_t *labels, float *loss, int64_t tokens,
                           int64_t vocab, float temperature) {
  return guardedStatus("eert_cross_entropy", [&] {
    if (tokens == 0)
      throw std::runtime_error("cross-entropy over zero tokens");
    Device &device = Device::get();
    double *terms = static_cast<double *>(device.scratch(sizeof(double) * tokens));
    Fault *record = fault();
    launchGrid("eert_cross_entropy_terms_kernel", static_cast<unsigned>(tokens), 1, 1,
               rowThreads(vocab), 0, logits, labels, terms, vocab, temperature, record);
    double factor = 1.0 / static_cast<double>(tokens);
    launch("eert_sum_double_kernel", 1, 1024, 0, static_cast<const double *>(terms), tokens, factor,
           loss);
  });
}

int32_t eert_cross_entropy_backward(const float *logits, const int32_t *labels, float *dlogits,
                                    int64_t tokens, int64_t vocab, float temperature, float dloss) {
  return guardedStatus("eert_cross_entropy_backward", [&] {
    if (tokens == 0)
      return;
    Fault *record = fault();
    launchGrid("eert_cross_entropy_backward_kernel", static_cast<unsigned>(tokens), 1, 1,
               rowThreads(vocab), 0, logits, labels, dlogits, tokens, vocab, temperature, dloss,
               record);
  });
}

void eert_exit_confidence(const float *logits, float *confidence, int64_t tokens, int64_t vocab) {
  guarded("eert_exit_confidence", [&] {
    if (tokens > 0)
      launchGrid("eert_exit_confidence_kernel", static_cast<unsigned>(tokens), 1, 1,
                 rowThreads(vocab), 0, logits, confidence, vocab);
  });
}

void eert_inner_product(const float *lhs, const float *rhs, float *result, int64_t n) {
  guarded("eert_inner_product", [&] {
    // Fixed blocks of 1 << 16 values summed in order: the same bits every run.
    constexpr int64_t perBlock = 1 << 16;
    int64_t blocks = std::max<int64_t>(1, (n + perBlock - 1) / perBlock);
    double *partial = static_cast<double *>(Device::get().scratch(sizeof(double) * blocks));
    launch("eert_inner_product_kernel", static_cast<unsigned>(blocks), 256, 0, lhs, rhs, partial, n,
           perBlock);
    launch("eert_sum_double_kernel", 1, 1024, 0, static_cast<const double *>(partial), blocks, 1.0,
           result);
  });
}

void eert_first_nonfinite(const float *values, int64_t n, int64_t nonNegative, uint64_t *index) {
  // A host call (the checks of weights and checkpoints): the answer comes back
  // to *index.
  guarded("eert_first_nonfinite", [&] {
    Device &device = Device::get();
    auto *found = static_cast<unsigned long long *>(device.scratch(sizeof(uint64_t)));
    unsigned long long none = static_cast<unsigned long long>(n);
    device.copyToDevice(found, &none, sizeof(none));
    launch("eert_first_nonfinite_kernel", blocksFor(n), 256, 0, values, n, nonNegative, found);
    device.copyToHost(index, found, sizeof(uint64_t));
  });
}

void eert_adamw(float *param, const float *grad, float *expAvg, float *expAvgSq, int64_t n,
                float gradScale, float lr, float beta1, float beta2, float eps, float weightDecay,
                int64_t step) {
  eert_adamw_bf16(nullptr, param, grad, expAvg, expAvgSq, n, gradScale, lr, beta1, beta2, eps,
                  weightDecay, step);
}

void eert_adamw_bf16(uint16_t *param, float *master, const float *grad, float *expAvg,
                     float *expAvgSq, int64_t n, float gradScale, float lr, float beta1,
                     float beta2, float eps, float weightDecay, int64_t step) {
  guarded(param ? "eert_adamw_bf16" : "eert_adamw", [&] {
    // The bias corrections in double, as the CPU kernel.
    double correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
    double correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
    float stepSize = static_cast<float>(lr / correction1);
    float root2 = static_cast<float>(std::sqrt(correction2));
    float shrink = static_cast<float>(1.0 - static_cast<double>(lr) * weightDecay);
    int32_t *flag = Device::get().nonfiniteFlag();
    if (param)
      launch("eert_adamw_bf16_kernel", blocksFor(n), 256, 0, param, master, grad, expAvg, expAvgSq,
             n, gradScale, beta1, beta2, eps, stepSize, root2, shrink, flag);
    else
      launch("eert_adamw_kernel", blocksFor(n), 256, 0, master, grad, expAvg, expAvgSq, n,
             gradScale, beta1, beta2, eps, stepSize, root2, shrink, flag);
  });
}

int32_t eert_take_nonfinite_updates(void) {
  int32_t count = 0;
  guarded("eert_take_nonfinite_updates", [&] { count = Device::get().takeNonfiniteUpdates(); });
  return count;
}

} // extern "C"
