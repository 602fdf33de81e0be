// Parallel.cpp - the vocab-parallel kernels and the column gather on the cuda backend, for one
// rank.
//
// Between GPUs these need their reductions inside the kernel on NCCL, which
// they do not have yet: ee-compile refuses --tp for cuda, and a TP group of
// more than one rank here fails naming that. With one rank each is its plain
// kernel.
#include "cpu/Error.h"
#include "cuda/Device.h"
#include "eert/eert.h"

#include <string>

namespace {

bool alone(const char *entry, int64_t group) {
  if (eert_comm_group_size(group) == 1)
    return true;
  eert::fail(std::string(entry) + ": tensor parallelism between GPUs is not implemented in the "
                                  "cuda backend yet");
  return false;
}

} // namespace

extern "C" {

int32_t eert_embedding_lookup_parallel(const float *table, const int32_t *ids, float *output,
                                       int64_t tokens, int64_t vocab, int64_t hidden,
                                       int64_t group) {
  if (!alone("eert_embedding_lookup_parallel", group))
    return 1;
  return eert_embedding_lookup(table, ids, output, tokens, vocab, hidden);
}

int32_t eert_embedding_lookup_parallel_bf16(const uint16_t *table, const int32_t *ids,
                                            float *output, int64_t tokens, int64_t vocab,
                                            int64_t hidden, int64_t group) {
  if (!alone("eert_embedding_lookup_parallel_bf16", group))
    return 1;
  return eert_embedding_lookup_bf16(table, ids, output, tokens, vocab, hidden);
}

int32_t eert_embedding_backward_parallel(const int32_t *ids, const float *doutput, float *dtable,
                                         int64_t tokens, int64_t vocab, int64_t hidden,
                                         int64_t group) {
  if (!alone("eert_embedding_backward_parallel", group))
    return 1;
  return eert_embedding_backward(ids, doutput, dtable, tokens, vocab, hidden);
}

int32_t eert_cross_entropy_parallel(const float *logits, const int32_t *labels, float *loss,
                                    int64_t tokens, int64_t vocab, float temperature,
                                    int64_t group) {
  if (!alone("eert_cross_entropy_parallel", group))
    return 1;
  return eert_cross_entropy(logits, labels, loss, tokens, vocab, temperature);
}

int32_t eert_cross_entropy_backward_parallel(const float *logits, const int32_t *labels,
                                             float *dlogits, int64_t tokens, int64_t vocab,
                                             float temperature, float dloss, int64_t group) {
  if (!alone("eert_cross_entropy_backward_parallel", group))
    return 1;
  return eert_cross_entropy_backward(logits, labels, dlogits, tokens, vocab, temperature, dloss);
}

int32_t eert_exit_confidence_parallel(const float *logits, float *confidence, int64_t tokens,
                                      int64_t vocab, int64_t group) {
  if (!alone("eert_exit_confidence_parallel", group))
    return 1;
  eert_exit_confidence(logits, confidence, tokens, vocab);
  return 0;
}

int32_t eert_gather_columns(const float *input, float *output, int64_t rows, int64_t cols,
                            int64_t group) {
  if (!alone("eert_gather_columns", group))
    return 1;
  eert_memory_copy(output, input, rows * cols * static_cast<int64_t>(sizeof(float)));
  return 0;
}

} // extern "C"
