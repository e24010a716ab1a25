// kerasc runtime: the command-line front end of generated programs
// (`<model> predict --input x.npy --output y.npy`). It reads and writes files and therefore
// allocates; the model's own predict function, which it calls, does not.
// Header-only, standard library only: this file is copied into every generated output.
#pragma once

#include "arrays.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace kerasc {

/// A model input or output as the generated header describes it. dims[0] is the batch (-1).
struct TensorDesc {
  const char *name;
  int rank;
  const long long *dims;
  long long sample_size;  // elements per sample
};

/// What the generated main.cpp hands to run_cli.
struct ModelDesc {
  const char *name;
  int num_inputs, num_outputs;
  const TensorDesc *inputs, *outputs;
  bool external_weights;
  const char *default_weights_file;
  int (*init)(const char *weights_path);
  int (*predict)(const float *const *inputs, float *const *outputs, long long batch);
  void (*release)(void);
};

namespace detail {

/// A command-line error of the program's subcommands: exit code and one-line message.
struct CliError {
  int code;
  std::string message;
};

inline double parse_number(const std::string &option, const std::string &v) {
  char *end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') throw CliError{2, option + ": '" + v + "' is not a number"};
  return d;
}

inline void print_usage(const ModelDesc &m) {
  std::printf("usage: %s predict --input FILE [--input FILE ...] [--output FILE ...]\n"
              "                  [--labels FILE] [--show N]%s\n"
              "       %s info\n\n"
              "  --input FILE    one per model input, in order (.npy or .csv, one sample per row)\n"
              "  --output FILE   one per model output, in order (.npy or .csv); without it the\n"
              "                  predictions are printed\n"
              "  --labels FILE   class labels (.npy/.csv, ids or one-hot) to report accuracy\n"
              "  --show N        rows to print when printing predictions (default 10)\n",
              m.name, m.external_weights ? " [--weights FILE]" : "", m.name);
  if (m.external_weights)
    std::printf("  --weights FILE  weights file (default: %s)\n", m.default_weights_file);
}

inline std::string shape_string(const TensorDesc &t) {
  std::string s = "(";
  for (int d = 0; d < t.rank; ++d)
    s += (d ? ", " : "") + (t.dims[d] < 0 ? std::string("None") : std::to_string(t.dims[d]));
  return s + ")";
}

inline long long argmax(const float *row, long long n) {
  long long best = 0;
  for (long long j = 1; j < n; ++j)
    if (row[j] > row[best])
      best = j;
  return best;
}

} // namespace detail

/// Runs the generated program's command line. Returns the process exit code.
inline int run_cli(int argc, char **argv, const ModelDesc &m) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    detail::print_usage(m);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  if (command == "info") {
    for (int i = 0; i < m.num_inputs; ++i)
      std::printf("input  %d: %s %s\n", i, m.inputs[i].name, detail::shape_string(m.inputs[i]).c_str());
    for (int i = 0; i < m.num_outputs; ++i)
      std::printf("output %d: %s %s\n", i, m.outputs[i].name, detail::shape_string(m.outputs[i]).c_str());
    return 0;
  }
  if (command != "predict") {
    std::fprintf(stderr, "%s: unknown command '%s' (try --help)\n", m.name, command.c_str());
    return 2;
  }
  std::vector<std::string> input_paths, output_paths;
  std::string labels_path, weights_path = m.default_weights_file ? m.default_weights_file : "";
  long long show = 10;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s: option %s needs a value\n", m.name, arg.c_str());
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--input") input_paths.push_back(value);
    else if (arg == "--output") output_paths.push_back(value);
    else if (arg == "--labels") labels_path = value;
    else if (arg == "--show") show = std::stoll(value);
    else if (arg == "--weights" && m.external_weights) weights_path = value;
    else {
      std::fprintf(stderr, "%s: unknown option %s (try --help)\n", m.name, arg.c_str());
      return 2;
    }
  }
  if ((int)input_paths.size() != m.num_inputs) {
    std::fprintf(stderr, "%s: the model takes %d input(s), got %zu --input\n", m.name,
                 m.num_inputs, input_paths.size());
    return 2;
  }
  if (!output_paths.empty() && (int)output_paths.size() != m.num_outputs) {
    std::fprintf(stderr, "%s: the model has %d output(s), got %zu --output\n", m.name,
                 m.num_outputs, output_paths.size());
    return 2;
  }

  try {
    std::vector<Array> inputs;
    long long batch = -1;
    for (int i = 0; i < m.num_inputs; ++i) {
      inputs.push_back(read_array(input_paths[i]));
      const Array &a = inputs.back();
      long long rows = a.shape.empty() ? 0 : a.shape[0];
      if (rows <= 0 || (long long)a.data.size() != rows * m.inputs[i].sample_size) {
        std::fprintf(stderr, "%s: %s: expected shape %s (any batch), got %zu values in %lld rows\n",
                     m.name, input_paths[i].c_str(), detail::shape_string(m.inputs[i]).c_str(),
                     a.data.size(), rows);
        return 1;
      }
      if (batch >= 0 && rows != batch) {
        std::fprintf(stderr, "%s: %s has %lld samples but the first input has %lld\n", m.name,
                     input_paths[i].c_str(), rows, batch);
        return 1;
      }
      batch = rows;
    }
    if (m.init(weights_path.c_str()) != 0)
      return 1;  // init printed why
    std::vector<std::vector<float>> outputs(m.num_outputs);
    std::vector<const float *> in_ptrs;
    std::vector<float *> out_ptrs;
    for (auto &a : inputs)
      in_ptrs.push_back(a.data.data());
    for (int i = 0; i < m.num_outputs; ++i) {
      outputs[i].resize(static_cast<size_t>(batch * m.outputs[i].sample_size));
      out_ptrs.push_back(outputs[i].data());
    }
    auto start = std::chrono::steady_clock::now();
    int rc = m.predict(in_ptrs.data(), out_ptrs.data(), batch);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    m.release();
    if (rc != 0) {
      std::fprintf(stderr, "%s: predict failed (code %d)\n", m.name, rc);
      return 1;
    }

    for (size_t i = 0; i < output_paths.size(); ++i) {
      const TensorDesc &t = m.outputs[i];
      if (ends_with(output_paths[i], ".csv")) {
        write_csv(output_paths[i], outputs[i].data(), batch, t.sample_size);
      } else {
        std::vector<int64_t> shape{batch};
        shape.insert(shape.end(), t.dims + 1, t.dims + t.rank);
        write_npy(output_paths[i], outputs[i].data(), shape);
      }
    }
    if (output_paths.empty()) {
      const TensorDesc &t = m.outputs[0];
      std::printf("predictions (%s, first %lld of %lld):\n", t.name, std::min(show, batch), batch);
      for (long long r = 0; r < std::min(show, batch); ++r) {
        const float *row = outputs[0].data() + r * t.sample_size;
        std::printf("  [%lld]", r);
        if (t.sample_size > 1)
          std::printf(" class %lld  ", detail::argmax(row, t.sample_size));
        for (long long j = 0; j < std::min(t.sample_size, 10LL); ++j)
          std::printf(" %.4f", row[j]);
        std::printf(t.sample_size > 10 ? " ...\n" : "\n");
      }
    }
    std::printf("predicted %lld samples in %.3f ms\n", batch, ms);

    if (!labels_path.empty()) {
      Array labels = read_array(labels_path);
      const long long classes = m.outputs[0].sample_size;
      const bool one_hot = (long long)labels.data.size() == batch * classes && classes > 1;
      if (!one_hot && (long long)labels.data.size() != batch) {
        std::fprintf(stderr, "%s: %s: expected %lld labels\n", m.name, labels_path.c_str(), batch);
        return 1;
      }
      long long correct = 0;
      for (long long r = 0; r < batch; ++r) {
        const float *row = outputs[0].data() + r * classes;
        long long predicted = classes > 1 ? detail::argmax(row, classes) : (row[0] > 0.5f ? 1 : 0);
        long long truth = one_hot ? detail::argmax(labels.data.data() + r * classes, classes)
                                  : static_cast<long long>(labels.data[r]);
        correct += predicted == truth;
      }
      std::printf("accuracy: %.4f (%lld/%lld)\n", double(correct) / double(batch), correct, batch);
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s: %s\n", m.name, e.what());
    return 1;
  }
  return 0;
}

} // namespace kerasc
