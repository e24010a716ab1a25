// kerasc runtime: Keras 3 metrics as state machines (reset / update per batch / result), the way
// fit() and evaluate() drive them.
//
// Layout as in losses.h: `rows x d` predictions, `d` the last axis; sparse metrics take `rows`
// labels stored as float. The algorithms are Keras 3.15's (keras/src/metrics/):
//   - mean-style metrics (accuracies, mae, mse, rmse) are MeanMetricWrapper / Mean: the metric
//     function gives one value per element or row, each row contributes its mean over the last
//     axis, and the result is total / count over everything seen since reset. Keras counts
//     samples (axis 0) and averages the middle axes first; every sample has the same number of
//     rows, so counting rows gives the same ratio.
//   - precision / recall count TP/FP/FN over every element: label positive = y_true != 0,
//     prediction positive = y_pred > threshold (strictly, in float32).
//   - AUC uses Keras's bucketed path for evenly spaced thresholds: thresholds i/(n-1) for
//     i = 1..n-2 plus -eps and 1+eps at the ends; each prediction clipped to [0, 1] falls in
//     bucket max(ceil(p * (n-1)) - 1, 0) (float32 arithmetic, as Keras), and the confusion counts
//     at threshold i are suffix sums over buckets. The result is ROC with trapezoids or PR with
//     Keras's interpolation (Davis & Goadrich) formula.
// Counts and totals are doubles (Keras uses float32 variables: counts are exact either way).
//
// How Keras resolves "accuracy" / "acc" (keras/src/trainers/compile_utils.py, get_metric; the
// compiler does this, metric_kind_from_name refuses both names):
//   The test is on the shapes of y_true and y_pred (the data of the first batch and the model
//   output), not on the loss. With str(identifier).lower() in {"accuracy", "acc"}:
//     is_binary             = y_pred.shape[-1] == 1
//     is_sparse_categorical = rank(y_true) < rank(y_pred)
//                             or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
//     is_binary             -> BinaryAccuracy(threshold 0.5)
//     elif is_sparse_categorical -> SparseCategoricalAccuracy
//     else                  -> CategoricalAccuracy
//   The logged name stays the identifier as written ("acc" logs as "acc"). The same rule with
//   {"crossentropy", "ce"} picks binary / sparse_categorical / categorical crossentropy losses.
//
// Header-only, standard library only, no allocation.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace kerasc {

enum class MetricKind {
  BinaryAccuracy,
  CategoricalAccuracy,
  SparseCategoricalAccuracy,
  TopKCategoricalAccuracy,
  SparseTopKCategoricalAccuracy,
  MeanAbsoluteError,
  MeanSquaredError,
  RootMeanSquaredError,
  Precision,
  Recall,
  AUC
};

struct MetricConfig {
  MetricKind kind;
  const char *name;           // Keras log name, e.g. "accuracy", "auc"
  float threshold = 0.5f;     // binary_accuracy; precision/recall `thresholds` (one value)
  int k = 5;                  // top-k accuracies
  int num_thresholds = 200;   // AUC, 2..kMaxThresholds
  bool pr_curve = false;      // AUC curve="PR" (else "ROC"); summation "interpolation"
};

struct MetricState {
  static constexpr int kMaxThresholds = 1000;
  double total = 0;  // mean-style: sum of row values; precision/recall: true positives
  double count = 0;  // mean-style: rows seen; precision: false positives; recall: false negatives
  // AUC: weight of positive / negative labels whose prediction fell in each bucket.
  std::array<double, kMaxThresholds> bucket_pos{};
  std::array<double, kMaxThresholds> bucket_neg{};
};

namespace metric_detail {

struct Name {
  const char *name;
  MetricKind kind;
};

// keras.metrics.get's names: class names, their snake_case, and the short aliases. "accuracy"
// and "acc" are left out on purpose (see the comment at the top); Keras has no "rmse".
inline constexpr Name kNames[] = {
    {"binary_accuracy", MetricKind::BinaryAccuracy},
    {"BinaryAccuracy", MetricKind::BinaryAccuracy},
    {"categorical_accuracy", MetricKind::CategoricalAccuracy},
    {"CategoricalAccuracy", MetricKind::CategoricalAccuracy},
    {"sparse_categorical_accuracy", MetricKind::SparseCategoricalAccuracy},
    {"SparseCategoricalAccuracy", MetricKind::SparseCategoricalAccuracy},
    {"top_k_categorical_accuracy", MetricKind::TopKCategoricalAccuracy},
    {"TopKCategoricalAccuracy", MetricKind::TopKCategoricalAccuracy},
    {"sparse_top_k_categorical_accuracy", MetricKind::SparseTopKCategoricalAccuracy},
    {"SparseTopKCategoricalAccuracy", MetricKind::SparseTopKCategoricalAccuracy},
    {"mean_absolute_error", MetricKind::MeanAbsoluteError},
    {"MeanAbsoluteError", MetricKind::MeanAbsoluteError},
    {"mae", MetricKind::MeanAbsoluteError},
    {"MAE", MetricKind::MeanAbsoluteError},
    {"mean_squared_error", MetricKind::MeanSquaredError},
    {"MeanSquaredError", MetricKind::MeanSquaredError},
    {"mse", MetricKind::MeanSquaredError},
    {"MSE", MetricKind::MeanSquaredError},
    {"root_mean_squared_error", MetricKind::RootMeanSquaredError},
    {"RootMeanSquaredError", MetricKind::RootMeanSquaredError},
    {"precision", MetricKind::Precision},
    {"Precision", MetricKind::Precision},
    {"recall", MetricKind::Recall},
    {"Recall", MetricKind::Recall},
    {"auc", MetricKind::AUC},
    {"AUC", MetricKind::AUC},
};

/// Keras's argmax on CPU orders -0.0 below +0.0 (it replaces -0.0 by -tiny) and, like
/// jnp.argmax, returns the first maximum; a NaN counts as the maximum.
inline int64_t argmax(const float *x, int64_t d) {
  auto key = [](float v) {
    return v == 0.0f && std::signbit(v) ? -std::numeric_limits<float>::min() : v;
  };
  int64_t best = 0;
  float bv = key(x[0]);
  if (std::isnan(bv))
    return 0;
  for (int64_t j = 1; j < d; ++j) {
    const float v = key(x[j]);
    if (std::isnan(v))
      return j;
    if (v > bv) {
      bv = v;
      best = j;
    }
  }
  return best;
}

/// ops.in_top_k: the label's rank is 1 + the number of strictly larger predictions (ties count
/// in the label's favour; a NaN at the label ranks last). A label outside [0, d) never matches.
inline bool in_top_k(const float *x, int64_t d, int64_t label, int k) {
  if (label < 0 || label >= d)
    return false;
  const float at = std::isnan(x[label]) ? -INFINITY : x[label];
  int64_t larger = 0;
  for (int64_t j = 0; j < d; ++j)
    larger += x[j] > at;
  return 1 + larger <= k;
}

inline double divide_no_nan(double a, double b) { return b == 0.0 ? 0.0 : a / b; }

/// Bucket of a prediction among `n` evenly spaced AUC thresholds (float32, as Keras).
inline int auc_bucket(float p, int n) {
  const float pc = std::min(std::max(p, 0.0f), 1.0f);
  const float b = std::ceil(pc * static_cast<float>(n - 1)) - 1.0f;
  return b > 0.0f ? static_cast<int>(b) : 0;
}

inline double auc_result(const MetricConfig &c, const MetricState &s) {
  const int n = std::clamp(c.num_thresholds, 2, MetricState::kMaxThresholds);
  double pos = 0, neg = 0;
  for (int i = 0; i < n; ++i) {
    pos += s.bucket_pos[i];
    neg += s.bucket_neg[i];
  }
  // Walk thresholds from the highest down: tp/fp at threshold i are suffix sums of the buckets.
  // (tp1, fp1) is threshold i + 1, (tp0, fp0) threshold i.
  double tp1 = s.bucket_pos[n - 1], fp1 = s.bucket_neg[n - 1];
  double area = 0;
  for (int i = n - 2; i >= 0; --i) {
    const double tp0 = tp1 + s.bucket_pos[i], fp0 = fp1 + s.bucket_neg[i];
    if (c.pr_curve) {
      // Keras's interpolate_pr_auc, one interval [i, i + 1].
      const double dtp = tp0 - tp1;
      const double p0 = tp0 + fp0, p1 = tp1 + fp1;
      const double slope = divide_no_nan(dtp, std::max(p0 - p1, 0.0));
      const double intercept = tp1 - slope * p1;
      const double ratio = p0 > 0 && p1 > 0 ? divide_no_nan(p0, std::max(p1, 0.0)) : 1.0;
      const double fn1 = pos - tp1;
      area += divide_no_nan(slope * (dtp + intercept * std::log(ratio)), std::max(tp1 + fn1, 0.0));
    } else {
      // ROC: x = false positive rate, y = recall, trapezoids.
      const double fpr0 = divide_no_nan(fp0, neg), fpr1 = divide_no_nan(fp1, neg);
      const double rec0 = divide_no_nan(tp0, pos), rec1 = divide_no_nan(tp1, pos);
      area += (fpr0 - fpr1) * (rec0 + rec1) / 2.0;
    }
    tp1 = tp0;
    fp1 = fp0;
  }
  return area;
}

} // namespace metric_detail

/// Keras metric name, class name or alias -> kind. False for "accuracy"/"acc" (the compiler
/// resolves them from the shapes, see above) and for names kerasc lacks.
inline bool metric_kind_from_name(const char *name, MetricKind *kind) {
  for (const auto &n : metric_detail::kNames)
    if (std::strcmp(n.name, name) == 0) {
      *kind = n.kind;
      return true;
    }
  return false;
}

inline void metric_reset(const MetricConfig &, MetricState &s) {
  s.total = 0;
  s.count = 0;
  s.bucket_pos.fill(0.0);
  s.bucket_neg.fill(0.0);
}

/// Adds one batch. y_true has rows*d values, or `rows` for the sparse accuracies. `row_weight`
/// is Keras's sample_weight, one per row (the compiler repeats a per-sample weight over the
/// middle axes): mean-style metrics become sum(w * v) / sum(w), confusion counts add w.
inline void metric_update(const MetricConfig &c, MetricState &s, const float *y_true,
                          const float *y_pred, int64_t rows, int64_t d,
                          const float *row_weight = nullptr) {
  using namespace metric_detail;
  const double inv_d = 1.0 / static_cast<double>(d);
  switch (c.kind) {
  case MetricKind::Precision:
  case MetricKind::Recall:
    for (int64_t i = 0; i < rows * d; ++i) {
      const double w = row_weight ? row_weight[i / d] : 1.0;
      const bool label = y_true[i] != 0.0f;
      const bool predicted = y_pred[i] > c.threshold;
      if (label && predicted)
        s.total += w;
      else if (c.kind == MetricKind::Precision ? (!label && predicted) : (label && !predicted))
        s.count += w;
    }
    return;
  case MetricKind::AUC: {
    const int n = std::clamp(c.num_thresholds, 2, MetricState::kMaxThresholds);
    for (int64_t i = 0; i < rows * d; ++i) {
      const int b = auc_bucket(y_pred[i], n);
      const double w = row_weight ? row_weight[i / d] : 1.0;
      (y_true[i] != 0.0f ? s.bucket_pos : s.bucket_neg)[b] += w;
    }
    return;
  }
  default:
    break;
  }
  // Mean-style: one value per row.
  for (int64_t r = 0; r < rows; ++r) {
    const bool sparse = c.kind == MetricKind::SparseCategoricalAccuracy ||
                        c.kind == MetricKind::SparseTopKCategoricalAccuracy;
    const float *t = sparse ? nullptr : y_true + r * d; // sparse labels: y_true[r]
    const float *p = y_pred + r * d;
    double v = 0;
    switch (c.kind) {
    case MetricKind::BinaryAccuracy:
      for (int64_t j = 0; j < d; ++j)
        v += t[j] == (p[j] > c.threshold ? 1.0f : 0.0f);
      v *= inv_d;
      break;
    case MetricKind::CategoricalAccuracy:
      v = argmax(t, d) == argmax(p, d);
      break;
    case MetricKind::SparseCategoricalAccuracy:
      // Keras compares the float label with the float argmax.
      v = y_true[r] == static_cast<float>(argmax(p, d));
      break;
    case MetricKind::TopKCategoricalAccuracy:
      v = in_top_k(p, d, argmax(t, d), c.k);
      break;
    case MetricKind::SparseTopKCategoricalAccuracy:
      v = in_top_k(p, d, static_cast<int64_t>(y_true[r]), c.k); // label cast to int32
      break;
    case MetricKind::MeanAbsoluteError:
      for (int64_t j = 0; j < d; ++j)
        v += std::fabs(static_cast<double>(t[j]) - p[j]);
      v *= inv_d;
      break;
    case MetricKind::MeanSquaredError:
    case MetricKind::RootMeanSquaredError:
      for (int64_t j = 0; j < d; ++j) {
        const double e = static_cast<double>(p[j]) - t[j];
        v += e * e;
      }
      v *= inv_d;
      break;
    default:
      break;
    }
    const double w = row_weight ? row_weight[r] : 1.0;
    s.total += w * v;
    s.count += w;
  }
}

inline double metric_result(const MetricConfig &c, const MetricState &s) {
  switch (c.kind) {
  case MetricKind::Precision:
  case MetricKind::Recall:
    return metric_detail::divide_no_nan(s.total, s.total + s.count);
  case MetricKind::AUC:
    return metric_detail::auc_result(c, s);
  case MetricKind::RootMeanSquaredError:
    return std::sqrt(metric_detail::divide_no_nan(s.total, s.count));
  default:
    return metric_detail::divide_no_nan(s.total, s.count);
  }
}

} // namespace kerasc
