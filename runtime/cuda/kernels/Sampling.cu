// Sampling.cu - the token choice of a head (ee.exit_decision): the decision, greedy tokens, log-probabilities.
//
// A sampled token (temperature > 0 and top_k != 1) is drawn on the host
// from its row of logits by the CPU's rule (SamplingRules.h), so that a seed
// gives the same token on every backend; this kernel marks it with token -2.
#include "Common.cuh"

using eert::cuda::Fault;
using eert::cuda::FaultKind;
using eert::cuda::FaultSource;

extern "C" {

/// One block per token t with choice[t] = (threshold, temperature, top_k,
/// top_p): decision[t] = confidence[t] >= threshold; where it decides and the
/// choice is greedy, token[t] = the arg-max (the lowest id among equals) and
/// logprob[t] its log-probability; where it decides and samples, token[t] =
/// -2 (the host draws it); elsewhere token -1 and logprob 0. next_state[t]
/// = state[t]. Bad options are a fault.
__global__ void eert_exit_decision_kernel(const float *logits, const float *confidence,
                                          const float *choice, const uint64_t *state,
                                          int32_t *decision, int32_t *token, float *logprob,
                                          uint64_t *nextState, int64_t vocab, Fault *fault) {
  __shared__ float scratch[32];
  __shared__ float bestValue[32];
  __shared__ int64_t bestIndex[32];
  int64_t t = blockIdx.x;
  const float *options = choice + 4 * t;
  float threshold = options[0], temperature = options[1], topK = options[2], topP = options[3];
  bool bad = !(temperature >= 0.0f) || !(topK >= 0.0f && topK <= static_cast<float>(vocab)) ||
             topK != floorf(topK) || !(topP > 0.0f && topP <= 1.0f);
  bool decides = !bad && confidence[t] >= threshold;
  if (threadIdx.x == 0) {
    if (bad)
      recordFault(fault, FaultKind::Choice, FaultSource::ExitDecision, t, 0, 0);
    nextState[t] = state[t];
    decision[t] = decides ? 1 : 0;
    token[t] = -1;
    logprob[t] = 0.0f;
  }
  if (!decides)
    return;
  if (!(temperature <= 0.0f || topK == 1.0f)) {
    if (threadIdx.x == 0)
      token[t] = -2;
    return;
  }
  const float *row = logits + t * vocab;
  // The arg-max: each thread's best (lowest index on ties), then the block's.
  float value = -INFINITY;
  int64_t index = vocab;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x)
    if (row[v] > value || (row[v] == value && v < index)) {
      value = row[v];
      index = v;
    }
  for (int offset = 16; offset > 0; offset >>= 1) {
    float otherValue = __shfl_xor_sync(0xffffffffu, value, offset);
    int64_t otherIndex = __shfl_xor_sync(0xffffffffu, index, offset);
    if (otherValue > value || (otherValue == value && otherIndex < index)) {
      value = otherValue;
      index = otherIndex;
    }
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) {
    bestValue[warp] = value;
    bestIndex[warp] = index;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < warps; ++w)
      if (bestValue[w] > bestValue[0] || (bestValue[w] == bestValue[0] && bestIndex[w] < bestIndex[0])) {
        bestValue[0] = bestValue[w];
        bestIndex[0] = bestIndex[w];
      }
  }
  __syncthreads();
  float maximum = bestValue[0];
  int64_t chosen = bestIndex[0];
  if (chosen == vocab || isnan(row[0]))
    chosen = 0; // std::max_element's answer when NaNs are in the way, as on the CPU
  float sum = 0.0f;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x)
    sum += expf(row[v] - maximum);
  sum = blockSum(sum, scratch);
  if (threadIdx.x == 0) {
    token[t] = static_cast<int32_t>(chosen);
    logprob[t] = -logf(sum); // row[chosen] - (maximum + log(sum)), row[chosen] = maximum
  }
}

} // extern "C"
