// Optimizer.cpp - the AdamW update as a runtime kernel (eert_adamw; eert_adamw_bf16 on a bf16 parameter's fp32 master), and the count of updates that left a weight NaN or infinite.
#include "cpu/FewRows.h"
#include "cpu/Simd.h"
#include "eert/eert.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace {
// Updates since the last eert_take_nonfinite_updates(); the kernel notices
// while the weight is in a register, so training needs no scan of the weights.
std::atomic<int32_t> nonfiniteUpdates{0};

/// Updates the fp32 weight `master` in place; a bf16 parameter (`Param` is
/// uint16_t) then receives the update rounded, an fp32 one is the master.
/// One chunk's update of `count` values; whether one became inf or NaN. The
/// restrict pointers (none of the tensors overlap) let the loop vectorize.
uint32_t updateChunk(float *__restrict master, const float *__restrict grad,
                     float *__restrict expAvg, float *__restrict expAvgSq, int64_t count,
                     float gradScale, float beta1, float beta2, float eps, float stepSize,
                     float root2, float shrink) {
  uint32_t any = 0;
  for (int64_t j = 0; j < count; ++j) {
    float g = gradScale * grad[j];
    float m = beta1 * expAvg[j] + (1.0f - beta1) * g;
    float v = beta2 * expAvgSq[j] + (1.0f - beta2) * g * g;
    expAvg[j] = m;
    expAvgSq[j] = v;
    float updated = master[j] * shrink - stepSize * m / (std::sqrt(v) / root2 + eps);
    master[j] = updated;
    uint32_t bits;
    std::memcpy(&bits, &updated, 4);
    any |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u); // inf or NaN
  }
  return any;
}

template <typename Param>
void adamw(Param *param, float *master, const float *grad, float *exp_avg, float *exp_avg_sq,
           int64_t n, float grad_scale, float lr, float beta1, float beta2, float eps,
           float weight_decay, int64_t step) {
  // The bias corrections in double: beta^step underflows late and rounds once.
  double correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  double correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  float stepSize = static_cast<float>(lr / correction1);
  float root2 = static_cast<float>(std::sqrt(correction2));
  float shrink = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
  constexpr int64_t chunk = 1 << 14;
  int64_t chunks = (n + chunk - 1) / chunk;
  std::atomic<bool> nonfinite{false};
  eert::parallelFor(chunks, n >= eert::minParallelElements, [&](int64_t c) {
    int64_t begin = c * chunk, count = std::min(n, begin + chunk) - begin;
    uint32_t any = updateChunk(master + begin, grad + begin, exp_avg + begin, exp_avg_sq + begin,
                               count, grad_scale, beta1, beta2, eps, stepSize, root2, shrink);
    if constexpr (!std::is_same_v<Param, float>)
      for (int64_t j = begin; j < begin + count; ++j)
        eert::store(param + j, master[j]);
    if (any)
      nonfinite.store(true, std::memory_order_relaxed);
  });
  if (nonfinite.load())
    nonfiniteUpdates.fetch_add(1);
}
} // namespace

extern "C" void eert_adamw(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                           int64_t n, float grad_scale, float lr, float beta1, float beta2,
                           float eps, float weight_decay, int64_t step) {
  adamw(param, param, grad, exp_avg, exp_avg_sq, n, grad_scale, lr, beta1, beta2, eps,
        weight_decay, step);
}

extern "C" void eert_adamw_bf16(uint16_t *param, float *master, const float *grad, float *exp_avg,
                                float *exp_avg_sq, int64_t n, float grad_scale, float lr,
                                float beta1, float beta2, float eps, float weight_decay,
                                int64_t step) {
  adamw(param, master, grad, exp_avg, exp_avg_sq, n, grad_scale, lr, beta1, beta2, eps,
        weight_decay, step);
}

extern "C" int32_t eert_take_nonfinite_updates(void) { return nonfiniteUpdates.exchange(0); }
