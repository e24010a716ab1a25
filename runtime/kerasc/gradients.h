// kerasc runtime: the kernels of the backward pass that are not elementwise (elementwise
// gradients are rendered inline from activations.h's act_grad). Each mirrors a forward kernel
// in kernels.h. Nothing here allocates. Header-only, standard library only.
#pragma once

#include "kerasc/kernels.h"
#include "kerasc/rng.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace kerasc {

/// dX[M, K] = dY[M, N] . W[K, N]^T (gradient of matmul with respect to its input); overwrites dX.
inline void matmul_grad_input(const float *dY, const float *W, float *dX, int64_t M, int64_t K,
                              int64_t N) {
  gemm<false, true>(M, K, N, dY, N, W, N, dX, K, IdentityEpilogue{});
}

/// dW[K, N] = X[M, K]^T . dY[M, N], summed over the M rows (gradient with respect to the
/// kernel); overwrites dW.
inline void matmul_grad_kernel(const float *X, const float *dY, float *dW, int64_t M, int64_t K,
                               int64_t N) {
  gemm<true, false>(K, N, M, X, K, dY, N, dW, N, IdentityEpilogue{});
}

/// Sums `x` (count elements, samples of sample_size) into `y` (y_count elements) along the axes
/// that y was broadcast over: element i of x adds to y[broadcast_offset(i, ...)], the same
/// mapping the forward pass used to read y.
inline void reduce_to(const float *x, float *y, int64_t count, int64_t y_count,
                      int64_t sample_size, int64_t batch_stride, const int64_t *dims,
                      const int64_t *strides, int rank) {
  std::memset(y, 0, sizeof(float) * static_cast<size_t>(y_count));
  bool row_broadcast = batch_stride == 0 && rank >= 1 && strides[rank - 1] == 1 &&
                       dims[rank - 1] == y_count;
  for (int d = 0; d + 1 < rank; ++d)
    row_broadcast = row_broadcast && strides[d] == 0;
  if (row_broadcast) {
    // The common case, a bias gradient: y is one row broadcast over every leading axis, so the
    // sum runs down the rows of x viewed as [count / y_count, y_count] (vectorizes).
    for (int64_t row = 0; row < count; row += y_count)
      for (int64_t j = 0; j < y_count; ++j)
        y[j] += x[row + j];
    return;
  }
  for (int64_t i = 0; i < count; ++i)
    y[broadcast_offset(i, sample_size, batch_stride, dims, strides, rank)] += x[i];
}

/// Gradient of softmax / log-softmax over the middle axis of [outer, n, inner], from the
/// forward output y: softmax dx = y * (dy - sum(dy * y)); log-softmax dx = dy - exp(y) * sum(dy).
inline void softmax_grad(const float *dy, const float *y, float *dx, int64_t outer, int64_t n,
                         int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      const int64_t base = o * n * inner + in;
      float dot = 0.0f;
      for (int64_t k = 0; k < n; ++k)
        dot += log ? dy[base + k * inner] : dy[base + k * inner] * y[base + k * inner];
      for (int64_t k = 0; k < n; ++k) {
        const int64_t at = base + k * inner;
        dx[at] = log ? dy[at] - std::exp(y[at]) * dot : y[at] * (dy[at] - dot);
      }
    }
  }
}

/// y = x[:, offset : offset + size, :] of x viewed as [outer, total, inner] (sizes in floats of
/// the middle axis times inner): the gradient of concat.
inline void slice(const float *x, float *y, int64_t outer, int64_t chunk, int64_t offset,
                  int64_t total) {
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(y + o * chunk, x + o * total + offset, sizeof(float) * static_cast<size_t>(chunk));
}

/// Training-mode noise layers (Keras's Dropout, SpatialDropout*, GaussianNoise, GaussianDropout,
/// AlphaDropout). Every draw is random_*(seed, stream, counter) with a stream derived from the
/// layer and the optimizer step, so the backward pass recomputes the forward pass's draws
/// instead of storing a mask.
enum class NoiseKind { Dropout, GaussianNoise, GaussianDropout, AlphaDropout };

inline uint64_t noise_stream(int64_t step, int64_t layer_stream) {
  return static_cast<uint64_t>(step) * 1024u + static_cast<uint64_t>(layer_stream);
}

/// Which draw each element uses: its own (channels == 0), or one per (sample, channel) as
/// SpatialDropout's noise_shape (batch, 1, ..., channels) asks, so whole feature maps drop.
struct NoiseShape {
  int64_t sample_size = 0; // elements per sample
  int64_t channels = 0;    // 0: element-wise
  bool channels_first = false;
};

inline uint64_t noise_counter(const NoiseShape &shape, int64_t i) {
  if (shape.channels == 0)
    return static_cast<uint64_t>(i);
  const int64_t sample = i / shape.sample_size, r = i % shape.sample_size;
  const int64_t channel =
      shape.channels_first ? r / (shape.sample_size / shape.channels) : r % shape.channels;
  return static_cast<uint64_t>(sample * shape.channels + channel);
}

/// AlphaDropout keeps mean and variance of SELU activations: dropped values become alpha_p, and
/// y = a * x + b (Keras's alpha_dropout.py).
struct AlphaDropoutAffine {
  float a, b;
  static constexpr float alpha_p = -1.6732632423543772848170429916717f * 1.0507009873554804934193349852946f;
  explicit AlphaDropoutAffine(float rate)
      : a(static_cast<float>(
            std::pow((1.0 - rate) * (1.0 + rate * double(alpha_p) * double(alpha_p)), -0.5))),
        b(-a * alpha_p * rate) {}
};

inline void noise_forward(NoiseKind kind, float rate, uint64_t seed, uint64_t stream,
                          const NoiseShape &shape, const float *x, float *y, int64_t count) {
  const AlphaDropoutAffine alpha(rate);
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t c = noise_counter(shape, i);
    switch (kind) {
    case NoiseKind::Dropout: // kept with probability 1 - rate, scaled by 1 / (1 - rate)
      y[i] = random_uniform(seed, stream, c) < rate ? 0.0f : x[i] / (1.0f - rate);
      break;
    case NoiseKind::GaussianNoise: // rate holds the stddev
      y[i] = x[i] + rate * random_normal(seed, stream, c);
      break;
    case NoiseKind::GaussianDropout: // multiplicative N(1, rate / (1 - rate))
      y[i] = x[i] * (1.0f + std::sqrt(rate / (1.0f - rate)) * random_normal(seed, stream, c));
      break;
    case NoiseKind::AlphaDropout:
      y[i] = random_uniform(seed, stream, c) >= rate ? alpha.a * x[i] + alpha.b
                                                     : alpha.a * AlphaDropoutAffine::alpha_p + alpha.b;
      break;
    }
  }
}

inline void noise_backward(NoiseKind kind, float rate, uint64_t seed, uint64_t stream,
                           const NoiseShape &shape, const float *dy, float *dx, int64_t count) {
  const AlphaDropoutAffine alpha(rate);
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t c = noise_counter(shape, i);
    switch (kind) {
    case NoiseKind::Dropout:
      dx[i] = random_uniform(seed, stream, c) < rate ? 0.0f : dy[i] / (1.0f - rate);
      break;
    case NoiseKind::GaussianNoise:
      dx[i] = dy[i];
      break;
    case NoiseKind::GaussianDropout:
      dx[i] = dy[i] * (1.0f + std::sqrt(rate / (1.0f - rate)) * random_normal(seed, stream, c));
      break;
    case NoiseKind::AlphaDropout:
      dx[i] = random_uniform(seed, stream, c) >= rate ? alpha.a * dy[i] : 0.0f;
      break;
    }
  }
}

} // namespace kerasc
