// kerasc runtime: Keras 3 losses, their value and their gradient with respect to y_pred.
//
// Layout: predictions are `rows x d` row-major, `d` = the size of the last axis and `rows` = the
// product of all other axes (batch x any middle axes). Each loss reduces a row over the last axis
// the way its Keras function does, and the value is the mean over rows: Keras's default reduction
// "sum_over_batch_size" divides by the number of per-row values, not by the batch size. For
// sparse_categorical_crossentropy `y_true` holds `rows` class indices stored as float.
//
// The formulas, epsilons and clips are Keras 3.15's (keras/src/losses/losses.py and
// keras/src/backend/jax/nn.py), so that values match Keras to float32 rounding. The gradients are
// what jax.grad of the Keras loss returns, including what the clips do to it:
//   - a clipped operand has zero derivative; at exactly the clip bound JAX's min/max split the
//     derivative evenly, so it is halved (jnp.clip = minimum(maximum(x, lo), hi));
//   - |x| has derivative +1 at 0 (JAX: select(x >= 0, 1, -1));
//   - max(x, 0) has derivative 1/2 at 0 (hinge losses at the kink);
//   - a max over a row whose maximum is shared by k elements gives each 1/k (categorical_hinge).
// Sums are accumulated in double; Keras computes in float32, which is where the (relative ~1e-7)
// differences come from.
//
// Header-only, standard library only, no allocation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace kerasc {

enum class LossKind {
  MeanSquaredError,
  MeanAbsoluteError,
  MeanAbsolutePercentageError,
  MeanSquaredLogarithmicError,
  Huber,
  LogCosh,
  BinaryCrossentropy,
  CategoricalCrossentropy,
  SparseCategoricalCrossentropy,
  KLDivergence,
  Poisson,
  CosineSimilarity,
  Hinge,
  SquaredHinge,
  CategoricalHinge
};

/// What the loss's Keras config carries. Only `axis = -1` exists in the runtime (the layout above
/// puts the reduced axis last); the compiler rejects any other axis.
struct LossConfig {
  LossKind kind;
  bool from_logits = false;      // binary/categorical/sparse_categorical crossentropy
  float label_smoothing = 0.0f;  // binary/categorical crossentropy
  float delta = 1.0f;            // huber
};

namespace loss_detail {

struct Name {
  const char *name;
  LossKind kind;
};

// keras.losses.get's names (ALL_OBJECTS_DICT: function names, class names, and the short aliases)
// plus the tf.keras 2 names Keras 3 keeps only under keras._legacy ("logcosh", "huber_loss",
// "kullback_leibler_divergence"), which old .h5 files carry in their training config.
inline constexpr Name kNames[] = {
    {"mean_squared_error", LossKind::MeanSquaredError},
    {"MeanSquaredError", LossKind::MeanSquaredError},
    {"mse", LossKind::MeanSquaredError},
    {"MSE", LossKind::MeanSquaredError},
    {"mean_absolute_error", LossKind::MeanAbsoluteError},
    {"MeanAbsoluteError", LossKind::MeanAbsoluteError},
    {"mae", LossKind::MeanAbsoluteError},
    {"MAE", LossKind::MeanAbsoluteError},
    {"mean_absolute_percentage_error", LossKind::MeanAbsolutePercentageError},
    {"MeanAbsolutePercentageError", LossKind::MeanAbsolutePercentageError},
    {"mape", LossKind::MeanAbsolutePercentageError},
    {"MAPE", LossKind::MeanAbsolutePercentageError},
    {"mean_squared_logarithmic_error", LossKind::MeanSquaredLogarithmicError},
    {"MeanSquaredLogarithmicError", LossKind::MeanSquaredLogarithmicError},
    {"msle", LossKind::MeanSquaredLogarithmicError},
    {"MSLE", LossKind::MeanSquaredLogarithmicError},
    {"huber", LossKind::Huber},
    {"Huber", LossKind::Huber},
    {"huber_loss", LossKind::Huber},
    {"log_cosh", LossKind::LogCosh},
    {"LogCosh", LossKind::LogCosh},
    {"logcosh", LossKind::LogCosh},
    {"binary_crossentropy", LossKind::BinaryCrossentropy},
    {"BinaryCrossentropy", LossKind::BinaryCrossentropy},
    {"bce", LossKind::BinaryCrossentropy},
    {"BCE", LossKind::BinaryCrossentropy},
    {"categorical_crossentropy", LossKind::CategoricalCrossentropy},
    {"CategoricalCrossentropy", LossKind::CategoricalCrossentropy},
    {"sparse_categorical_crossentropy", LossKind::SparseCategoricalCrossentropy},
    {"SparseCategoricalCrossentropy", LossKind::SparseCategoricalCrossentropy},
    {"kl_divergence", LossKind::KLDivergence},
    {"KLDivergence", LossKind::KLDivergence},
    {"kld", LossKind::KLDivergence},
    {"KLD", LossKind::KLDivergence},
    {"kullback_leibler_divergence", LossKind::KLDivergence},
    {"poisson", LossKind::Poisson},
    {"Poisson", LossKind::Poisson},
    {"cosine_similarity", LossKind::CosineSimilarity},
    {"CosineSimilarity", LossKind::CosineSimilarity},
    {"hinge", LossKind::Hinge},
    {"Hinge", LossKind::Hinge},
    {"squared_hinge", LossKind::SquaredHinge},
    {"SquaredHinge", LossKind::SquaredHinge},
    {"categorical_hinge", LossKind::CategoricalHinge},
    {"CategoricalHinge", LossKind::CategoricalHinge},
};

// backend.epsilon() (a Python float) becomes a float32 when it meets a float32 tensor.
constexpr float kEps = 1e-7f;
// 1 - epsilon rounded to float32 (0.99999988f), the upper clip bound of the crossentropies.
constexpr float kOneMinusEps = static_cast<float>(1.0 - 1e-7);

/// d clip(x, lo, hi) / dx as JAX computes it for jnp.clip = minimum(maximum(x, lo), hi).
inline double clip_grad(float x, float lo, float hi) {
  const float m = std::max(x, lo);
  const double g_max = x > lo ? 1.0 : (x == lo ? 0.5 : 0.0);
  const double g_min = m < hi ? 1.0 : (m == hi ? 0.5 : 0.0);
  return g_max * g_min;
}
inline float clip(float x, float lo, float hi) { return std::min(std::max(x, lo), hi); }

/// d max(x, c) / dx in JAX: 1 above, 1/2 at the tie, 0 below.
inline double max_grad(double x, double c) { return x > c ? 1.0 : (x == c ? 0.5 : 0.0); }

/// log(1 + exp(x)) without overflow (jax.nn.softplus = logaddexp(x, 0)).
inline double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }
/// log(sigmoid(x)) = -softplus(-x).
inline double log_sigmoid(double x) { return -softplus(-x); }
inline double sigmoid(double x) {
  if (x >= 0)
    return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

/// The hinge losses turn {0, 1} labels into {-1, 1}, but only when *every* label of the batch is
/// 0 or 1 (convert_binary_labels_to_hinge looks at the whole y_true tensor).
inline bool labels_are_binary(const float *y_true, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (y_true[i] != 0.0f && y_true[i] != 1.0f)
      return false;
  return true;
}

inline bool hinge_labels_binary(const LossConfig &c, const float *y_true, int64_t n) {
  return (c.kind == LossKind::Hinge || c.kind == LossKind::SquaredHinge) &&
         labels_are_binary(y_true, n);
}

/// Smoothed crossentropy target: Keras applies smoothing to y_true in float32 before the loss.
inline float smooth_binary(float t, float ls) {
  return ls != 0.0f ? t * (1.0f - ls) + 0.5f * ls : t;
}
inline float smooth_categorical(float t, float ls, int64_t d) {
  return ls != 0.0f ? t * (1.0f - ls) + ls / static_cast<float>(d) : t;
}

/// Target j of a categorical row: the one-hot of a sparse label, or the (smoothed) dense label.
/// A sparse label is truncated to int like jnp.array(y_true, dtype="int32"); an index outside
/// [0, d) gives an all-zero row (jax.nn.one_hot), hence zero loss.
inline float categorical_target(const LossConfig &c, const float *y_true, int64_t r, int64_t j,
                                int64_t d) {
  if (c.kind == LossKind::SparseCategoricalCrossentropy)
    return static_cast<int64_t>(y_true[r]) == j ? 1.0f : 0.0f;
  return smooth_categorical(y_true[r * d + j], c.label_smoothing, d);
}

/// Loss of one row, and (when grad is not null) d(row loss)/d(y_pred[j]) * gscale into grad[j].
/// `binary` is the hinge-label flag for the whole batch.
inline double row_loss(const LossConfig &c, const float *y_true, const float *p, int64_t r,
                       int64_t d, bool binary, double gscale, float *grad) {
  // Sparse labels hold one value per row: y_true + r * d would point past them.
  const float *t = c.kind == LossKind::SparseCategoricalCrossentropy ? nullptr : y_true + r * d;
  const double inv_d = 1.0 / static_cast<double>(d);
  double sum = 0.0;
  switch (c.kind) {
  case LossKind::MeanSquaredError:
    for (int64_t j = 0; j < d; ++j) {
      const double e = static_cast<double>(p[j]) - t[j];
      sum += e * e;
      if (grad)
        grad[j] = static_cast<float>(gscale * 2.0 * e * inv_d);
    }
    return sum * inv_d;
  case LossKind::MeanAbsoluteError:
    for (int64_t j = 0; j < d; ++j) {
      const double e = static_cast<double>(p[j]) - t[j];
      sum += std::fabs(e);
      // Keras takes abs(y_true - y_pred): at 0 JAX's abs' has +1, so d/dp = -1 there.
      if (grad)
        grad[j] = static_cast<float>(gscale * (e > 0 ? 1.0 : -1.0) * inv_d);
    }
    return sum * inv_d;
  case LossKind::MeanAbsolutePercentageError:
    // 100 * mean |(t - p) / max(|t|, eps)|; the divisor does not depend on p.
    for (int64_t j = 0; j < d; ++j) {
      const double den = std::max(std::fabs(t[j]), kEps);
      const double q = (static_cast<double>(t[j]) - p[j]) / den;
      sum += std::fabs(q);
      if (grad)
        grad[j] = static_cast<float>(gscale * 100.0 * (q >= 0 ? -1.0 : 1.0) / den * inv_d);
    }
    return 100.0 * sum * inv_d;
  case LossKind::MeanSquaredLogarithmicError:
    // mean (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2
    for (int64_t j = 0; j < d; ++j) {
      const double mp = std::max(p[j], kEps);
      const double mt = std::max(t[j], kEps);
      const double e = std::log(mp + 1.0) - std::log(mt + 1.0);
      sum += e * e;
      if (grad)
        grad[j] = static_cast<float>(gscale * 2.0 * e / (mp + 1.0) * max_grad(p[j], kEps) * inv_d);
    }
    return sum * inv_d;
  case LossKind::Huber: {
    const double delta = c.delta;
    for (int64_t j = 0; j < d; ++j) {
      const double e = static_cast<double>(p[j]) - t[j];
      const double a = std::fabs(e);
      const bool quadratic = a <= delta; // Keras: where(abs_error <= delta, ...)
      sum += quadratic ? 0.5 * e * e : delta * a - 0.5 * delta * delta;
      if (grad)
        grad[j] = static_cast<float>(gscale * (quadratic ? e : delta * (e >= 0 ? 1.0 : -1.0)) *
                                     inv_d);
    }
    return sum * inv_d;
  }
  case LossKind::LogCosh:
    // Keras: x + softplus(-2x) - log 2, which is log(cosh(x)) without overflow; d/dx = tanh(x).
    for (int64_t j = 0; j < d; ++j) {
      const double x = static_cast<double>(p[j]) - t[j];
      sum += x + softplus(-2.0 * x) - std::log(2.0);
      if (grad)
        grad[j] = static_cast<float>(gscale * std::tanh(x) * inv_d);
    }
    return sum * inv_d;
  case LossKind::BinaryCrossentropy:
    for (int64_t j = 0; j < d; ++j) {
      const double tt = smooth_binary(t[j], c.label_smoothing);
      if (c.from_logits) {
        // -t log(sigmoid(x)) - (1 - t) log(sigmoid(-x)); d/dx = sigmoid(x) - t.
        const double x = p[j];
        sum += -tt * log_sigmoid(x) - (1.0 - tt) * log_sigmoid(-x);
        if (grad)
          grad[j] = static_cast<float>(gscale * (sigmoid(x) - tt) * inv_d);
      } else {
        const double q = clip(p[j], kEps, kOneMinusEps);
        // 1 - q is exact in float32 (Sterbenz), so computing it in double changes nothing.
        sum += -(tt * std::log(q) + (1.0 - tt) * std::log(1.0 - q));
        if (grad)
          grad[j] = static_cast<float>(gscale * (-tt / q + (1.0 - tt) / (1.0 - q)) *
                                       clip_grad(p[j], kEps, kOneMinusEps) * inv_d);
      }
    }
    return sum * inv_d;
  case LossKind::CategoricalCrossentropy:
  case LossKind::SparseCategoricalCrossentropy:
    if (c.from_logits) {
      // -sum t (x - logsumexp(x)); d/dx_k = softmax_k * sum(t) - t_k.
      double mx = p[0];
      for (int64_t j = 1; j < d; ++j)
        mx = std::max(mx, static_cast<double>(p[j]));
      double se = 0.0;
      for (int64_t j = 0; j < d; ++j)
        se += std::exp(p[j] - mx);
      const double lse = mx + std::log(se);
      double tsum = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        const double tt = categorical_target(c, y_true, r, j, d);
        tsum += tt;
        sum -= tt * (p[j] - lse);
      }
      if (grad)
        for (int64_t j = 0; j < d; ++j)
          grad[j] = static_cast<float>(
              gscale * (std::exp(p[j] - lse) * tsum - categorical_target(c, y_true, r, j, d)));
      return sum;
    } else {
      // Keras divides by the row sum (in float32), clips to [eps, 1 - eps], takes -sum t log q.
      // With q_j = p_j / S: dL/dp_k = (g_k - sum_j g_j q_j) / S, g_j = dL/dq_j (zero if clipped).
      float s = 0.0f;
      for (int64_t j = 0; j < d; ++j)
        s += p[j];
      double gq_dot_q = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        const float qf = p[j] / s;
        const double q = clip(qf, kEps, kOneMinusEps);
        const double tt = categorical_target(c, y_true, r, j, d);
        sum -= tt * std::log(q);
        gq_dot_q += (-tt / q) * clip_grad(qf, kEps, kOneMinusEps) * qf;
      }
      if (grad)
        for (int64_t j = 0; j < d; ++j) {
          const float qf = p[j] / s;
          const double q = clip(qf, kEps, kOneMinusEps);
          const double g = (-categorical_target(c, y_true, r, j, d) / q) *
                           clip_grad(qf, kEps, kOneMinusEps);
          grad[j] = static_cast<float>(gscale * (g - gq_dot_q) / s);
        }
      return sum;
    }
  case LossKind::KLDivergence:
    // sum tc log(tc / pc), both clipped to [eps, 1].
    for (int64_t j = 0; j < d; ++j) {
      const double tc = clip(t[j], kEps, 1.0f);
      const double pc = clip(p[j], kEps, 1.0f);
      sum += tc * std::log(tc / pc);
      if (grad)
        grad[j] = static_cast<float>(gscale * (-tc / pc) * clip_grad(p[j], kEps, 1.0f));
    }
    return sum;
  case LossKind::Poisson:
    // mean p - t log(p + eps)
    for (int64_t j = 0; j < d; ++j) {
      const double pe = static_cast<double>(p[j]) + kEps;
      sum += p[j] - t[j] * std::log(pe);
      if (grad)
        grad[j] = static_cast<float>(gscale * (1.0 - t[j] / pe) * inv_d);
    }
    return sum * inv_d;
  case LossKind::CosineSimilarity: {
    // -sum(t * n_t * p * n_p) with n_x = min(rsqrt(sum x^2), 1/eps) (keras.utils.normalize).
    const double inv_eps = 1.0 / 1e-7;
    double tt2 = 0.0, pp2 = 0.0, tp = 0.0;
    for (int64_t j = 0; j < d; ++j) {
      tt2 += static_cast<double>(t[j]) * t[j];
      pp2 += static_cast<double>(p[j]) * p[j];
      tp += static_cast<double>(t[j]) * p[j];
    }
    const double nt = std::min(1.0 / std::sqrt(tt2), inv_eps);
    const double rp = 1.0 / std::sqrt(pp2);
    const bool p_clipped = !(rp < inv_eps); // a norm below eps: n_p is the constant 1/eps
    const double np = p_clipped ? inv_eps : rp;
    if (grad)
      for (int64_t j = 0; j < d; ++j) {
        // unclipped: d/dp_k = -nt * np * (t_k - p_k * np^2 * (t.p))
        const double g = p_clipped ? -nt * t[j] * np
                                   : -nt * np * (t[j] - p[j] * np * np * tp);
        grad[j] = static_cast<float>(gscale * g);
      }
    return -nt * np * tp;
  }
  case LossKind::Hinge:
  case LossKind::SquaredHinge: {
    const bool squared = c.kind == LossKind::SquaredHinge;
    for (int64_t j = 0; j < d; ++j) {
      const double tt = binary ? 2.0 * t[j] - 1.0 : t[j];
      const double m = 1.0 - tt * p[j];
      const double h = std::max(m, 0.0);
      sum += squared ? h * h : h;
      if (grad)
        grad[j] = static_cast<float>(gscale * (squared ? 2.0 * h : max_grad(m, 0.0)) * -tt * inv_d);
    }
    return sum * inv_d;
  }
  case LossKind::CategoricalHinge: {
    // max(neg - pos + 1, 0), pos = sum t p, neg = max_j (1 - t_j) p_j (float32 products).
    double pos = 0.0;
    float neg = -INFINITY;
    for (int64_t j = 0; j < d; ++j) {
      pos += static_cast<double>(t[j]) * p[j];
      neg = std::max(neg, (1.0f - t[j]) * p[j]);
    }
    const double m = neg - pos + 1.0;
    if (grad) {
      int64_t ties = 0;
      for (int64_t j = 0; j < d; ++j)
        ties += (1.0f - t[j]) * p[j] == neg;
      const double outer = max_grad(m, 0.0);
      for (int64_t j = 0; j < d; ++j) {
        const double at_max = (1.0f - t[j]) * p[j] == neg ? (1.0 - t[j]) / ties : 0.0;
        grad[j] = static_cast<float>(gscale * outer * (at_max - t[j]));
      }
    }
    return std::max(m, 0.0);
  }
  }
  return 0.0;
}

} // namespace loss_detail

/// Keras name or alias -> kind; false for a name Keras does not know (or one kerasc lacks).
inline bool loss_kind_from_name(const char *name, LossKind *kind) {
  for (const auto &n : loss_detail::kNames)
    if (std::strcmp(n.name, name) == 0) {
      *kind = n.kind;
      return true;
    }
  return false;
}

/// Keras's function name for the kind, e.g. "mean_squared_error".
inline const char *loss_name(LossKind kind) {
  for (const auto &n : loss_detail::kNames)
    if (n.kind == kind)
      return n.name; // the first entry of each kind is the function name
  return "?";
}

/// Mean over rows of the per-row loss (Keras's "sum_over_batch_size"). With `row_weight`
/// (Keras's sample_weight, one per row: the compiler repeats a per-sample weight over the middle
/// axes) it is sum(w_r * loss_r) / rows: Keras still divides by the number of rows, not by the
/// weights' sum.
inline float loss_value(const LossConfig &c, const float *y_true, const float *y_pred,
                        int64_t rows, int64_t d, const float *row_weight = nullptr) {
  if (rows <= 0)
    return 0.0f; // divide_no_nan: an empty batch has loss 0
  const bool binary = loss_detail::hinge_labels_binary(c, y_true, rows * d);
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const double l = loss_detail::row_loss(c, y_true, y_pred + r * d, r, d, binary, 0.0, nullptr);
    total += row_weight ? row_weight[r] * l : l;
  }
  return static_cast<float>(total / static_cast<double>(rows));
}

/// grad[rows*d] = scale * d(loss_value)/d(y_pred). `scale` carries the loss weight (and anything
/// else the caller multiplies the loss by); `row_weight` as in loss_value.
inline void loss_gradient(const LossConfig &c, const float *y_true, const float *y_pred,
                          int64_t rows, int64_t d, float scale, float *grad,
                          const float *row_weight = nullptr) {
  if (rows <= 0)
    return;
  const bool binary = loss_detail::hinge_labels_binary(c, y_true, rows * d);
  const double gscale = static_cast<double>(scale) / static_cast<double>(rows);
  for (int64_t r = 0; r < rows; ++r)
    loss_detail::row_loss(c, y_true, y_pred + r * d, r, d, binary,
                          row_weight ? gscale * row_weight[r] : gscale, grad + r * d);
}

} // namespace kerasc
