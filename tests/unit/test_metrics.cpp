// The runtime's metrics (kerasc/metrics.h) against Keras metric objects:
// tests/fixtures/training/metrics/metrics.json holds, per case, 2-3 batches fed with
// update_state and result() after each (written by tests/fixtures/generate_losses_metrics.py).
//
// Tolerance: |ours - keras| <= 1e-6 absolute for every metric, AUC included (Keras keeps float32
// variables and sums in float32; the counts are small integers, so only the final divisions and
// logs round: measured deviations are ~1e-7).
#include "kerasc/metrics.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#ifndef KERASC_SOURCE_DIR
#define KERASC_SOURCE_DIR "."
#endif

namespace {

using nlohmann::json;

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

} // namespace

TEST_CASE("metrics: batch-by-batch results match Keras", "[runtime][metrics]") {
  std::ifstream in(std::string(KERASC_SOURCE_DIR) +
                   "/tests/fixtures/training/metrics/metrics.json");
  REQUIRE(in.good());
  const json cases = json::parse(in);
  REQUIRE(cases.size() >= 20);
  double worst = 0;
  auto state = std::make_unique<kerasc::MetricState>(); // 16 KB: not on the stack
  for (const json &c : cases) {
    const std::string name = c["name"].get<std::string>();
    INFO(name << " (" << c["note"].get<std::string>() << ")");
    kerasc::MetricConfig cfg{};
    REQUIRE(kerasc::metric_kind_from_name(name.c_str(), &cfg.kind));
    cfg.name = name.c_str();
    const json &k = c["config"];
    cfg.threshold = k.value("threshold", k.value("thresholds", 0.5f));
    cfg.k = k.value("k", 5);
    cfg.num_thresholds = k.value("num_thresholds", 200);
    cfg.pr_curve = k.value("curve", std::string("ROC")) == "PR";

    // Dirty state first: reset must clear everything.
    state->total = state->count = 7;
    state->bucket_pos.fill(3);
    state->bucket_neg.fill(3);
    kerasc::metric_reset(cfg, *state);
    for (size_t b = 0; b < c["batches"].size(); ++b) {
      std::vector<float> yt, yp;
      flatten(c["batches"][b]["y_true"], yt);
      const int64_t d = flatten(c["batches"][b]["y_pred"], yp);
      const int64_t rows = static_cast<int64_t>(yp.size()) / d;
      // Keras's sample_weight: one per sample (axis 0), repeated over that sample's rows.
      std::vector<float> sw, rowWeight;
      if (c["batches"][b].contains("sample_weight")) {
        flatten(c["batches"][b]["sample_weight"], sw);
        REQUIRE(rows % static_cast<int64_t>(sw.size()) == 0);
        for (int64_t r = 0; r < rows; ++r)
          rowWeight.push_back(sw[r / (rows / static_cast<int64_t>(sw.size()))]);
      }
      kerasc::metric_update(cfg, *state, yt.data(), yp.data(), rows, d,
                            rowWeight.empty() ? nullptr : rowWeight.data());
      const double keras = c["results"][b].get<double>();
      const double ours = kerasc::metric_result(cfg, *state);
      INFO("after batch " << b << ": ours " << ours << " keras " << keras);
      CHECK(std::fabs(ours - keras) <= 1e-6);
      worst = std::max(worst, std::fabs(ours - keras));
    }
  }
  WARN("largest absolute metric deviation " << worst);
}

TEST_CASE("metrics: names; accuracy is left to the compiler", "[runtime][metrics]") {
  using kerasc::MetricKind;
  const std::pair<const char *, MetricKind> names[] = {
      {"mae", MetricKind::MeanAbsoluteError},
      {"MSE", MetricKind::MeanSquaredError},
      {"RootMeanSquaredError", MetricKind::RootMeanSquaredError},
      {"AUC", MetricKind::AUC},
      {"auc", MetricKind::AUC},
      {"sparse_top_k_categorical_accuracy", MetricKind::SparseTopKCategoricalAccuracy},
      {"BinaryAccuracy", MetricKind::BinaryAccuracy},
  };
  for (const auto &[name, kind] : names) {
    INFO(name);
    MetricKind k{};
    CHECK(kerasc::metric_kind_from_name(name, &k));
    CHECK(k == kind);
  }
  MetricKind k{};
  CHECK_FALSE(kerasc::metric_kind_from_name("accuracy", &k));
  CHECK_FALSE(kerasc::metric_kind_from_name("acc", &k));
  CHECK_FALSE(kerasc::metric_kind_from_name("rmse", &k)); // not a Keras name either
}

TEST_CASE("metrics: argmax and AUC edge cases", "[runtime][metrics]") {
  // -0.0 < +0.0 in Keras's CPU argmax; first of equal maxima wins.
  const float x[3] = {-0.0f, 0.0f, -1.0f};
  CHECK(kerasc::metric_detail::argmax(x, 3) == 1);
  const float y[3] = {2.0f, 5.0f, 5.0f};
  CHECK(kerasc::metric_detail::argmax(y, 3) == 1);
  // Perfectly separated scores give AUC 1 (ROC) whatever the buckets; no data gives 0.
  kerasc::MetricConfig cfg{kerasc::MetricKind::AUC, "auc"};
  auto s = std::make_unique<kerasc::MetricState>();
  kerasc::metric_reset(cfg, *s);
  CHECK(kerasc::metric_result(cfg, *s) == 0.0);
  const float t[4] = {0, 0, 1, 1}, p[4] = {0.1f, 0.2f, 0.8f, 0.9f};
  kerasc::metric_update(cfg, *s, t, p, 4, 1);
  CHECK(std::fabs(kerasc::metric_result(cfg, *s) - 1.0) <= 1e-12);
}
