// Gemm.cpp - fp32 and bf16-input matrix products through oneDNN's matmul primitive (created once per shape and kept) or OpenBLAS.
//
// oneDNN (Debian's libdnnl 2.6) picks its AVX-512 kernels on this project's
// development CPU, where the environment holds OpenBLAS to its Haswell ones;
// which library is faster per shape class is measured by bench/gemm_bench.py
// and written down in bench/README.md, and libraryFor() follows it.
#include "cpu/Gemm.h"
#include "cpu/BF16.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

namespace eert::gemm {
namespace {

/// A product's shape and element types (inputs bf16 or fp32; output too).
struct Shape {
  bool transA, transB;
  int64_t m, n, k, lda, ldb, ldc;
  bool bf16Inputs = false, bf16Output = false;
  bool operator<(const Shape &other) const {
    return std::tie(transA, transB, m, n, k, lda, ldb, ldc, bf16Inputs, bf16Output) <
           std::tie(other.transA, other.transB, other.m, other.n, other.k, other.lda, other.ldb,
                    other.ldc, other.bf16Inputs, other.bf16Output);
  }
};

/// The process's CPU engine and one matmul primitive per shape seen. Creating
/// a primitive costs tens of microseconds to milliseconds (its kernel is
/// generated for the shape); running one is what a call pays after that.
class OneDNN {
public:
  static OneDNN &instance() {
    static OneDNN dnn;
    return dnn;
  }

  void multiply(const Shape &s, const void *a, const void *b, void *c) {
    const Entry &entry = lookup(s);
    // A stream per thread: primitives may run on several threads at once,
    // a stream's queue may not.
    thread_local dnnl::stream stream(engine);
    dnnl::memory am(entry.a, engine, const_cast<void *>(a));
    dnnl::memory bm(entry.b, engine, const_cast<void *>(b));
    dnnl::memory cm(entry.c, engine, c);
    entry.primitive.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    stream.wait();
  }

private:
  struct Entry {
    dnnl::memory::desc a, b, c;
    dnnl::matmul primitive;
  };

  const Entry &lookup(const Shape &s) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(s);
    if (it != cache.end())
      return it->second;
    using dims = dnnl::memory::dims;
    using type = dnnl::memory::data_type;
    type input = s.bf16Inputs ? type::bf16 : type::f32, output = s.bf16Output ? type::bf16 : type::f32;
    // Row-major operands; a transposed one is the same memory with swapped
    // strides. bf16 products accumulate in fp32.
    dnnl::memory::desc a({s.m, s.k}, input, s.transA ? dims{1, s.lda} : dims{s.lda, 1});
    dnnl::memory::desc b({s.k, s.n}, input, s.transB ? dims{1, s.ldb} : dims{s.ldb, 1});
    dnnl::memory::desc c({s.m, s.n}, output, dims{s.ldc, 1});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine);
    return cache.emplace(s, Entry{a, b, c, dnnl::matmul(pd)}).first->second;
  }

  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::mutex mutex;
  std::map<Shape, Entry> cache;
};

void openblas(const Shape &s, const float *a, const float *b, float *c) {
  cblas_sgemm(CblasRowMajor, s.transA ? CblasTrans : CblasNoTrans,
              s.transB ? CblasTrans : CblasNoTrans, s.m, s.n, s.k, 1.0f, a, s.lda, b, s.ldb, 0.0f,
              c, s.ldc);
}

/// EERT_GEMM, read once; unset (or anything else): the measured choice.
std::optional<Library> forcedLibrary() {
  static const std::optional<Library> forced = []() -> std::optional<Library> {
    const char *value = std::getenv("EERT_GEMM");
    if (!value)
      return std::nullopt;
    if (!std::strcmp(value, "onednn"))
      return Library::OneDNN;
    if (!std::strcmp(value, "openblas"))
      return Library::OpenBLAS;
    if (!std::strcmp(value, "fewrows"))
      return Library::FewRows;
    return std::nullopt;
  }();
  return forced;
}

} // namespace

Library libraryFor(int64_t rows, int64_t in, int64_t out, bool forward, bool bf16) {
  bool fewRows = forward && rows <= 16;
  if (std::optional<Library> forced = forcedLibrary())
    if (*forced != Library::FewRows || fewRows)
      return *forced == Library::OpenBLAS && bf16 ? Library::OneDNN : *forced;
  // bench/README.md (gemm_bench.py, 2026-12-03). fp32: the few-row kernel
  // wins up to 16 rows; oneDNN elsewhere by 5-15%, but for the backward
  // products of a layer whose input is much wider than its output (the MLP's
  // down projection), where OpenBLAS was 2-25% faster. bf16: the few-row
  // kernel up to 16 rows too. It is 1.5-2.5x oneDNN at 1-2 rows; oneDNN ties
  // at 4 and is 3x faster at 16 once built, but it builds a primitive per
  // row count, and early-exit decoding (3-16 recomputed rows, a new count
  // every few tokens) paid for building them: the demo model's early-exit
  // decode ran at 6-8K tokens/s with oneDNN from 3 rows, 14-16K without.
  if (bf16)
    return fewRows ? Library::FewRows : Library::OneDNN;
  if (fewRows)
    return Library::FewRows;
  if (!forward && in > 2 * out)
    return Library::OpenBLAS;
  return Library::OneDNN;
}

void multiply(Library library, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
              const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc) {
  Shape s{transA, transB, m, n, k, lda, ldb, ldc};
  if (library == Library::OneDNN) {
    try {
      OneDNN::instance().multiply(s, a, b, c);
      return;
    } catch (const dnnl::error &) {
      // A shape oneDNN has no kernel for (or no memory to build one): OpenBLAS.
    }
  }
  openblas(s, a, b, c);
}

void multiplyBF16(bool transA, bool transB, int64_t m, int64_t n, int64_t k, const uint16_t *a,
                  int64_t lda, const uint16_t *b, int64_t ldb, void *c, int64_t ldc,
                  bool bf16Output) {
  Shape s{transA, transB, m, n, k, lda, ldb, ldc, true, bf16Output};
  try {
    OneDNN::instance().multiply(s, a, b, c);
    return;
  } catch (const dnnl::error &) {
    // No oneDNN kernel for the shape: the same product in fp32 (bf16 values
    // are exact in fp32), rounded to bf16 if asked.
  }
  std::vector<float> fa(transA ? k * lda : m * lda), fb(transB ? n * ldb : k * ldb), fc(m * ldc);
  bf16::toFloat(a, fa.data(), static_cast<int64_t>(fa.size()));
  bf16::toFloat(b, fb.data(), static_cast<int64_t>(fb.size()));
  openblas(Shape{transA, transB, m, n, k, lda, ldb, ldc}, fa.data(), fb.data(), fc.data());
  if (bf16Output)
    bf16::fromFloat(fc.data(), static_cast<uint16_t *>(c), static_cast<int64_t>(fc.size()));
  else
    std::memcpy(c, fc.data(), fc.size() * sizeof(float));
}

} // namespace eert::gemm
