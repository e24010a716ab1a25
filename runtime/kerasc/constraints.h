// kerasc runtime: Keras weight regularizers (L1, L2, L1L2) and weight constraints (MaxNorm,
// NonNeg, UnitNorm, MinMaxNorm), as in keras/src/regularizers and keras/src/constraints
// (Keras 3.15). Regularizers add a penalty to the loss and its gradient to the weight's gradient;
// constraints project a variable after every optimizer step (Keras's optimizer.apply does
// `variable.assign(variable.constraint(variable))` right after the update). Float32 like Keras.
// Header-only, standard library only, no heap allocation.
#pragma once

#include "kerasc/names.h"
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace kerasc {

// ---- Regularizers ----------------------------------------------------------------------------

enum class RegularizerKind { None, L1, L2, L1L2 };

struct RegularizerConfig {
  RegularizerKind kind = RegularizerKind::None;
  float l1 = 0, l2 = 0;  // Keras config keys "l1", "l2"
};

/// The regularizer keras.regularizers.get(<class or string>) builds with no arguments:
/// L1() and "l1" -> l1 = 0.01, L2() and "l2" -> l2 = 0.01, but L1L2() and "l1l2" -> 0 and 0
/// (Keras keeps L1L2's zeros for backward compatibility, whatever its docstring says).
inline RegularizerConfig default_regularizer_config(RegularizerKind kind) {
  RegularizerConfig r;
  r.kind = kind;
  if (kind == RegularizerKind::L1) r.l1 = 0.01f;
  if (kind == RegularizerKind::L2) r.l2 = 0.01f;
  return r;
}

/// Class names and snake_case names as Keras's regularizers.get() accepts them.
inline bool regularizer_kind_from_name(const char *name, RegularizerKind *kind) {
  static const KerasName<RegularizerKind> table[] = {
      {"L1", "l1", RegularizerKind::L1}, {"L2", "l2", RegularizerKind::L2}, {"L1L2", "l1l2", RegularizerKind::L1L2}};
  return find_keras_name(table, name, kind);
}

/// Keras's penalty: l1 * sum|w| + l2 * sum w^2 (a term is skipped when its factor is 0).
/// The sums are accumulated in double and rounded once: within an ulp of Keras's float32 sum.
inline float regularizer_value(const RegularizerConfig &r, const float *w, int64_t count) {
  if (r.kind == RegularizerKind::None) return 0.0f;
  float total = 0.0f;
  if (r.l1 != 0.0f) {
    double s = 0.0;
    for (int64_t i = 0; i < count; ++i) s += std::fabs(static_cast<double>(w[i]));
    total += r.l1 * static_cast<float>(s);
  }
  if (r.l2 != 0.0f) {
    double s = 0.0;
    for (int64_t i = 0; i < count; ++i) s += static_cast<double>(w[i]) * w[i];
    total += r.l2 * static_cast<float>(s);
  }
  return total;
}

/// grad += d(penalty)/dw. At w == 0 the L1 term contributes +l1: that is what jax.grad of
/// Keras's |w| gives (the JAX backend is our oracle; TensorFlow would give 0).
inline void regularizer_add_gradient(const RegularizerConfig &r, const float *w, int64_t count, float *grad) {
  if (r.kind == RegularizerKind::None) return;
  const float two_l2 = 2.0f * r.l2;
  for (int64_t i = 0; i < count; ++i) {
    float g = grad[i];
    if (r.l1 != 0.0f) g += w[i] >= 0.0f ? r.l1 : -r.l1;
    if (r.l2 != 0.0f) g += two_l2 * w[i];
    grad[i] = g;
  }
}

// ---- Constraints -----------------------------------------------------------------------------

enum class ConstraintKind { None, MaxNorm, NonNeg, UnitNorm, MinMaxNorm };

struct ConstraintConfig {
  ConstraintKind kind = ConstraintKind::None;
  // Keras's config keys. Defaults are MaxNorm's (max_value=2, axis=0); MinMaxNorm's own defaults
  // are min_value=0, max_value=1, rate=1: see default_constraint_config().
  float max_value = 2, min_value = 0, rate = 1;
  int axis = 0;     // a single axis (negative counts from the end)
  int num_axes = 0; // > 0: Keras's list form, axis=[0, 1, 2] for a Conv2D kernel; overrides `axis`
  int axes[8] = {};
};

inline ConstraintConfig default_constraint_config(ConstraintKind kind) {
  ConstraintConfig c;
  c.kind = kind;
  if (kind == ConstraintKind::MinMaxNorm) c.max_value = 1;
  return c;
}

/// Class names and snake_case names ("max_norm", "non_neg", "unit_norm", "min_max_norm").
inline bool constraint_kind_from_name(const char *name, ConstraintKind *kind) {
  static const KerasName<ConstraintKind> table[] = {
      {"MaxNorm", "max_norm", ConstraintKind::MaxNorm},
      {"NonNeg", "non_neg", ConstraintKind::NonNeg},
      {"UnitNorm", "unit_norm", ConstraintKind::UnitNorm},
      {"MinMaxNorm", "min_max_norm", ConstraintKind::MinMaxNorm}};
  return find_keras_name(table, name, kind);
}

namespace detail {

// Visits every slice of `w` that Keras's norm reduces together (the elements sharing their
// indices on the kept axes), without a scratch buffer: the kept axes are walked by an outer
// odometer and the reduced axes by an inner one, both by strides.
template <typename Fn>
inline void for_each_norm_group(const int64_t *shape, int rank, const bool *reduced, Fn &&fn) {
  int64_t stride[8];
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    stride[d] = s;
    s *= shape[d];
  }
  if (s == 0) return;
  int kept[8], red[8], nk = 0, nr = 0;
  for (int d = 0; d < rank; ++d) (reduced[d] ? red[nr++] : kept[nk++]) = d;
  int64_t outer[8] = {};
  for (;;) {
    int64_t base = 0;
    for (int k = 0; k < nk; ++k) base += outer[k] * stride[kept[k]];
    // fn receives a function that walks the group's element offsets.
    fn([&](auto &&visit) {
      int64_t inner[8] = {};
      for (;;) {
        int64_t off = base;
        for (int r = 0; r < nr; ++r) off += inner[r] * stride[red[r]];
        visit(off);
        int r = nr - 1;
        while (r >= 0 && ++inner[r] == shape[red[r]]) inner[r--] = 0;
        if (r < 0) break;
      }
    });
    int k = nk - 1;
    while (k >= 0 && ++outer[k] == shape[kept[k]]) outer[k--] = 0;
    if (k < 0) break;
  }
}

} // namespace detail

/// Projects w (shape[0..rank), rank <= 8) in place as Keras's constraint(w) does. Norms are
/// sqrt(sum w^2) over `axis` (or `axes`) with keepdims, and the scale is desired / (1e-7 + norm)
/// (Keras's backend.epsilon()), so an all-zero slice stays zero instead of becoming NaN.
inline void apply_constraint(const ConstraintConfig &c, float *w, const int64_t *shape, int rank) {
  if (c.kind == ConstraintKind::None) return;
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  if (c.kind == ConstraintKind::NonNeg) {
    for (int64_t i = 0; i < total; ++i) w[i] = std::max(w[i], 0.0f);
    return;
  }
  bool reduced[8] = {};
  const int n = c.num_axes > 0 ? c.num_axes : 1;
  for (int i = 0; i < n; ++i) {
    int a = c.num_axes > 0 ? c.axes[i] : c.axis;
    if (a < 0) a += rank;
    if (a >= 0 && a < rank) reduced[a] = true;
  }
  const float eps = 1e-7f;
  detail::for_each_norm_group(shape, rank, reduced, [&](auto &&walk) {
    double sum = 0.0;
    walk([&](int64_t off) { sum += static_cast<double>(w[off]) * w[off]; });
    const float norm = std::sqrt(static_cast<float>(sum));
    float scale;
    switch (c.kind) {
    case ConstraintKind::MaxNorm:
      scale = std::min(std::max(norm, 0.0f), c.max_value) / (eps + norm);
      break;
    case ConstraintKind::MinMaxNorm: {
      const float desired = c.rate * std::min(std::max(norm, c.min_value), c.max_value) +
                            static_cast<float>(1.0 - static_cast<double>(c.rate)) * norm;
      scale = desired / (eps + norm);
      break;
    }
    default:  // UnitNorm: w / (eps + norm), written as a multiplication like XLA compiles it
      scale = 1.0f / (eps + norm);
      break;
    }
    walk([&](int64_t off) { w[off] = w[off] * scale; });
  });
}

} // namespace kerasc
