// Embedding.cu - table lookups (fp32 or bf16 table, whole or one rank's block) and their gradient.
#include "Common.cuh"

using eert::cuda::Fault;
using eert::cuda::FaultKind;
using eert::cuda::FaultSource;

namespace {

/// Rows of ids in [first, first + vocab) from this block of the table, zero
/// rows for the other ids of [0, total); an id outside [0, total) is a fault
/// (and its row zero).
template <typename Table>
__device__ void lookup(const Table *table, const int32_t *ids, float *output, int64_t tokens,
                       int64_t first, int64_t vocab, int64_t total, int64_t hidden, Fault *fault) {
  EERT_GRID_LOOP(i, tokens * hidden) {
    int64_t t = i / hidden, c = i % hidden, id = ids[t];
    if (id < 0 || id >= total) {
      if (c == 0)
        recordFault(fault, FaultKind::Id, FaultSource::EmbeddingLookup, t, id, total);
      output[i] = 0.0f;
    } else if (id >= first && id < first + vocab) {
      output[i] = load(table, (id - first) * hidden + c);
    } else {
      output[i] = 0.0f;
    }
  }
}

} // namespace

extern "C" {

__global__ void eert_embedding_lookup_kernel(const float *table, const int32_t *ids,
                                             float *output, int64_t tokens, int64_t first,
                                             int64_t vocab, int64_t total, int64_t hidden,
                                             Fault *fault) {
  lookup(table, ids, output, tokens, first, vocab, total, hidden, fault);
}

__global__ void eert_embedding_lookup_bf16_kernel(const uint16_t *table, const int32_t *ids,
                                                  float *output, int64_t tokens, int64_t first,
                                                  int64_t vocab, int64_t total, int64_t hidden,
                                                  Fault *fault) {
  lookup(table, ids, output, tokens, first, vocab, total, hidden, fault);
}

/// dtable[id - first, :] += doutput[t, :] for the tokens whose id is in this
/// block (the host zeroes dtable first). Atomic adds: the order of a row's
/// terms, and so their rounding, may differ between runs, as in PyTorch's
/// embedding backward on a GPU.
__global__ void eert_embedding_backward_kernel(const int32_t *ids, const float *doutput,
                                               float *dtable, int64_t tokens, int64_t first,
                                               int64_t vocab, int64_t total, int64_t hidden,
                                               Fault *fault) {
  EERT_GRID_LOOP(i, tokens * hidden) {
    int64_t t = i / hidden, c = i % hidden, id = ids[t];
    if (id < 0 || id >= total) {
      if (c == 0)
        recordFault(fault, FaultKind::Id, FaultSource::EmbeddingBackward, t, id, total);
    } else if (id >= first && id < first + vocab) {
      atomicAdd(dtable + (id - first) * hidden + c, doutput[i]);
    }
  }
}

} // extern "C"
