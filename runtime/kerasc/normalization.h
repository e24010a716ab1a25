// kerasc runtime: BatchNormalization in training mode and LayerNormalization, forward and
// backward, with Keras 3's formulas (keras/src/backend/jax/nn.py batch_normalization and
// keras/src/ops/nn.py _layer_normalization):
//   mean, var = moments (var biased: mean((x - mean)^2))
//   inv = rsqrt(var + eps) * gamma;  y = x * inv + (beta - mean * inv)
// Inference-mode BatchNormalization is elementwise and rendered inline by the code generator.
//
// Tensors are viewed as [outer, channels, inner]: BatchNormalization's statistics run over
// outer and inner for each channel (axis -1: inner = 1; channels_first axis 1: outer = batch);
// LayerNormalization's over each row of [rows, n] (n = the normalized trailing axes).
// Statistics accumulate in double so that they do not depend on the reduction order (Keras's
// float32 XLA reductions are within ~1e-7 relative of the exact value, and so are these).
// Nothing here allocates: per-channel accumulators live on the stack, a block of channels at a
// time. Header-only, standard library only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace kerasc {

namespace norm_detail {

/// Channels whose statistics are accumulated together (stack arrays of doubles).
constexpr int64_t kChannelBlock = 64;

/// Per-channel sums over [outer, channels, inner] for channels [c0, c0 + cb): calls
/// visit(c_local, flat_index) for every element of those channels, row by row (contiguous runs).
template <class Visit>
inline void for_block(int64_t outer, int64_t channels, int64_t inner, int64_t c0, int64_t cb,
                      Visit visit) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < cb; ++c) {
      const int64_t base = (o * channels + c0 + c) * inner;
      for (int64_t k = 0; k < inner; ++k)
        visit(c, base + k);
    }
}

/// Batch mean and biased variance of channels [c0, c0 + cb) (two passes, like jnp.var).
inline void block_moments(const float *x, int64_t outer, int64_t channels, int64_t inner,
                          int64_t c0, int64_t cb, double *mean, double *var) {
  const double count = static_cast<double>(outer * inner);
  for (int64_t c = 0; c < cb; ++c)
    mean[c] = var[c] = 0.0;
  for_block(outer, channels, inner, c0, cb, [&](int64_t c, int64_t i) { mean[c] += x[i]; });
  for (int64_t c = 0; c < cb; ++c)
    mean[c] /= count;
  for_block(outer, channels, inner, c0, cb, [&](int64_t c, int64_t i) {
    const double d = x[i] - mean[c];
    var[c] += d * d;
  });
  for (int64_t c = 0; c < cb; ++c)
    var[c] /= count;
}

/// Mean and biased variance of one row of n values.
inline void row_moments(const float *x, int64_t n, double &mean, double &var) {
  double s = 0.0;
  for (int64_t j = 0; j < n; ++j)
    s += x[j];
  mean = s / static_cast<double>(n);
  double v = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    const double d = x[j] - mean;
    v += d * d;
  }
  var = v / static_cast<double>(n);
}

inline float rsqrt(double v) { return static_cast<float>(1.0 / std::sqrt(v)); }

} // namespace norm_detail

/// BatchNormalization in training mode: normalizes x [outer, channels, inner] with the batch's
/// mean and biased variance per channel, then updates the moving statistics in place like
/// Keras: m = m * momentum + stat * (1 - momentum). gamma / beta / moving_* hold `channels`
/// floats each.
inline void batch_norm_train(const float *x, float *y, const float *gamma, const float *beta,
                             float *moving_mean, float *moving_variance, int64_t outer,
                             int64_t channels, int64_t inner, float epsilon, float momentum) {
  using namespace norm_detail;
  double mean[kChannelBlock], var[kChannelBlock];
  float inv[kChannelBlock], res[kChannelBlock];
  for (int64_t c0 = 0; c0 < channels; c0 += kChannelBlock) {
    const int64_t cb = std::min(kChannelBlock, channels - c0);
    block_moments(x, outer, channels, inner, c0, cb, mean, var);
    for (int64_t c = 0; c < cb; ++c) {
      const float m = static_cast<float>(mean[c]), v = static_cast<float>(var[c]);
      inv[c] = rsqrt(static_cast<double>(v + epsilon)) * gamma[c0 + c];
      res[c] = beta[c0 + c] - m * inv[c];
      moving_mean[c0 + c] = moving_mean[c0 + c] * momentum + m * (1.0f - momentum);
      moving_variance[c0 + c] = moving_variance[c0 + c] * momentum + v * (1.0f - momentum);
    }
    for_block(outer, channels, inner, c0, cb,
              [&](int64_t c, int64_t i) { y[i] = x[i] * inv[c] + res[c]; });
  }
}

/// Gradient of batch_norm_train (the batch statistics recomputed from x) with respect to its
/// input: with xhat = (x - mean) * r, r = rsqrt(var + eps), N = outer * inner,
/// dx = gamma * r / N * (N * dy - sum(dy) - xhat * sum(dy * xhat)).
inline void batch_norm_grad_input(const float *dy, const float *x, const float *gamma, float *dx,
                                  int64_t outer, int64_t channels, int64_t inner, float epsilon) {
  using namespace norm_detail;
  double mean[kChannelBlock], var[kChannelBlock], sum_dy[kChannelBlock], sum_dy_xhat[kChannelBlock];
  double r[kChannelBlock];
  const double count = static_cast<double>(outer * inner);
  for (int64_t c0 = 0; c0 < channels; c0 += kChannelBlock) {
    const int64_t cb = std::min(kChannelBlock, channels - c0);
    block_moments(x, outer, channels, inner, c0, cb, mean, var);
    for (int64_t c = 0; c < cb; ++c) {
      r[c] = 1.0 / std::sqrt(static_cast<double>(static_cast<float>(var[c]) + epsilon));
      sum_dy[c] = sum_dy_xhat[c] = 0.0;
    }
    for_block(outer, channels, inner, c0, cb, [&](int64_t c, int64_t i) {
      sum_dy[c] += dy[i];
      sum_dy_xhat[c] += dy[i] * (x[i] - mean[c]) * r[c];
    });
    for (int64_t c = 0; c < cb; ++c) {
      sum_dy[c] /= count;
      sum_dy_xhat[c] /= count;
    }
    for_block(outer, channels, inner, c0, cb, [&](int64_t c, int64_t i) {
      const double xhat = (x[i] - mean[c]) * r[c];
      dx[i] = static_cast<float>(gamma[c0 + c] * r[c] * (dy[i] - sum_dy[c] - xhat * sum_dy_xhat[c]));
    });
  }
}

/// Gradient of batch_norm_train with respect to gamma: sum over outer and inner of dy * xhat.
/// Overwrites dgamma (`channels` floats).
inline void batch_norm_grad_gamma(const float *dy, const float *x, float *dgamma, int64_t outer,
                                  int64_t channels, int64_t inner, float epsilon) {
  using namespace norm_detail;
  double mean[kChannelBlock], var[kChannelBlock], acc[kChannelBlock];
  for (int64_t c0 = 0; c0 < channels; c0 += kChannelBlock) {
    const int64_t cb = std::min(kChannelBlock, channels - c0);
    block_moments(x, outer, channels, inner, c0, cb, mean, var);
    for (int64_t c = 0; c < cb; ++c)
      acc[c] = 0.0;
    for_block(outer, channels, inner, c0, cb,
              [&](int64_t c, int64_t i) { acc[c] += dy[i] * (x[i] - mean[c]); });
    for (int64_t c = 0; c < cb; ++c)
      dgamma[c0 + c] = static_cast<float>(
          acc[c] / std::sqrt(static_cast<double>(static_cast<float>(var[c]) + epsilon)));
  }
}

/// LayerNormalization of each row of x [rows, n]; gamma and beta hold n floats (the normalized
/// axes' shape). Keras: inv = rsqrt(var + eps) * gamma; y = x * inv + (beta - mean * inv).
/// With rms_scaling (Keras's deprecated option) y = x * rsqrt(var + eps) * gamma: the variance
/// still subtracts the mean, but x does not, and there is no beta.
inline void layer_norm(const float *x, float *y, const float *gamma, const float *beta,
                       int64_t rows, int64_t n, float epsilon, bool rms_scaling) {
  for (int64_t row = 0; row < rows; ++row) {
    const float *xr = x + row * n;
    float *yr = y + row * n;
    double mean, var;
    norm_detail::row_moments(xr, n, mean, var);
    const float r = norm_detail::rsqrt(static_cast<double>(static_cast<float>(var) + epsilon));
    if (rms_scaling) {
      for (int64_t j = 0; j < n; ++j)
        yr[j] = xr[j] * r * gamma[j];
      continue;
    }
    const float m = static_cast<float>(mean);
    for (int64_t j = 0; j < n; ++j) {
      const float inv = r * gamma[j];
      yr[j] = xr[j] * inv + (beta[j] - m * inv);
    }
  }
}

/// Gradient of layer_norm with respect to its input. With g = dy * gamma, r = rsqrt(var + eps):
///   dx = r / n * (n * g - sum(g) - xhat * sum(g * xhat)),  xhat = (x - mean) * r;
///   rms_scaling: dx = r * g - r^3 * (x - mean) * sum(g * x) / n.
inline void layer_norm_grad_input(const float *dy, const float *x, const float *gamma, float *dx,
                                  int64_t rows, int64_t n, float epsilon, bool rms_scaling) {
  const double count = static_cast<double>(n);
  for (int64_t row = 0; row < rows; ++row) {
    const float *xr = x + row * n, *dyr = dy + row * n;
    float *dxr = dx + row * n;
    double mean, var;
    norm_detail::row_moments(xr, n, mean, var);
    const double r = 1.0 / std::sqrt(static_cast<double>(static_cast<float>(var) + epsilon));
    if (rms_scaling) {
      double dot = 0.0;
      for (int64_t j = 0; j < n; ++j)
        dot += static_cast<double>(dyr[j]) * gamma[j] * xr[j];
      const double k = r * r * r * dot / count;
      for (int64_t j = 0; j < n; ++j)
        dxr[j] = static_cast<float>(r * dyr[j] * gamma[j] - k * (xr[j] - mean));
      continue;
    }
    double sum_g = 0.0, sum_g_xhat = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      const double g = static_cast<double>(dyr[j]) * gamma[j];
      sum_g += g;
      sum_g_xhat += g * (xr[j] - mean) * r;
    }
    sum_g /= count;
    sum_g_xhat /= count;
    for (int64_t j = 0; j < n; ++j) {
      const double xhat = (xr[j] - mean) * r;
      dxr[j] = static_cast<float>(r * (static_cast<double>(dyr[j]) * gamma[j] - sum_g -
                                       xhat * sum_g_xhat));
    }
  }
}

/// Gradient of layer_norm with respect to gamma, summed over the rows: dy * xhat (rms_scaling:
/// dy * x * r). Overwrites dgamma (n floats).
inline void layer_norm_grad_gamma(const float *dy, const float *x, float *dgamma, int64_t rows,
                                  int64_t n, float epsilon, bool rms_scaling) {
  std::memset(dgamma, 0, sizeof(float) * static_cast<size_t>(n));
  for (int64_t row = 0; row < rows; ++row) {
    const float *xr = x + row * n, *dyr = dy + row * n;
    double mean, var;
    norm_detail::row_moments(xr, n, mean, var);
    const double r = 1.0 / std::sqrt(static_cast<double>(static_cast<float>(var) + epsilon));
    const double shift = rms_scaling ? 0.0 : mean;
    for (int64_t j = 0; j < n; ++j)
      dgamma[j] += static_cast<float>(dyr[j] * (xr[j] - shift) * r);
  }
}

} // namespace kerasc
