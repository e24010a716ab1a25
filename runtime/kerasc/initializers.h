// kerasc runtime: Keras weight initializers (keras/src/initializers, Keras 3.15) for training
// from scratch. Distributions, bounds, fans and scales follow Keras's formulas exactly; the random
// numbers come from kerasc's counter-based RNG (rng.h), not from JAX's, so values differ from a
// Keras run while their distribution is the same. Every draw is a pure function of
// (seed, stream, element index): the caller gives each variable its own stream.
// Header-only, standard library only. Runs at init time only (orthogonal allocates).
#pragma once

#include "kerasc/names.h"
#include "rng.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace kerasc {

enum class InitializerKind {
  Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal,
  GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal, VarianceScaling,
  Identity,
};

// VarianceScaling's `mode` and `distribution` strings.
enum : int { kFanIn = 0, kFanOut = 1, kFanAvg = 2 };
enum : int { kTruncatedNormal = 0, kUntruncatedNormal = 1, kUniform = 2 };

/// Keras config keys; unused fields are ignored by the kind. The Glorot/He/Lecun kinds ignore
/// scale/mode/distribution and use their fixed ones.
struct InitializerConfig {
  InitializerKind kind = InitializerKind::Zeros;
  double value = 0.0;                 // Constant
  double mean = 0.0, stddev = 0.05;   // RandomNormal, TruncatedNormal
  double minval = -0.05, maxval = 0.05; // RandomUniform
  double gain = 1.0;                  // Orthogonal, Identity
  double scale = 1.0;                 // VarianceScaling
  int mode = kFanIn;                  // VarianceScaling: kFanIn ("fan_in"), kFanOut, kFanAvg
  int distribution = kTruncatedNormal; // VarianceScaling: kTruncatedNormal, kUntruncatedNormal ("normal" too), kUniform
  // VarianceScaling & co.'s optional input_axes / output_axes (both given, or both ignored).
  int num_input_axes = 0, num_output_axes = 0;
  int input_axes[8] = {}, output_axes[8] = {};
};

/// Keras's constructor defaults for the kind.
inline InitializerConfig default_initializer_config(InitializerKind kind) {
  InitializerConfig c;
  c.kind = kind;
  return c;  // the member defaults are Keras's (RandomNormal 0/0.05, RandomUniform +-0.05, ...)
}

/// Class names and snake_case names as keras.initializers.get() accepts them.
inline bool initializer_kind_from_name(const char *name, InitializerKind *kind) {
  static const KerasName<InitializerKind> table[] = {
      {"Zeros", "zeros", InitializerKind::Zeros},
      {"Ones", "ones", InitializerKind::Ones},
      {"Constant", "constant", InitializerKind::Constant},
      {"RandomNormal", "random_normal", InitializerKind::RandomNormal},
      {"RandomUniform", "random_uniform", InitializerKind::RandomUniform},
      {"TruncatedNormal", "truncated_normal", InitializerKind::TruncatedNormal},
      {"GlorotUniform", "glorot_uniform", InitializerKind::GlorotUniform},
      {"GlorotNormal", "glorot_normal", InitializerKind::GlorotNormal},
      {"HeUniform", "he_uniform", InitializerKind::HeUniform},
      {"HeNormal", "he_normal", InitializerKind::HeNormal},
      {"LecunUniform", "lecun_uniform", InitializerKind::LecunUniform},
      {"LecunNormal", "lecun_normal", InitializerKind::LecunNormal},
      {"Orthogonal", "orthogonal", InitializerKind::Orthogonal},
      {"OrthogonalInitializer", "orthogonal_initializer", InitializerKind::Orthogonal},
      {"VarianceScaling", "variance_scaling", InitializerKind::VarianceScaling},
      {"Identity", "identity", InitializerKind::Identity},
      {"IdentityInitializer", "identity_initializer", InitializerKind::Identity},
  };
  return find_keras_name(table, name, kind);
}

/// Keras's compute_fans: (fan_in, fan_out) of a weight shape. Rank 0: 1, 1; rank 1: n, n;
/// rank 2: (in, out); rank >= 3 (conv kernels (..., in, out)): both times the receptive field.
/// With input_axes and output_axes both given, the products of those dims.
inline void compute_fans(const InitializerConfig &c, const int64_t *shape, int rank, double *fan_in, double *fan_out) {
  if (c.num_input_axes > 0 && c.num_output_axes > 0) {
    double fi = 1, fo = 1;
    for (int i = 0; i < c.num_input_axes; ++i) fi *= static_cast<double>(shape[(c.input_axes[i] + rank) % rank]);
    for (int i = 0; i < c.num_output_axes; ++i) fo *= static_cast<double>(shape[(c.output_axes[i] + rank) % rank]);
    *fan_in = fi;
    *fan_out = fo;
    return;
  }
  if (rank < 1) {
    *fan_in = *fan_out = 1;
  } else if (rank == 1) {
    *fan_in = *fan_out = static_cast<double>(shape[0]);
  } else if (rank == 2) {
    *fan_in = static_cast<double>(shape[0]);
    *fan_out = static_cast<double>(shape[1]);
  } else {
    double receptive = 1;
    for (int d = 0; d < rank - 2; ++d) receptive *= static_cast<double>(shape[d]);
    *fan_in = static_cast<double>(shape[rank - 2]) * receptive;
    *fan_out = static_cast<double>(shape[rank - 1]) * receptive;
  }
}

namespace detail {

// Standard normal truncated to [-2, 2] (what jax.random.truncated_normal(lower=-2, upper=2)
// draws for Keras), by rejection: element i tries counters i*64, i*64+1, ... Each try is accepted
// with probability 0.954, so 64 rejections in a row (p ~ 1e-85) never happen in practice.
inline float truncated_standard_normal(uint64_t seed, uint64_t stream, uint64_t i) {
  for (uint64_t a = 0; a < 64; ++a) {
    const float z = random_normal(seed, stream, i * 64 + a);
    if (z >= -2.0f && z <= 2.0f) return z;
  }
  return 0.0f;
}

inline void fill_normal(float *out, int64_t n, double mean, double stddev, bool truncated, uint64_t seed, uint64_t stream) {
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t k = static_cast<uint64_t>(i);
    const float z = truncated ? truncated_standard_normal(seed, stream, k) : random_normal(seed, stream, k);
    out[i] = static_cast<float>(mean + stddev * z);
  }
}

inline void fill_uniform(float *out, int64_t n, double minval, double maxval, uint64_t seed, uint64_t stream) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<float>(minval + (maxval - minval) * random_uniform(seed, stream, static_cast<uint64_t>(i)));
}

// Keras's Orthogonal: QR of a (max(r, c), min(r, c)) standard-normal matrix, columns of Q signed
// by diag(R) (so the result is uniformly distributed over orthogonal matrices), transposed when
// the flattened shape (prod(shape[:-1]), shape[-1]) is wide, times gain. QR by modified
// Gram-Schmidt in double, run twice per column ("twice is enough") for orthogonality to ~1e-15.
inline void fill_orthogonal(float *out, const int64_t *shape, int rank, double gain, uint64_t seed, uint64_t stream) {
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= shape[d];
  const int64_t cols = shape[rank - 1];
  const int64_t m = std::max(rows, cols), n = std::min(rows, cols);
  std::vector<double> q(static_cast<size_t>(m * n));  // column-major: q[j * m + i]
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      q[j * m + i] = random_normal(seed, stream, static_cast<uint64_t>(i * n + j));  // a is row-major (m, n)
  for (int64_t j = 0; j < n; ++j) {
    double *qj = &q[j * m];
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t k = 0; k < j; ++k) {
        const double *qk = &q[k * m];
        double dot = 0.0;
        for (int64_t i = 0; i < m; ++i) dot += qk[i] * qj[i];
        for (int64_t i = 0; i < m; ++i) qj[i] -= dot * qk[i];
      }
    double norm = 0.0;
    for (int64_t i = 0; i < m; ++i) norm += qj[i] * qj[i];
    norm = std::sqrt(norm);
    // Gram-Schmidt's R has a positive diagonal, so Keras's Q * sign(diag(R)) is this Q itself.
    for (int64_t i = 0; i < m; ++i) qj[i] = norm > 0.0 ? qj[i] / norm : 0.0;
  }
  // out is row-major (rows, cols).
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double v = rows >= cols ? q[c * m + r] : q[r * m + c];  // wide: out = Q^T
      out[r * cols + c] = static_cast<float>(gain * v);
    }
}

} // namespace detail

/// Fills out (row-major, shape[0..rank)) as Keras's initializer would, from (seed, stream).
/// Orthogonal needs rank >= 2 and Identity rank 2 (Keras raises otherwise; here they leave zeros).
inline void initialize(const InitializerConfig &c, float *out, const int64_t *shape, int rank, uint64_t seed, uint64_t stream) {
  int64_t n = 1;
  for (int d = 0; d < rank; ++d) n *= shape[d];
  double scale = c.scale;
  int mode = c.mode, distribution = c.distribution;
  switch (c.kind) {
  case InitializerKind::Zeros: std::fill(out, out + n, 0.0f); return;
  case InitializerKind::Ones: std::fill(out, out + n, 1.0f); return;
  case InitializerKind::Constant: std::fill(out, out + n, static_cast<float>(c.value)); return;
  case InitializerKind::RandomNormal: detail::fill_normal(out, n, c.mean, c.stddev, false, seed, stream); return;
  case InitializerKind::TruncatedNormal: detail::fill_normal(out, n, c.mean, c.stddev, true, seed, stream); return;
  case InitializerKind::RandomUniform: detail::fill_uniform(out, n, c.minval, c.maxval, seed, stream); return;
  case InitializerKind::Orthogonal:
    std::fill(out, out + n, 0.0f);
    if (rank >= 2 && n > 0) detail::fill_orthogonal(out, shape, rank, c.gain, seed, stream);
    return;
  case InitializerKind::Identity:
    std::fill(out, out + n, 0.0f);
    if (rank == 2)
      for (int64_t i = 0; i < std::min(shape[0], shape[1]); ++i) out[i * shape[1] + i] = static_cast<float>(c.gain);
    return;
  case InitializerKind::GlorotUniform: scale = 1.0; mode = kFanAvg; distribution = kUniform; break;
  case InitializerKind::GlorotNormal: scale = 1.0; mode = kFanAvg; distribution = kTruncatedNormal; break;
  case InitializerKind::HeUniform: scale = 2.0; mode = kFanIn; distribution = kUniform; break;
  case InitializerKind::HeNormal: scale = 2.0; mode = kFanIn; distribution = kTruncatedNormal; break;
  case InitializerKind::LecunUniform: scale = 1.0; mode = kFanIn; distribution = kUniform; break;
  case InitializerKind::LecunNormal: scale = 1.0; mode = kFanIn; distribution = kTruncatedNormal; break;
  case InitializerKind::VarianceScaling: break;
  }
  // VarianceScaling.__call__.
  double fan_in, fan_out;
  compute_fans(c, shape, rank, &fan_in, &fan_out);
  if (mode == kFanIn) scale /= std::max(1.0, fan_in);
  else if (mode == kFanOut) scale /= std::max(1.0, fan_out);
  else scale /= std::max(1.0, (fan_in + fan_out) / 2.0);
  if (distribution == kTruncatedNormal) {
    // 0.8796... is the stddev of a standard normal truncated to [-2, 2]: dividing by it makes
    // the truncated draw's variance `scale`.
    detail::fill_normal(out, n, 0.0, std::sqrt(scale) / 0.87962566103423978, true, seed, stream);
  } else if (distribution == kUntruncatedNormal) {
    detail::fill_normal(out, n, 0.0, std::sqrt(scale), false, seed, stream);
  } else {
    const double limit = std::sqrt(3.0 * scale);
    detail::fill_uniform(out, n, -limit, limit, seed, stream);
  }
}

} // namespace kerasc
