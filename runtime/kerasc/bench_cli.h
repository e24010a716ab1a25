// kerasc runtime: `<model> bench`, the generated program's own timing harness. bench/run (the
// benchmark driver) and `kerasc compare` read its one-line JSON report:
//   bench --task infer --batch B [--runs 5] [--min-time 0.3] [--seed 0] [--profile]
//     each run calls predict on B synthetic samples for at least min-time seconds and records
//     the mean latency per call (us); the first call is a warm-up and is not timed.
//   bench --task train --batch B [--samples S] [--runs 5] [--seed 0] [--profile]
//     each run is one epoch of fit (shuffle, train_step, metrics; verbose 0) over S synthetic
//     samples and records samples/s; one warm-up epoch comes first.
// The report also carries the planned arena bytes, the peak resident set, the thread count and
// the GEMM instruction set. With --profile (only in a build with -DKERASC_PROFILE=ON) it adds
// the time of every kernel per call / per step.
// Header-only; standard library plus getrusage where the platform has it.
#pragma once

#include "cli.h"
#include "fit.h"
#include "gemm.h"
#include "profile.h"
#include "rng.h"
#include "thread_pool.h"
#include "train_model.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif

namespace kerasc {

namespace detail {

/// Peak resident set of this process in KiB, or -1 where neither source is available. Linux's
/// VmHWM comes first: getrusage's ru_maxrss survives exec, so a program started by a bigger
/// parent (Python, kerasc) would report the parent's peak.
inline long long peak_rss_kib() {
  if (std::FILE *status = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long long kib = -1;
    while (std::fgets(line, sizeof line, status))
      if (std::sscanf(line, "VmHWM: %lld kB", &kib) == 1)
        break;
    std::fclose(status);
    if (kib >= 0)
      return kib;
  }
#if defined(__APPLE__)
  rusage usage{};
  return getrusage(RUSAGE_SELF, &usage) == 0 ? usage.ru_maxrss / 1024 : -1;  // bytes on macOS
#elif defined(__unix__)
  rusage usage{};
  return getrusage(RUSAGE_SELF, &usage) == 0 ? usage.ru_maxrss : -1;  // KiB on Linux
#else
  return -1;
#endif
}

/// Median, min and max of `values` (not empty), as the bench report prints them.
struct Summary {
  double median, min, max;
};
inline Summary summarize(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  return {median, values.front(), values.back()};
}

inline std::string json_number_list(const std::vector<double> &values) {
  std::string s = "[";
  char buf[32];
  for (size_t i = 0; i < values.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.6g", i ? "," : "", values[i]);
    s += buf;
  }
  return s + "]";
}

/// Fills `data` with synthetic samples: uniform [0, 1) features; targets shaped like the loss
/// expects them: class ids for a sparse target of a multi-class output, one-hot rows for a
/// categorical one, uniform values otherwise (regression, binary).
inline void synthetic_target(float *y, int64_t n, int64_t target_size, int64_t output_size,
                             uint64_t seed, uint64_t stream) {
  if (target_size == 1 && output_size > 1) {
    for (int64_t r = 0; r < n; ++r)
      y[r] = static_cast<float>(random_below(seed, stream, static_cast<uint64_t>(r),
                                             static_cast<uint64_t>(output_size)));
  } else if (target_size == output_size && output_size > 1) {
    std::fill(y, y + n * target_size, 0.0f);
    for (int64_t r = 0; r < n; ++r)
      y[r * target_size + static_cast<int64_t>(random_below(
                              seed, stream, static_cast<uint64_t>(r),
                              static_cast<uint64_t>(target_size)))] = 1.0f;
  } else {
    for (int64_t i = 0; i < n * target_size; ++i)
      y[i] = random_uniform(seed, stream, static_cast<uint64_t>(i));
  }
}

inline void print_bench_usage(const char *name) {
  std::printf(
      "usage: %s bench --task infer --batch B [--runs 5] [--min-time 0.3] [--seed 0] [--profile]\n"
      "       %s bench --task train --batch B [--samples S] [--runs 5] [--seed 0] [--profile]\n\n"
      "Times the compiled model on synthetic data and prints one JSON line: per-run figures\n"
      "(infer: us per predict call of B samples; train: samples/s over one fit epoch of S\n"
      "samples), their median, min and max, the arena bytes, the peak resident set, threads and\n"
      "the GEMM instruction set. --profile adds per-kernel times (build with -DKERASC_PROFILE=ON).\n",
      name, name);
}

} // namespace detail

/// `<model> bench ...`; `trainable` is null in an inference-only build. Returns the exit code.
/// `arena_bytes_per_sample` (inference) and `train_arena_bytes(batch)` are the planned sizes.
inline int run_bench(int argc, char **argv, const ModelDesc &m, TrainableModel *trainable,
                     long long arena_bytes_per_sample, long long train_fixed_bytes,
                     long long train_bytes_per_sample) {
  std::string task;
  long long batch = 1, samples = 0;
  int runs = 5;
  double min_time = 0.3;
  uint64_t seed = 0;
  bool profile = false;
  std::string weights_path = m.default_weights_file ? m.default_weights_file : "";
  try {
    for (int i = 2; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        detail::print_bench_usage(m.name);
        return 0;
      }
      if (arg == "--profile") {
        profile = true;
        continue;
      }
      if (i + 1 >= argc)
        throw detail::CliError{2, "option " + arg + " needs a value"};
      const std::string value = argv[++i];
      auto number = [&](double low) {
        const double v = detail::parse_number(arg, value);
        if (v < low) {
          char bound[32];
          std::snprintf(bound, sizeof bound, "%g", low);
          throw detail::CliError{2, arg + " needs a number >= " + bound + ", got '" + value + "'"};
        }
        return v;
      };
      if (arg == "--task") task = value;
      else if (arg == "--batch") batch = static_cast<long long>(number(1));
      else if (arg == "--samples") samples = static_cast<long long>(number(1));
      else if (arg == "--runs") runs = static_cast<int>(number(1));
      else if (arg == "--min-time") min_time = number(0);
      else if (arg == "--seed") seed = static_cast<uint64_t>(number(0));
      else if (arg == "--weights" && m.external_weights) weights_path = value;
      else throw detail::CliError{2, "unknown bench option " + arg + " (try bench --help)"};
    }
  } catch (const detail::CliError &e) {
    std::fprintf(stderr, "%s: %s\n", m.name, e.message.c_str());
    return e.code;
  }
  if (task != "infer" && task != "train") {
    std::fprintf(stderr, "%s: bench needs --task infer or --task train\n", m.name);
    return 2;
  }
  if (task == "train" && !trainable) {
    std::fprintf(stderr, "%s: this build has no training step (compile the model with a loss and "
                         "an optimizer)\n", m.name);
    return 2;
  }
  if (profile && !profile::kEnabled) {
    std::fprintf(stderr, "%s: --profile needs a build with -DKERASC_PROFILE=ON\n", m.name);
    return 2;
  }
  if (m.init(weights_path.c_str()) != 0)  // also starts the thread pool's workers
    return 1;

  const bool train = task == "train";
  const long long n = train ? (samples > 0 ? samples : std::max(batch * 64, 2048LL)) : batch;
  std::vector<std::vector<float>> x(m.num_inputs), y, outputs(m.num_outputs);
  std::vector<const float *> x_ptr;
  std::vector<float *> out_ptr;
  for (int i = 0; i < m.num_inputs; ++i) {
    x[i].resize(static_cast<size_t>(n * m.inputs[i].sample_size));
    for (size_t k = 0; k < x[i].size(); ++k)
      x[i][k] = random_uniform(seed, static_cast<uint64_t>(i), k);
    x_ptr.push_back(x[i].data());
  }
  for (int o = 0; o < m.num_outputs; ++o) {
    outputs[o].resize(static_cast<size_t>(batch * m.outputs[o].sample_size));
    out_ptr.push_back(outputs[o].data());
  }

  std::vector<double> figures;
  using clock = std::chrono::steady_clock;
  if (!train) {
    if (m.predict(x_ptr.data(), out_ptr.data(), batch) != 0) {  // warm-up
      std::fprintf(stderr, "%s: predict failed\n", m.name);
      return 1;
    }
    profile::reset();
    long long total_calls = 0;
    for (int r = 0; r < runs; ++r) {
      long long calls = 0;
      const auto start = clock::now();
      double elapsed = 0;
      do {
        m.predict(x_ptr.data(), out_ptr.data(), batch);
        ++calls;
        elapsed = std::chrono::duration<double>(clock::now() - start).count();
      } while (elapsed < min_time);
      figures.push_back(elapsed / static_cast<double>(calls) * 1e6);
      total_calls += calls;
    }
    profile::set_divisor(static_cast<double>(total_calls));
  } else {
    TrainableModel &t = *trainable;
    Dataset data;
    data.n = n;
    data.x = x_ptr;
    y.resize(static_cast<size_t>(t.num_outputs));
    for (int o = 0; o < t.num_outputs; ++o) {
      y[o].resize(static_cast<size_t>(n * t.targets[o].size));
      detail::synthetic_target(y[o].data(), n, t.targets[o].size, t.outputs[o].size, seed,
                               1000 + static_cast<uint64_t>(o));
      data.y.push_back(y[o].data());
    }
    FitOptions options;
    options.batch_size = batch;
    options.verbose = 0;
    options.seed = seed;
    std::string error;
    long long steps = 0;
    for (int r = -1; r < runs; ++r) {  // r = -1: the warm-up epoch
      if (r == 0)
        profile::reset();
      History history;
      const auto start = clock::now();
      if (fit(t, options, data, nullptr, &history, &error) != 0) {
        std::fprintf(stderr, "%s: %s\n", m.name, error.c_str());
        return 1;
      }
      const double seconds = std::chrono::duration<double>(clock::now() - start).count();
      if (r >= 0) {
        figures.push_back(static_cast<double>(n) / seconds);
        steps += (n + batch - 1) / batch;
      }
    }
    profile::set_divisor(static_cast<double>(steps));
  }
  const detail::Summary s = detail::summarize(figures);
  const long long arena = train ? train_fixed_bytes + train_bytes_per_sample * batch
                                : arena_bytes_per_sample * batch;
  std::printf("{\"task\":\"%s\",\"batch\":%lld,\"samples\":%lld,\"unit\":\"%s\",\"runs\":%s,"
              "\"median\":%.6g,\"min\":%.6g,\"max\":%.6g,\"arena_bytes\":%lld,"
              "\"peak_rss_kb\":%lld,\"threads\":%d,\"isa\":\"%s\"%s}\n",
              task.c_str(), batch, train ? n : batch, train ? "samples/s" : "us",
              detail::json_number_list(figures).c_str(), s.median, s.min, s.max, arena,
              detail::peak_rss_kib(), thread_pool().size(), kGemmIsa,
              profile ? (",\"kernels\":" + profile::json(train ? "step" : "call")).c_str() : "");
  return 0;
}

} // namespace kerasc
