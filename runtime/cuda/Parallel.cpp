// Parallel.cpp - the vocab-parallel kernels and the column gather on the cuda backend.
//
// Rank r of the TP group holds ids [r vocab, (r + 1) vocab) of the
// vocabulary. As on the CPU (runtime/cpu/VocabParallel.cpp), a loss or a
// confidence takes every rank's row maxima (all-gathered) and the sums of
// exponentials and label terms (all-reduced) over the group; between GPUs
// those collectives go to NCCL (Nccl.cpp) on small device buffers, and a
// group of one rank copies on the device.
#include "cuda/Device.h"
#include "cuda/Entry.h"
#include "eert/eert.h"

#include <stdexcept>

using namespace eert::cuda;

namespace {

int64_t groupSize(int64_t group) { return eert_comm_group_size(group); }

/// eert_comm_all_gather on device memory (a group of one: a device copy, as
/// the comm layer's own single-rank path copies host memory).
void gatherOverGroup(const float *input, float *output, int64_t count, int64_t group) {
  if (groupSize(group) == 1)
    Device::get().copyOnDevice(output, input, sizeof(float) * count);
  else if (eert_comm_all_gather(input, output, count, group) != 0)
    throw std::runtime_error(eert_last_error());
}

void sumOverGroup(float *data, int64_t count, int64_t group) {
  if (groupSize(group) > 1 && eert_comm_all_reduce(data, count, group) != 0)
    throw std::runtime_error(eert_last_error());
}

/// Scratch carved into 256-byte aligned arrays.
class ScratchArrays {
public:
  explicit ScratchArrays(size_t bytes) : base_(static_cast<char *>(Device::get().scratch(bytes))) {}
  template <typename T> T *take(int64_t count) {
    T *at = reinterpret_cast<T *>(base_ + used_);
    used_ += (sizeof(T) * count + 255) / 256 * 256;
    return at;
  }
  static size_t bytes(std::initializer_list<size_t> sizes) {
    size_t total = 0;
    for (size_t size : sizes)
      total += (size + 255) / 256 * 256;
    return total;
  }

private:
  char *base_;
  size_t used_ = 0;
};

/// Over the whole vocabulary, per token: maximum[t] (of logits / T) and
/// sums[t] (of exp(logits / T - maximum)), and with labels the label's
/// logit / T in sums[tokens + t]; each summed over the group.
struct VocabStats {
  float *maximum, *sums;
  double *terms; // tokens doubles for the loss
};

VocabStats vocabStats(const float *logits, const int32_t *labels, int64_t tokens, int64_t vocab,
                      float temperature, int64_t group, FaultSource source) {
  int64_t parts = groupSize(group), first = eert_comm_group_rank(group) * vocab;
  size_t f = sizeof(float);
  ScratchArrays scratch(ScratchArrays::bytes(
      {f * tokens, f * tokens * parts, f * tokens, f * 2 * tokens, sizeof(double) * tokens}));
  float *local = scratch.take<float>(tokens), *maxima = scratch.take<float>(tokens * parts);
  VocabStats stats{scratch.take<float>(tokens), scratch.take<float>(2 * tokens),
                   scratch.take<double>(tokens)};
  float invTemperature = 1.0f / temperature;
  unsigned rows = static_cast<unsigned>(tokens);
  launchGrid("eert_vocab_row_max_kernel", rows, 1, 1, rowThreads(vocab), 0, logits, local, vocab,
             invTemperature);
  gatherOverGroup(local, maxima, tokens, group);
  launchGrid("eert_vocab_row_sums_kernel", rows, 1, 1, rowThreads(vocab), 0, logits, labels,
             static_cast<const float *>(maxima), parts, tokens, stats.maximum, stats.sums, vocab,
             first, vocab * parts, invTemperature, Device::get().faultRecord(),
             static_cast<int32_t>(source));
  sumOverGroup(stats.sums, labels ? 2 * tokens : tokens, group);
  return stats;
}

/// An embedding kernel over this rank's block of the table.
template <typename... Args>
void embeddingBlock(const char *kernel, const int32_t *ids, int64_t tokens, int64_t vocab,
                    int64_t hidden, int64_t group, Args... args) {
  int64_t first = eert_comm_group_rank(group) * vocab, total = vocab * groupSize(group);
  launch(kernel, blocksFor(tokens * hidden), 256, 0, args..., tokens, first, vocab, total, hidden,
         Device::get().faultRecord());
}

} // namespace

extern "C" {

int32_t eert_embedding_lookup_parallel(const float *table, const int32_t *ids, float *output,
                                       int64_t tokens, int64_t vocab, int64_t hidden,
                                       int64_t group) {
  return guardedStatus("eert_embedding_lookup_parallel", [&] {
    embeddingBlock("eert_embedding_lookup_kernel", ids, tokens, vocab, hidden, group, table, ids,
                   output);
  });
}

int32_t eert_embedding_lookup_parallel_bf16(const uint16_t *table, const int32_t *ids,
                                            float *output, int64_t tokens, int64_t vocab,
                                            int64_t hidden, int64_t group) {
  return guardedStatus("eert_embedding_lookup_parallel_bf16", [&] {
    embeddingBlock("eert_embedding_lookup_bf16_kernel", ids, tokens, vocab, hidden, group, table,
                   ids, output);
  });
}

int32_t eert_embedding_backward_parallel(const int32_t *ids, const float *doutput, float *dtable,
                                         int64_t tokens, int64_t vocab, int64_t hidden,
                                         int64_t group) {
  return guardedStatus("eert_embedding_backward_parallel", [&] {
    Device::get().zero(dtable, sizeof(float) * vocab * hidden);
    embeddingBlock("eert_embedding_backward_kernel", ids, tokens, vocab, hidden, group, ids,
                   doutput, dtable);
  });
}

int32_t eert_cross_entropy_parallel(const float *logits, const int32_t *labels, float *loss,
                                    int64_t tokens, int64_t vocab, float temperature,
                                    int64_t group) {
  return guardedStatus("eert_cross_entropy_parallel", [&] {
    if (tokens == 0)
      throw std::runtime_error("cross-entropy over zero tokens");
    VocabStats stats =
        vocabStats(logits, labels, tokens, vocab, temperature, group, FaultSource::CrossEntropy);
    launch("eert_vocab_terms_kernel", blocksFor(tokens), 256, 0,
           static_cast<const float *>(stats.maximum), static_cast<const float *>(stats.sums),
           stats.terms, tokens);
    launch("eert_sum_double_kernel", 1, 1024, 0, static_cast<const double *>(stats.terms), tokens,
           1.0 / static_cast<double>(tokens), loss);
  });
}

int32_t eert_cross_entropy_backward_parallel(const float *logits, const int32_t *labels,
                                             float *dlogits, int64_t tokens, int64_t vocab,
                                             float temperature, float dloss, int64_t group) {
  return guardedStatus("eert_cross_entropy_backward_parallel", [&] {
    if (tokens == 0)
      return;
    VocabStats stats = vocabStats(logits, labels, tokens, vocab, temperature, group,
                                  FaultSource::CrossEntropyBackward);
    float invTemperature = 1.0f / temperature;
    float factor = static_cast<float>(static_cast<double>(dloss) * invTemperature / tokens);
    int64_t first = eert_comm_group_rank(group) * vocab;
    launch("eert_vocab_cross_entropy_backward_kernel", blocksFor(tokens * vocab), 256, 0, logits,
           labels, static_cast<const float *>(stats.maximum),
           static_cast<const float *>(stats.sums), dlogits, tokens, vocab, first, invTemperature,
           factor);
  });
}

int32_t eert_exit_confidence_parallel(const float *logits, float *confidence, int64_t tokens,
                                      int64_t vocab, int64_t group) {
  return guardedStatus("eert_exit_confidence_parallel", [&] {
    if (tokens == 0)
      return;
    VocabStats stats =
        vocabStats(logits, nullptr, tokens, vocab, 1.0f, group, FaultSource::CrossEntropy);
    launch("eert_vocab_confidence_kernel", blocksFor(tokens), 256, 0,
           static_cast<const float *>(stats.sums), confidence, tokens);
  });
}

int32_t eert_gather_columns(const float *input, float *output, int64_t rows, int64_t cols,
                            int64_t group) {
  return guardedStatus("eert_gather_columns", [&] {
    int64_t parts = groupSize(group);
    if (parts == 1) {
      Device::get().copyOnDevice(output, input, sizeof(float) * rows * cols);
      return;
    }
    float *blocks =
        static_cast<float *>(Device::get().scratch(sizeof(float) * rows * cols * parts));
    gatherOverGroup(input, blocks, rows * cols, group);
    launch("eert_gather_columns_kernel", blocksFor(rows * cols * parts), 256, 0,
           static_cast<const float *>(blocks), output, rows, cols, parts);
  });
}

} // extern "C"
