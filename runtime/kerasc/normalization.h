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
// Statistics accumulate in double (Keras's float32 XLA reductions are within ~1e-7 relative of
// the exact value, and so are these). The kernels split rows over the thread pool into a fixed
// number of tasks whose partial sums are added in task order, so results do not depend on the
// thread count. Nothing here allocates: per-channel sums live in the calling thread's pool
// scratch. Header-only, standard library only.
#pragma once

#include "kerasc/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace kerasc {

namespace norm_detail {

/// Tasks a kernel is split into, over rows of `outer`. Fixed (not the thread count) so that the
/// per-channel sums are added in the same order on every machine: results do not depend on
/// the number of threads.
constexpr int64_t kTasks = 16;

/// Below this many elements a kernel runs on the calling thread: these passes stream memory
/// at a few floats per ns, and handing work to a pool thread costs ~1 us (see gemm.h's
/// kParallelMinWork), which would dominate small layers at batch 1.
constexpr int64_t kParallelMinElements = int64_t(1) << 16;

/// How many tasks to split `rows` rows of `elements` elements in all into.
inline int64_t task_count(int64_t rows, int64_t elements) {
  if (elements < kParallelMinElements)
    return 1;
  return std::max<int64_t>(1, std::min(kTasks, rows));
}

/// Rows [begin, end) of task t of `tasks` over `rows` rows.
inline void task_rows(int64_t t, int64_t tasks, int64_t rows, int64_t &begin, int64_t &end) {
  begin = rows * t / tasks;
  end = rows * (t + 1) / tasks;
}

/// Channels handled together: K = 4 sums per channel for each task, the reduced sums and three
/// coefficients per channel, all in doubles in the caller's pool scratch.
constexpr int64_t kChannelChunk =
    static_cast<int64_t>(kThreadScratchBytes / ((kTasks * 4 + 4 + 3) * sizeof(double)));

/// The pool scratch of the calling thread (thread 0) as doubles: the per-task partial sums.
/// Pool workers only write their task's slice while the caller waits in parallel_for.
inline double *scratch() { return reinterpret_cast<double *>(thread_pool().scratch(0)); }

/// sums[k * cc + c] = the sum over [outer, ., inner] of K terms for channel c0 + c: term(i, c,
/// acc) adds them to acc[k * cc + c] for flat index i. Tasks split `outer`; their partial sums
/// are added in task order. `sums` must not overlap scratch()[0, kTasks * K * cc).
template <int K, class Term>
inline void channel_sums(int64_t outer, int64_t channels, int64_t inner, int64_t c0, int64_t cc,
                         double *sums, Term term) {
  double *partial = scratch();
  const int64_t tasks = task_count(outer, outer * cc * inner);
  std::fill(partial, partial + tasks * K * cc, 0.0);
  thread_pool().parallel_for(tasks, [&](int64_t t, int) {
    double *acc = partial + t * K * cc;
    int64_t begin, end;
    task_rows(t, tasks, outer, begin, end);
    for (int64_t o = begin; o < end; ++o) {
      const int64_t row = (o * channels + c0) * inner;
      if (inner == 1) { // channels_last: one contiguous run of channels (vectorizes)
        for (int64_t c = 0; c < cc; ++c)
          term(row + c, c, acc);
        continue;
      }
      for (int64_t c = 0; c < cc; ++c)
        for (int64_t k = 0; k < inner; ++k)
          term(row + c * inner + k, c, acc);
    }
  });
  std::fill(sums, sums + K * cc, 0.0);
  for (int64_t t = 0; t < tasks; ++t)
    for (int64_t j = 0; j < K * cc; ++j)
      sums[j] += partial[t * K * cc + j];
}

/// Calls f(i, c) for every element of channels [c0, c0 + cc), split over the pool like
/// channel_sums.
template <class F>
inline void channel_apply(int64_t outer, int64_t channels, int64_t inner, int64_t c0, int64_t cc,
                          F f) {
  const int64_t tasks = task_count(outer, outer * cc * inner);
  thread_pool().parallel_for(tasks, [&](int64_t t, int) {
    int64_t begin, end;
    task_rows(t, tasks, outer, begin, end);
    for (int64_t o = begin; o < end; ++o) {
      const int64_t row = (o * channels + c0) * inner;
      if (inner == 1) {
        for (int64_t c = 0; c < cc; ++c)
          f(row + c, c);
        continue;
      }
      for (int64_t c = 0; c < cc; ++c)
        for (int64_t k = 0; k < inner; ++k)
          f(row + c * inner + k, c);
    }
  });
}

/// Mean and biased variance from sum(x) and sum(x^2) accumulated in double (single pass; the
/// cancellation error, ~1e-16 * mean^2 / var, is far below float32's precision).
inline void moments_from_sums(double sum, double sum_sq, double count, double &mean,
                              double &var) {
  mean = sum / count;
  var = std::max(sum_sq / count - mean * mean, 0.0);
}

/// Mean and biased variance of one row of n values (two passes, like jnp.var).
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
/// floats each. Two passes over x (statistics, output), split over the thread pool.
inline void batch_norm_train(const float *x, float *y, const float *gamma, const float *beta,
                             float *moving_mean, float *moving_variance, int64_t outer,
                             int64_t channels, int64_t inner, float epsilon, float momentum) {
  using namespace norm_detail;
  const double count = static_cast<double>(outer * inner);
  for (int64_t c0 = 0; c0 < channels; c0 += kChannelChunk) {
    const int64_t cc = std::min(kChannelChunk, channels - c0);
    double *sums = scratch() + kTasks * 4 * cc, *coef = sums + 4 * cc;
    channel_sums<2>(outer, channels, inner, c0, cc, sums, [&](int64_t i, int64_t c, double *acc) {
      const double v = x[i];
      acc[c] += v;
      acc[cc + c] += v * v;
    });
    float *inv = reinterpret_cast<float *>(coef), *res = inv + cc;
    for (int64_t c = 0; c < cc; ++c) {
      double mean, var;
      moments_from_sums(sums[c], sums[cc + c], count, mean, var);
      const float m = static_cast<float>(mean), v = static_cast<float>(var);
      // Keras: inv = rsqrt(var + eps) * gamma; y = x * inv + (beta - mean * inv).
      inv[c] = rsqrt(static_cast<double>(v + epsilon)) * gamma[c0 + c];
      res[c] = beta[c0 + c] - m * inv[c];
      moving_mean[c0 + c] = moving_mean[c0 + c] * momentum + m * (1.0f - momentum);
      moving_variance[c0 + c] = moving_variance[c0 + c] * momentum + v * (1.0f - momentum);
    }
    channel_apply(outer, channels, inner, c0, cc,
                  [&](int64_t i, int64_t c) { y[i] = x[i] * inv[c] + res[c]; });
  }
}

/// Gradient of batch_norm_train (the batch statistics recomputed from x) with respect to its
/// input: with xhat = (x - mean) * r, r = rsqrt(var + eps), N = outer * inner,
/// dx = gamma * r / N * (N * dy - sum(dy) - xhat * sum(dy * xhat)), i.e. per channel
/// dx = a * dy + b * x + c. One pass for sum(x), sum(x^2), sum(dy), sum(dy * x), one for dx.
inline void batch_norm_grad_input(const float *dy, const float *x, const float *gamma, float *dx,
                                  int64_t outer, int64_t channels, int64_t inner, float epsilon) {
  using namespace norm_detail;
  const double count = static_cast<double>(outer * inner);
  for (int64_t c0 = 0; c0 < channels; c0 += kChannelChunk) {
    const int64_t cc = std::min(kChannelChunk, channels - c0);
    double *sums = scratch() + kTasks * 4 * cc, *coef = sums + 4 * cc;
    channel_sums<4>(outer, channels, inner, c0, cc, sums, [&](int64_t i, int64_t c, double *acc) {
      const double v = x[i], g = dy[i];
      acc[c] += v;
      acc[cc + c] += v * v;
      acc[2 * cc + c] += g;
      acc[3 * cc + c] += g * v;
    });
    double *a = coef, *b = coef + cc, *k = coef + 2 * cc;
    for (int64_t c = 0; c < cc; ++c) {
      double mean, var;
      moments_from_sums(sums[c], sums[cc + c], count, mean, var);
      const double r = 1.0 / std::sqrt(static_cast<double>(static_cast<float>(var) + epsilon));
      const double mean_dy = sums[2 * cc + c] / count;
      const double mean_dy_xhat = r * (sums[3 * cc + c] / count - mean * mean_dy);
      const double gr = gamma[c0 + c] * r;
      a[c] = gr;
      b[c] = -gr * r * mean_dy_xhat;
      k[c] = gr * (mean * r * mean_dy_xhat - mean_dy);
    }
    channel_apply(outer, channels, inner, c0, cc, [&](int64_t i, int64_t c) {
      dx[i] = static_cast<float>(a[c] * dy[i] + b[c] * x[i] + k[c]);
    });
  }
}

/// Gradient of batch_norm_train with respect to gamma: sum over outer and inner of dy * xhat
/// = r * (sum(dy * x) - mean * sum(dy)). Overwrites dgamma (`channels` floats).
inline void batch_norm_grad_gamma(const float *dy, const float *x, float *dgamma, int64_t outer,
                                  int64_t channels, int64_t inner, float epsilon) {
  using namespace norm_detail;
  const double count = static_cast<double>(outer * inner);
  for (int64_t c0 = 0; c0 < channels; c0 += kChannelChunk) {
    const int64_t cc = std::min(kChannelChunk, channels - c0);
    double *sums = scratch() + kTasks * 4 * cc;
    channel_sums<4>(outer, channels, inner, c0, cc, sums, [&](int64_t i, int64_t c, double *acc) {
      const double v = x[i], g = dy[i];
      acc[c] += v;
      acc[cc + c] += v * v;
      acc[2 * cc + c] += g;
      acc[3 * cc + c] += g * v;
    });
    for (int64_t c = 0; c < cc; ++c) {
      double mean, var;
      moments_from_sums(sums[c], sums[cc + c], count, mean, var);
      const double r = 1.0 / std::sqrt(static_cast<double>(static_cast<float>(var) + epsilon));
      dgamma[c0 + c] = static_cast<float>(r * (sums[3 * cc + c] - mean * sums[2 * cc + c]));
    }
  }
}

/// Runs f(row) for rows [0, rows) of n elements over the thread pool (rows are independent).
template <class F> inline void for_rows(int64_t rows, int64_t n, F f) {
  const int64_t tasks = rows * n < norm_detail::kParallelMinElements
                            ? 1
                            : std::max<int64_t>(1, std::min<int64_t>(rows, 4 * norm_detail::kTasks));
  thread_pool().parallel_for(tasks, [&](int64_t t, int) {
    int64_t begin, end;
    norm_detail::task_rows(t, tasks, rows, begin, end);
    for (int64_t row = begin; row < end; ++row)
      f(row);
  });
}

/// LayerNormalization of each row of x [rows, n]; gamma and beta hold n floats (the normalized
/// axes' shape). Keras: inv = rsqrt(var + eps) * gamma; y = x * inv + (beta - mean * inv).
/// With rms_scaling (Keras's deprecated option) y = x * rsqrt(var + eps) * gamma: the variance
/// still subtracts the mean, but x does not, and there is no beta.
inline void layer_norm(const float *x, float *y, const float *gamma, const float *beta,
                       int64_t rows, int64_t n, float epsilon, bool rms_scaling) {
  for_rows(rows, n, [&](int64_t row) {
    const float *xr = x + row * n;
    float *yr = y + row * n;
    double mean, var;
    norm_detail::row_moments(xr, n, mean, var);
    const float r = norm_detail::rsqrt(static_cast<double>(static_cast<float>(var) + epsilon));
    if (rms_scaling) {
      for (int64_t j = 0; j < n; ++j)
        yr[j] = xr[j] * r * gamma[j];
      return;
    }
    const float m = static_cast<float>(mean);
    for (int64_t j = 0; j < n; ++j) {
      const float inv = r * gamma[j];
      yr[j] = xr[j] * inv + (beta[j] - m * inv);
    }
  });
}

/// Gradient of layer_norm with respect to its input. With g = dy * gamma, r = rsqrt(var + eps):
///   dx = r / n * (n * g - sum(g) - xhat * sum(g * xhat)),  xhat = (x - mean) * r;
///   rms_scaling: dx = r * g - r^3 * (x - mean) * sum(g * x) / n.
inline void layer_norm_grad_input(const float *dy, const float *x, const float *gamma, float *dx,
                                  int64_t rows, int64_t n, float epsilon, bool rms_scaling) {
  const double count = static_cast<double>(n);
  for_rows(rows, n, [&](int64_t row) {
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
      return;
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
  });
}

/// Gradient of layer_norm with respect to gamma, summed over the rows: dy * xhat (rms_scaling:
/// dy * x * r). Overwrites dgamma (n floats). Tasks own row ranges and add into their own
/// partial sums in the pool scratch (summed in task order); columns in chunks that fit it.
inline void layer_norm_grad_gamma(const float *dy, const float *x, float *dgamma, int64_t rows,
                                  int64_t n, float epsilon, bool rms_scaling) {
  using namespace norm_detail;
  const int64_t tasks = task_count(rows, rows * n);
  const int64_t chunk = static_cast<int64_t>(kThreadScratchBytes / (tasks * sizeof(double)));
  for (int64_t j0 = 0; j0 < n; j0 += chunk) {
    const int64_t nc = std::min(chunk, n - j0);
    double *partial = scratch();
    std::fill(partial, partial + tasks * nc, 0.0);
    thread_pool().parallel_for(tasks, [&](int64_t t, int) {
      double *acc = partial + t * nc;
      int64_t begin, end;
      task_rows(t, tasks, rows, begin, end);
      for (int64_t row = begin; row < end; ++row) {
        const float *xr = x + row * n, *dyr = dy + row * n;
        double mean, var;
        row_moments(xr, n, mean, var);
        const double r = 1.0 / std::sqrt(static_cast<double>(static_cast<float>(var) + epsilon));
        const double shift = rms_scaling ? 0.0 : mean;
        for (int64_t j = 0; j < nc; ++j)
          acc[j] += static_cast<double>(dyr[j0 + j]) * (xr[j0 + j] - shift) * r;
      }
    });
    for (int64_t j = 0; j < nc; ++j) {
      double total = 0.0;
      for (int64_t t = 0; t < tasks; ++t)
        total += partial[t * nc + j];
      dgamma[j0 + j] = static_cast<float>(total);
    }
  }
}

} // namespace kerasc
