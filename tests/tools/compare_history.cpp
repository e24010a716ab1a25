// compare_history: checks whole `fit` runs of generated training programs against Keras
// (tests/fixtures/training/fit/). Used by tests/e2e/fit_keras.sh, early_stopping.sh and resume.sh.
//
//   compare_history history H.csv FIXTURE.json [--loss-rel R] [--train-n N] [--val-n M]
//       Every epoch of FIXTURE.json's "history" against the CSV that `fit --history` wrote.
//       Columns ending in "loss": |ours - keras| <= R * |keras| (default R = 1e-4).
//       Columns ending in "accuracy": |ours - keras| <= 1/N (train) or 1/M (val) + 1e-6, i.e.
//       at most one sample classified differently (needs --train-n / --val-n; exact otherwise).
//       Prints one row per epoch with each column's deviation (in samples for accuracies).
//   compare_history weights CKPT WEIGHTS.json KEY TOL
//       The model weights (kind 0) of checkpoint CKPT against the dict WEIGHTS.json[KEY] (KEY "."
//       = the whole file): |ours - keras| <= TOL * max(1, |keras|) for every value.
//   compare_history values KEY=VALUE... --expect FIXTURE.json PATH REL
//       Numbers printed by a program ("loss=0.401", ...) against FIXTURE.json[PATH][KEY]:
//       |ours - keras| <= REL * |keras| for keys ending in "loss", <= REL for the others;
//       REL "print4": both must print the same with 4 decimals (the CLI's evaluate output).
//   compare_history predictions P.npy FIXTURE.json KEY TOL
//       A predictions .npy against the nested list FIXTURE.json[KEY]: |diff| <= TOL * max(1, |keras|).
//   compare_history same CKPT_A CKPT_B
//       Every tensor (weights, optimizer state, extras) bit for bit; exits 1 naming the first
//       differing tensor and element.
//   compare_history epoch CKPT
//       Prints the checkpoint's "epoch_completed" (0-based; -1 when absent).
//   compare_history make-data N IN OUT X.npy Y.npy
//       A deterministic synthetic regression set (tests need more samples than fixtures hold):
//       x ~ N(0, 1) from kerasc's RNG (seed 7), y[j] = sin(x[j]) + 0.5 * x[(j + 1) % IN].
//
// Built with -DCOMPARE_HISTORY_MODEL_DRIVER together with a generated model compiled with
// `--name model`, it also drives that model (full-precision numbers, which the CLI's 4-digit
// `evaluate` output cannot give):
//   compare_history evaluate CKPT X.npy Y.npy BATCH   -> "loss=<%.9g>" and "<metric>=<%.9g>"
//   compare_history predict CKPT X.npy OUT.npy
// Exit 0 on success, 1 on mismatch or error, 2 on usage errors.
#include "kerasc/arrays.h"
#include "kerasc/checkpoint.h"
#include "kerasc/rng.h"
#ifdef COMPARE_HISTORY_MODEL_DRIVER
#include "kerasc/fit.h"
#include "model.h"
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

json load_json(const std::string &path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  return json::parse(in);
}

void flatten(const json &j, std::vector<double> &out) {
  if (j.is_array())
    for (const auto &v : j) flatten(v, out);
  else
    out.push_back(j.get<double>());
}

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<kerasc::CheckpointTensor> read_ckpt(const char *path, std::string *state = nullptr) {
  std::vector<kerasc::CheckpointTensor> tensors;
  std::string s, error;
  if (!kerasc::read_checkpoint_tensors(path, &tensors, &s, &error)) throw std::runtime_error(error);
  if (state) *state = s;
  return tensors;
}

/// A CSV written by History::write_csv: header "epoch,k1,k2..." then one row per epoch.
struct Csv {
  std::vector<std::string> keys;
  std::vector<std::vector<double>> rows;
};

Csv read_csv_history(const std::string &path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  Csv csv;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CSVLogger-style \r\n rows
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    if (header) { csv.keys = cells; header = false; continue; }
    std::vector<double> row;
    for (const auto &c : cells) row.push_back(std::strtod(c.c_str(), nullptr));
    csv.rows.push_back(row);
  }
  return csv;
}

int cmd_history(int argc, char **argv) {
  if (argc < 4) return 2;
  const Csv csv = read_csv_history(argv[2]);
  const json history = load_json(argv[3])["history"];
  double loss_rel = 1e-4, train_n = 0, val_n = 0;
  for (int i = 4; i + 1 < argc; i += 2) {
    const std::string opt = argv[i];
    if (opt == "--loss-rel") loss_rel = std::atof(argv[i + 1]);
    else if (opt == "--train-n") train_n = std::atof(argv[i + 1]);
    else if (opt == "--val-n") val_n = std::atof(argv[i + 1]);
    else return 2;
  }
  bool ok = true;
  std::vector<std::string> keys;
  for (auto it = history.begin(); it != history.end(); ++it) keys.push_back(it.key());
  const size_t epochs = history[keys[0]].size();
  if (csv.rows.size() != epochs) {
    std::printf("FAIL: %zu epochs in %s, Keras ran %zu\n", csv.rows.size(), argv[2], epochs);
    ok = false;
  }
  std::vector<int> column(keys.size(), -1);
  for (size_t k = 0; k < keys.size(); ++k) {
    for (size_t c = 0; c < csv.keys.size(); ++c)
      if (csv.keys[c] == keys[k]) column[k] = static_cast<int>(c);
    if (column[k] < 0) {
      std::printf("FAIL: column '%s' missing from %s\n", keys[k].c_str(), argv[2]);
      return 1;
    }
  }
  // Table: losses as relative deviations, accuracies as the number of samples they differ by.
  std::printf("epoch");
  for (const auto &k : keys) std::printf(" | %-14s", (k + (ends_with(k, "loss") ? " rel" : " n")).c_str());
  std::printf("\n");
  std::vector<double> worst(keys.size(), 0.0);
  for (size_t e = 0; e < std::min(epochs, csv.rows.size()); ++e) {
    std::printf("%5zu", e + 1);
    for (size_t k = 0; k < keys.size(); ++k) {
      const double keras = history[keys[k]][e].get<double>();
      const double ours = csv.rows[e][static_cast<size_t>(column[k])];
      const double diff = std::fabs(ours - keras);
      bool good;
      double shown;
      if (ends_with(keys[k], "loss")) {
        shown = diff / std::max(1e-30, std::fabs(keras));
        good = shown <= loss_rel;
      } else {
        const double n = keys[k].compare(0, 4, "val_") == 0 ? val_n : train_n;
        // 1e-6 absorbs Keras's float32 rounding of the ratio (ours is a double).
        shown = n > 0 ? diff * n : diff;
        good = n > 0 ? diff <= 1.0 / n + 1e-6 : diff <= 1e-6;
      }
      worst[k] = std::max(worst[k], shown);
      ok = ok && good;
      std::printf(" | %9.2e %-4s", shown, good ? "ok" : "FAIL");
    }
    std::printf("\n");
  }
  std::printf("largest:");
  for (size_t k = 0; k < keys.size(); ++k) std::printf(" %s %.3g%s", keys[k].c_str(), worst[k], ends_with(keys[k], "loss") ? " rel" : " samples");
  std::printf("\n(loss: relative deviation; accuracy: deviation in samples, i.e. |diff| * n)\n");
  std::printf("%s: history within loss rel %g, accuracies within one sample\n", ok ? "PASS" : "FAIL", loss_rel);
  return ok ? 0 : 1;
}

int cmd_weights(int argc, char **argv) {
  if (argc != 6) return 2;
  const auto tensors = read_ckpt(argv[2]);
  json expected = load_json(argv[3]);
  if (std::string(argv[4]) != ".") expected = expected[argv[4]];
  const double tol = std::atof(argv[5]);
  bool ok = true;
  double worst = 0;
  for (auto it = expected.begin(); it != expected.end(); ++it) {
    const kerasc::CheckpointTensor *ours = nullptr;
    for (const auto &t : tensors)
      if (t.kind == 0 && t.name == it.key()) ours = &t;
    std::vector<double> keras;
    flatten(it.value(), keras);
    if (!ours || ours->data.size() != keras.size()) {
      std::printf("FAIL %s: %s\n", it.key().c_str(), ours ? "size differs" : "not in the checkpoint");
      ok = false;
      continue;
    }
    double max_abs = 0, max_scaled = 0;
    for (size_t i = 0; i < keras.size(); ++i) {
      const double d = std::fabs(ours->data[i] - keras[i]);
      max_abs = std::max(max_abs, d);
      max_scaled = std::max(max_scaled, d / std::max(1.0, std::fabs(keras[i])));
    }
    const bool good = max_scaled <= tol;
    ok = ok && good;
    worst = std::max(worst, max_scaled);
    std::printf("%s %-20s max |diff| %.3g (scaled %.3g)\n", good ? "ok  " : "FAIL", it.key().c_str(), max_abs, max_scaled);
  }
  std::printf("%s: largest scaled weight deviation %.3g (bound %g)\n", ok ? "PASS" : "FAIL", worst, tol);
  return ok ? 0 : 1;
}

int cmd_values(int argc, char **argv) {
  int i = 2;
  std::vector<std::pair<std::string, double>> values;
  for (; i < argc && std::string(argv[i]) != "--expect"; ++i) {
    const std::string kv = argv[i];
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) return 2;
    values.emplace_back(kv.substr(0, eq), std::atof(kv.c_str() + eq + 1));
  }
  if (argc - i != 4) return 2;
  const json expected = load_json(argv[i + 1])[argv[i + 2]];
  // "print4": ours was printed with 4 decimals (the CLI's evaluate): it must read as Keras's
  // value printed the same way.
  const bool print4 = std::string(argv[i + 3]) == "print4";
  const double rel = print4 ? 0 : std::atof(argv[i + 3]);
  bool ok = !values.empty();
  for (const auto &kv : values) {
    if (!expected.contains(kv.first)) {
      std::printf("FAIL %s: not in the fixture\n", kv.first.c_str());
      ok = false;
      continue;
    }
    const double keras = expected[kv.first].get<double>();
    const double diff = std::fabs(kv.second - keras);
    const bool is_loss = ends_with(kv.first, "loss");
    const double shown = is_loss ? diff / std::max(1e-30, std::fabs(keras)) : diff;
    char a[64], b[64];
    std::snprintf(a, sizeof(a), "%.4f", kv.second);
    std::snprintf(b, sizeof(b), "%.4f", keras);
    const bool good = print4 ? std::strcmp(a, b) == 0 : shown <= rel;
    ok = ok && good;
    std::printf("%s %-10s ours %.9g Keras %.9g (%s %.3g)\n", good ? "ok  " : "FAIL", kv.first.c_str(), kv.second,
                keras, is_loss ? "rel" : "abs", shown);
  }
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

int cmd_predictions(int argc, char **argv) {
  if (argc != 6) return 2;
  const kerasc::Array ours = kerasc::read_array(argv[2]);
  std::vector<double> keras;
  flatten(load_json(argv[3])[argv[4]], keras);
  const double tol = std::atof(argv[5]);
  if (ours.data.size() != keras.size()) {
    std::printf("FAIL: %zu predictions, Keras has %zu\n", ours.data.size(), keras.size());
    return 1;
  }
  double worst = 0;
  for (size_t i = 0; i < keras.size(); ++i)
    worst = std::max(worst, std::fabs(ours.data[i] - keras[i]) / std::max(1.0, std::fabs(keras[i])));
  const bool ok = worst <= tol;
  std::printf("%s: largest scaled prediction deviation %.3g over %zu values (bound %g)\n", ok ? "PASS" : "FAIL",
              worst, keras.size(), tol);
  return ok ? 0 : 1;
}

int cmd_same(int argc, char **argv) {
  if (argc != 4) return 2;
  const auto a = read_ckpt(argv[2]), b = read_ckpt(argv[3]);
  if (a.size() != b.size()) {
    std::printf("FAIL: %zu tensors vs %zu\n", a.size(), b.size());
    return 1;
  }
  size_t values = 0;
  for (size_t t = 0; t < a.size(); ++t) {
    if (a[t].name != b[t].name || a[t].data.size() != b[t].data.size()) {
      std::printf("FAIL: tensor %zu is %s in one file, %s in the other\n", t, a[t].name.c_str(), b[t].name.c_str());
      return 1;
    }
    // memcmp, not ==: bit for bit (distinguishes -0 from 0 and compares NaN payloads).
    for (size_t i = 0; i < a[t].data.size(); ++i)
      if (std::memcmp(&a[t].data[i], &b[t].data[i], sizeof(float)) != 0) {
        std::printf("FAIL: %s[%zu]: %.9g vs %.9g\n", a[t].name.c_str(), i, a[t].data[i], b[t].data[i]);
        return 1;
      }
    values += a[t].data.size();
  }
  std::printf("PASS: %zu tensors, %zu values bit-identical\n", a.size(), values);
  return 0;
}

int cmd_epoch(int argc, char **argv) {
  if (argc != 3) return 2;
  std::string state;
  read_ckpt(argv[2], &state);
  std::istringstream lines(state);
  std::string key;
  int epoch = -1;
  while (lines >> key)
    if (key == "epoch_completed") lines >> epoch;
  std::printf("%d\n", epoch);
  return 0;
}

int cmd_make_data(int argc, char **argv) {
  if (argc != 7) return 2;
  const int64_t n = std::atoll(argv[2]), in = std::atoll(argv[3]), out = std::atoll(argv[4]);
  if (n <= 0 || in <= 0 || out <= 0) return 2;
  std::vector<float> x(static_cast<size_t>(n * in)), y(static_cast<size_t>(n * out));
  for (size_t i = 0; i < x.size(); ++i) x[i] = kerasc::random_normal(7, 0, i);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < out; ++j)
      y[r * out + j] = std::sin(x[r * in + j % in]) + 0.5f * x[r * in + (j + 1) % in];
  kerasc::write_npy(argv[5], x.data(), {n, in});
  kerasc::write_npy(argv[6], y.data(), {n, out});
  return 0;
}

#ifdef COMPARE_HISTORY_MODEL_DRIVER
kerasc::TrainableModel &load_model(const char *ckpt) {
  kerasc::TrainableModel &m = model::trainable_model();
  if (model_init(nullptr) != 0 || model_load_checkpoint(ckpt) != 0)
    throw std::runtime_error(std::string(ckpt) + ": cannot load");
  return m;
}

int cmd_evaluate(int argc, char **argv) {
  if (argc != 6) return 2;
  kerasc::TrainableModel &m = load_model(argv[2]);
  const kerasc::Array x = kerasc::read_array(argv[3]), y = kerasc::read_array(argv[4]);
  kerasc::Dataset d;
  d.x.push_back(x.data.data());
  d.y.push_back(y.data.data());
  d.n = x.shape[0];
  kerasc::Logs logs;
  std::string error;
  if (kerasc::evaluate(m, d, std::atoll(argv[5]), 0, &logs, &error) != 0) throw std::runtime_error(error);
  for (const auto &kv : logs.items) std::printf("%s=%.9g\n", kv.first.c_str(), kv.second);
  return 0;
}

int cmd_predict(int argc, char **argv) {
  if (argc != 5) return 2;
  load_model(argv[2]);
  const kerasc::Array x = kerasc::read_array(argv[3]);
  const int64_t n = x.shape[0];
  std::vector<float> out(static_cast<size_t>(n * MODEL_OUTPUT0_SIZE));
  const float *inputs[] = {x.data.data()};
  float *outputs[] = {out.data()};
  if (model_predict(inputs, outputs, n) != 0) throw std::runtime_error("model_predict failed");
  kerasc::write_npy(argv[4], out.data(), {n, MODEL_OUTPUT0_SIZE});
  return 0;
}
#endif

} // namespace

int main(int argc, char **argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  int rc = 2;
  try {
    if (cmd == "history") rc = cmd_history(argc, argv);
    else if (cmd == "weights") rc = cmd_weights(argc, argv);
    else if (cmd == "values") rc = cmd_values(argc, argv);
    else if (cmd == "predictions") rc = cmd_predictions(argc, argv);
    else if (cmd == "same") rc = cmd_same(argc, argv);
    else if (cmd == "epoch") rc = cmd_epoch(argc, argv);
    else if (cmd == "make-data") rc = cmd_make_data(argc, argv);
#ifdef COMPARE_HISTORY_MODEL_DRIVER
    else if (cmd == "evaluate") rc = cmd_evaluate(argc, argv);
    else if (cmd == "predict") rc = cmd_predict(argc, argv);
#endif
  } catch (const std::exception &e) {
    std::fprintf(stderr, "compare_history: %s\n", e.what());
    return 1;
  }
  if (rc == 2) std::fprintf(stderr, "compare_history: bad usage (see the header of tests/tools/compare_history.cpp)\n");
  return rc;
}
