// kerasc runtime: the command line of generated training programs. Adds `fit` and `evaluate`
// to the inference CLI (`predict` and `info` go to run_cli):
//   fit --x X.npy[,X2.npy] --y Y.npy [--validation-split F | --validation-x VX --validation-y VY]
//       [--epochs 1] [--batch-size 32] [--no-shuffle] [--verbose 0|1|2] [--seed 0]
//       [--learning-rate LR] [--initial-epoch E] [--initial-weights W.weights.h5] [--reinitialize]
//       [--early-stopping monitor=val_loss,patience=0,min_delta=0,mode=auto,baseline=B,
//                         start_from_epoch=0,restore_best_weights]
//       [--reduce-lr-on-plateau monitor=val_loss,factor=0.1,patience=10,mode=auto,
//                               min_delta=0.0001,cooldown=0,min_lr=0]
//       [--checkpoint PATH] [--resume] [--history h.csv] [--history-json h.json]
//       [--save W.weights.h5] [--save-keras M.keras] [--save-checkpoint final.kck]
//   evaluate --x X --y Y [--batch-size 32] [--weights W.weights.h5 | --checkpoint C] [--verbose 0|1]
// Defaults are Keras's (epochs 1, batch 32, shuffle, verbose 1, callback defaults); the seed
// (shuffling, dropout, --reinitialize) defaults to 0. Errors: one line "<program>: <file>: <what>",
// exit code 1 (2 for usage errors); every file is written atomically.
// Header-only, standard library only; Keras weight files go through TrainCliHooks (HDF5 lives
// in the generated program, not here).
#pragma once

#include "arrays.h"
#include "checkpoint.h"
#include "cli.h"
#include "fit.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace kerasc {

/// Keras weight-file writers/readers of the generated program; any may be null (built without
/// HDF5), which makes the options that need them fail with a clear message.
struct TrainCliHooks {
  bool (*load_weights_h5)(const char *path, TensorSlot *slots, int n, std::string *error);
  bool (*save_weights_h5)(const char *path, const TensorSlot *slots, int n, std::string *error);
  bool (*save_keras_archive)(const char *path, const TensorSlot *slots, int n, std::string *error);
};

namespace detail {

inline const char *no_hdf5_message() {
  return "this program was built without HDF5; use --save-checkpoint and `kerasc convert`";
}

inline std::vector<std::string> split_list(const std::string &s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

inline MonitorMode parse_mode(const std::string &option, const std::string &v) {
  if (v == "auto") return MonitorMode::Auto;
  if (v == "min") return MonitorMode::Min;
  if (v == "max") return MonitorMode::Max;
  throw CliError{2, option + ": mode must be auto, min or max (got '" + v + "')"};
}

/// "monitor=val_loss,patience=2,restore_best_weights" -> (key, value) pairs; a bare key is "1".
inline std::vector<std::pair<std::string, std::string>> parse_settings(const std::string &s) {
  std::vector<std::pair<std::string, std::string>> out;
  if (s.empty()) return out;
  for (const auto &item : split_list(s, ',')) {
    size_t eq = item.find('=');
    if (eq == std::string::npos) out.emplace_back(item, "1");
    else out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

inline EarlyStoppingOptions parse_early_stopping(const std::string &s) {
  EarlyStoppingOptions o;
  const std::string opt = "--early-stopping";
  for (const auto &kv : parse_settings(s)) {
    if (kv.first == "monitor") o.monitor = kv.second;
    else if (kv.first == "patience") o.patience = static_cast<int>(parse_number(opt, kv.second));
    else if (kv.first == "min_delta") o.min_delta = parse_number(opt, kv.second);
    else if (kv.first == "mode") o.mode = parse_mode(opt, kv.second);
    else if (kv.first == "baseline") { o.has_baseline = true; o.baseline = parse_number(opt, kv.second); }
    else if (kv.first == "restore_best_weights") o.restore_best_weights = kv.second != "0" && kv.second != "false";
    else if (kv.first == "start_from_epoch") o.start_from_epoch = static_cast<int>(parse_number(opt, kv.second));
    else if (kv.first == "verbose") o.verbose = static_cast<int>(parse_number(opt, kv.second));
    else throw CliError{2, opt + ": unknown setting '" + kv.first + "'"};
  }
  return o;
}

inline ReduceLROnPlateauOptions parse_reduce_lr(const std::string &s) {
  ReduceLROnPlateauOptions o;
  const std::string opt = "--reduce-lr-on-plateau";
  for (const auto &kv : parse_settings(s)) {
    if (kv.first == "monitor") o.monitor = kv.second;
    else if (kv.first == "factor") o.factor = parse_number(opt, kv.second);
    else if (kv.first == "patience") o.patience = static_cast<int>(parse_number(opt, kv.second));
    else if (kv.first == "mode") o.mode = parse_mode(opt, kv.second);
    else if (kv.first == "min_delta") o.min_delta = parse_number(opt, kv.second);
    else if (kv.first == "cooldown") o.cooldown = static_cast<int>(parse_number(opt, kv.second));
    else if (kv.first == "min_lr") o.min_lr = parse_number(opt, kv.second);
    else if (kv.first == "verbose") o.verbose = static_cast<int>(parse_number(opt, kv.second));
    else throw CliError{2, opt + ": unknown setting '" + kv.first + "'"};
  }
  return o;
}

/// Arrays for the comma-separated files of `paths`, checked against the model's ports.
inline std::vector<Array> load_arrays(const std::string &option, const std::string &paths,
                                      const DataPort *ports, int count, int64_t *rows) {
  std::vector<std::string> files = split_list(paths, ',');
  if ((int)files.size() != count)
    throw CliError{2, option + ": the model needs " + std::to_string(count) + " file(s), got " +
                          std::to_string(files.size())};
  std::vector<Array> arrays;
  for (int i = 0; i < count; ++i) {
    try {
      arrays.push_back(read_array(files[i]));
    } catch (const std::exception &e) {
      throw CliError{1, e.what()};
    }
    const Array &a = arrays.back();
    const int64_t n = a.shape.empty() ? 0 : a.shape[0];
    if (n <= 0 || (int64_t)a.data.size() != n * ports[i].size)
      throw CliError{1, files[i] + ": expected " + std::to_string(ports[i].size) + " value(s) per sample for '" +
                            ports[i].name + "', got " + std::to_string(a.data.size()) + " values in " +
                            std::to_string(n) + " rows"};
    if (*rows >= 0 && n != *rows)
      throw CliError{1, files[i] + ": has " + std::to_string(n) + " samples, expected " + std::to_string(*rows)};
    *rows = n;
  }
  return arrays;
}

inline Dataset make_dataset(const std::vector<Array> &x, const std::vector<Array> &y, int64_t n) {
  Dataset d;
  for (const auto &a : x) d.x.push_back(a.data.data());
  for (const auto &a : y) d.y.push_back(a.data.data());
  d.n = n;
  return d;
}

inline void print_train_usage(const char *name) {
  std::printf(
      "usage: %s fit --x X.npy --y Y.npy [--validation-split F | --validation-x VX --validation-y VY]\n"
      "          [--epochs N] [--batch-size B] [--no-shuffle] [--verbose 0|1|2] [--seed S]\n"
      "          [--learning-rate LR] [--initial-epoch E] [--initial-weights W.weights.h5] [--reinitialize]\n"
      "          [--early-stopping monitor=val_loss,patience=P,min_delta=D,mode=auto,restore_best_weights]\n"
      "          [--reduce-lr-on-plateau monitor=val_loss,factor=0.1,patience=10,min_lr=0,cooldown=0]\n"
      "          [--checkpoint PATH] [--resume] [--history h.csv] [--history-json h.json]\n"
      "          [--save W.weights.h5] [--save-keras M.keras] [--save-checkpoint final.kck]\n"
      "       %s evaluate --x X --y Y [--batch-size B] [--weights W.weights.h5 | --checkpoint C] [--verbose 0|1]\n"
      "       %s predict ... | info   (see `%s predict --help`)\n"
      "Multi-input/-output models take comma-separated file lists. Defaults: epochs 1, batch 32,\n"
      "shuffle on, verbose 1, seed 0.\n",
      name, name, name, name);
}

} // namespace detail

namespace detail {

inline bool ends_with(const std::string &s, const char *suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

/// `predict` of a training build: `--weights W.weights.h5|W.keras` or `--checkpoint C.kck` load
/// trained weights first (any other --weights is the inference CLI's external weights file);
/// the rest is run_cli's predict.
inline int predict_with_trained_weights(int argc, char **argv, const ModelDesc &inference,
                                        TrainableModel &m, const TrainCliHooks &hooks) {
  std::vector<char *> rest;
  std::string weights, checkpoint;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 < argc && arg == "--weights" &&
        (ends_with(argv[i + 1], ".h5") || ends_with(argv[i + 1], ".keras"))) {
      weights = argv[++i];
    } else if (i + 1 < argc && arg == "--checkpoint") {
      checkpoint = argv[++i];
    } else {
      rest.push_back(argv[i]);
    }
  }
  std::string error;
  const char *program = m.name ? m.name : inference.name;
  if (!weights.empty()) {
    if (!hooks.load_weights_h5) {
      std::fprintf(stderr, "%s: %s: this program was built without HDF5; use --checkpoint\n",
                   program, weights.c_str());
      return 1;
    }
    if (inference.init(nullptr) != 0)
      return 1;
    if (!hooks.load_weights_h5(weights.c_str(), m.weights, m.num_weights, &error)) {
      std::fprintf(stderr, "%s: %s\n", program, error.c_str());
      return 1;
    }
  }
  if (!checkpoint.empty()) {
    if (inference.init(nullptr) != 0)
      return 1;
    if (!read_checkpoint(checkpoint.c_str(), m, nullptr, &error)) {
      std::fprintf(stderr, "%s: %s\n", program, error.c_str());
      return 1;
    }
  }
  rest.push_back(nullptr);
  return run_cli(static_cast<int>(rest.size()) - 1, rest.data(), inference);
}

} // namespace detail

/// The training program's main: `fit`, `evaluate`, else run_cli (predict, info).
inline int run_train_cli(int argc, char **argv, const ModelDesc &inference, TrainableModel &m,
                         const TrainCliHooks &hooks) {
  const char *name = m.name ? m.name : inference.name;
  if (argc >= 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
    detail::print_train_usage(name);
    return 0;
  }
  if (argc >= 2 && !std::strcmp(argv[1], "predict"))
    return detail::predict_with_trained_weights(argc, argv, inference, m, hooks);
  if (argc < 2 || (std::strcmp(argv[1], "fit") != 0 && std::strcmp(argv[1], "evaluate") != 0))
    return run_cli(argc, argv, inference);
  const bool is_fit = !std::strcmp(argv[1], "fit");
  try {
    // ---- options
    std::string x, y, vx, vy, initial_weights, weights, checkpoint, history_csv, history_json,
        save_h5, save_keras, save_checkpoint, early, reduce;
    bool use_early = false, use_reduce = false, reinitialize = false, have_lr = false;
    double lr = 0;
    FitOptions o;
    int64_t batch_size = 32;
    for (int i = 2; i < argc; ++i) {
      const std::string arg = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw detail::CliError{2, "option " + arg + " needs a value"};
        return argv[++i];
      };
      auto number = [&]() { return detail::parse_number(arg, value()); };
      if (arg == "--x") x = value();
      else if (arg == "--y") y = value();
      else if (arg == "--batch-size") batch_size = static_cast<int64_t>(number());
      else if (arg == "--verbose") {
        if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') o.verbose = static_cast<int>(number());
        else o.verbose = 1;
      }
      else if (arg == "--checkpoint") checkpoint = value();
      else if (!is_fit && arg == "--weights") weights = value();
      else if (!is_fit) throw detail::CliError{2, "evaluate: unknown option " + arg + " (try --help)"};
      else if (arg == "--validation-split") o.validation_split = number();
      else if (arg == "--validation-x") vx = value();
      else if (arg == "--validation-y") vy = value();
      else if (arg == "--epochs") o.epochs = static_cast<int>(number());
      else if (arg == "--no-shuffle") o.shuffle = false;
      else if (arg == "--seed") o.seed = static_cast<uint64_t>(number());
      else if (arg == "--learning-rate") { lr = number(); have_lr = true; }
      else if (arg == "--initial-epoch") o.initial_epoch = static_cast<int>(number());
      else if (arg == "--initial-weights") initial_weights = value();
      else if (arg == "--reinitialize") reinitialize = true;
      else if (arg == "--early-stopping") {
        use_early = true;
        if (i + 1 < argc && argv[i + 1][0] != '-') early = value();
      } else if (arg == "--reduce-lr-on-plateau") {
        use_reduce = true;
        if (i + 1 < argc && argv[i + 1][0] != '-') reduce = value();
      }
      else if (arg == "--resume") o.resume = true;
      else if (arg == "--history") history_csv = value();
      else if (arg == "--history-json") history_json = value();
      else if (arg == "--save") save_h5 = value();
      else if (arg == "--save-keras") save_keras = value();
      else if (arg == "--save-checkpoint") save_checkpoint = value();
      else throw detail::CliError{2, "fit: unknown option " + arg + " (try --help)"};
    }
    if (x.empty() || y.empty()) throw detail::CliError{2, std::string(argv[1]) + ": --x and --y are required"};
    if (vx.empty() != vy.empty()) throw detail::CliError{2, "fit: give both --validation-x and --validation-y"};
    if (o.resume && checkpoint.empty()) throw detail::CliError{2, "fit: --resume needs --checkpoint PATH"};
    auto need_hook = [](bool have, const std::string &path) {
      if (!have && !path.empty()) throw detail::CliError{1, path + ": " + detail::no_hdf5_message()};
    };
    need_hook(hooks.load_weights_h5 != nullptr, initial_weights);
    need_hook(hooks.load_weights_h5 != nullptr, weights);
    need_hook(hooks.save_weights_h5 != nullptr, save_h5);
    need_hook(hooks.save_keras_archive != nullptr, save_keras);
    o.batch_size = batch_size;
    if (use_early) { o.early_stopping = true; o.early_stopping_options = detail::parse_early_stopping(early); }
    if (use_reduce) { o.reduce_lr_on_plateau = true; o.reduce_lr_options = detail::parse_reduce_lr(reduce); }

    // ---- data
    int64_t n = -1, vn = -1;
    std::vector<Array> xs = detail::load_arrays("--x", x, m.inputs, m.num_inputs, &n);
    std::vector<Array> ys = detail::load_arrays("--y", y, m.targets, m.num_outputs, &n);
    std::vector<Array> vxs, vys;
    if (!vx.empty()) {
      vxs = detail::load_arrays("--validation-x", vx, m.inputs, m.num_inputs, &vn);
      vys = detail::load_arrays("--validation-y", vy, m.targets, m.num_outputs, &vn);
    }
    const Dataset data = detail::make_dataset(xs, ys, n);
    const Dataset vdata = detail::make_dataset(vxs, vys, vn);

    // ---- starting weights
    std::string error;
    if (reinitialize) m.reinitialize(m.self, o.seed);
    if (!initial_weights.empty() && !hooks.load_weights_h5(initial_weights.c_str(), m.weights, m.num_weights, &error))
      throw detail::CliError{1, error};
    if (!weights.empty() && !hooks.load_weights_h5(weights.c_str(), m.weights, m.num_weights, &error))
      throw detail::CliError{1, error};
    if (!is_fit && !checkpoint.empty() && !read_checkpoint(checkpoint.c_str(), m, nullptr, &error))
      throw detail::CliError{1, error};

    if (!is_fit) {
      Logs result;
      if (evaluate(m, data, batch_size, o.verbose, &result, &error) != 0) throw detail::CliError{1, error};
      if (o.verbose == 0)
        for (const auto &kv : result.items) std::printf("%s: %.9g\n", kv.first.c_str(), kv.second);  // full precision for scripts
      return 0;
    }

    *m.seed = o.seed;
    if (have_lr && !m.set_learning_rate(m.self, lr))
      throw detail::CliError{1, "--learning-rate: the optimizer follows a learning-rate schedule"};
    o.checkpoint_path = checkpoint;
    History history;
    const auto start = std::chrono::steady_clock::now();
    if (fit(m, o, data, vx.empty() ? nullptr : &vdata, &history, &error) != 0)
      throw detail::CliError{1, error};
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // ---- outputs (each written atomically)
    if (!history_csv.empty() && !history.write_csv(history_csv, &error)) throw detail::CliError{1, error};
    if (!history_json.empty() && !history.write_json(history_json, &error)) throw detail::CliError{1, error};
    if (!save_h5.empty() && !hooks.save_weights_h5(save_h5.c_str(), m.weights, m.num_weights, &error))
      throw detail::CliError{1, error};
    if (!save_keras.empty() && !hooks.save_keras_archive(save_keras.c_str(), m.weights, m.num_weights, &error))
      throw detail::CliError{1, error};
    if (!save_checkpoint.empty() &&
        !write_checkpoint(save_checkpoint.c_str(), m, "final 1\niterations " + std::to_string(*m.iterations) + "\n", &error))
      throw detail::CliError{1, error};
    // Epochs run by this invocation (a resumed run counts only the ones it ran).
    const int ran = static_cast<int>(history.rows() - history.restored_rows);
    std::fprintf(stderr, "Trained %d epochs in %.3f s (%.3f s per epoch)\n", ran, seconds,
                 ran ? seconds / ran : 0.0);
    return 0;
  } catch (const detail::CliError &e) {
    std::fprintf(stderr, "%s: %s\n", name, e.message.c_str());
    return e.code;
  }
}

} // namespace kerasc
