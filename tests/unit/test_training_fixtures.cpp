// The Keras training oracle (tests/fixtures/training/{steps,fit}, written by
// tests/fixtures/generate_training.py) checked from C++: every file parses and is consistent,
// and an independent double-precision re-implementation of one SGD case reproduces Keras's
// numbers, which pins down the semantics the fixtures encode (loss reported before the
// update, mean over the batch, weights after it) before the compiler's training code relies
// on them.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <kerasc/arrays.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

using nlohmann::json;

namespace {

const std::string kRoot = std::string(KERASC_SOURCE_DIR) + "/tests/fixtures/training/";

json load_json(const std::string &rel) {
  std::ifstream f(kRoot + rel);
  REQUIRE(f.good());
  return json::parse(f);
}

const char *const kStepCases[] = {
    "mlp_softmax_sparse",     "mlp_activations_mse",     "functional_merge",
    "functional_multi_output", "views",                  "frozen_and_regularized",
    "rescaling_normalization", "softmax_logsoftmax",     "adam_mlp",
    "rmsprop_mlp",             "sgd_nesterov_clip"};

/// Flattens a nested JSON list of numbers (row-major, like the .npy / WeightStore layout).
std::vector<double> flat(const json &j) {
  std::vector<double> out;
  if (j.is_array()) {
    for (const json &e : j) {
      std::vector<double> sub = flat(e);
      out.insert(out.end(), sub.begin(), sub.end());
    }
  } else {
    out.push_back(j.get<double>());
  }
  return out;
}

/// Row-major matrix in double, for the reference computation.
struct Mat {
  int64_t rows = 0, cols = 0;
  std::vector<double> v;
  double &at(int64_t r, int64_t c) { return v[r * cols + c]; }
  double at(int64_t r, int64_t c) const { return v[r * cols + c]; }
};

Mat mat(const json &nested) {
  Mat m;
  m.rows = static_cast<int64_t>(nested.size());
  m.cols = nested[0].is_array() ? static_cast<int64_t>(nested[0].size()) : 1;
  m.v = flat(nested);
  return m;
}

double max_abs_diff(const std::vector<double> &a, const std::vector<double> &b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

} // namespace

TEST_CASE("training step fixtures: files parse and are self-consistent", "[training_fixtures]") {
  for (const char *name : kStepCases) {
    INFO("case " << name);
    const std::string dir = std::string("steps/") + name + "/";
    json e = load_json(dir + "expected.json");
    const int64_t batch = e.at("batch_size"), steps = e.at("steps");
    CHECK(batch == 8);
    CHECK(steps == 3);
    REQUIRE(e.at("losses").size() == static_cast<size_t>(steps));
    REQUIRE(e.at("weights_after").size() == static_cast<size_t>(steps));
    for (const json &l : e["losses"])
      CHECK(std::isfinite(l.get<double>()));
    // Inputs/targets: batch * steps samples each.
    for (const char *key : {"x_files", "y_files"})
      for (const json &f : e.at(key)) {
        kerasc::Array a = kerasc::read_npy(kRoot + dir + f.get<std::string>());
        REQUIRE(!a.shape.empty());
        CHECK(a.shape[0] == batch * steps);
      }
    // Same variables after every step, same sizes; non-trainable ones exactly unchanged
    // (tolerance 0: Keras never writes them in train_on_batch).
    const json &w0 = e.at("weights_initial");
    std::vector<std::string> trainable = e.at("trainable");
    for (const json &after : e["weights_after"]) {
      REQUIRE(after.size() == w0.size());
      for (auto it = w0.begin(); it != w0.end(); ++it) {
        INFO("variable " << it.key());
        REQUIRE(after.contains(it.key()));
        std::vector<double> a = flat(after[it.key()]), b = flat(it.value());
        REQUIRE(a.size() == b.size());
        bool is_trainable =
            std::find(trainable.begin(), trainable.end(), it.key()) != trainable.end();
        if (!is_trainable)
          CHECK(max_abs_diff(a, b) == 0.0);
      }
    }
  }
}

TEST_CASE("training step fixtures: frozen layer and constraints as Keras applies them",
          "[training_fixtures]") {
  json e = load_json("steps/frozen_and_regularized/expected.json");
  std::vector<std::string> trainable = e.at("trainable");
  CHECK(std::find(trainable.begin(), trainable.end(), "frozen/kernel") == trainable.end());
  for (const json &w : e["weights_after"]) {
    // NonNeg: exactly >= 0 after every update (tolerance 0).
    for (double v : flat(w.at("nonneg/kernel")))
      CHECK(v >= 0.0);
    // MaxNorm(0.5) over axis 0: w * min(n, 0.5) / (1e-7 + n) -> every column norm <= 0.5
    // (tolerance 1e-6 for the float32 rounding of the rescaled entries).
    Mat k = mat(w.at("logits/kernel"));
    for (int64_t c = 0; c < k.cols; ++c) {
      double n = 0;
      for (int64_t r = 0; r < k.rows; ++r)
        n += k.at(r, c) * k.at(r, c);
      CHECK(std::sqrt(n) <= 0.5 + 1e-6);
    }
  }
}

// mlp_softmax_sparse: 5 -> Dense(8, relu) "hidden" -> Dense(4, softmax) "probs",
// sparse_categorical_crossentropy (mean over the batch), SGD(learning_rate=0.1).
// Recomputed in double from weights_initial / x.npy / y.npy. Tolerance: 1e-5 absolute on
// losses and weights (Keras works in float32; measured deviation about 1e-7).
TEST_CASE("training step fixtures: double-precision replay of mlp_softmax_sparse",
          "[training_fixtures]") {
  const std::string dir = "steps/mlp_softmax_sparse/";
  json e = load_json(dir + "expected.json");
  kerasc::Array x = kerasc::read_npy(kRoot + dir + "x.npy");
  kerasc::Array y = kerasc::read_npy(kRoot + dir + "y.npy");
  const json &w0 = e["weights_initial"];
  Mat k1 = mat(w0["hidden/kernel"]), k2 = mat(w0["probs/kernel"]);
  std::vector<double> b1 = flat(w0["hidden/bias"]), b2 = flat(w0["probs/bias"]);
  const int64_t B = 8, I = 5, H = 8, O = 4;
  REQUIRE((k1.rows == I && k1.cols == H && k2.rows == H && k2.cols == O));
  const double lr = 0.1;
  double worst_loss = 0, worst_weight = 0;

  for (int64_t step = 0; step < 3; ++step) {
    Mat gk1{I, H, std::vector<double>(I * H, 0.0)}, gk2{H, O, std::vector<double>(H * O, 0.0)};
    std::vector<double> gb1(H, 0.0), gb2(O, 0.0);
    double loss = 0;
    for (int64_t s = 0; s < B; ++s) {
      const int64_t row = step * B + s;
      std::vector<double> h(H), z(O), p(O);
      for (int64_t j = 0; j < H; ++j) {
        double acc = b1[j];
        for (int64_t i = 0; i < I; ++i)
          acc += x.data[row * I + i] * k1.at(i, j);
        h[j] = std::max(acc, 0.0);
      }
      for (int64_t o = 0; o < O; ++o) {
        double acc = b2[o];
        for (int64_t j = 0; j < H; ++j)
          acc += h[j] * k2.at(j, o);
        z[o] = acc;
      }
      const double zmax = *std::max_element(z.begin(), z.end());
      double sum = 0;
      for (int64_t o = 0; o < O; ++o)
        sum += (p[o] = std::exp(z[o] - zmax));
      for (double &v : p)
        v /= sum;
      const int64_t label = static_cast<int64_t>(y.data[row]);
      loss += -std::log(p[label]) / B;
      // d(mean CE)/dz = (p - onehot) / B; back through probs and the relu.
      std::vector<double> dz(O), dh(H, 0.0);
      for (int64_t o = 0; o < O; ++o)
        dz[o] = (p[o] - (o == label ? 1.0 : 0.0)) / B;
      for (int64_t o = 0; o < O; ++o) {
        gb2[o] += dz[o];
        for (int64_t j = 0; j < H; ++j) {
          gk2.at(j, o) += h[j] * dz[o];
          dh[j] += k2.at(j, o) * dz[o];
        }
      }
      for (int64_t j = 0; j < H; ++j) {
        if (h[j] <= 0.0)
          continue;
        gb1[j] += dh[j];
        for (int64_t i = 0; i < I; ++i)
          gk1.at(i, j) += x.data[row * I + i] * dh[j];
      }
    }
    // The reported loss is the forward pass of this step, before the update.
    worst_loss = std::max(worst_loss, std::fabs(loss - e["losses"][step].get<double>()));
    CHECK(loss == Approx(e["losses"][step].get<double>()).margin(1e-5));
    for (size_t i = 0; i < k1.v.size(); ++i)
      k1.v[i] -= lr * gk1.v[i];
    for (size_t i = 0; i < k2.v.size(); ++i)
      k2.v[i] -= lr * gk2.v[i];
    for (int64_t j = 0; j < H; ++j)
      b1[j] -= lr * gb1[j];
    for (int64_t o = 0; o < O; ++o)
      b2[o] -= lr * gb2[o];
    const json &after = e["weights_after"][step];
    for (auto [key, mine] : std::map<std::string, const std::vector<double> *>{
             {"hidden/kernel", &k1.v}, {"hidden/bias", &b1},
             {"probs/kernel", &k2.v}, {"probs/bias", &b2}}) {
      INFO("step " << step << " " << key);
      double d = max_abs_diff(*mine, flat(after[key]));
      worst_weight = std::max(worst_weight, d);
      CHECK(d <= 1e-5);
    }
  }
  INFO("largest deviation: loss " << worst_loss << ", weights " << worst_weight);
  CHECK(worst_weight > 0.0);  // float32 vs double: never bit-equal, so this replay is real
}

// EarlyStopping(monitor="val_loss", patience=2, min_delta=0): replaying Keras's decision rule
// on the recorded history must give the recorded stopped/best epochs (exact integers), and the
// closest comparison must be far from a tie (>= 1e-4 relative, so float noise cannot flip it).
TEST_CASE("training fit fixtures: EarlyStopping run is consistent and not a near tie",
          "[training_fixtures]") {
  json e = load_json("fit/early_stopping/early_stopping.json");
  std::vector<double> val = e["history"]["val_loss"];
  int64_t wait = 0, best_epoch = 0, stopped = -1;
  double best = val[0];
  for (int64_t epoch = 1; epoch < static_cast<int64_t>(val.size()); ++epoch) {
    ++wait;
    if (val[epoch] < best) {
      best = val[epoch];
      best_epoch = epoch;
      wait = 0;
      continue;
    }
    if (wait >= 2) {
      stopped = epoch;
      break;
    }
  }
  CHECK(stopped == e["stopped_epoch"].get<int64_t>());
  CHECK(best_epoch == e["best_epoch"].get<int64_t>());
  CHECK(static_cast<int64_t>(val.size()) == stopped + 1);
  CHECK(stopped < e["epochs_requested"].get<int64_t>() - 10);
  CHECK(e["min_decision_relative_margin"].get<double>() >= 1e-4);
  CHECK(e["weights_restored"].size() == 6);
  CHECK(e["predictions_val_restored"].size() == 32);
}

TEST_CASE("training fit fixtures: digits histories", "[training_fixtures]") {
  for (const char *file : {"fit/history_noshuffle.json", "fit/history_shuffle.json"}) {
    INFO(file);
    json e = load_json(file);
    for (const char *key : {"loss", "accuracy", "val_loss", "val_accuracy"})
      CHECK(e["history"][key].size() == 10);
    CHECK(e["validation_split"]["train_samples"].get<int64_t>() == 1149);
    CHECK(e["steps_per_epoch"].get<int64_t>() == 36);
    // Adam(1e-3) for 10 epochs learns the digits well past chance (0.1).
    CHECK(e["evaluate"]["accuracy"].get<double>() > 0.8);
  }
  json w = load_json("fit/weights_after_noshuffle.json");
  CHECK(mat(w["hidden1/kernel"]).rows == 64);
  CHECK(mat(w["hidden1/kernel"]).cols == 32);
  CHECK(flat(w["probs/bias"]).size() == 10);
}
