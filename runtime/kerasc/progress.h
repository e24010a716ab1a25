// kerasc runtime: the console output of fit/evaluate in Keras 3's exact format
// (keras/src/utils/progbar.py and callbacks/progbar_logger.py):
//   verbose=1: "\x1b[1m12/12\x1b[0m \x1b[32m━━…\x1b[0m\x1b[37m\x1b[0m \x1b[1m0s\x1b[0m 3ms/step - loss: 0.3120"
//              redrawn with "\r" while stdout is a terminal; otherwise only the epoch's final line
//   verbose=2: "12/12 - 0s - 3ms/step - loss: 0.3120 - val_loss: 0.3300", once per epoch
// Header-only, standard library only (isatty from POSIX to choose between the two forms).
#pragma once

#include "history.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace kerasc {

namespace progress {

/// A logged value as Progbar prints it: 4 decimals, or "%.4e" when small. Keras tests abs() in
/// verbose 1 but the signed value in verbose 2 (so negatives print in scientific form there).
inline std::string format_value(double v, int verbose) {
  const bool fixed = verbose == 2 ? v > 1e-3 : std::fabs(v) > 1e-3;
  char buf[64];
  std::snprintf(buf, sizeof(buf), fixed ? "%.4f" : "%.4e", v);
  return buf;
}

/// Progbar._format_time: " 3ms/step", " 1s/step", " 12us/step" (leading space included).
inline std::string format_time(double per_unit, const char *unit = "step") {
  char buf[64];
  if (per_unit >= 1 || per_unit == 0)
    std::snprintf(buf, sizeof(buf), " %.0fs/%s", per_unit, unit);
  else if (per_unit >= 1e-3)
    std::snprintf(buf, sizeof(buf), " %.0fms/%s", per_unit * 1000.0, unit);
  else
    std::snprintf(buf, sizeof(buf), " %.0fus/%s", per_unit * 1000000.0, unit);
  return buf;
}

/// Progbar's ETA: "7s", "1:05", "1:00:05" (Python's %d truncates).
inline std::string format_eta(double eta) {
  char buf[64];
  const long long s = static_cast<long long>(eta);
  if (eta > 3600)
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", s / 3600, (s % 3600) / 60, s % 60);
  else if (eta > 60)
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%llds", s);
  return buf;
}

inline int num_digits(int64_t n) {
  int d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

/// The verbose=1 line without its leading "\r" / trailing "\n".
inline std::string line_verbose1(int64_t current, int64_t target, const Logs &logs, double elapsed,
                                 double per_step, bool finalize) {
  const int width = 20;
  char count[64];
  std::snprintf(count, sizeof(count), "%*lld/%lld", num_digits(target), (long long)current,
                (long long)target);
  std::string bar = std::string("\x1b[1m") + count + "\x1b[0m ";
  const int prog_width = static_cast<int>(width * (double(current) / double(target)));
  std::string heavy;
  for (int i = 0; i < prog_width; ++i)
    heavy += "\xe2\x94\x81";  // U+2501 '━'
  if (prog_width > 0) {
    bar += "\x1b[32m" + heavy + "\x1b[0m";
  }
  std::string rest;
  for (int i = prog_width; i < width; ++i)
    rest += "\xe2\x94\x81";
  bar += "\x1b[37m" + rest + "\x1b[0m";

  std::string info;
  if (!finalize) {
    info = " \x1b[1m" + format_eta(per_step * double(target - current)) + "\x1b[0m";
  } else {
    char buf[64];
    std::snprintf(buf, sizeof(buf), " \x1b[1m%.0fs\x1b[0m", elapsed);
    info = buf;
  }
  info += format_time(per_step);
  for (const auto &kv : logs.items)
    info += " - " + kv.first + ": " + format_value(kv.second, 1);
  return bar + info;
}

/// The verbose=2 epoch line (no trailing "\n").
inline std::string line_verbose2(int64_t target, const Logs &logs, double elapsed, double per_step) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%*lld/%lld - %.0fs -", num_digits(target), (long long)target,
                (long long)target, elapsed);
  std::string info = buf + format_time(per_step);
  for (const auto &kv : logs.items)
    info += " - " + kv.first + ": " + format_value(kv.second, 2);
  return info;
}

} // namespace progress

/// One epoch's (or one evaluate's) progress bar, as ProgbarLogger drives keras.utils.Progbar.
/// Holds no heap memory between updates except the line it prints (verbose 1 on a terminal
/// prints at most every 50 ms).
class Progbar {
public:
  /// `dynamic`: redraw in place (a terminal); otherwise verbose 1 prints only the final line.
  Progbar(int64_t target, int verbose, std::FILE *out, bool dynamic)
      : target_(target), verbose_(verbose), out_(out), dynamic_(dynamic), start_(now()) {}

  static bool stream_is_terminal(std::FILE *f) { return f && ::isatty(::fileno(f)); }

  /// After step `current` (1-based) with the running logs.
  void update(int64_t current, const Logs &logs) {
    const double t = now();
    const double per_step = estimate_step(current, t);
    if (verbose_ != 1 || !dynamic_ || t - last_update_ < 0.05)
      return;
    draw(progress::line_verbose1(current, target_, logs, t - start_, per_step, false), false);
    last_update_ = t;
  }

  /// End of the epoch: the final line with the epoch's logs (validation included).
  void finalize(const Logs &logs) {
    const double t = now();
    const double per_step = estimate_step(target_, t);
    if (verbose_ == 1) {
      draw(progress::line_verbose1(target_, target_, logs, t - start_, per_step, true), true);
    } else if (verbose_ == 2) {
      std::fprintf(out_, "%s\n", progress::line_verbose2(target_, logs, t - start_, per_step).c_str());
    }
    std::fflush(out_);
  }

private:
  static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  /// Progbar._estimate_step_duration: ignores the first (warm-up) step once there are more.
  double estimate_step(int64_t current, double t) {
    if (current <= 0)
      return 0;
    double per = (after_first_ >= 0 && current > 1) ? (t - after_first_) / double(current - 1)
                                                    : (t - start_) / double(current);
    if (current == 1)
      after_first_ = t;
    return per;
  }

  void draw(const std::string &line, bool final_line) {
    // Pad over a longer previous line, as Progbar does.
    const size_t width = visible_width(line);
    std::string msg;
    if (dynamic_) {
      msg.assign(prev_width_, '\b');
      msg += '\r';
    }
    msg += line;
    if (dynamic_ && prev_width_ > width)
      msg.append(prev_width_ - width, ' ');
    if (final_line)
      msg += '\n';
    std::fputs(msg.c_str(), out_);
    std::fflush(out_);
    prev_width_ = width;
  }

  /// Code points outside escape sequences (what a terminal shows).
  static size_t visible_width(const std::string &s) {
    size_t n = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\x1b') {
        while (i < s.size() && s[i] != 'm')
          ++i;
        continue;
      }
      if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80)
        ++n;
    }
    return n;
  }

  int64_t target_;
  int verbose_;
  std::FILE *out_;
  bool dynamic_;
  double start_;
  double after_first_ = -1;
  double last_update_ = 0;
  size_t prev_width_ = 0;
};

} // namespace kerasc
