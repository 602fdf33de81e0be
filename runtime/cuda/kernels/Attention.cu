// Attention.cu - causal grouped-query attention: flash-style forward and backward, and decode over a KV cache.
//
// Layouts as the CPU kernels: q [batch*seq, heads*d], k and v [batch*seq,
// kv_heads*d], row-major; head h reads KV head h / (heads / kv_heads). Scores
// are scaled by 1/sqrt(d) and softmaxed in fp32. The training kernels never
// store the [seq, seq] probabilities: one thread per query (or key) row
// keeps its row of d values in registers (D, a compile-time bound on d) and
// streams the other side through shared memory in tiles of kTile rows, with
// the online softmax (running maximum and sum).
#include "Common.cuh"

using eert::cuda::Fault;
using eert::cuda::FaultKind;
using eert::cuda::FaultSource;

namespace {

constexpr int kRows = 64; // query (or key) rows per block, one per thread
constexpr int kTile = 32; // rows of the other side per shared-memory tile

struct Shape {
  int64_t batch, seq, heads, kvHeads, d;
  float scale;
  __device__ int64_t qIndex(int64_t b, int64_t s, int64_t h) const {
    return ((b * seq + s) * heads + h) * d;
  }
  __device__ int64_t kvIndex(int64_t b, int64_t s, int64_t g) const {
    return ((b * seq + s) * kvHeads + g) * d;
  }
};

/// Rows [first, first + kTile) of `source` (row r at index(r)) into `tile`
/// (kTile x d), zeros past `rows`.
template <typename Index>
__device__ void loadTile(float *tile, const float *source, int64_t first, int64_t rows,
                         int64_t d, Index index) {
  for (int64_t i = threadIdx.x; i < kTile * d; i += blockDim.x) {
    int64_t r = first + i / d;
    tile[i] = r < rows ? source[index(r) + i % d] : 0.0f;
  }
}

/// Key and value rows [j0, j0 + kTile) of KV head g of sequence b into their
/// tiles, between barriers (the block's previous tile is done with).
__device__ void loadKeyValueTiles(float *keys, float *values, const float *key, const float *value,
                                  int64_t j0, int64_t b, int64_t g, const Shape &shape) {
  __syncthreads();
  auto index = [&](int64_t r) { return shape.kvIndex(b, r, g); };
  loadTile(keys, key, j0, shape.seq, shape.d, index);
  loadTile(values, value, j0, shape.seq, shape.d, index);
  __syncthreads();
}

template <int D> __device__ float dot(const float (&x)[D], const float *y, int64_t d) {
  float sum = 0.0f;
#pragma unroll
  for (int c = 0; c < D; ++c)
    if (c < d)
      sum += x[c] * y[c];
  return sum;
}

/// The forward pass of query row s of (b, h): its output, and (for the
/// backward) the log-sum-exp L of its scaled scores.
template <int D>
__device__ void forwardRow(const float *query, const float *key, const float *value, float *out,
                           float *logSumExp, Shape shape) {
  EERT_DYNAMIC_SHARED(float, shared);
  float *keys = shared, *values = shared + kTile * shape.d;
  int64_t b = blockIdx.z, h = blockIdx.y, g = h / (shape.heads / shape.kvHeads);
  int64_t first = blockIdx.x * static_cast<int64_t>(kRows), s = first + threadIdx.x;
  bool active = s < shape.seq;
  float q[D], o[D];
#pragma unroll
  for (int c = 0; c < D; ++c) {
    q[c] = active && c < shape.d ? query[shape.qIndex(b, s, h) + c] * shape.scale : 0.0f;
    o[c] = 0.0f;
  }
  float maximum = -INFINITY, sum = 0.0f;
  int64_t last = min(shape.seq, first + kRows); // keys this block's queries reach
  for (int64_t j0 = 0; j0 < last; j0 += kTile) {
    loadKeyValueTiles(keys, values, key, value, j0, b, g, shape);
    if (!active)
      continue;
    for (int jj = 0; jj < kTile && j0 + jj <= s; ++jj) {
      float score = dot<D>(q, keys + jj * shape.d, shape.d);
      float updated = fmaxf(maximum, score);
      float correction = expf(maximum - updated), p = expf(score - updated);
      sum = sum * correction + p;
      const float *v = values + jj * shape.d;
#pragma unroll
      for (int c = 0; c < D; ++c)
        if (c < shape.d)
          o[c] = o[c] * correction + p * v[c];
      maximum = updated;
    }
  }
  if (!active)
    return;
  float inverse = 1.0f / sum;
  if (out)
#pragma unroll
    for (int c = 0; c < D; ++c)
      if (c < shape.d)
        out[shape.qIndex(b, s, h) + c] = o[c] * inverse;
  if (logSumExp)
    logSumExp[(b * shape.heads + h) * shape.seq + s] = maximum + logf(sum);
}

/// dQ of query row s: sum over keys j <= s of P (dP - D_s) k_j / sqrt(d),
/// with P = exp(score - L_s), dP = dO_s . v_j and D_s = dO_s . O_s.
template <int D>
__device__ void queryGradient(const float *query, const float *key, const float *value,
                              const float *doutput, const float *logSumExp, const float *delta,
                              float *dquery, Shape shape) {
  EERT_DYNAMIC_SHARED(float, shared);
  float *keys = shared, *values = shared + kTile * shape.d;
  int64_t b = blockIdx.z, h = blockIdx.y, g = h / (shape.heads / shape.kvHeads);
  int64_t first = blockIdx.x * static_cast<int64_t>(kRows), s = first + threadIdx.x;
  bool active = s < shape.seq;
  float q[D], dout[D], dq[D];
#pragma unroll
  for (int c = 0; c < D; ++c) {
    bool in = active && c < shape.d;
    q[c] = in ? query[shape.qIndex(b, s, h) + c] * shape.scale : 0.0f;
    dout[c] = in ? doutput[shape.qIndex(b, s, h) + c] : 0.0f;
    dq[c] = 0.0f;
  }
  int64_t row = (b * shape.heads + h) * shape.seq + s;
  float lse = active ? logSumExp[row] : 0.0f, dlt = active ? delta[row] : 0.0f;
  int64_t last = min(shape.seq, first + kRows);
  for (int64_t j0 = 0; j0 < last; j0 += kTile) {
    loadKeyValueTiles(keys, values, key, value, j0, b, g, shape);
    if (!active)
      continue;
    for (int jj = 0; jj < kTile && j0 + jj <= s; ++jj) {
      const float *k = keys + jj * shape.d;
      float p = expf(dot<D>(q, k, shape.d) - lse);
      float ds = p * (dot<D>(dout, values + jj * shape.d, shape.d) - dlt);
#pragma unroll
      for (int c = 0; c < D; ++c)
        if (c < shape.d)
          dq[c] += ds * k[c];
    }
  }
  if (active)
#pragma unroll
    for (int c = 0; c < D; ++c)
      if (c < shape.d)
        dquery[shape.qIndex(b, s, h) + c] = dq[c] * shape.scale;
}

/// dK and dV of key row j of KV head g: over the query heads of its group and
/// the queries i >= j, dV += P dO_i and dK += P (dP - D_i) q_i / sqrt(d).
template <int D>
__device__ void keyValueGradient(const float *query, const float *key, const float *value,
                                 const float *doutput, const float *logSumExp, const float *delta,
                                 float *dkey, float *dvalue, Shape shape) {
  EERT_DYNAMIC_SHARED(float, shared);
  float *queries = shared, *douts = shared + kTile * shape.d;
  float *lses = douts + kTile * shape.d, *deltas = lses + kTile;
  int64_t b = blockIdx.z, g = blockIdx.y, group = shape.heads / shape.kvHeads;
  int64_t first = blockIdx.x * static_cast<int64_t>(kRows), j = first + threadIdx.x;
  bool active = j < shape.seq;
  float k[D], v[D], dk[D], dv[D];
#pragma unroll
  for (int c = 0; c < D; ++c) {
    bool in = active && c < shape.d;
    k[c] = in ? key[shape.kvIndex(b, j, g) + c] : 0.0f;
    v[c] = in ? value[shape.kvIndex(b, j, g) + c] : 0.0f;
    dk[c] = dv[c] = 0.0f;
  }
  for (int64_t h = g * group; h < (g + 1) * group; ++h) {
    for (int64_t i0 = first - first % kTile; i0 < shape.seq; i0 += kTile) {
      __syncthreads();
      auto index = [&](int64_t r) { return shape.qIndex(b, r, h); };
      loadTile(queries, query, i0, shape.seq, shape.d, index);
      loadTile(douts, doutput, i0, shape.seq, shape.d, index);
      for (int64_t r = threadIdx.x; r < kTile; r += blockDim.x) {
        int64_t i = i0 + r, row = (b * shape.heads + h) * shape.seq + i;
        lses[r] = i < shape.seq ? logSumExp[row] : 0.0f;
        deltas[r] = i < shape.seq ? delta[row] : 0.0f;
      }
      __syncthreads();
      if (!active)
        continue;
      for (int ii = 0; ii < kTile; ++ii) {
        int64_t i = i0 + ii;
        if (i < j || i >= shape.seq)
          continue;
        const float *q = queries + ii * shape.d, *dout = douts + ii * shape.d;
        float p = expf(dot<D>(k, q, shape.d) * shape.scale - lses[ii]);
        float ds = p * (dot<D>(v, dout, shape.d) - deltas[ii]) * shape.scale;
#pragma unroll
        for (int c = 0; c < D; ++c)
          if (c < shape.d) {
            dv[c] += p * dout[c];
            dk[c] += ds * q[c];
          }
      }
    }
  }
  if (active)
#pragma unroll
    for (int c = 0; c < D; ++c)
      if (c < shape.d) {
        dkey[shape.kvIndex(b, j, g) + c] = dk[c];
        dvalue[shape.kvIndex(b, j, g) + c] = dv[c];
      }
}

} // namespace

// One kernel per bound D on the head size (the host picks the smallest that fits).
#define EERT_ATTENTION_KERNELS(D)                                                              \
  extern "C" __global__ void __launch_bounds__(kRows) eert_attention_forward_d##D(            \
      const float *query, const float *key, const float *value, float *out, float *logSumExp, \
      Shape shape) {                                                                           \
    forwardRow<D>(query, key, value, out, logSumExp, shape);                                   \
  }                                                                                            \
  extern "C" __global__ void __launch_bounds__(kRows) eert_attention_dquery_d##D(             \
      const float *query, const float *key, const float *value, const float *doutput,          \
      const float *logSumExp, const float *delta, float *dquery, Shape shape) {                \
    queryGradient<D>(query, key, value, doutput, logSumExp, delta, dquery, shape);             \
  }                                                                                            \
  extern "C" __global__ void __launch_bounds__(kRows) eert_attention_dkv_d##D(                \
      const float *query, const float *key, const float *value, const float *doutput,          \
      const float *logSumExp, const float *delta, float *dkey, float *dvalue, Shape shape) {   \
    keyValueGradient<D>(query, key, value, doutput, logSumExp, delta, dkey, dvalue, shape);    \
  }
EERT_ATTENTION_KERNELS(32)
EERT_ATTENTION_KERNELS(64)
EERT_ATTENTION_KERNELS(128)
EERT_ATTENTION_KERNELS(256)

extern "C" {

/// delta[(b, h, s)] = dO . O of each query row (one thread per row).
__global__ void eert_attention_delta_kernel(const float *doutput, const float *out, float *delta,
                                            Shape shape) {
  EERT_GRID_LOOP(i, shape.batch * shape.heads * shape.seq) {
    int64_t s = i % shape.seq, h = (i / shape.seq) % shape.heads,
            b = i / (shape.seq * shape.heads);
    const float *dy = doutput + shape.qIndex(b, s, h), *y = out + shape.qIndex(b, s, h);
    float sum = 0.0f;
    for (int64_t c = 0; c < shape.d; ++c)
      sum += dy[c] * y[c];
    delta[i] = sum;
  }
}

/// Token t's cache slot is row t / seq (or rows[t]) at positions[t]; a
/// position or row outside the cache is a fault.
__global__ void eert_kv_cache_check_kernel(const int32_t *positions, const int32_t *rows,
                                           int64_t tokens, int64_t seq, int64_t cacheRows,
                                           int64_t maxPositions, Fault *fault) {
  EERT_GRID_LOOP(t, tokens) {
    int64_t position = positions[t], row = rows ? rows[t] : t / seq;
    if (position < 0 || position >= maxPositions)
      recordFault(fault, FaultKind::Position, FaultSource::AttentionCached, t, position,
                  maxPositions);
    else if (row < 0 || (cacheRows > 0 && row >= cacheRows))
      recordFault(fault, FaultKind::Row, FaultSource::AttentionCached, t, row, cacheRows);
  }
}

/// The new keys and values into their slots, after eert_kv_cache_check_kernel:
/// with a fault pending nothing is written, so a failing call leaves the
/// cache as it was (as the CPU kernel, which checks every token first).
__global__ void eert_kv_cache_write_kernel(const float *key, const float *value, float *kCache,
                                           float *vCache, const int32_t *positions,
                                           const int32_t *rows, int64_t tokens, int64_t seq,
                                           int64_t maxPositions, int64_t kvStride,
                                           const Fault *fault) {
  if (fault->kind != 0)
    return;
  EERT_GRID_LOOP(i, tokens * kvStride) {
    int64_t t = i / kvStride, c = i % kvStride;
    int64_t position = positions[t], row = rows ? rows[t] : t / seq;
    int64_t slot = (row * maxPositions + position) * kvStride + c;
    kCache[slot] = key[i];
    vCache[slot] = value[i];
  }
}

/// One block per (token, head): the token's query over its row's cache
/// entries at positions 0..positions[t], in chunks of kChunk positions with
/// the online softmax; thread c < d accumulates output component c (the
/// host launches at least d threads, a multiple of 32).
__global__ void eert_attention_decode_kernel(const float *query, const float *kCache,
                                             const float *vCache, const int32_t *positions,
                                             const int32_t *rows, float *output, int64_t seq,
                                             int64_t cacheRows, int64_t maxPositions,
                                             int64_t heads, int64_t kvHeads, int64_t d,
                                             float scale) {
  constexpr int kChunk = 512;
  __shared__ float probabilities[kChunk];
  __shared__ float scratch[32];
  int64_t t = blockIdx.x, h = blockIdx.y, g = h / (heads / kvHeads);
  int64_t position = positions[t], row = rows ? rows[t] : t / seq;
  int64_t kvStride = kvHeads * d;
  const float *q = query + (t * heads + h) * d;
  float *out = output + (t * heads + h) * d;
  bool bad = position < 0 || position >= maxPositions || row < 0 ||
             (cacheRows > 0 && row >= cacheRows);
  if (bad) {
    for (int64_t c = threadIdx.x; c < d; c += blockDim.x)
      out[c] = 0.0f;
    return;
  }
  const float *keys = kCache + row * maxPositions * kvStride + g * d;
  const float *values = vCache + row * maxPositions * kvStride + g * d;
  float maximum = -INFINITY, sum = 0.0f, acc = 0.0f;
  for (int64_t p0 = 0; p0 <= position; p0 += kChunk) {
    int64_t count = min(static_cast<int64_t>(kChunk), position + 1 - p0);
    float chunkMax = -INFINITY;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      const float *k = keys + (p0 + j) * kvStride;
      float score = 0.0f;
      for (int64_t c = 0; c < d; ++c)
        score += q[c] * k[c];
      score *= scale;
      probabilities[j] = score;
      chunkMax = fmaxf(chunkMax, score);
    }
    chunkMax = blockMax(chunkMax, scratch);
    float updated = fmaxf(maximum, chunkMax), correction = expf(maximum - updated);
    float chunkSum = 0.0f;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      float p = expf(probabilities[j] - updated);
      probabilities[j] = p;
      chunkSum += p;
    }
    chunkSum = blockSum(chunkSum, scratch); // its barriers publish the probabilities too
    sum = sum * correction + chunkSum;
    if (threadIdx.x < d) {
      float weighted = 0.0f;
      for (int64_t j = 0; j < count; ++j)
        weighted += probabilities[j] * values[(p0 + j) * kvStride + threadIdx.x];
      acc = acc * correction + weighted;
    }
    maximum = updated;
    __syncthreads();
  }
  if (threadIdx.x < d)
    out[threadIdx.x] = acc / sum;
}

} // extern "C"
