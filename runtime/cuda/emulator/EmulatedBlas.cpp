// EmulatedBlas.cpp - the cuBLASLt entry points of Libraries.h as a plain loop on emulated memory.
//
// The descriptors Gemm.cpp makes are taken as cuBLASLt takes them (column-major layouts of
// rows x cols with a leading dimension, TRANSA/TRANSB on the matmul descriptor, the compute
// and scale types, the preference's alignments) and checked as cuBLASLt would refuse them, so
// a layout bug in Gemm.cpp or its callers computes something else or fails here as there.
// D = alpha op(A) op(B) + beta C with fp32 accumulation; C is not read when beta is 0.
#include "cuda/Libraries.h"
#include "cuda/emulator/Emulator.h"

#include <cmath>
#include <string>

// cuBLASLt's opaque handle type, defined here.
struct cublasLtContext {};

namespace eert::cuda::emulator {
namespace {

constexpr uint64_t kDescMagic = 0x656d75646573ull, kLayoutMagic = 0x656d756c6179ull,
                   kPreferenceMagic = 0x656d75707266ull, kAlgoMagic = 0x656d75616c67ull;

struct Desc {
  uint64_t magic = kDescMagic;
  cublasComputeType_t compute;
  cudaDataType_t scale;
  cublasOperation_t opA = CUBLAS_OP_N, opB = CUBLAS_OP_N;
};
struct Layout {
  uint64_t magic = kLayoutMagic;
  cudaDataType_t type;
  uint64_t rows, cols;
  int64_t ld;
};
struct Preference {
  uint64_t magic = kPreferenceMagic;
  uint64_t workspace = 0;
  uint32_t alignment[4] = {256, 256, 256, 256}; // A, B, C, D
};
cublasLtContext theHandle;

thread_local cublasStatus_t detailStatus = CUBLAS_STATUS_SUCCESS;
thread_local std::string detail;

cublasStatus_t fail(cublasStatus_t status, const std::string &why) {
  detailStatus = status;
  detail = "emulated cuBLASLt: " + why;
  return status;
}

Desc *descOf(cublasLtMatmulDesc_t d) {
  auto *desc = reinterpret_cast<Desc *>(d);
  return desc && desc->magic == kDescMagic ? desc : nullptr;
}
Layout *layoutOf(cublasLtMatrixLayout_t l) {
  auto *layout = reinterpret_cast<Layout *>(l);
  return layout && layout->magic == kLayoutMagic ? layout : nullptr;
}
Preference *preferenceOf(cublasLtMatmulPreference_t p) {
  auto *preference = reinterpret_cast<Preference *>(p);
  return preference && preference->magic == kPreferenceMagic ? preference : nullptr;
}

size_t elementBytes(cudaDataType_t type) { return type == CUDA_R_32F ? 4 : 2; }

std::string describe(const Layout &l) {
  return std::string(l.type == CUDA_R_32F ? "fp32 " : "bf16 ") + std::to_string(l.rows) + "x" +
         std::to_string(l.cols) + " (ld " + std::to_string(l.ld) + ")";
}

/// The product's m, n, k if the descriptors make a product cuBLASLt computes.
cublasStatus_t shapeOf(const Desc *desc, const Layout *a, const Layout *b, const Layout *c,
                       const Layout *d, uint64_t &m, uint64_t &n, uint64_t &k) {
  if (!desc || !a || !b || !c || !d)
    return fail(CUBLAS_STATUS_INVALID_VALUE, "a descriptor or layout that was not created");
  if (desc->scale != CUDA_R_32F ||
      (desc->compute != CUBLAS_COMPUTE_32F && desc->compute != CUBLAS_COMPUTE_32F_FAST_TF32))
    return fail(CUBLAS_STATUS_NOT_SUPPORTED, "compute or scale type other than fp32");
  if (a->type != b->type || (a->type != CUDA_R_32F && a->type != CUDA_R_16BF))
    return fail(CUBLAS_STATUS_NOT_SUPPORTED, "A and B are not both fp32 or both bf16");
  if (c->type != d->type || (a->type == CUDA_R_32F && c->type != CUDA_R_32F) ||
      (c->type != CUDA_R_32F && c->type != CUDA_R_16BF))
    return fail(CUBLAS_STATUS_NOT_SUPPORTED, "C and D types do not go with A's");
  if (desc->compute == CUBLAS_COMPUTE_32F_FAST_TF32 && a->type != CUDA_R_32F)
    return fail(CUBLAS_STATUS_NOT_SUPPORTED, "TF32 compute with bf16 factors");
  bool transA = desc->opA == CUBLAS_OP_T, transB = desc->opB == CUBLAS_OP_T;
  m = transA ? a->cols : a->rows;
  k = transA ? a->rows : a->cols;
  uint64_t kB = transB ? b->cols : b->rows;
  n = transB ? b->rows : b->cols;
  std::string shapes = "op(A) of " + describe(*a) + ", op(B) of " + describe(*b) + ", C " +
                       describe(*c) + ", D " + describe(*d);
  if (kB != k || c->rows != m || c->cols != n || d->rows != m || d->cols != n || c->ld != d->ld)
    return fail(CUBLAS_STATUS_INVALID_VALUE, "shapes that do not multiply: " + shapes);
  for (const Layout *l : {a, b, c, d})
    if (l->ld < static_cast<int64_t>(std::max<uint64_t>(1, l->rows)))
      return fail(CUBLAS_STATUS_INVALID_VALUE, "a leading dimension below the rows: " + shapes);
  return CUBLAS_STATUS_SUCCESS;
}

bool inDevice(const void *p, const Layout &l) {
  size_t elements = l.cols ? (l.cols - 1) * static_cast<uint64_t>(l.ld) + l.rows : 0;
  return isDeviceRange(p, elements * elementBytes(l.type));
}

float load(const void *p, cudaDataType_t type, uint64_t i) {
  if (type == CUDA_R_32F)
    return static_cast<const float *>(p)[i];
  uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t *>(p)[i]) << 16;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

void store(void *p, cudaDataType_t type, uint64_t i, float v) {
  if (type == CUDA_R_32F) {
    static_cast<float *>(p)[i] = v;
    return;
  }
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  uint16_t rounded = (bits & 0x7fffffffu) > 0x7f800000u
                         ? static_cast<uint16_t>((bits >> 16) | 0x40u)
                         : static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  static_cast<uint16_t *>(p)[i] = rounded;
}

/// An fp32 value as TF32 (10 explicit mantissa bits, to nearest).
float tf32(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  if ((bits & 0x7f800000u) != 0x7f800000u)
    bits = (bits + 0xfffu + ((bits >> 13) & 1u)) & ~0x1fffu;
  std::memcpy(&v, &bits, 4);
  return v;
}

namespace entry {

cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle) {
  *handle = &theHandle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t) { return CUBLAS_STATUS_SUCCESS; }

const char *cublasLtGetStatusString(cublasStatus_t status) {
  if (status == detailStatus && !detail.empty())
    return detail.c_str();
  switch (status) {
  case CUBLAS_STATUS_SUCCESS:
    return "CUBLAS_STATUS_SUCCESS";
  case CUBLAS_STATUS_INVALID_VALUE:
    return "CUBLAS_STATUS_INVALID_VALUE";
  case CUBLAS_STATUS_NOT_SUPPORTED:
    return "CUBLAS_STATUS_NOT_SUPPORTED";
  case CUBLAS_STATUS_EXECUTION_FAILED:
    return "CUBLAS_STATUS_EXECUTION_FAILED";
  default:
    return "CUBLAS_STATUS_UNKNOWN";
  }
}

size_t cublasLtGetVersion() { return CUBLAS_VERSION; }

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *desc, cublasComputeType_t compute,
                                        cudaDataType_t scale) {
  auto *d = new Desc();
  d->compute = compute;
  d->scale = scale;
  *desc = reinterpret_cast<cublasLtMatmulDesc_t>(d);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete descOf(desc);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                              cublasLtMatmulDescAttributes_t attribute,
                                              const void *value, size_t bytes) {
  Desc *d = descOf(desc);
  if (!d)
    return fail(CUBLAS_STATUS_INVALID_VALUE, "a matmul descriptor that was not created");
  if (attribute != CUBLASLT_MATMUL_DESC_TRANSA && attribute != CUBLASLT_MATMUL_DESC_TRANSB)
    return fail(CUBLAS_STATUS_NOT_SUPPORTED,
                "matmul attribute " + std::to_string(attribute) + " is not emulated");
  if (bytes != sizeof(int32_t))
    return fail(CUBLAS_STATUS_INVALID_VALUE, "TRANSA/TRANSB take an int32_t");
  int32_t op;
  std::memcpy(&op, value, sizeof(op));
  if (op != CUBLAS_OP_N && op != CUBLAS_OP_T)
    return fail(CUBLAS_STATUS_NOT_SUPPORTED, "an operation other than N or T");
  (attribute == CUBLASLT_MATMUL_DESC_TRANSA ? d->opA : d->opB) = static_cast<cublasOperation_t>(op);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *layout, cudaDataType type,
                                          uint64_t rows, uint64_t cols, int64_t ld) {
  auto *l = new Layout();
  l->type = type;
  l->rows = rows;
  l->cols = cols;
  l->ld = ld;
  *layout = reinterpret_cast<cublasLtMatrixLayout_t>(l);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete layoutOf(layout);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *preference) {
  *preference = reinterpret_cast<cublasLtMatmulPreference_t>(new Preference());
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t preference) {
  delete preferenceOf(preference);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t preference,
                                                    cublasLtMatmulPreferenceAttributes_t attribute,
                                                    const void *value, size_t bytes) {
  Preference *p = preferenceOf(preference);
  if (!p)
    return fail(CUBLAS_STATUS_INVALID_VALUE, "a preference that was not created");
  switch (attribute) {
  case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
    if (bytes != sizeof(uint64_t))
      return fail(CUBLAS_STATUS_INVALID_VALUE, "MAX_WORKSPACE_BYTES takes a uint64_t");
    std::memcpy(&p->workspace, value, bytes);
    return CUBLAS_STATUS_SUCCESS;
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: {
    if (bytes != sizeof(uint32_t))
      return fail(CUBLAS_STATUS_INVALID_VALUE, "MIN_ALIGNMENT_*_BYTES take a uint32_t");
    int which = attribute == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES   ? 0
                : attribute == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES ? 1
                : attribute == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES ? 2
                                                                          : 3;
    std::memcpy(&p->alignment[which], value, bytes);
    return CUBLAS_STATUS_SUCCESS;
  }
  default:
    return fail(CUBLAS_STATUS_NOT_SUPPORTED,
                "preference attribute " + std::to_string(attribute) + " is not emulated");
  }
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t preference, int requested,
                                              cublasLtMatmulHeuristicResult_t results[],
                                              int *returned) {
  *returned = 0;
  Preference *p = preferenceOf(preference);
  if (!handle || !p || requested < 1)
    return fail(CUBLAS_STATUS_INVALID_VALUE, "the heuristic's handle, preference or count");
  uint64_t m, n, k;
  if (cublasStatus_t s =
          shapeOf(descOf(desc), layoutOf(a), layoutOf(b), layoutOf(c), layoutOf(d), m, n, k))
    return s;
  cublasLtMatmulHeuristicResult_t result{};
  result.algo.data[0] = kAlgoMagic;
  // The algorithm needs the alignment it was chosen for: the smallest the caller promised.
  uint32_t alignment = 256;
  for (uint32_t each : p->alignment)
    alignment = std::min(alignment, each);
  result.algo.data[1] = alignment;
  result.state = CUBLAS_STATUS_SUCCESS;
  result.wavesCount = 1.0f;
  results[0] = result;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void *alpha,
                              const void *a, cublasLtMatrixLayout_t aLayout, const void *b,
                              cublasLtMatrixLayout_t bLayout, const void *beta, const void *c,
                              cublasLtMatrixLayout_t cLayout, void *d,
                              cublasLtMatrixLayout_t dLayout, const cublasLtMatmulAlgo_t *algo,
                              void *workspace, size_t workspaceBytes, cudaStream_t stream) {
  if (!handle)
    return fail(CUBLAS_STATUS_NOT_INITIALIZED, "a null handle");
  const Desc *dsc = descOf(desc);
  const Layout *la = layoutOf(aLayout), *lb = layoutOf(bLayout), *lc = layoutOf(cLayout),
               *ld = layoutOf(dLayout);
  uint64_t m, n, k;
  if (cublasStatus_t s = shapeOf(dsc, la, lb, lc, ld, m, n, k))
    return s;
  if (!algo || algo->data[0] != kAlgoMagic)
    return fail(CUBLAS_STATUS_INVALID_VALUE, "an algorithm not from the heuristic");
  uint64_t alignment = algo->data[1];
  for (const void *p : {a, b, c, static_cast<const void *>(d)})
    if (reinterpret_cast<uintptr_t>(p) % alignment)
      return fail(CUBLAS_STATUS_INVALID_VALUE, "a pointer less aligned than the " +
                                                   std::to_string(alignment) +
                                                   " bytes the algorithm was chosen for");
  float alphaValue, betaValue; // host pointer mode: read now, as a capture keeps them
  std::memcpy(&alphaValue, alpha, 4);
  std::memcpy(&betaValue, beta, 4);
  if (!inDevice(a, *la) || !inDevice(b, *lb) || !inDevice(d, *ld) ||
      (betaValue != 0.0f && !inDevice(c, *lc)))
    return fail(CUBLAS_STATUS_INVALID_VALUE, "a matrix that does not lie in device memory: A " +
                                                 describe(*la) + ", B " + describe(*lb) + ", D " +
                                                 describe(*ld));
  if (workspaceBytes && !isDeviceRange(workspace, workspaceBytes))
    return fail(CUBLAS_STATUS_INVALID_VALUE, "a workspace that is not device memory");
  bool transA = dsc->opA == CUBLAS_OP_T, transB = dsc->opB == CUBLAS_OP_T;
  bool useTf32 = dsc->compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  Layout A = *la, B = *lb, C = *lc, D = *ld;
  submit(stream, [=] {
    uint64_t lda = A.ld, ldb = B.ld, ldc = C.ld, ldd = D.ld;
    for (uint64_t j = 0; j < n; ++j)
      for (uint64_t i = 0; i < m; ++i) {
        float sum = 0.0f;
        for (uint64_t l = 0; l < k; ++l) {
          float x = load(a, A.type, transA ? l + i * lda : i + l * lda);
          float y = load(b, B.type, transB ? j + l * ldb : l + j * ldb);
          if (useTf32) {
            x = tf32(x);
            y = tf32(y);
          }
          sum += x * y;
        }
        float value = alphaValue * sum;
        if (betaValue != 0.0f)
          value += betaValue * load(c, C.type, i + j * ldc);
        store(d, D.type, i + j * ldd, value);
      }
  });
  return CUBLAS_STATUS_SUCCESS;
}

} // namespace entry
} // namespace

void fillCublasLt(CublasLtApi &api) {
#define EMU_FILL(name) api.name = &entry::name;
  EERT_CUBLASLT_FUNCTIONS(EMU_FILL)
#undef EMU_FILL
}

} // namespace eert::cuda::emulator
