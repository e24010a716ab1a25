// kerasc runtime: EarlyStopping and ReduceLROnPlateau with Keras 3's exact logic
// (keras/src/callbacks/early_stopping.py, reduce_lr_on_plateau.py, monitor_callback.py).
// Keras compares with keras.ops on Python floats, which the JAX backend turns into float32
// tensors, so `current - min_delta` and the best value are compared as float32 here too; that
// decides ties and min_delta edges the same way.
// Header-only, standard library only.
#pragma once

#include "history.h"
#include "train_model.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace kerasc {

enum class MonitorMode { Auto, Min, Max };

/// Whether a larger value of the logged quantity is better, for mode "auto": loss → smaller;
/// metrics whose Keras class has _direction "up" (accuracy, AUC, precision, recall, F-scores,
/// R², IoU, cosine similarity, ...) → larger. Returns false with *known=false for names Keras
/// could not decide either (the caller reports it like Keras's ValueError).
inline bool monitor_prefers_larger(const std::string &monitor, bool *known) {
  std::string name = monitor.compare(0, 4, "val_") == 0 ? monitor.substr(4) : monitor;
  *known = true;
  if (name == "loss" || (name.size() > 5 && name.compare(name.size() - 5, 5, "_loss") == 0))
    return false;
  static const char *const up[] = {"accuracy", "auc", "precision", "recall", "f1_score",
                                   "fbeta_score", "r2_score", "iou", "cosine_similarity",
                                   "true_positives", "true_negatives", "pearson", "concordance"};
  static const char *const down[] = {"mean_squared", "mean_absolute", "mse", "mae", "mape",
                                     "msle", "crossentropy", "hinge", "kl_divergence", "poisson",
                                     "logcosh", "log_cosh", "false_positives", "false_negatives",
                                     "root_mean_squared_error", "huber"};
  for (const char *u : up)
    if (name.find(u) != std::string::npos)
      return true;
  for (const char *d : down)
    if (name.find(d) != std::string::npos)
      return false;
  *known = false;
  return false;
}

namespace detail {

/// MonitorCallback's comparison: monitor_op(current - min_delta, reference) with min_delta
/// negated for "less", evaluated in float32. `has_reference` false means "no reference": better.
struct Monitor {
  bool larger_is_better = false;
  double min_delta = 0;  // signed as Keras stores it after _set_monitor_op

  bool setup(const std::string &monitor, MonitorMode mode, double abs_min_delta, std::string *error) {
    min_delta = std::fabs(abs_min_delta);
    if (mode == MonitorMode::Min) {
      larger_is_better = false;
    } else if (mode == MonitorMode::Max) {
      larger_is_better = true;
    } else {
      bool known = false;
      larger_is_better = monitor_prefers_larger(monitor, &known);
      if (!known) {
        if (error)
          *error = "cannot tell whether '" + monitor +
                   "' should be minimized or maximized; give mode=min or mode=max";
        return false;
      }
    }
    if (!larger_is_better)
      min_delta = -min_delta;
    return true;
  }
  bool improves(double current, bool has_reference, double reference) const {
    if (!has_reference)
      return true;
    const float a = static_cast<float>(current - min_delta), b = static_cast<float>(reference);
    return larger_is_better ? a > b : a < b;
  }
};

inline std::string fmt_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

} // namespace detail

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0;
  int patience = 0;
  MonitorMode mode = MonitorMode::Auto;
  bool has_baseline = false;
  double baseline = 0;
  bool restore_best_weights = false;
  int start_from_epoch = 0;
  int verbose = 0;  // 1: print "Epoch N: early stopping" and the restore line (Keras default 0)
};

/// keras.callbacks.EarlyStopping. Call setup() once (allocates the best-weights copy), then
/// on_train_begin(), on_epoch_end() per epoch, on_train_end() once.
class EarlyStopping {
public:
  EarlyStoppingOptions options;
  // Keras's state, public so that checkpoints can save and restore it.
  int wait = 0;
  int stopped_epoch = 0;
  bool has_best = false;
  double best = 0;
  int best_epoch = 0;
  bool has_best_weights = false;
  std::vector<std::vector<float>> best_weights;  // one per model weight, sized at setup

  bool setup(const EarlyStoppingOptions &o, const TrainableModel &m, std::string *error) {
    options = o;
    if (!monitor_.setup(o.monitor, o.mode, o.min_delta, error))
      return false;
    best_weights.clear();
    if (o.restore_best_weights)
      for (int i = 0; i < m.num_weights; ++i)
        best_weights.emplace_back(static_cast<size_t>(m.weights[i].count));
    return true;
  }

  void on_train_begin() {
    wait = 0;
    stopped_epoch = 0;
    has_best = false;
    best_weights_saved(false);
    best_epoch = 0;
  }

  /// Returns true when training should stop. `current` is nullptr when the monitored key is
  /// missing from the logs (Keras warns and does nothing).
  bool on_epoch_end(int epoch, const Logs &logs, const TrainableModel &m) {
    const double *current = logs.get(options.monitor);
    if (!current || epoch < options.start_from_epoch)
      return false;
    if (options.restore_best_weights && !has_best_weights) {
      save_weights(m);
      best_epoch = epoch;
    }
    ++wait;
    if (monitor_.improves(*current, has_best, best)) {
      best = *current;
      has_best = true;
      best_epoch = epoch;
      if (options.restore_best_weights)
        save_weights(m);
      if (!options.has_baseline || monitor_.improves(*current, true, options.baseline))
        wait = 0;
      return false;
    }
    if (wait >= options.patience && epoch > 0) {
      stopped_epoch = epoch;
      return true;
    }
    return false;
  }

  void on_train_end(TrainableModel &m, std::FILE *out) {
    if (stopped_epoch > 0 && options.verbose > 0)
      std::fprintf(out, "Epoch %d: early stopping\n", stopped_epoch + 1);
    if (options.restore_best_weights && has_best_weights) {
      if (options.verbose > 0)
        std::fprintf(out, "Restoring model weights from the end of the best epoch: %d.\n",
                     best_epoch + 1);
      for (int i = 0; i < m.num_weights; ++i)
        std::memcpy(m.weights[i].data, best_weights[i].data(), best_weights[i].size() * sizeof(float));
    }
  }

  /// Scalar state as "key value" lines (best weights travel as checkpoint tensors).
  std::string serialize() const {
    return "es_wait " + std::to_string(wait) + "\nes_stopped_epoch " + std::to_string(stopped_epoch) +
           "\nes_has_best " + std::to_string(has_best) + "\nes_best " + detail::fmt_double(best) +
           "\nes_best_epoch " + std::to_string(best_epoch) + "\nes_has_best_weights " +
           std::to_string(has_best_weights) + "\n";
  }
  void set_state(const std::string &key, double v) {
    if (key == "es_wait") wait = static_cast<int>(v);
    else if (key == "es_stopped_epoch") stopped_epoch = static_cast<int>(v);
    else if (key == "es_has_best") has_best = v != 0;
    else if (key == "es_best") best = v;
    else if (key == "es_best_epoch") best_epoch = static_cast<int>(v);
    else if (key == "es_has_best_weights") has_best_weights = v != 0;
  }

private:
  void best_weights_saved(bool v) { has_best_weights = v; }
  void save_weights(const TrainableModel &m) {
    for (int i = 0; i < m.num_weights; ++i)
      std::memcpy(best_weights[i].data(), m.weights[i].data, best_weights[i].size() * sizeof(float));
    has_best_weights = true;
  }
  detail::Monitor monitor_;
};

struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;
  int patience = 10;
  MonitorMode mode = MonitorMode::Auto;
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0;
  int verbose = 0;  // 1: print "Epoch N: ReduceLROnPlateau reducing learning rate to X." (Keras default 0)
};

/// keras.callbacks.ReduceLROnPlateau. Adds "learning_rate" (the rate the epoch used) to the
/// logs, as Keras does, so it shows in the progress line and the history.
class ReduceLROnPlateau {
public:
  ReduceLROnPlateauOptions options;
  int wait = 0;
  int cooldown_counter = 0;
  bool has_best = false;
  double best = 0;

  bool setup(const ReduceLROnPlateauOptions &o, std::string *error) {
    if (o.factor >= 1.0) {
      if (error)
        *error = "ReduceLROnPlateau does not support a factor >= 1.0 (got " +
                 python_float_repr(o.factor) + ")";
      return false;
    }
    options = o;
    return monitor_.setup(o.monitor, o.mode, o.min_delta, error);
  }

  void on_train_begin() {
    has_best = false;
    cooldown_counter = 0;
    wait = 0;
  }

  void on_epoch_end(int epoch, Logs &logs, TrainableModel &m, std::FILE *out) {
    logs.set("learning_rate", m.get_learning_rate(m.self));
    const double *current = logs.get(options.monitor);
    if (!current)
      return;
    if (cooldown_counter > 0) {
      --cooldown_counter;
      wait = 0;
    }
    if (monitor_.improves(*current, has_best, best)) {
      best = *current;
      has_best = true;
      wait = 0;
    } else if (cooldown_counter <= 0) {
      ++wait;
      if (wait >= options.patience) {
        const double old_lr = m.get_learning_rate(m.self);
        // Keras: old_lr > np.float32(min_lr), new = max(old * factor, min_lr) in double.
        if (old_lr > static_cast<double>(static_cast<float>(options.min_lr))) {
          double new_lr = old_lr * options.factor;
          if (new_lr < options.min_lr)
            new_lr = options.min_lr;
          if (m.set_learning_rate(m.self, new_lr)) {
            if (options.verbose > 0)
              std::fprintf(out, "\nEpoch %d: ReduceLROnPlateau reducing learning rate to %s.\n",
                           epoch + 1, python_float_repr(new_lr).c_str());
            cooldown_counter = options.cooldown;
            wait = 0;
          }
        }
      }
    }
  }

  std::string serialize() const {
    return "rlr_wait " + std::to_string(wait) + "\nrlr_cooldown_counter " +
           std::to_string(cooldown_counter) + "\nrlr_has_best " + std::to_string(has_best) +
           "\nrlr_best " + detail::fmt_double(best) + "\n";
  }
  void set_state(const std::string &key, double v) {
    if (key == "rlr_wait") wait = static_cast<int>(v);
    else if (key == "rlr_cooldown_counter") cooldown_counter = static_cast<int>(v);
    else if (key == "rlr_has_best") has_best = v != 0;
    else if (key == "rlr_best") best = v;
  }

private:
  detail::Monitor monitor_;
};

} // namespace kerasc
