// kerasc runtime: the compute kernels that generated code calls. Shapes are passed as
// arguments the generated code knows statically; nothing here allocates memory.
// Header-only, standard library only: this file is copied into every generated output.
#pragma once

#include "kerasc/gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace kerasc {

// IdentityEpilogue (the unfused matmul's epilogue) is defined in gemm.h, next to the GEMM.

/// C[M, N] = epilogue(A[M, K] x B[K, N]), row-major. The epilogue sees each finished value with
/// its flat index in C and its column, so bias, activation and residual adds fuse into the
/// store. Computed by gemm.h's blocked, threaded GEMM (the epilogue runs on each register tile
/// right after its last K block).
template <class Epilogue>
inline void matmul(const float *A, const float *B, float *C, int64_t M, int64_t K, int64_t N,
                   Epilogue epilogue) {
  gemm<false, false>(M, N, K, A, K, B, N, C, N, epilogue);
}

/// Softmax (or log-softmax) over the middle axis of a tensor viewed as [outer, n, inner],
/// like Keras: e = exp(x - max); softmax = e / sum(e); log_softmax = (x - max) - log(sum(e)).
inline void softmax(const float *x, float *y, int64_t outer, int64_t n, int64_t inner,
                    bool log) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      const float *xs = x + o * n * inner + in;
      float *ys = y + o * n * inner + in;
      float maxv = xs[0];
      for (int64_t k = 1; k < n; ++k)
        maxv = std::max(maxv, xs[k * inner]);
      float sum = 0.0f;
      for (int64_t k = 0; k < n; ++k)
        sum += std::exp(xs[k * inner] - maxv);
      if (log) {
        const float log_sum = std::log(sum);
        for (int64_t k = 0; k < n; ++k)
          ys[k * inner] = (xs[k * inner] - maxv) - log_sum;
      } else {
        for (int64_t k = 0; k < n; ++k)
          ys[k * inner] = std::exp(xs[k * inner] - maxv) / sum;
      }
    }
  }
}

/// Largest rank the data-movement kernels handle (batch axis included).
constexpr int kMaxRank = 8;

/// y = transpose(x, perm) for a tensor of `rank` dims `dims` (batch first);
/// y.dim(i) = x.dim(perm[i]).
inline void transpose(const float *x, float *y, const int64_t *dims, const int64_t *perm,
                      int rank) {
  int64_t in_strides[kMaxRank], out_dims[kMaxRank], index[kMaxRank] = {0};
  int64_t total = 1;
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_strides[d] = stride;
    stride *= dims[d];
  }
  for (int d = 0; d < rank; ++d) {
    out_dims[d] = dims[perm[d]];
    total *= out_dims[d];
  }
  for (int64_t i = 0; i < total; ++i) {
    int64_t src = 0;
    for (int d = 0; d < rank; ++d)
      src += index[d] * in_strides[perm[d]];
    y[i] = x[src];
    for (int d = rank - 1; d >= 0; --d) {  // advance the output multi-index
      if (++index[d] < out_dims[d])
        break;
      index[d] = 0;
    }
  }
}

/// RepeatVector: y[b, t, :] = x[b, :] for t < times.
inline void repeat(const float *x, float *y, int64_t batch, int64_t features, int64_t times) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < times; ++t)
      std::memcpy(y + (b * times + t) * features, x + b * features,
                  sizeof(float) * static_cast<size_t>(features));
}

/// Copies one concatenation input into its slot: x is viewed as [outer, chunk] and lands at
/// column `offset` of y viewed as [outer, total].
inline void concat_part(const float *x, float *y, int64_t outer, int64_t chunk, int64_t offset,
                        int64_t total) {
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(y + o * total + offset, x + o * chunk, sizeof(float) * static_cast<size_t>(chunk));
}

/// Offset into a broadcast operand for flat index `i` of the result. The result's sample has
/// `rank` dims `dims` (batch excluded) and `sample_size` elements; the operand's per-dim strides
/// are `strides` (0 where it broadcasts) and it advances by `batch_stride` per sample (0 when
/// it has no batch axis).
inline int64_t broadcast_offset(int64_t i, int64_t sample_size, int64_t batch_stride,
                                const int64_t *dims, const int64_t *strides, int rank) {
  int64_t offset = (i / sample_size) * batch_stride;
  int64_t r = i % sample_size;
  for (int d = rank - 1; d >= 0; --d) {
    offset += (r % dims[d]) * strides[d];
    r /= dims[d];
  }
  return offset;
}

} // namespace kerasc
