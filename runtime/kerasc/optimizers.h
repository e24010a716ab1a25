// kerasc runtime: Keras 3 optimizers (SGD, RMSprop, Adam, AdamW, Adagrad, Adamax, Nadam), their
// learning-rate schedules, gradient clipping and decoupled weight decay. One optimizer_apply() is
// one Keras `optimizer.apply_gradients()` call, computed in float32 with the same operations in the
// same order as keras/src/optimizers/*.py (Keras 3.15), so a compiled training run follows Keras's
// weights to within float32 rounding. Header-only, standard library only, no heap allocation.
//
// Config fields carry Keras's config key names (optimizer.get_config() / schedule.get_config()):
//   learning_rate (a float, or a schedule dict -> `schedule`), beta_1, beta_2, epsilon, rho,
//   momentum, nesterov, amsgrad, centered, initial_accumulator_value, weight_decay, clipnorm,
//   clipvalue, global_clipnorm. A JSON null maps to "off": weight_decay NaN, clip* 0.
//   Keras options this runtime does not implement (use_ema, loss_scale_factor,
//   gradient_accumulation_steps) must be rejected by the compiler when set.
#pragma once

#include "kerasc/names.h"
#include "kerasc/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace kerasc {

enum class OptimizerKind { SGD, RMSprop, Adam, AdamW, Adagrad, Adamax, Nadam };
enum class ScheduleKind { Constant, ExponentialDecay, PiecewiseConstantDecay, InverseTimeDecay, CosineDecay };

/// A Keras LearningRateSchedule (keras.optimizers.schedules.*), keys as in its get_config().
struct LearningRateSchedule {
  ScheduleKind kind = ScheduleKind::Constant;  // Constant: OptimizerConfig::learning_rate is used
  double initial_learning_rate = 0.0;
  double decay_steps = 1.0, decay_rate = 1.0;  // ExponentialDecay, InverseTimeDecay; CosineDecay's decay_steps
  bool staircase = false;                      // ExponentialDecay, InverseTimeDecay
  // PiecewiseConstantDecay: values has num_boundaries + 1 entries.
  int num_boundaries = 0;
  double boundaries[32] = {};
  double values[33] = {};
  // CosineDecay. warmup_target NaN = None (no warmup), as Keras's default.
  double alpha = 0.0;
  double warmup_target = std::numeric_limits<double>::quiet_NaN();
  double warmup_steps = 0.0;
};

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Adam;
  double learning_rate = 0.001;  // used when schedule.kind == Constant
  LearningRateSchedule schedule;
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;  // Adam, AdamW, Adamax, Nadam; epsilon also RMSprop, Adagrad
  double rho = 0.9;                                      // RMSprop
  double momentum = 0.0;                                 // SGD, RMSprop
  bool nesterov = false;                                 // SGD
  bool amsgrad = false;                                  // Adam, AdamW
  bool centered = false;                                 // RMSprop
  double initial_accumulator_value = 0.1;                // Adagrad
  // Decoupled weight decay (every optimizer, Keras's base optimizer): NaN or < 0 = None.
  double weight_decay = std::numeric_limits<double>::quiet_NaN();
  // At most one of these is > 0 (Keras refuses more); 0 = off.
  double clipnorm = 0.0, clipvalue = 0.0, global_clipnorm = 0.0;
};

/// The defaults of keras.optimizers.<Kind>() (Keras 3.15).
inline OptimizerConfig default_optimizer_config(OptimizerKind kind) {
  OptimizerConfig c;
  c.kind = kind;
  switch (kind) {
  case OptimizerKind::SGD: c.learning_rate = 0.01; break;
  case OptimizerKind::AdamW: c.weight_decay = 0.004; break;  // AdamW is Adam with weight_decay required
  default: break;  // every other optimizer defaults to learning_rate 0.001
  }
  return c;
}

/// Keras's optimizer identifiers: the class names and the lower-case strings that
/// keras.optimizers.get() accepts ("adam", "sgd", "rmsprop", "adamw", "adagrad", "adamax", "nadam").
inline bool optimizer_kind_from_name(const char *name, OptimizerKind *kind) {
  static const KerasName<OptimizerKind> table[] = {
      {"SGD", "sgd", OptimizerKind::SGD},         {"RMSprop", "rmsprop", OptimizerKind::RMSprop},
      {"Adam", "adam", OptimizerKind::Adam},      {"AdamW", "adamw", OptimizerKind::AdamW},
      {"Adagrad", "adagrad", OptimizerKind::Adagrad}, {"Adamax", "adamax", OptimizerKind::Adamax},
      {"Nadam", "nadam", OptimizerKind::Nadam},
  };
  return find_keras_name(table, name, kind);
}

/// State floats per parameter element: the number of Keras optimizer variables per model variable.
inline int optimizer_slots(const OptimizerConfig &c) {
  switch (c.kind) {
  case OptimizerKind::SGD: return c.momentum != 0.0 ? 1 : 0;
  case OptimizerKind::RMSprop: return 1 + (c.momentum > 0.0 ? 1 : 0) + (c.centered ? 1 : 0);
  case OptimizerKind::Adam:
  case OptimizerKind::AdamW: return c.amsgrad ? 3 : 2;
  case OptimizerKind::Adagrad: return 1;
  case OptimizerKind::Adamax:
  case OptimizerKind::Nadam: return 2;
  }
  return 0;
}

/// Keras's name for state slot `slot` (the suffix of its optimizer variable, e.g. "momentum",
/// "velocity"), for checkpoints and reports. State layout: slot-major, state[slot * count + i].
inline const char *optimizer_slot_name(const OptimizerConfig &c, int slot) {
  switch (c.kind) {
  case OptimizerKind::SGD: return "momentum";
  case OptimizerKind::RMSprop:
    if (slot == 0) return "velocity";
    if (slot == 1 && c.momentum > 0.0) return "momentum";
    return "average_gradient";
  case OptimizerKind::Adam:
  case OptimizerKind::AdamW:
  case OptimizerKind::Nadam: return slot == 0 ? "momentum" : slot == 1 ? "velocity" : "velocity_hat";
  case OptimizerKind::Adagrad: return "accumulator";
  case OptimizerKind::Adamax: return slot == 0 ? "momentum" : "norm";
  }
  return "";
}

/// One trainable variable: value, its gradient (clipping rewrites it in place), and
/// optimizer_slots(c) * count floats of state, slot-major, zeroed by the caller.
struct ParamSlot {
  float *value;
  float *grad;
  float *state;
  int64_t count;
};

/// Sets the state that does not start at zero (Adagrad's accumulator).
inline void optimizer_init_state(const OptimizerConfig &c, ParamSlot *params, int n) {
  if (c.kind != OptimizerKind::Adagrad) return;
  const float v = static_cast<float>(c.initial_accumulator_value);
  for (int p = 0; p < n; ++p) std::fill(params[p].state, params[p].state + params[p].count, v);
}

/// Keras evaluates schedules in float32 (the initial learning rate is converted to a float32
/// tensor and every other number is cast to its dtype); so do we, operation by operation.
inline float schedule_learning_rate(const LearningRateSchedule &s, float constant_lr, int64_t iterations) {
  const float step = static_cast<float>(iterations);
  const float lr0 = static_cast<float>(s.initial_learning_rate);
  switch (s.kind) {
  case ScheduleKind::Constant: return constant_lr;
  case ScheduleKind::ExponentialDecay: {
    float p = step / static_cast<float>(s.decay_steps);
    if (s.staircase) p = std::floor(p);
    return lr0 * std::pow(static_cast<float>(s.decay_rate), p);
  }
  case ScheduleKind::InverseTimeDecay: {
    float p = step / static_cast<float>(s.decay_steps);
    if (s.staircase) p = std::floor(p);
    return lr0 / (1.0f + static_cast<float>(s.decay_rate) * p);
  }
  case ScheduleKind::PiecewiseConstantDecay: {
    // Keras casts the boundaries to the step's integer dtype (truncation) and sums
    // mask * value over the intervals; with sorted boundaries exactly one mask is 1.
    const int nb = s.num_boundaries;
    if (nb <= 0) return static_cast<float>(s.values[0]);
    auto b = [&](int i) { return static_cast<int64_t>(s.boundaries[i]); };
    float r = 0.0f;
    if (iterations <= b(0)) r += static_cast<float>(s.values[0]);
    if (iterations > b(nb - 1)) r += static_cast<float>(s.values[nb]);
    for (int i = 0; i + 1 < nb; ++i)
      if (iterations > b(i) && iterations <= b(i + 1)) r += static_cast<float>(s.values[i + 1]);
    return r;
  }
  case ScheduleKind::CosineDecay: {
    const float decay_steps = static_cast<float>(s.decay_steps);
    auto decay = [&](float t, float from_lr) {
      const float completed = t / decay_steps;
      const float cosine = 0.5f * (1.0f + std::cos(3.14159265358979323846f * completed));
      // (1 - alpha) is a Python double expression rounded once to float32.
      const float decayed = static_cast<float>(1.0 - s.alpha) * cosine + static_cast<float>(s.alpha);
      return from_lr * decayed;
    };
    if (std::isnan(s.warmup_target)) return decay(std::min(step, decay_steps), lr0);
    const float target = static_cast<float>(s.warmup_target);
    const float warmup_steps = static_cast<float>(s.warmup_steps);
    const float t = std::min(step, decay_steps + warmup_steps);
    if (t < warmup_steps) return (target - lr0) * (t / warmup_steps) + lr0;
    return decay(t - warmup_steps, target);
  }
  }
  return constant_lr;
}

/// The learning rate Keras's `optimizer.learning_rate` reports before step `iterations` + 1
/// (a float32 value; the constant rate is a float32 variable in Keras).
inline double current_learning_rate(const OptimizerConfig &c, int64_t iterations) {
  return schedule_learning_rate(c.schedule, static_cast<float>(c.learning_rate), iterations);
}

namespace detail {

/// Calls fn(begin, end) over [0, count) in chunks spread over the thread pool; small counts
/// (where waking threads costs more than it saves) run on the caller.
template <class F> void for_chunks(int64_t count, const F &fn) {
  constexpr int64_t kChunk = int64_t(1) << 15;
  ThreadPool &pool = thread_pool();
  if (count < 2 * kChunk || pool.size() == 1) {
    fn(int64_t(0), count);
    return;
  }
  pool.parallel_for((count + kChunk - 1) / kChunk, [&](int64_t task, int /*thread*/) {
    fn(task * kChunk, std::min(count, (task + 1) * kChunk));
  });
}

/// Adam's (and AdamW's) update of one variable, Keras's formula. The buffers never alias, which
/// __restrict tells the compiler so the loop vectorizes: this is the whole optimizer step's
/// memory traffic (four floats per weight).
inline void adam_update(float *__restrict w, const float *__restrict g, float *__restrict m,
                        float *__restrict v, int64_t count, float alpha, float one_minus_beta_1,
                        float one_minus_beta_2, float eps) {
  for (int64_t i = 0; i < count; ++i) {
    m[i] = m[i] + (g[i] - m[i]) * one_minus_beta_1;
    v[i] = v[i] + (g[i] * g[i] - v[i]) * one_minus_beta_2;
    w[i] = w[i] - (m[i] * alpha) / (std::sqrt(v[i]) + eps);
  }
}

inline float sum_squares(const float *g, int64_t n) {
  // Accumulated in double, rounded once: within an ulp of XLA's float32 reduction.
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(g[i]) * g[i];
  return static_cast<float>(s);
}

// base_optimizer._clip_gradients: clipnorm (per variable) wins, then global_clipnorm, then clipvalue.
inline void clip_gradients(const OptimizerConfig &c, ParamSlot *params, int n) {
  if (c.clipnorm > 0.0) {
    const float cn = static_cast<float>(c.clipnorm);
    for (int p = 0; p < n; ++p) {
      // _clip_by_norm: g * clipnorm / max(norm, clipnorm); a zero norm leaves g unchanged.
      const float l2sum = sum_squares(params[p].grad, params[p].count);
      const float norm = l2sum > 0.0f ? std::sqrt(l2sum) : l2sum;
      // XLA rewrites "tensor / broadcast scalar" as "tensor * (1 / scalar)"; so do we, to round alike.
      const float inv = 1.0f / std::max(norm, cn);
      float *g = params[p].grad;
      for (int64_t i = 0; i < params[p].count; ++i) g[i] = (g[i] * cn) * inv;
    }
  } else if (c.global_clipnorm > 0.0) {
    float total = 0.0f;
    {
      double s = 0.0;
      for (int p = 0; p < n; ++p) s += sum_squares(params[p].grad, params[p].count);
      total = static_cast<float>(s);
    }
    const float use_norm = std::sqrt(total);
    const float cn = static_cast<float>(c.global_clipnorm);
    // clip_by_global_norm: clip_norm * min(1/norm, 1/clip_norm), made NaN when the norm is not
    // finite (the + (norm - norm) term), exactly as Keras does.
    float scale = cn * std::min(1.0f / use_norm, static_cast<float>(1.0 / c.global_clipnorm));
    scale = scale + (use_norm - use_norm);
    for (int p = 0; p < n; ++p)
      for (int64_t i = 0; i < params[p].count; ++i) params[p].grad[i] *= scale;
  } else if (c.clipvalue > 0.0) {
    const float v = static_cast<float>(c.clipvalue);
    for (int p = 0; p < n; ++p)
      for (int64_t i = 0; i < params[p].count; ++i)
        params[p].grad[i] = std::min(std::max(params[p].grad[i], -v), v);
  }
}

// Nadam's `u_product` is a product over all steps so far; Keras keeps it in an optimizer
// variable. It depends only on the step count, so we recompute it with the same float32
// multiplications in the same order instead of asking the caller for a scalar state. The loop
// stops once the product is below 2^-26, where (1 - u_product) is exactly 1.0f: a few hundred
// steps for beta_1 = 0.9 (the factors are <= beta_1 < 1).
inline float nadam_u_product(float beta_1, int64_t steps) {
  float u = 1.0f;
  for (int64_t t = 1; t <= steps; ++t) {
    u = u * beta_1 * (1.0f - 0.5f * std::pow(0.96f, static_cast<float>(t)));
    if (u < 1.4901161e-8f) break;
  }
  return u;
}

} // namespace detail

/// One Keras `apply_gradients` call: clip the gradients, apply weight decay with the current
/// learning rate, update every variable and its state, then iterations += 1.
inline void optimizer_apply(const OptimizerConfig &c, int64_t &iterations, ParamSlot *params, int n) {
  const float lr = static_cast<float>(current_learning_rate(c, iterations));
  detail::clip_gradients(c, params, n);

  // Decoupled weight decay, before the update (base_optimizer._apply_weight_decay):
  // variable - variable * wd * lr.
  if (!std::isnan(c.weight_decay) && c.weight_decay >= 0.0) {
    const float wd = static_cast<float>(c.weight_decay);
    for (int p = 0; p < n; ++p) {
      float *w = params[p].value;
      for (int64_t i = 0; i < params[p].count; ++i) w[i] = w[i] - w[i] * wd * lr;
    }
  }

  const float local_step = static_cast<float>(iterations + 1);
  const float eps = static_cast<float>(c.epsilon);
  const float beta_1 = static_cast<float>(c.beta_1);
  const float beta_2 = static_cast<float>(c.beta_2);
  // Python-side `1 - self.beta_1`: a double expression rounded once to float32.
  const float one_minus_beta_1 = static_cast<float>(1.0 - c.beta_1);
  const float one_minus_beta_2 = static_cast<float>(1.0 - c.beta_2);

  for (int p = 0; p < n; ++p) {
    float *w = params[p].value;
    const float *g = params[p].grad;
    const int64_t count = params[p].count;
    float *s0 = params[p].state;
    float *s1 = s0 + count;
    float *s2 = s1 + count;
    switch (c.kind) {
    case OptimizerKind::SGD: {
      if (c.momentum == 0.0) {
        for (int64_t i = 0; i < count; ++i) w[i] = w[i] - g[i] * lr;
        break;
      }
      const float mom = static_cast<float>(c.momentum);
      for (int64_t i = 0; i < count; ++i) {
        const float m = s0[i] * mom - g[i] * lr;
        s0[i] = m;
        w[i] = c.nesterov ? w[i] + (m * mom - g[i] * lr) : w[i] + m;
      }
      break;
    }
    case OptimizerKind::RMSprop: {
      const float rho = static_cast<float>(c.rho);
      const float one_minus_rho = static_cast<float>(1.0 - c.rho);
      const float mom = static_cast<float>(c.momentum);
      float *velocity = s0;
      float *momentum = c.momentum > 0.0 ? s1 : nullptr;
      float *average = c.centered ? (c.momentum > 0.0 ? s2 : s1) : nullptr;
      for (int64_t i = 0; i < count; ++i) {
        const float v = rho * velocity[i] + one_minus_rho * (g[i] * g[i]);
        velocity[i] = v;
        float denominator;
        if (average) {
          const float a = rho * average[i] + one_minus_rho * g[i];
          average[i] = a;
          denominator = v - a * a + eps;
        } else {
          denominator = v + eps;
        }
        const float increment = (lr * g[i]) / std::sqrt(denominator);
        if (momentum) {
          momentum[i] = mom * momentum[i] + increment;
          w[i] = w[i] - momentum[i];
        } else {
          w[i] = w[i] - increment;
        }
      }
      break;
    }
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW: {
      const float beta_1_power = std::pow(beta_1, local_step);
      const float beta_2_power = std::pow(beta_2, local_step);
      const float alpha = lr * std::sqrt(1.0f - beta_2_power) / (1.0f - beta_1_power);
      if (c.amsgrad) {
        for (int64_t i = 0; i < count; ++i) {
          s0[i] = s0[i] + (g[i] - s0[i]) * one_minus_beta_1;
          s1[i] = s1[i] + (g[i] * g[i] - s1[i]) * one_minus_beta_2;
          s2[i] = std::max(s2[i], s1[i]);
          w[i] = w[i] - (s0[i] * alpha) / (std::sqrt(s2[i]) + eps);
        }
      } else {
        // Memory-bound: big variables are split over the pool's threads (elementwise, so the
        // result does not depend on the split).
        detail::for_chunks(count, [&](int64_t begin, int64_t end) {
          detail::adam_update(w + begin, g + begin, s0 + begin, s1 + begin, end - begin, alpha,
                              one_minus_beta_1, one_minus_beta_2, eps);
        });
      }
      break;
    }
    case OptimizerKind::Adagrad: {
      for (int64_t i = 0; i < count; ++i) {
        s0[i] = s0[i] + g[i] * g[i];
        w[i] = w[i] - (lr * g[i]) / std::sqrt(s0[i] + eps);
      }
      break;
    }
    case OptimizerKind::Adamax: {
      const float beta_1_power = std::pow(beta_1, local_step);
      for (int64_t i = 0; i < count; ++i) {
        s0[i] = s0[i] + (g[i] - s0[i]) * one_minus_beta_1;
        s1[i] = std::max(beta_2 * s1[i], std::fabs(g[i]));
        w[i] = w[i] - (lr * s0[i]) / ((1.0f - beta_1_power) * (s1[i] + eps));
      }
      break;
    }
    case OptimizerKind::Nadam: {
      // Nadam casts beta_1/beta_2 to float32 first, so here 1 - beta is a float32 subtraction.
      const float decay = 0.96f;
      const float next_step = static_cast<float>(iterations + 2);
      const float u_t = beta_1 * (1.0f - 0.5f * std::pow(decay, local_step));
      const float u_t_1 = beta_1 * (1.0f - 0.5f * std::pow(decay, next_step));
      const float u_product_t = detail::nadam_u_product(beta_1, iterations + 1);
      const float u_product_t_1 = u_product_t * u_t_1;
      const float beta_2_power = std::pow(beta_2, local_step);
      // Divisions by scalars become multiplications by their reciprocals, as XLA compiles them.
      const float inv_1 = 1.0f / (1.0f - u_product_t_1);
      const float inv_0 = 1.0f / (1.0f - u_product_t);
      const float inv_2 = 1.0f / (1.0f - beta_2_power);
      for (int64_t i = 0; i < count; ++i) {
        s0[i] = s0[i] + (g[i] - s0[i]) * (1.0f - beta_1);
        s1[i] = s1[i] + (g[i] * g[i] - s1[i]) * (1.0f - beta_2);
        const float m_hat = (u_t_1 * s0[i]) * inv_1 + ((1.0f - u_t) * g[i]) * inv_0;
        const float v_hat = s1[i] * inv_2;
        w[i] = w[i] - (m_hat * lr) / (std::sqrt(v_hat) + eps);
      }
      break;
    }
    }
  }
  iterations += 1;
}

} // namespace kerasc
