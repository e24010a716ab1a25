// The runtime's losses (kerasc/losses.h) against Keras: tests/fixtures/training/losses/losses.json
// holds, per case, the Keras 3 loss-class value and jax.grad of it w.r.t. y_pred
// (written by tests/fixtures/generate_losses_metrics.py).
//
// Tolerances:
//   value:    |ours - keras| <= 1e-5 * |keras|  (+1e-7 absolute for values that are ~0)
//   gradient: |ours - keras| <= 1e-5 * |keras| + 1e-5 * max_k |keras_k| (the case's largest
//             gradient). The absolute part is for elements that Keras computes by cancellation in
//             float32: log_cosh's derivative is 1 - 2*sigmoid(-2x), so for x = 1e-4 Keras's own
//             value is off by ~6e-8 absolute (~1e-3 relative) where ours (tanh) is exact.
#include "kerasc/losses.h"

#include <catch2/catch.hpp>

#include <map>
#include <sstream>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#ifndef KERASC_SOURCE_DIR
#define KERASC_SOURCE_DIR "."
#endif

namespace {

using nlohmann::json;

json readFixture() {
  std::ifstream in(std::string(KERASC_SOURCE_DIR) + "/tests/fixtures/training/losses/losses.json");
  REQUIRE(in.good());
  return json::parse(in);
}

/// Flattens a nested list row-major; returns the size of the innermost list (the last axis).
int64_t flatten(const json &a, std::vector<float> &out) {
  if (!a.is_array()) {
    out.push_back(a.get<float>());
    return 0;
  }
  int64_t inner = 0;
  for (const auto &x : a)
    inner = flatten(x, out);
  return inner == 0 ? static_cast<int64_t>(a.size()) : inner;
}

kerasc::LossConfig configFor(const json &c) {
  kerasc::LossConfig cfg{};
  REQUIRE(kerasc::loss_kind_from_name(c["name"].get<std::string>().c_str(), &cfg.kind));
  const json &k = c["config"];
  cfg.from_logits = k.value("from_logits", false);
  cfg.label_smoothing = k.value("label_smoothing", 0.0f);
  cfg.delta = k.value("delta", 1.0f);
  return cfg;
}

} // namespace

TEST_CASE("losses: value and gradient match Keras/JAX", "[runtime][losses]") {
  const json cases = readFixture();
  REQUIRE(cases.size() >= 40);
  double worstValue = 0, worstGrad = 0; // largest relative deviations, reported below
  std::map<std::string, std::pair<double, double>> perLoss; // name -> (value, gradient) worst
  for (const json &c : cases) {
    double &lossWorst = perLoss[c["name"].get<std::string>()].first;
    double &gradWorst = perLoss[c["name"].get<std::string>()].second;
    INFO(c["name"].get<std::string>() << " (" << c["note"].get<std::string>() << ")");
    const kerasc::LossConfig cfg = configFor(c);
    std::vector<float> yt, yp, kg;
    flatten(c["y_true"], yt);
    const int64_t d = flatten(c["y_pred"], yp);
    flatten(c["grad"], kg);
    const int64_t rows = static_cast<int64_t>(yp.size()) / d;
    REQUIRE(kg.size() == yp.size());
    REQUIRE(yt.size() == (cfg.kind == kerasc::LossKind::SparseCategoricalCrossentropy
                              ? static_cast<size_t>(rows)
                              : yp.size()));

    // Keras's sample_weight here is one weight per row (shape = y_pred's without the last axis).
    std::vector<float> sw;
    if (c.contains("sample_weight")) {
      flatten(c["sample_weight"], sw);
      REQUIRE(sw.size() == static_cast<size_t>(rows));
    }
    const float *w = sw.empty() ? nullptr : sw.data();
    const double keras = c["loss"].get<double>();
    const double ours = kerasc::loss_value(cfg, yt.data(), yp.data(), rows, d, w);
    INFO("loss ours " << ours << " keras " << keras);
    CHECK(std::fabs(ours - keras) <= 1e-5 * std::fabs(keras) + 1e-7);
    worstValue = std::max(worstValue, std::fabs(ours - keras) / std::max(std::fabs(keras), 1e-7));
    lossWorst = std::max(lossWorst, std::fabs(ours - keras) / std::max(std::fabs(keras), 1e-7));

    // scale 2 checks that the scale multiplies the gradient; the fixture holds scale 1.
    std::vector<float> grad(yp.size(), NAN);
    kerasc::loss_gradient(cfg, yt.data(), yp.data(), rows, d, 2.0f, grad.data(), w);
    double gmax = 0;
    for (float g : kg)
      gmax = std::max(gmax, static_cast<double>(std::fabs(g)));
    for (size_t i = 0; i < grad.size(); ++i) {
      const double o = grad[i] / 2.0, k = kg[i];
      INFO("grad element " << i << ": ours " << o << " keras " << k);
      CHECK(std::fabs(o - k) <= 1e-5 * std::fabs(k) + 1e-5 * gmax);
      if (gmax > 0) {
        worstGrad = std::max(worstGrad, std::fabs(o - k) / std::max(std::fabs(k), gmax));
        gradWorst = std::max(gradWorst, std::fabs(o - k) / std::max(std::fabs(k), gmax));
      }
    }
  }
  std::ostringstream table;
  for (const auto &[name, worst] : perLoss)
    table << "\n  " << name << ": value " << worst.first << ", gradient " << worst.second;
  WARN("largest relative loss deviation " << worstValue << ", gradient (vs max(|g|, case max)) "
                                          << worstGrad << "; per loss:" << table.str());
}

TEST_CASE("losses: names and aliases", "[runtime][losses]") {
  using kerasc::LossKind;
  const std::pair<const char *, LossKind> names[] = {
      {"mse", LossKind::MeanSquaredError},
      {"MeanAbsoluteError", LossKind::MeanAbsoluteError},
      {"MAPE", LossKind::MeanAbsolutePercentageError},
      {"msle", LossKind::MeanSquaredLogarithmicError},
      {"huber_loss", LossKind::Huber},
      {"logcosh", LossKind::LogCosh},
      {"bce", LossKind::BinaryCrossentropy},
      {"CategoricalCrossentropy", LossKind::CategoricalCrossentropy},
      {"kullback_leibler_divergence", LossKind::KLDivergence},
      {"KLD", LossKind::KLDivergence},
      {"CategoricalHinge", LossKind::CategoricalHinge},
  };
  for (const auto &[name, kind] : names) {
    INFO(name);
    LossKind k{};
    CHECK(kerasc::loss_kind_from_name(name, &k));
    CHECK(k == kind);
  }
  LossKind k{};
  CHECK_FALSE(kerasc::loss_kind_from_name("crossentropy", &k)); // the compiler resolves it
  CHECK_FALSE(kerasc::loss_kind_from_name("mean_squared", &k));
  CHECK(std::string(kerasc::loss_name(LossKind::KLDivergence)) == "kl_divergence");
  CHECK(std::string(kerasc::loss_name(LossKind::LogCosh)) == "log_cosh");
  CHECK(std::string(kerasc::loss_name(LossKind::SparseCategoricalCrossentropy)) ==
        "sparse_categorical_crossentropy");
}

TEST_CASE("losses: gradient agrees with central differences", "[runtime][losses]") {
  // Independent of the fixture: d(loss_value)/dp by central differences in double-ish steps on
  // smooth points. Tolerance 2e-3 relative to the largest gradient (float32 forward values).
  using kerasc::LossKind;
  const float yt[6] = {0.2f, 0.0f, 1.0f, 0.7f, 0.1f, 0.2f};
  const float yp0[6] = {0.3f, 0.15f, 0.55f, 0.4f, 0.35f, 0.25f};
  for (LossKind kind : {LossKind::MeanSquaredError, LossKind::LogCosh, LossKind::Poisson,
                        LossKind::CategoricalCrossentropy, LossKind::KLDivergence,
                        LossKind::CosineSimilarity, LossKind::BinaryCrossentropy}) {
    INFO(kerasc::loss_name(kind));
    kerasc::LossConfig cfg{kind};
    float grad[6];
    kerasc::loss_gradient(cfg, yt, yp0, 2, 3, 1.0f, grad);
    float gmax = 0;
    for (float g : grad)
      gmax = std::max(gmax, std::fabs(g));
    for (int i = 0; i < 6; ++i) {
      float yp[6];
      std::copy(yp0, yp0 + 6, yp);
      const float h = 1e-3f;
      yp[i] = yp0[i] + h;
      const double up = kerasc::loss_value(cfg, yt, yp, 2, 3);
      yp[i] = yp0[i] - h;
      const double down = kerasc::loss_value(cfg, yt, yp, 2, 3);
      CHECK(std::fabs((up - down) / (2 * h) - grad[i]) <= 2e-3 * gmax);
    }
  }
}
