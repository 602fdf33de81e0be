// Optimizer.cpp - the AdamW update as a runtime kernel (eert_adamw).
#include "cpu/Simd.h"
#include "eert/eert.h"

#include <cmath>

extern "C" void eert_adamw(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                           int64_t n, float grad_scale, float lr, float beta1, float beta2,
                           float eps, float weight_decay, int64_t step) {
  // The bias corrections in double: beta^step underflows late and rounds once.
  double correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  double correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  float stepSize = static_cast<float>(lr / correction1);
  float root2 = static_cast<float>(std::sqrt(correction2));
  float shrink = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
  eert::parallelFor(n, n >= eert::minParallelElements, [&](int64_t j) {
    float g = grad_scale * grad[j];
    float m = beta1 * exp_avg[j] + (1.0f - beta1) * g;
    float v = beta2 * exp_avg_sq[j] + (1.0f - beta2) * g * g;
    exp_avg[j] = m;
    exp_avg_sq[j] = v;
    param[j] = param[j] * shrink - stepSize * m / (std::sqrt(v) / root2 + eps);
  });
}
