// kerasc runtime: Keras's model.fit and model.evaluate over a TrainableModel
// (keras/src/trainers/trainer.py, backend/jax/trainer.py, data_adapters, callbacks).
//  - validation_split takes the LAST fraction of the samples, before any shuffling;
//  - each epoch's order is shuffle_indices(seed, stream = epoch), so it depends only on the seed
//    and the epoch number (a resumed run draws the same order); the last batch may be partial;
//  - the logged loss is Keras's Mean tracker in float32: sum(batch_loss * batch_size) / samples;
//    metrics come from metrics_update on the training-mode predictions of each batch;
//  - callbacks run in Keras's order at the end of an epoch: EarlyStopping, ReduceLROnPlateau
//    (user callbacks), then History, then the progress line;
//  - with checkpoint_path, a checkpoint is written atomically after every epoch; resume loads it
//    and continues with the next epoch, giving bit-identical results to an uninterrupted run.
// All per-batch buffers are allocated before the first epoch; steps allocate nothing.
// Header-only, standard library only (plus the POSIX calls of atomic_file.h).
#pragma once

#include "callbacks.h"
#include "checkpoint.h"
#include "history.h"
#include "progress.h"
#include "rng.h"
#include "train_model.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace kerasc {

/// Samples for fit/evaluate: one row-major float array per model input (x) and per output's
/// target (y), `n` samples each (sparse labels are floats too). The caller owns the memory.
struct Dataset {
  std::vector<const float *> x;
  std::vector<const float *> y;
  int64_t n = 0;
};

struct FitOptions {
  int epochs = 1;
  int64_t batch_size = 32;
  bool shuffle = true;
  int verbose = 1;                 // 0 silent, 1 progress bar, 2 one line per epoch
  uint64_t seed = 0;               // shuffling: epoch e uses shuffle_indices(seed, stream=e)
  double validation_split = 0;     // ignored when fit gets validation data
  int initial_epoch = 0;
  bool early_stopping = false;
  EarlyStoppingOptions early_stopping_options;
  bool reduce_lr_on_plateau = false;
  ReduceLROnPlateauOptions reduce_lr_options;
  std::string checkpoint_path;     // written after every epoch when not empty
  bool resume = false;             // continue from checkpoint_path if it exists
  std::FILE *out = stdout;         // progress and callback messages
  int dynamic_display = -1;        // -1: redraw the bar only when `out` is a terminal
};

namespace detail {

/// The buffers and pointer tables of one batch, sized once for `batch` samples.
struct BatchBuffers {
  std::vector<std::vector<float>> x, y, predictions;
  std::vector<const float *> x_ptr, y_ptr;
  std::vector<float *> pred_ptr;

  void allocate(const TrainableModel &m, int64_t batch, bool gather) {
    x.assign(static_cast<size_t>(m.num_inputs), {});
    y.assign(static_cast<size_t>(m.num_outputs), {});
    predictions.assign(static_cast<size_t>(m.num_outputs), {});
    x_ptr.assign(static_cast<size_t>(m.num_inputs), nullptr);
    y_ptr.assign(static_cast<size_t>(m.num_outputs), nullptr);
    pred_ptr.assign(static_cast<size_t>(m.num_outputs), nullptr);
    for (int i = 0; i < m.num_inputs; ++i)
      if (gather) x[i].resize(static_cast<size_t>(batch * m.inputs[i].size));
    for (int o = 0; o < m.num_outputs; ++o) {
      if (gather) y[o].resize(static_cast<size_t>(batch * m.targets[o].size));
      predictions[o].resize(static_cast<size_t>(batch * m.outputs[o].size));
      pred_ptr[o] = predictions[o].data();
    }
  }

  /// Points at rows [start, start+count) of `d`, copying them through `order` when given.
  void load(const TrainableModel &m, const Dataset &d, const int64_t *order, int64_t start,
            int64_t count) {
    for (int i = 0; i < m.num_inputs; ++i) {
      const int64_t s = m.inputs[i].size;
      if (!order) { x_ptr[i] = d.x[i] + start * s; continue; }
      for (int64_t r = 0; r < count; ++r)
        std::memcpy(x[i].data() + r * s, d.x[i] + order[start + r] * s, sizeof(float) * s);
      x_ptr[i] = x[i].data();
    }
    for (int o = 0; o < m.num_outputs; ++o) {
      const int64_t s = m.targets[o].size;
      if (!order) { y_ptr[o] = d.y[o] + start * s; continue; }
      for (int64_t r = 0; r < count; ++r)
        std::memcpy(y[o].data() + r * s, d.y[o] + order[start + r] * s, sizeof(float) * s);
      y_ptr[o] = y[o].data();
    }
  }
};

inline bool check_dataset(const TrainableModel &m, const Dataset &d, const char *what,
                          std::string *error) {
  if ((int)d.x.size() != m.num_inputs || (int)d.y.size() != m.num_outputs || d.n <= 0) {
    if (error)
      *error = std::string(what) + ": expected " + std::to_string(m.num_inputs) + " input(s) and " +
               std::to_string(m.num_outputs) + " target(s) with at least one sample";
    return false;
  }
  return true;
}

/// Sets the names of `logs` once ("loss", metrics) so later updates allocate nothing.
inline void init_logs(const TrainableModel &m, Logs &logs, const std::string &prefix) {
  logs.clear();
  logs.set(prefix + "loss", 0);
  for (int k = 0; k < m.num_metrics; ++k)
    logs.set(prefix + m.metric_names[k], 0);
}

/// Writes loss and the metric results into logs.items[first ..] (names already set).
inline void fill_logs(const TrainableModel &m, Logs &logs, size_t first, float loss,
                      std::vector<double> &metric_values) {
  logs.items[first].second = static_cast<double>(loss);
  if (m.num_metrics > 0)
    m.metrics_result(m.self, metric_values.data());
  for (int k = 0; k < m.num_metrics; ++k)
    logs.items[first + 1 + k].second = metric_values[static_cast<size_t>(k)];
}

/// One pass of test_step over `d` (Keras's evaluate loop); `bar` may be null.
inline float run_test(TrainableModel &m, const Dataset &d, int64_t batch_size, BatchBuffers &buf,
                      Logs &running, std::vector<double> &metric_values, Progbar *bar) {
  if (m.metrics_reset) m.metrics_reset(m.self);
  float total = 0, count = 0;
  const int64_t steps = (d.n + batch_size - 1) / batch_size;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t start = s * batch_size, b = std::min(batch_size, d.n - start);
    buf.load(m, d, nullptr, start, b);
    const float loss = m.test_step(m.self, buf.x_ptr.data(), buf.y_ptr.data(), b, buf.pred_ptr.data());
    total += loss * static_cast<float>(b);
    count += static_cast<float>(b);
    if (m.num_metrics > 0) m.metrics_update(m.self, buf.y_ptr.data(), buf.pred_ptr.data(), b);
    if (bar) {
      fill_logs(m, running, 0, total / count, metric_values);
      bar->update(s + 1, running);
    }
  }
  return total / count;
}

inline bool dynamic_output(int option, std::FILE *out) {
  return option < 0 ? Progbar::stream_is_terminal(out) : option != 0;
}

/// The driver state stored in checkpoints: "key value..." lines (doubles with 17 digits).
inline std::string driver_state_text(int epoch_completed, const TrainableModel &m, const FitOptions &o,
                                     bool stopped, const EarlyStopping *es,
                                     const ReduceLROnPlateau *rlr, const History &h) {
  std::string s = "kerasc_fit 1\n";
  s += "epoch_completed " + std::to_string(epoch_completed) + "\n";
  s += "iterations " + std::to_string(*m.iterations) + "\n";
  s += "model_seed " + std::to_string(*m.seed) + "\n";
  s += "shuffle_seed " + std::to_string(o.seed) + "\n";
  s += "learning_rate " + fmt_double(m.get_learning_rate(m.self)) + "\n";
  s += "stopped " + std::to_string(stopped ? 1 : 0) + "\n";
  if (es) s += es->serialize();
  if (rlr) s += rlr->serialize();
  s += "history_keys";
  for (const auto &k : h.keys) s += " " + k;
  s += "\n";
  for (size_t r = 0; r < h.rows(); ++r) {
    s += "history_row " + std::to_string(h.epochs[r]);
    for (const auto &c : h.columns) s += " " + fmt_double(c[r]);
    s += "\n";
  }
  return s;
}

} // namespace detail

/// Keras's model.evaluate: loss and metrics over `data` in test mode, returned in *result
/// ("loss", metrics...). verbose 1 draws a progress bar. Returns 0, or 1 with *error set.
inline int evaluate(TrainableModel &m, const Dataset &data, int64_t batch_size, int verbose,
                    Logs *result, std::string *error, std::FILE *out = stdout) {
  if (!detail::check_dataset(m, data, "evaluate", error)) return 1;
  if (batch_size <= 0 || batch_size > m.max_batch) {
    if (error) *error = "batch size " + std::to_string(batch_size) + " is outside 1.." + std::to_string(m.max_batch);
    return 1;
  }
  detail::BatchBuffers buf;
  buf.allocate(m, batch_size, false);
  std::vector<double> metric_values(static_cast<size_t>(m.num_metrics));
  Logs logs;
  detail::init_logs(m, logs, "");
  const int64_t steps = (data.n + batch_size - 1) / batch_size;
  Progbar bar(steps, verbose, out, detail::dynamic_output(-1, out));
  const float loss = detail::run_test(m, data, batch_size, buf, logs, metric_values, verbose ? &bar : nullptr);
  detail::fill_logs(m, logs, 0, loss, metric_values);
  if (verbose) bar.finalize(logs);
  if (result) *result = logs;
  return 0;
}

/// Keras's model.fit. `validation` may be null (then validation_split applies). Appends one
/// row per epoch to *history (which a resumed run first refills from the checkpoint).
/// Returns 0, or 1 with a one-line message in *error.
inline int fit(TrainableModel &m, const FitOptions &o, const Dataset &train, const Dataset *validation,
               History *history, std::string *error) {
  if (!detail::check_dataset(m, train, "fit", error)) return 1;
  if (validation && !detail::check_dataset(m, *validation, "validation data", error)) return 1;
  if (o.batch_size <= 0 || o.batch_size > m.max_batch) {
    if (error)
      *error = "batch size " + std::to_string(o.batch_size) + " is outside 1.." +
               std::to_string(m.max_batch) + " (the model was compiled for batches up to " +
               std::to_string(m.max_batch) + "; recompile with kerasc compile --max-batch N)";
    return 1;
  }
  // validation_split: Keras's train_validation_split keeps the first floor(n * (1 - split)).
  Dataset tr = train, val;
  bool has_val = validation != nullptr;
  if (validation) {
    val = *validation;
  } else if (o.validation_split > 0) {
    const int64_t split_at = static_cast<int64_t>(std::floor(double(train.n) * (1.0 - o.validation_split)));
    if (split_at <= 0 || split_at >= train.n || o.validation_split >= 1) {
      if (error)
        *error = "training data contains " + std::to_string(train.n) +
                 " samples, which is not sufficient to split it into a validation and training set "
                 "as specified by validation_split=" + python_float_repr(o.validation_split);
      return 1;
    }
    tr.n = split_at;
    val = train;
    val.n = train.n - split_at;
    for (int i = 0; i < m.num_inputs; ++i) val.x[i] = train.x[i] + split_at * m.inputs[i].size;
    for (int j = 0; j < m.num_outputs; ++j) val.y[j] = train.y[j] + split_at * m.targets[j].size;
    has_val = true;
  }

  EarlyStopping es;
  ReduceLROnPlateau rlr;
  if (o.early_stopping && !es.setup(o.early_stopping_options, m, error)) return 1;
  if (o.reduce_lr_on_plateau && !rlr.setup(o.reduce_lr_options, error)) return 1;
  es.on_train_begin();
  rlr.on_train_begin();
  // EarlyStopping's best weights travel in checkpoints as extra tensors "early_stopping/<name>".
  std::vector<std::string> extra_names;
  std::vector<TensorSlot> extras;
  if (o.early_stopping && o.early_stopping_options.restore_best_weights) {
    for (int i = 0; i < m.num_weights; ++i) extra_names.push_back(std::string("early_stopping/") + m.weights[i].name);
    for (int i = 0; i < m.num_weights; ++i) {
      TensorSlot s = m.weights[i];
      s.name = extra_names[static_cast<size_t>(i)].c_str();
      s.keras_path = nullptr;
      s.data = es.best_weights[static_cast<size_t>(i)].data();
      s.trainable = false;
      extras.push_back(s);
    }
  }

  History local_history;
  History &h = history ? *history : local_history;
  int start_epoch = o.initial_epoch;
  bool already_stopped = false;
  if (o.resume && !o.checkpoint_path.empty()) {
    std::FILE *probe = std::fopen(o.checkpoint_path.c_str(), "rb");
    if (probe) {
      std::fclose(probe);
      std::string state;
      if (!read_checkpoint(o.checkpoint_path.c_str(), m, &state, extras.data(), (int)extras.size(), error))
        return 1;
      std::istringstream lines(state);
      std::string line;
      History restored;
      int completed = -1;
      while (std::getline(lines, line)) {
        std::istringstream f(line);
        std::string key;
        f >> key;
        if (key == "history_keys") {
          std::string k;
          while (f >> k) { restored.keys.push_back(k); restored.columns.emplace_back(); }
        } else if (key == "history_row") {
          int e;
          f >> e;
          restored.epochs.push_back(e);
          for (auto &c : restored.columns) {
            std::string v;
            f >> v;
            c.push_back(std::strtod(v.c_str(), nullptr));
          }
        } else {
          std::string v;
          f >> v;
          if (key == "epoch_completed") completed = std::atoi(v.c_str());
          else if (key == "iterations") *m.iterations = std::strtoll(v.c_str(), nullptr, 10);
          else if (key == "model_seed") *m.seed = std::strtoull(v.c_str(), nullptr, 10);
          else if (key == "shuffle_seed" && std::strtoull(v.c_str(), nullptr, 10) != o.seed) {
            if (error) *error = o.checkpoint_path + ": checkpoint was written with seed " + v + "; resume with the same seed";
            return 1;
          } else if (key == "learning_rate") m.set_learning_rate(m.self, std::strtod(v.c_str(), nullptr));
          else if (key == "stopped") already_stopped = v == "1";
          else if (key.compare(0, 3, "es_") == 0) es.set_state(key, std::strtod(v.c_str(), nullptr));
          else if (key.compare(0, 4, "rlr_") == 0) rlr.set_state(key, std::strtod(v.c_str(), nullptr));
        }
      }
      restored.restored_rows = restored.rows();
      h = restored;
      start_epoch = std::max(start_epoch, completed + 1);
    }
  }

  // Everything a step touches is allocated here, once.
  detail::BatchBuffers buf, val_buf;
  buf.allocate(m, o.batch_size, o.shuffle);
  val_buf.allocate(m, o.batch_size, false);
  std::vector<int64_t> order(static_cast<size_t>(o.shuffle ? tr.n : 0));
  std::vector<double> metric_values(static_cast<size_t>(m.num_metrics));
  Logs running, epoch_logs, val_logs;
  detail::init_logs(m, running, "");
  detail::init_logs(m, val_logs, "");
  const bool dynamic = detail::dynamic_output(o.dynamic_display, o.out);
  const int64_t steps = (tr.n + o.batch_size - 1) / o.batch_size;

  bool stop = already_stopped;
  for (int epoch = start_epoch; epoch < o.epochs && !stop; ++epoch) {
    if (m.metrics_reset) m.metrics_reset(m.self);
    if (o.verbose && o.epochs > 1) std::fprintf(o.out, "Epoch %d/%d\n", epoch + 1, o.epochs);
    Progbar bar(steps, o.verbose, o.out, dynamic);
    if (o.shuffle) {
      for (int64_t i = 0; i < tr.n; ++i) order[static_cast<size_t>(i)] = i;
      shuffle_indices(order.data(), tr.n, o.seed, static_cast<uint64_t>(epoch));
    }
    float total = 0, count = 0;  // Keras's loss tracker: a float32 Mean weighted by batch size
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t start = s * o.batch_size, b = std::min(o.batch_size, tr.n - start);
      buf.load(m, tr, o.shuffle ? order.data() : nullptr, start, b);
      const float loss = m.train_step(m.self, buf.x_ptr.data(), buf.y_ptr.data(), b, buf.pred_ptr.data());
      total += loss * static_cast<float>(b);
      count += static_cast<float>(b);
      if (m.num_metrics > 0) m.metrics_update(m.self, buf.y_ptr.data(), buf.pred_ptr.data(), b);
      if (o.verbose == 1 && dynamic) {
        detail::fill_logs(m, running, 0, total / count, metric_values);
        bar.update(s + 1, running);
      }
    }
    detail::fill_logs(m, running, 0, total / count, metric_values);
    epoch_logs = running;
    if (has_val) {
      const float vloss = detail::run_test(m, val, o.batch_size, val_buf, val_logs, metric_values, nullptr);
      detail::fill_logs(m, val_logs, 0, vloss, metric_values);
      for (const auto &kv : val_logs.items) epoch_logs.set("val_" + kv.first, kv.second);
    }
    if (o.early_stopping) stop = es.on_epoch_end(epoch, epoch_logs, m);
    if (o.reduce_lr_on_plateau) rlr.on_epoch_end(epoch, epoch_logs, m, o.out);
    h.append(epoch, epoch_logs);
    if (o.verbose) bar.finalize(epoch_logs);
    if (!o.checkpoint_path.empty()) {
      const std::string state = detail::driver_state_text(epoch, m, o, stop, o.early_stopping ? &es : nullptr,
                                                          o.reduce_lr_on_plateau ? &rlr : nullptr, h);
      if (!write_checkpoint(o.checkpoint_path.c_str(), m, state, extras.data(), (int)extras.size(), error))
        return 1;
    }
  }
  if (o.early_stopping) es.on_train_end(m, o.out);
  std::fflush(o.out);
  return 0;
}

} // namespace kerasc
