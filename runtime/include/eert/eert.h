/* eert.h - the C ABI of the early-exit runtime (kernels, communication, IO). */
#ifndef EERT_EERT_H
#define EERT_EERT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EERT_EXPORT __attribute__((visibility("default")))

#define EERT_IN(name) const float *name
#define EERT_OUT(name) float *name
#define EERT_IDS(name) const int32_t *name
#define EERT_IDS_OUT(name) int32_t *name
#define EERT_U64_IN(name) const uint64_t *name
#define EERT_I64(name) int64_t name
#define EERT_F32(name) float name
#define EERT_U64P(name) uint64_t *name
#define EERT_BYTES_IN(name) const void *name
#define EERT_BYTES_OUT(name) void *name
#define EERT_BF16_IN(name) const uint16_t *name
#define EERT_BF16_OUT(name) uint16_t *name
#define EERT_NONE void
#define EERT_VOID void
#define EERT_STATUS int32_t
#define EERT_RET_F32 float
#define EERT_RET_I32 int32_t
#define EERT_RET_STR const char *
#define EERT_RET_PTR void *
#define EERT_FUNCTION(result, name, params) EERT_EXPORT result name params;
#include "eert/abi.def"
#undef EERT_FUNCTION

#ifdef __cplusplus
}
#endif

#endif /* EERT_EERT_H */
