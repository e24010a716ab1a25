// kerasc runtime: the per-epoch logs of fit (Keras's `logs` dict and `history.history`), written
// as Keras's CSVLogger writes them and as JSON shaped like `history.history`.
// Header-only, standard library only (plus atomic_file.h's POSIX calls).
#pragma once

#include "atomic_file.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace kerasc {

/// Python's repr() of a float (shortest digits that round-trip; scientific below 1e-4 and from
/// 1e16 on), because Keras's CSVLogger and json.dump write values that way.
inline std::string python_float_repr(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // "-d.ddde+XX"
  size_t e = sci.find('e');
  int exponent = std::atoi(sci.c_str() + e + 1);
  std::string sign = sci[0] == '-' ? "-" : "";
  std::string digits;
  for (size_t i = sign.size(); i < e; ++i)
    if (sci[i] != '.')
      digits += sci[i];
  if (exponent < -4 || exponent >= 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1)
      out += "." + digits.substr(1);
    char ex[16];
    std::snprintf(ex, sizeof(ex), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + ex;
  }
  std::string out;
  if (exponent < 0) {
    out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
    out = digits + std::string(static_cast<size_t>(exponent) + 1 - digits.size(), '0') + ".0";
  } else {
    out = digits.substr(0, static_cast<size_t>(exponent) + 1) + "." +
          digits.substr(static_cast<size_t>(exponent) + 1);
  }
  return sign + out;
}

/// One epoch's logs in Keras's order: "loss", the metrics, "val_loss", "val_<metric>", then what
/// callbacks add ("learning_rate"). Values are what Keras logs: float32 results as doubles.
struct Logs {
  std::vector<std::pair<std::string, double>> items;

  void set(const std::string &key, double value) {
    for (auto &kv : items)
      if (kv.first == key) {
        kv.second = value;
        return;
      }
    items.emplace_back(key, value);
  }
  const double *get(const std::string &key) const {
    for (const auto &kv : items)
      if (kv.first == key)
        return &kv.second;
    return nullptr;
  }
  void clear() { items.clear(); }
};

/// Keras's `history.history`: one column per log key (first-seen order), one row per epoch run.
struct History {
  std::vector<std::string> keys;
  std::vector<std::vector<double>> columns;  // columns[k][row]; NaN where an epoch lacked the key
  std::vector<int> epochs;                   // 0-based epoch number of each row
  size_t restored_rows = 0;                  // rows a resumed fit took from its checkpoint

  size_t rows() const { return epochs.size(); }

  void append(int epoch, const Logs &logs) {
    for (const auto &kv : logs.items) {
      if (column(kv.first) == nullptr) {
        keys.push_back(kv.first);
        columns.emplace_back(rows(), std::nan(""));
      }
    }
    epochs.push_back(epoch);
    for (size_t k = 0; k < keys.size(); ++k) {
      const double *v = logs.get(keys[k]);
      columns[k].push_back(v ? *v : std::nan(""));
    }
  }

  const std::vector<double> *column(const std::string &key) const {
    for (size_t k = 0; k < keys.size(); ++k)
      if (keys[k] == key)
        return &columns[k];
    return nullptr;
  }

  /// Exactly what keras.callbacks.CSVLogger writes for these epochs: keys sorted, "val_<key>"
  /// columns of "NA" added when there is no validation, Python float repr, "\r\n" line ends.
  std::string to_csv() const {
    std::vector<std::string> sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    bool has_val = false;
    for (const auto &k : sorted)
      has_val = has_val || k.compare(0, 4, "val_") == 0;
    if (!has_val && !sorted.empty()) {
      const size_t n = sorted.size();
      for (size_t i = 0; i < n; ++i)
        sorted.push_back("val_" + sorted[i]);
    }
    std::string out = "epoch";
    for (const auto &k : sorted)
      out += "," + k;
    out += "\r\n";
    for (size_t r = 0; r < rows(); ++r) {
      out += std::to_string(epochs[r]);
      for (const auto &k : sorted) {
        const std::vector<double> *c = column(k);
        out += ",";
        out += (c && !std::isnan((*c)[r])) ? python_float_repr((*c)[r]) : "NA";
      }
      out += "\r\n";
    }
    return out;
  }

  /// `json.dumps(history.history)`-style: {"loss": [1.86, ...], ...} in log order (NaN as NaN).
  std::string to_json() const {
    std::string out = "{";
    for (size_t k = 0; k < keys.size(); ++k) {
      out += (k ? ", \"" : "\"") + keys[k] + "\": [";
      for (size_t r = 0; r < rows(); ++r) {
        const double v = columns[k][r];
        out += r ? ", " : "";
        out += std::isnan(v) ? "NaN" : std::isinf(v) ? (v > 0 ? "Infinity" : "-Infinity")
                                                      : python_float_repr(v);
      }
      out += "]";
    }
    return out + "}\n";
  }

  bool write_csv(const std::string &path, std::string *error) const {
    return write_file_atomic(path, to_csv(), error);
  }
  bool write_json(const std::string &path, std::string *error) const {
    return write_file_atomic(path, to_json(), error);
  }
};

} // namespace kerasc
