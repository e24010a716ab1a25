// kerasc runtime: Keras activation functions on scalars, written to match Keras 3's formulas
// (keras.activations with the JAX backend) so generated code reproduces Keras's numbers.
// Header-only, standard library only: this file is copied into every generated output.
#pragma once

#include <algorithm>
#include <cmath>

namespace kerasc {
namespace act {

inline float linear(float x) { return x; }

inline float relu(float x) { return x > 0.0f ? x : 0.0f; }

inline float relu6(float x) { return std::min(std::max(x, 0.0f), 6.0f); }

/// Keras's general relu (the ReLU layer and activations.relu with parameters):
/// values below `threshold` are zeroed (or follow `negative_slope`), values above
/// `max_value` are capped. Mirrors keras.src.activations.ReLU.static_call step by step.
inline float relu_general(float x, float negative_slope, bool has_max, float max_value,
                          float threshold) {
  float negative_part = 0.0f;
  if (negative_slope != 0.0f) {
    if (!has_max && threshold == 0.0f)
      return x >= 0.0f ? x : negative_slope * x;  // plain leaky relu
    negative_part = threshold != 0.0f ? relu(-x + threshold) : relu(-x);
  }
  float y;
  if (threshold != 0.0f)
    y = x > threshold ? x : 0.0f;
  else
    y = relu(x);
  if (has_max)
    y = std::min(std::max(y, 0.0f), max_value);
  if (negative_slope != 0.0f)
    y -= negative_slope * negative_part;
  return y;
}

inline float leaky_relu(float x, float negative_slope) {
  return x >= 0.0f ? x : negative_slope * x;
}

inline float sigmoid(float x) {
  // Stable on both sides: never exponentiates a large positive number.
  if (x >= 0.0f)
    return 1.0f / (1.0f + std::exp(-x));
  float e = std::exp(x);
  return e / (1.0f + e);
}

/// Keras 3: relu6(x + 3) / 6.
inline float hard_sigmoid(float x) { return relu6(x + 3.0f) / 6.0f; }

/// tf.keras 2.x: clip(0.2 x + 0.5, 0, 1) (models saved by Keras 2 keep this meaning).
inline float hard_sigmoid_tf2(float x) {
  return std::min(std::max(0.2f * x + 0.5f, 0.0f), 1.0f);
}

inline float tanh(float x) { return std::tanh(x); }

inline float elu(float x, float alpha) { return x > 0.0f ? x : alpha * std::expm1(x); }

inline float selu(float x) {
  const float alpha = 1.6732632423543772848170429916717f;
  const float scale = 1.0507009873554804934193349852946f;
  return scale * (x > 0.0f ? x : alpha * std::expm1(x));
}

/// log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)).
inline float softplus(float x) { return std::max(x, 0.0f) + std::log1p(std::exp(-std::fabs(x))); }

inline float softsign(float x) { return x / (std::fabs(x) + 1.0f); }

inline float silu(float x) { return x * sigmoid(x); }

/// Exact GELU: x * (erf(x / sqrt(2)) + 1) / 2.
inline float gelu(float x) {
  return x * (std::erf(x / 1.4142135623730951f) + 1.0f) / 2.0f;
}

/// Tanh approximation of GELU (gelu(approximate=True)).
inline float gelu_approximate(float x) {
  const float sqrt_2_over_pi = 0.7978845608028654f;
  float cdf = 0.5f * (1.0f + std::tanh(sqrt_2_over_pi * (x + 0.044715f * (x * x * x))));
  return x * cdf;
}

inline float exponential(float x) { return std::exp(x); }

} // namespace act

/// Derivatives f'(x) of the activations above, in terms of the forward input x: what the
/// backward pass multiplies dy by. At kinks they take the value JAX's autodiff gives Keras
/// (relu'(0) = 0; the max/min in relu6 and clips pass the gradient only strictly inside).
namespace act_grad {

inline float linear(float) { return 1.0f; }

inline float relu(float x) { return x > 0.0f ? 1.0f : 0.0f; }

inline float relu6(float x) { return x > 0.0f && x < 6.0f ? 1.0f : 0.0f; }

/// Derivative of act::relu_general, following the same branches.
inline float relu_general(float x, float negative_slope, bool has_max, float max_value,
                          float threshold) {
  float negative_part = 0.0f; // d(negative_part)/dx
  if (negative_slope != 0.0f) {
    if (!has_max && threshold == 0.0f)
      return x >= 0.0f ? 1.0f : negative_slope;
    negative_part = threshold != 0.0f ? (-x + threshold > 0.0f ? -1.0f : 0.0f)
                                      : (-x > 0.0f ? -1.0f : 0.0f);
  }
  float y = threshold != 0.0f ? (x > threshold ? x : 0.0f) : act::relu(x);
  float dy = threshold != 0.0f ? (x > threshold ? 1.0f : 0.0f) : relu(x);
  if (has_max && !(y > 0.0f && y < max_value))
    dy = 0.0f;
  if (negative_slope != 0.0f)
    dy -= negative_slope * negative_part;
  return dy;
}

inline float leaky_relu(float x, float negative_slope) {
  return x >= 0.0f ? 1.0f : negative_slope;
}

inline float sigmoid(float x) {
  const float s = act::sigmoid(x);
  return s * (1.0f - s);
}

inline float hard_sigmoid(float x) { return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f; }

inline float hard_sigmoid_tf2(float x) { return x > -2.5f && x < 2.5f ? 0.2f : 0.0f; }

inline float tanh(float x) {
  const float t = std::tanh(x);
  return 1.0f - t * t;
}

inline float elu(float x, float alpha) { return x > 0.0f ? 1.0f : alpha * std::exp(x); }

inline float selu(float x) {
  const float alpha = 1.6732632423543772848170429916717f;
  const float scale = 1.0507009873554804934193349852946f;
  return scale * (x > 0.0f ? 1.0f : alpha * std::exp(x));
}

inline float softplus(float x) { return act::sigmoid(x); }

inline float softsign(float x) {
  const float d = std::fabs(x) + 1.0f;
  return 1.0f / (d * d);
}

inline float silu(float x) {
  const float s = act::sigmoid(x);
  return s * (1.0f + x * (1.0f - s));
}

inline float gelu(float x) {
  const float pdf = 0.3989422804014327f * std::exp(-0.5f * x * x);
  return 0.5f * (1.0f + std::erf(x / 1.4142135623730951f)) + x * pdf;
}

inline float gelu_approximate(float x) {
  const float c = 0.7978845608028654f;
  const float u = c * (x + 0.044715f * x * x * x);
  const float t = std::tanh(u);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x * x);
}

inline float exponential(float x) { return std::exp(x); }

} // namespace act_grad
} // namespace kerasc
