// BF16.h - bfloat16 values as their 16 bits: conversion to and from fp32, and which dot-product path the CPU runs.
#ifndef EERT_CPU_BF16_H
#define EERT_CPU_BF16_H

#include <cstdint>
#include <cstring>

namespace eert::bf16 {

/// fp32 to bf16, rounded to nearest even (as PyTorch's .to(torch.bfloat16));
/// a NaN stays a (quiet) NaN.
inline uint16_t fromFloat(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float toFloat(uint16_t value) {
  uint32_t bits = static_cast<uint32_t>(value) << 16;
  float result;
  std::memcpy(&result, &bits, 4);
  return result;
}

void fromFloat(const float *input, uint16_t *output, int64_t n);
void toFloat(const uint16_t *input, float *output, int64_t n);

/// Whether the bf16 few-row kernel uses AVX512-BF16's dot products: the CPU
/// has them (checked at run time) and EERT_BF16_PORTABLE is not set (the
/// portable path, for tests and for comparison).
bool useAVX512BF16();

} // namespace eert::bf16

#endif // EERT_CPU_BF16_H
