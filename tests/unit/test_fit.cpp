// The fit loop, progress lines, callbacks, history files and checkpoints (runtime/kerasc/fit.h and
// friends) against Keras 3 fixtures from tests/fixtures/generate_callbacks.py, using a
// hand-written TrainableModel: linear regression y = xW + b, MSE loss, plain SGD, metric "mae".
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <kerasc/fit.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using nlohmann::json;

namespace {

json load_fixture(const std::string &name) {
  std::ifstream f(std::string(KERASC_SOURCE_DIR) + "/tests/fixtures/training/callbacks/" + name);
  REQUIRE(f.good());
  return json::parse(f);
}

std::string temp_path(const std::string &name) {
  return "/tmp/kerasc_test_fit_" + std::to_string(::getpid()) + "_" + name;
}

/// y = x W + b over `d` features, MSE, SGD, metric mae, all in float32 like Keras.
struct LinearModel {
  int64_t d;
  std::vector<float> w, b{0.f};
  float lr = 0.1f;  // stored as float32, as a Keras optimizer variable
  int64_t iterations = 0;
  uint64_t seed = 0;
  float mae_total = 0, mae_count = 0;
  int64_t kill_at_iteration = -1;                 // raise SIGKILL before this step (resume test)
  std::vector<int64_t> train_batches, test_batches;  // batch sizes seen
  std::vector<float> first_feature_seen;          // x[.,0] of every training row, in order
  std::vector<float> test_first_feature_seen;
  kerasc::TensorSlot slots[2];
  kerasc::DataPort in{"x", 0, 1, {0}}, out{"y", 1, 1, {1}}, target{"y", 1, 1, {1}};
  const char *metric_names[1] = {"mae"};
  kerasc::TrainableModel m{};

  explicit LinearModel(int64_t features) : d(features), w(static_cast<size_t>(features), 0.f) {
    in.size = d;
    in.shape[0] = d;
    slots[0] = {"dense/kernel", "layers/dense/vars/0", w.data(), d, 2, {d, 1}, true};
    slots[1] = {"dense/bias", "layers/dense/vars/1", b.data(), 1, 1, {1}, true};
    m.self = this;
    m.name = "linear";
    m.num_inputs = m.num_outputs = 1;
    m.inputs = &in;
    m.outputs = &out;
    m.targets = &target;
    m.max_batch = 64;
    m.train_step = [](void *s, const float *const *x, const float *const *y, int64_t n, float *const *p) {
      return static_cast<LinearModel *>(s)->step(x[0], y[0], n, p[0], true);
    };
    m.test_step = [](void *s, const float *const *x, const float *const *y, int64_t n, float *const *p) {
      return static_cast<LinearModel *>(s)->step(x[0], y[0], n, p[0], false);
    };
    m.num_metrics = 1;
    m.metric_names = metric_names;
    m.metrics_reset = [](void *s) {
      auto *self = static_cast<LinearModel *>(s);
      self->mae_total = self->mae_count = 0;
    };
    m.metrics_update = [](void *s, const float *const *y, const float *const *p, int64_t n) {
      auto *self = static_cast<LinearModel *>(s);
      for (int64_t i = 0; i < n; ++i) self->mae_total += std::fabs(p[0][i] - y[0][i]);
      self->mae_count += static_cast<float>(n);
    };
    m.metrics_result = [](void *s, double *v) {
      auto *self = static_cast<LinearModel *>(s);
      v[0] = self->mae_total / self->mae_count;
    };
    m.get_learning_rate = [](void *s) { return static_cast<double>(static_cast<LinearModel *>(s)->lr); };
    m.set_learning_rate = [](void *s, double v) {
      static_cast<LinearModel *>(s)->lr = static_cast<float>(v);
      return true;
    };
    m.iterations = &iterations;
    m.seed = &seed;
    m.num_weights = 2;
    m.weights = slots;
    m.num_optimizer_state = 0;
    m.optimizer_state = nullptr;
  }

  float step(const float *x, const float *y, int64_t n, float *pred, bool train) {
    if (train && iterations == kill_at_iteration) std::raise(SIGKILL);
    (train ? train_batches : test_batches).push_back(n);
    float loss = 0;
    for (int64_t i = 0; i < n; ++i) {
      float acc = b[0];
      for (int64_t k = 0; k < d; ++k) acc += x[i * d + k] * w[static_cast<size_t>(k)];
      pred[i] = acc;
      const float e = acc - y[i];
      loss += e * e;
      (train ? first_feature_seen : test_first_feature_seen).push_back(x[i * d]);
    }
    loss /= static_cast<float>(n);
    if (!train) return loss;
    std::vector<float> gw(static_cast<size_t>(d), 0.f);
    float gb = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float g = 2.f * (pred[i] - y[i]) / static_cast<float>(n);
      for (int64_t k = 0; k < d; ++k) gw[static_cast<size_t>(k)] += g * x[i * d + k];
      gb += g;
    }
    for (int64_t k = 0; k < d; ++k) w[static_cast<size_t>(k)] -= lr * gw[static_cast<size_t>(k)];
    b[0] -= lr * gb;
    ++iterations;
    return loss;
  }
};

struct Data {
  std::vector<float> x, y;
  kerasc::Dataset set() const {
    kerasc::Dataset s;
    s.x = {x.data()};
    s.y = {y.data()};
    s.n = static_cast<int64_t>(y.size());
    return s;
  }
};

/// Rows whose first feature is the row index (so batches can be traced), d = 3.
Data indexed_data(int64_t n) {
  Data data;
  for (int64_t i = 0; i < n; ++i) {
    data.x.insert(data.x.end(), {float(i), 0.01f * float(i % 7), -0.02f * float(i % 5)});
    data.y.push_back(0.05f * float(i) - 0.3f);
  }
  return data;
}

std::string read_file(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string without_cr(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
  return s;
}

kerasc::MonitorMode mode_of(const json &config) {
  if (!config.contains("mode")) return kerasc::MonitorMode::Auto;
  return config["mode"] == "max" ? kerasc::MonitorMode::Max
         : config["mode"] == "min" ? kerasc::MonitorMode::Min : kerasc::MonitorMode::Auto;
}

} // namespace

TEST_CASE("python_float_repr writes floats like Python's repr", "[fit][history]") {
  // Exact string equality: these are the forms CSVLogger and json.dump produce.
  CHECK(kerasc::python_float_repr(1.8606374263763428) == "1.8606374263763428");
  CHECK(kerasc::python_float_repr(7.812499825377017e-05) == "7.812499825377017e-05");
  CHECK(kerasc::python_float_repr(0.0005) == "0.0005");
  CHECK(kerasc::python_float_repr(1e-05) == "1e-05");
  CHECK(kerasc::python_float_repr(2.0) == "2.0");
  CHECK(kerasc::python_float_repr(-12345.678) == "-12345.678");
  CHECK(kerasc::python_float_repr(1e16) == "1e+16");
  CHECK(kerasc::python_float_repr(1234567890123456.0) == "1234567890123456.0");
  CHECK(kerasc::python_float_repr(0.0) == "0.0");
}

TEST_CASE("progress lines match Keras's Progbar byte for byte", "[fit][progress]") {
  // Exact string equality with Progbar.update(finalize=True) output captured from Keras 3.
  json fx = load_fixture("progbar.json");
  for (const auto &c : fx["cases"]) {
    kerasc::Logs logs;
    for (const auto &kv : c["values"]) logs.set(kv[0].get<std::string>(), kv[1].get<double>());
    const int64_t target = c["target"];
    const double elapsed = c["elapsed"], per_step = c["per_step"];
    CHECK("\n" + kerasc::progress::line_verbose1(target, target, logs, elapsed, per_step, true) + "\n" ==
          c["verbose1"].get<std::string>());
    CHECK(kerasc::progress::line_verbose2(target, logs, elapsed, per_step) + "\n" ==
          c["verbose2"].get<std::string>());
  }
  CHECK(kerasc::progress::format_eta(7.9) == "7s");
  CHECK(kerasc::progress::format_eta(65.2) == "1:05");
  CHECK(kerasc::progress::format_eta(3725) == "1:02:05");
}

TEST_CASE("fit reproduces a Keras fit of a linear regression", "[fit]") {
  json fx = load_fixture("fit_linear.json");
  Data data;
  for (const auto &row : fx["x"]) for (const auto &v : row) data.x.push_back(v.get<float>());
  for (const auto &row : fx["y"]) data.y.push_back(row[0].get<float>());
  LinearModel lm(3);
  for (int k = 0; k < 3; ++k) lm.w[k] = fx["kernel0"][k].get<float>();
  lm.b[0] = fx["bias0"][0].get<float>();
  lm.lr = static_cast<float>(fx["learning_rate"].get<double>());

  kerasc::FitOptions o;
  o.epochs = fx["epochs"];
  o.batch_size = fx["batch_size"];
  o.shuffle = false;
  o.validation_split = fx["validation_split"];
  o.verbose = 2;
  const std::string log_path = temp_path("fit_linear.log");
  o.out = std::fopen(log_path.c_str(), "w");
  REQUIRE(o.out);
  kerasc::History h;
  std::string error;
  REQUIRE(kerasc::fit(lm.m, o, data.set(), nullptr, &h, &error) == 0);
  std::fclose(o.out);

  // Keys in Keras's history order (exact).
  std::vector<std::string> keys = fx["history_keys"];
  CHECK(h.keys == keys);
  // Values: float32 training of 8 steps with a reduction order that may differ from XLA's;
  // relative 1e-5 (measured: ~1e-7).
  double worst = 0;
  for (const auto &k : keys)
    for (size_t e = 0; e < h.rows(); ++e) {
      const double want = fx["history"][k][e], got = (*h.column(k))[e];
      worst = std::max(worst, std::fabs(got - want) / std::fabs(want));
      CHECK(got == Approx(want).epsilon(1e-5));
    }
  for (int k = 0; k < 3; ++k) CHECK(lm.w[k] == Approx(fx["kernel"][k].get<double>()).epsilon(1e-5));
  CHECK(lm.b[0] == Approx(fx["bias"][0].get<double>()).epsilon(1e-5));
  WARN("largest relative deviation from Keras's history: " << worst);

  // 20 samples, split 0.2: train on the first 16 in batches 8, 8; validate on the last 4.
  CHECK(lm.train_batches == std::vector<int64_t>(8, 8));
  CHECK(lm.test_batches == std::vector<int64_t>(4, 4));
  CHECK(lm.test_first_feature_seen[0] == data.x[16 * 3]);

  // Console: "Epoch i/N" lines, then each epoch line in Keras's verbose=2 form (exact with
  // Keras's values and times; our own times are replaced before comparing).
  const std::string log = read_file(log_path);
  std::istringstream lines(log);
  std::string line;
  int epoch_lines = 0;
  std::vector<std::string> keras_lines = fx["epoch_lines"];
  while (std::getline(lines, line)) {
    if (line.rfind("Epoch ", 0) == 0) continue;
    REQUIRE(epoch_lines < 4);
    const auto &t = fx["epoch_times"][epoch_lines];
    kerasc::Logs keras_logs;
    for (const auto &k : keys) keras_logs.set(k, fx["history"][k][epoch_lines].get<double>());
    CHECK(kerasc::progress::line_verbose2(2, keras_logs, t[0], t[1]) == keras_lines[epoch_lines]);
    // Our line has the same shape: count, times, then the same keys with 4 decimals.
    CHECK(line.rfind("2/2 - ", 0) == 0);
    CHECK(line.find(" - loss: ") != std::string::npos);
    CHECK(line.find(" - val_mae: ") != std::string::npos);
    ++epoch_lines;
  }
  CHECK(epoch_lines == 4);
  CHECK(log.rfind("Epoch 1/4\n", 0) == 0);

  // evaluate: loss + metrics over all 20 samples in test mode (relative 1e-5).
  kerasc::Logs ev;
  REQUIRE(kerasc::evaluate(lm.m, data.set(), 8, 0, &ev, &error) == 0);
  CHECK(*ev.get("loss") == Approx(fx["evaluate"]["loss"].get<double>()).epsilon(1e-5));
  CHECK(*ev.get("mae") == Approx(fx["evaluate"]["mae"].get<double>()).epsilon(1e-5));
  std::remove(log_path.c_str());
}

TEST_CASE("history CSV and JSON are written as CSVLogger and history.history", "[fit][history]") {
  json fx = load_fixture("fit_linear.json");
  kerasc::History h;
  for (int e = 0; e < 4; ++e) {
    kerasc::Logs logs;
    for (const auto &k : fx["history_keys"]) logs.set(k, fx["history"][k][e].get<double>());
    h.append(e, logs);
  }
  // Exact: Keras's CSVLogger file (read in text mode by the generator, so without '\r').
  CHECK(without_cr(h.to_csv()) == fx["csv"].get<std::string>());
  CHECK(h.to_csv().find("\r\n") != std::string::npos);
  // JSON parses back to the same numbers (exact) and keys in order.
  json back = json::parse(h.to_json());
  for (const auto &k : fx["history_keys"]) CHECK(back[k.get<std::string>()] == fx["history"][k]);
  CHECK(h.to_json().rfind("{\"loss\": [", 0) == 0);

  // No validation: CSVLogger adds val_ columns of NA.
  kerasc::History t;
  kerasc::Logs l;
  l.set("loss", 0.5);
  t.append(0, l);
  CHECK(t.to_csv() == "epoch,loss,val_loss\r\n0,0.5,NA\r\n");

  const std::string path = temp_path("h.csv");
  std::string error;
  REQUIRE(h.write_csv(path, &error));
  CHECK(read_file(path) == h.to_csv());
  std::remove(path.c_str());
  CHECK_FALSE(h.write_json("/nonexistent-dir/h.json", &error));
  CHECK(error.find("/nonexistent-dir/h.json: cannot create file") == 0);
}

TEST_CASE("EarlyStopping follows Keras epoch by epoch", "[fit][callbacks]") {
  json fx = load_fixture("early_stopping.json");
  for (const auto &c : fx["cases"]) {
    const json &cfg = c["config"];
    INFO(cfg.dump());
    kerasc::EarlyStoppingOptions o;
    o.verbose = 1;  // the fixtures ran Keras's callback with verbose=1
    o.monitor = cfg["monitor"];
    o.patience = cfg.value("patience", 0);
    o.min_delta = cfg.value("min_delta", 0.0);
    o.mode = mode_of(cfg);
    o.has_baseline = cfg.contains("baseline");
    o.baseline = cfg.value("baseline", 0.0);
    o.restore_best_weights = cfg.value("restore_best_weights", false);
    o.start_from_epoch = cfg.value("start_from_epoch", 0);
    LinearModel lm(1);
    kerasc::EarlyStopping es;
    std::string error;
    REQUIRE(es.setup(o, lm.m, &error));
    es.on_train_begin();
    const std::string out_path = temp_path("es.txt");
    std::FILE *out = std::fopen(out_path.c_str(), "w");
    size_t ran = 0;
    for (const auto &rec : c["epochs"]) {
      const int epoch = rec["epoch"];
      lm.w[0] = float(epoch + 1);  // the weights "after epoch e", as the generator sets them
      kerasc::Logs logs;
      logs.set(o.monitor, c["values"][epoch].get<double>());
      const bool stop = es.on_epoch_end(epoch, logs, lm.m);
      // Exact: integer state and the stop decision; best is the logged value itself.
      CHECK(es.wait == rec["wait"].get<int>());
      CHECK(stop == rec["stop"].get<bool>());
      if (!rec["best"].is_null()) CHECK(es.best == rec["best"].get<double>());
      ++ran;
      if (stop) break;
    }
    CHECK(ran == c["epochs"].size());
    es.on_train_end(lm.m, out);
    std::fclose(out);
    CHECK(es.stopped_epoch == c["stopped_epoch"].get<int>());
    CHECK(es.best_epoch == c["best_epoch"].get<int>());
    CHECK(lm.w[0] == c["final_weight"].get<double>());
    CHECK(read_file(out_path) == c["printed"].get<std::string>());
    std::remove(out_path.c_str());
  }
}

TEST_CASE("ReduceLROnPlateau follows Keras epoch by epoch", "[fit][callbacks]") {
  json fx = load_fixture("reduce_lr.json");
  for (const auto &c : fx["cases"]) {
    const json &cfg = c["config"];
    INFO(cfg.dump());
    kerasc::ReduceLROnPlateauOptions o;
    o.verbose = 1;  // the fixtures ran Keras's callback with verbose=1
    o.monitor = cfg["monitor"];
    o.factor = cfg.value("factor", 0.1);
    o.patience = cfg.value("patience", 10);
    o.min_delta = cfg.value("min_delta", 1e-4);
    o.cooldown = cfg.value("cooldown", 0);
    o.min_lr = cfg.value("min_lr", 0.0);
    o.mode = mode_of(cfg);
    LinearModel lm(1);
    lm.lr = static_cast<float>(c["initial_lr"].get<double>());
    kerasc::ReduceLROnPlateau rlr;
    std::string error;
    REQUIRE(rlr.setup(o, &error));
    rlr.on_train_begin();
    const std::string out_path = temp_path("rlr.txt");
    std::FILE *out = std::fopen(out_path.c_str(), "w");
    for (const auto &rec : c["epochs"]) {
      const int epoch = rec["epoch"];
      kerasc::Logs logs;
      logs.set(o.monitor, c["values"][epoch].get<double>());
      rlr.on_epoch_end(epoch, logs, lm.m, out);
      // Exact: the learning rate is float32 storage on both sides.
      CHECK(double(lm.lr) == rec["lr_after"].get<double>());
      CHECK(rlr.wait == rec["wait"].get<int>());
      CHECK(rlr.cooldown_counter == rec["cooldown_counter"].get<int>());
      CHECK(*logs.get("learning_rate") == rec["logged_learning_rate"].get<double>());
    }
    std::fclose(out);
    CHECK(read_file(out_path) == c["printed"].get<std::string>());
    std::remove(out_path.c_str());
  }
}

TEST_CASE("fit slices batches, splits validation from the end and shuffles by (seed, epoch)", "[fit]") {
  Data data = indexed_data(23);
  kerasc::FitOptions o;
  o.verbose = 0;
  o.batch_size = 4;
  o.epochs = 2;
  o.validation_split = 0.25;  // floor(23 * 0.75) = 17 train rows, the last 6 validate
  o.seed = 42;
  std::string error;
  LinearModel a(3), b(3), c(3);
  a.lr = b.lr = c.lr = 0.001f;
  REQUIRE(kerasc::fit(a.m, o, data.set(), nullptr, nullptr, &error) == 0);
  CHECK(a.train_batches == std::vector<int64_t>{4, 4, 4, 4, 1, 4, 4, 4, 4, 1});
  CHECK(a.test_batches == std::vector<int64_t>{4, 2, 4, 2});
  // Validation rows are 17..22 in order, every epoch.
  std::vector<float> val(a.test_first_feature_seen.begin(), a.test_first_feature_seen.begin() + 6);
  CHECK(val == std::vector<float>{17, 18, 19, 20, 21, 22});
  // Each epoch is a permutation of rows 0..16; the two epochs differ.
  std::vector<float> e0(a.first_feature_seen.begin(), a.first_feature_seen.begin() + 17);
  std::vector<float> e1(a.first_feature_seen.begin() + 17, a.first_feature_seen.end());
  std::vector<float> s0 = e0;
  std::sort(s0.begin(), s0.end());
  for (int i = 0; i < 17; ++i) CHECK(s0[i] == float(i));
  CHECK(e0 != e1);
  // Same seed: same order; other seed: another order.
  REQUIRE(kerasc::fit(b.m, o, data.set(), nullptr, nullptr, &error) == 0);
  CHECK(b.first_feature_seen == a.first_feature_seen);
  o.seed = 43;
  REQUIRE(kerasc::fit(c.m, o, data.set(), nullptr, nullptr, &error) == 0);
  CHECK(c.first_feature_seen != a.first_feature_seen);
  // The order is exactly shuffle_indices(seed, stream = epoch).
  std::vector<int64_t> idx(17);
  for (int i = 0; i < 17; ++i) idx[i] = i;
  kerasc::shuffle_indices(idx.data(), 17, 42, 1);
  for (int i = 0; i < 17; ++i) CHECK(e1[i] == float(idx[i]));

  // Too small to split, batch beyond max_batch: one-line errors.
  Data tiny = indexed_data(1);
  LinearModel d(3);
  CHECK(kerasc::fit(d.m, o, tiny.set(), nullptr, nullptr, &error) == 1);
  CHECK(error.find("not sufficient to split") != std::string::npos);
  o.batch_size = 65;
  CHECK(kerasc::fit(d.m, o, data.set(), nullptr, nullptr, &error) == 1);
}

TEST_CASE("the running loss is Keras's float32 Mean weighted by batch size", "[fit]") {
  Data data = indexed_data(10);
  LinearModel lm(3), replay(3);
  lm.lr = replay.lr = 0.001f;
  kerasc::FitOptions o;
  o.verbose = 0;
  o.batch_size = 4;
  o.shuffle = false;
  kerasc::History h;
  std::string error;
  REQUIRE(kerasc::fit(lm.m, o, data.set(), nullptr, &h, &error) == 0);
  // Replay the three steps (4, 4, 2) and apply Keras's formula; exact equality (same float ops).
  float total = 0, count = 0;
  const float *x = data.x.data(), *y = data.y.data();
  float pred[4];
  for (int64_t start : {0, 4, 8}) {
    const int64_t n = std::min<int64_t>(4, 10 - start);
    total += replay.step(x + start * 3, y + start, n, pred, true) * float(n);
    count += float(n);
  }
  CHECK((*h.column("loss"))[0] == double(total / count));
  CHECK(h.keys == std::vector<std::string>{"loss", "mae"});
}

TEST_CASE("checkpoints round-trip and reject corrupt files without touching the model", "[fit][checkpoint]") {
  LinearModel lm(3);
  lm.w = {1.5f, -2.25f, 3.0f};
  lm.b[0] = 0.125f;
  const std::string path = temp_path("ck.kck");
  std::string error, state;
  REQUIRE(kerasc::write_checkpoint(path.c_str(), lm.m, "epoch_completed 3\n", &error));
  LinearModel back(3);
  REQUIRE(kerasc::read_checkpoint(path.c_str(), back.m, &state, &error));
  CHECK(back.w == lm.w);  // exact
  CHECK(back.b == lm.b);
  CHECK(state == "epoch_completed 3\n");

  std::vector<kerasc::CheckpointTensor> tensors;
  REQUIRE(kerasc::read_checkpoint_tensors(path.c_str(), &tensors, &state, &error));
  REQUIRE(tensors.size() == 2);
  CHECK(tensors[0].name == "dense/kernel");
  CHECK(tensors[0].keras_path == "layers/dense/vars/0");
  CHECK(tensors[0].shape == std::vector<int64_t>{3, 1});
  CHECK(tensors[0].trainable);
  CHECK(tensors[1].data == std::vector<float>{0.125f});

  const std::string bytes = read_file(path);
  auto write_raw = [&](const std::string &p, const std::string &content) {
    std::ofstream f(p, std::ios::binary);
    f << content;
  };
  LinearModel untouched(3);
  untouched.w = {9, 9, 9};
  // One flipped bit inside the weights.
  std::string flipped = bytes;
  flipped[bytes.size() - 10] ^= 0x04;
  write_raw(path, flipped);
  CHECK_FALSE(kerasc::read_checkpoint(path.c_str(), untouched.m, &state, &error));
  CHECK(error == path + ": checksum mismatch (the file is truncated or corrupt)");
  CHECK(untouched.w == std::vector<float>{9, 9, 9});
  // Truncated.
  write_raw(path, bytes.substr(0, bytes.size() / 2));
  CHECK_FALSE(kerasc::read_checkpoint(path.c_str(), untouched.m, &state, &error));
  CHECK(error.find("checksum mismatch") != std::string::npos);
  write_raw(path, "KERASCK1");
  CHECK_FALSE(kerasc::read_checkpoint(path.c_str(), untouched.m, &state, &error));
  CHECK(error == path + ": truncated checkpoint");
  write_raw(path, "something else entirely");
  CHECK_FALSE(kerasc::read_checkpoint(path.c_str(), untouched.m, &state, &error));
  CHECK(error == path + ": not a kerasc checkpoint (bad magic)");
  // Another model: shapes differ.
  write_raw(path, bytes);
  LinearModel other(4);
  CHECK_FALSE(kerasc::read_checkpoint(path.c_str(), other.m, &state, &error));
  CHECK(error == path + ": tensor 'dense/kernel' has shape (3, 1) in the checkpoint but (4, 1) in this model");
  CHECK(untouched.w == std::vector<float>{9, 9, 9});
  std::remove(path.c_str());
}

TEST_CASE("a run killed mid-epoch and resumed ends bit-identical to an uninterrupted run", "[fit][checkpoint]") {
  Data data = indexed_data(37);
  for (float &v : data.x) v *= 0.05f;
  kerasc::FitOptions o;
  o.verbose = 0;
  o.batch_size = 5;
  o.epochs = 7;
  o.seed = 7;
  o.validation_split = 0.2;
  o.early_stopping = true;
  o.early_stopping_options.patience = 10;
  o.early_stopping_options.restore_best_weights = true;
  o.early_stopping_options.verbose = 0;
  o.reduce_lr_on_plateau = true;
  o.reduce_lr_options.patience = 1;
  o.reduce_lr_options.min_delta = 0.05;  // makes it fire, so the learning rate is part of the state
  o.reduce_lr_options.verbose = 0;
  std::string error;

  // Uninterrupted, with checkpoints.
  LinearModel clean(3);
  o.checkpoint_path = temp_path("clean.kck");
  kerasc::History clean_history;
  REQUIRE(kerasc::fit(clean.m, o, data.set(), nullptr, &clean_history, &error) == 0);

  // Killed by SIGKILL in the middle of epoch 3 (6 steps per epoch: iteration 15 is step 4 of 6).
  o.checkpoint_path = temp_path("killed.kck");
  std::remove(o.checkpoint_path.c_str());
  std::fflush(nullptr);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    LinearModel victim(3);
    victim.kill_at_iteration = 15;
    std::string e;
    kerasc::fit(victim.m, o, data.set(), nullptr, nullptr, &e);
    ::_exit(3);  // not reached
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  LinearModel resumed(3);
  o.resume = true;
  kerasc::History resumed_history;
  REQUIRE(kerasc::fit(resumed.m, o, data.set(), nullptr, &resumed_history, &error) == 0);
  // Resumed after epoch 2 (index 1): it ran epochs 3..7 only.
  CHECK(resumed.train_batches.size() == 5 * 6);
  // Bit-identical weights, iterations, learning rate and history.
  CHECK(std::memcmp(resumed.w.data(), clean.w.data(), sizeof(float) * 3) == 0);
  CHECK(std::memcmp(resumed.b.data(), clean.b.data(), sizeof(float)) == 0);
  CHECK(resumed.iterations == clean.iterations);
  CHECK(resumed.lr == clean.lr);
  CHECK(clean.lr < 0.1f);  // ReduceLROnPlateau did fire
  CHECK(resumed_history.keys == clean_history.keys);
  CHECK(resumed_history.columns == clean_history.columns);
  CHECK(resumed_history.epochs == clean_history.epochs);
  std::remove(temp_path("clean.kck").c_str());
  std::remove(o.checkpoint_path.c_str());
}

#include <kerasc/train_cli.h>

TEST_CASE("the training CLI runs fit and evaluate and reports errors in one line", "[fit][cli]") {
  Data data = indexed_data(30);
  for (float &v : data.x) v *= 0.05f;
  const std::string xp = temp_path("x.npy"), yp = temp_path("y.npy"), hp = temp_path("h.csv"),
                    jp = temp_path("h.json"), cp = temp_path("cli.kck");
  kerasc::write_npy(xp, data.x.data(), {30, 3});
  kerasc::write_npy(yp, data.y.data(), {30, 1});
  kerasc::ModelDesc desc{};
  desc.name = "linear";
  kerasc::TrainCliHooks no_hdf5{nullptr, nullptr, nullptr};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "linear");
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(&a[0]);
    LinearModel lm(3);
    return kerasc::run_train_cli((int)argv.size(), argv.data(), desc, lm.m, no_hdf5);
  };
  CHECK(run({"fit", "--x", xp, "--y", yp, "--epochs", "3", "--batch-size", "8", "--verbose", "0",
             "--validation-split", "0.2", "--history", hp, "--history-json", jp, "--checkpoint", cp,
             "--early-stopping", "monitor=val_loss,patience=5,restore_best_weights"}) == 0);
  const std::string csv = read_file(hp);
  CHECK(csv.rfind("epoch,loss,mae,val_loss,val_mae\r\n0,", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 4);
  CHECK(read_file(jp).rfind("{\"loss\": [", 0) == 0);
  CHECK(run({"evaluate", "--x", xp, "--y", yp, "--checkpoint", cp, "--verbose", "0"}) == 0);
  // Errors: missing file (1), Keras weight files without HDF5 hooks (1), bad usage (2).
  CHECK(run({"fit", "--x", temp_path("missing.npy"), "--y", yp}) == 1);
  CHECK(run({"fit", "--x", xp, "--y", yp, "--save", temp_path("w.weights.h5")}) == 1);
  CHECK(run({"fit", "--x", xp, "--y", yp, "--epochs"}) == 2);
  CHECK(run({"fit", "--x", xp, "--y", yp, "--early-stopping", "patience=2,colour=blue"}) == 2);
  for (const auto &p : {xp, yp, hp, jp, cp}) std::remove(p.c_str());
}
