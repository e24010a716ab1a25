// runtime/kerasc/constraints.h against Keras 3 (tests/fixtures/training/optimizers/
// regularizers_constraints.json, written by tests/fixtures/generate_optimizers.py): regularizer
// values, their jax.grad gradients, and constrained weights for (3, 4) and (2, 2, 3, 4) tensors.
//
// Tolerance: |ours - keras| <= 1e-6 * max(|keras|, 1e-6). Both sides are float32; the only
// differences are the summation order of the norms/penalties (we accumulate in double) and
// where 2*l2*w is rounded, a few ulps (~3e-7) at most. The floor keeps exact zeros exact.
#include <kerasc/constraints.h>

#include <catch2/catch.hpp>
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

json loadRegConFixture() {
  std::ifstream in(std::string(KERASC_SOURCE_DIR) +
                   "/tests/fixtures/training/optimizers/regularizers_constraints.json");
  REQUIRE(in.good());
  return json::parse(in);
}

void flattenRegCon(const json &j, std::vector<float> &out) {
  if (j.is_array()) {
    for (const auto &e : j) flattenRegCon(e, out);
  } else {
    out.push_back(j.get<float>());
  }
}

std::vector<float> flatRegCon(const json &j) {
  std::vector<float> out;
  flattenRegCon(j, out);
  return out;
}

double relErr(double ours, double keras) {
  return std::fabs(ours - keras) / std::max(std::fabs(keras), 1e-6);
}

} // namespace

TEST_CASE("regularizers: value and gradient match Keras and jax.grad", "[constraints]") {
  const json fx = loadRegConFixture();
  REQUIRE(fx.at("regularizers").size() >= 10);
  double worst = 0.0;
  for (const json &tc : fx.at("regularizers")) {
    INFO("regularizer " << tc.at("identifier").dump() << " shape " << tc.at("shape").dump());
    kerasc::RegularizerKind kind = kerasc::RegularizerKind::None;
    REQUIRE(kerasc::regularizer_kind_from_name(tc.at("class_name").get<std::string>().c_str(), &kind));
    kerasc::RegularizerConfig r;
    const json &id = tc.at("identifier");
    if (id.is_string()) {
      // String identifiers: Keras's no-argument defaults.
      REQUIRE(kerasc::regularizer_kind_from_name(id.get<std::string>().c_str(), &kind));
      r = kerasc::default_regularizer_config(kind);
      CHECK(r.l1 == tc.at("l1").get<float>());
      CHECK(r.l2 == tc.at("l2").get<float>());
    } else {
      r.kind = kind;
      r.l1 = tc.at("l1").get<float>();
      r.l2 = tc.at("l2").get<float>();
    }
    const std::vector<float> w = flatRegCon(tc.at("w"));
    const double value = kerasc::regularizer_value(r, w.data(), static_cast<int64_t>(w.size()));
    const double kv = tc.at("value").get<double>();
    worst = std::max(worst, relErr(value, kv));
    CHECK(relErr(value, kv) <= 1e-6);

    const std::vector<float> expected = flatRegCon(tc.at("grad"));
    std::vector<float> grad(w.size(), 0.0f);
    kerasc::regularizer_add_gradient(r, w.data(), static_cast<int64_t>(w.size()), grad.data());
    std::vector<float> added(w.size(), 1.0f);  // the gradient is added to what is there
    kerasc::regularizer_add_gradient(r, w.data(), static_cast<int64_t>(w.size()), added.data());
    for (size_t i = 0; i < w.size(); ++i) {
      INFO("element " << i << " w " << w[i] << " ours " << grad[i] << " keras " << expected[i]);
      const double e = relErr(grad[i], expected[i]);
      worst = std::max(worst, e);
      CHECK(e <= 1e-6);
      CHECK(std::fabs(added[i] - (1.0f + grad[i])) <= 1e-6);  // rounding of the two terms
    }
  }
  WARN("largest relative deviation from Keras (regularizers): " << worst);
}

TEST_CASE("constraints: constrained weights match Keras", "[constraints]") {
  const json fx = loadRegConFixture();
  REQUIRE(fx.at("constraints").size() >= 15);
  double worst = 0.0;
  for (const json &tc : fx.at("constraints")) {
    INFO("constraint " << tc.at("name").get<std::string>() << " shape " << tc.at("shape").dump());
    const json &ser = tc.at("constraint");
    kerasc::ConstraintKind kind = kerasc::ConstraintKind::None;
    REQUIRE(kerasc::constraint_kind_from_name(ser.at("class_name").get<std::string>().c_str(), &kind));
    kerasc::ConstraintConfig c = kerasc::default_constraint_config(kind);
    const json &cfg = ser.at("config");
    if (cfg.contains("max_value")) c.max_value = cfg.at("max_value").get<float>();
    if (cfg.contains("min_value")) c.min_value = cfg.at("min_value").get<float>();
    if (cfg.contains("rate")) c.rate = cfg.at("rate").get<float>();
    if (cfg.contains("axis")) {
      if (cfg.at("axis").is_array()) {
        c.num_axes = static_cast<int>(cfg.at("axis").size());
        for (int i = 0; i < c.num_axes; ++i) c.axes[i] = cfg.at("axis")[i].get<int>();
      } else {
        c.axis = cfg.at("axis").get<int>();
      }
    }
    std::vector<int64_t> shape = tc.at("shape").get<std::vector<int64_t>>();
    std::vector<float> w = flatRegCon(tc.at("w"));
    const std::vector<float> expected = flatRegCon(tc.at("expected"));
    kerasc::apply_constraint(c, w.data(), shape.data(), static_cast<int>(shape.size()));
    REQUIRE(w.size() == expected.size());
    for (size_t i = 0; i < w.size(); ++i) {
      INFO("element " << i << " ours " << w[i] << " keras " << expected[i]);
      REQUIRE(std::isfinite(w[i]));
      const double e = relErr(w[i], expected[i]);
      worst = std::max(worst, e);
      CHECK(e <= 1e-6);
    }
  }
  WARN("largest relative deviation from Keras (constraints): " << worst);
}

TEST_CASE("constraints: defaults and names", "[constraints]") {
  using RK = kerasc::RegularizerKind;
  CHECK(kerasc::default_regularizer_config(RK::L1).l1 == 0.01f);
  CHECK(kerasc::default_regularizer_config(RK::L2).l2 == 0.01f);
  CHECK(kerasc::default_regularizer_config(RK::L1L2).l1 == 0.0f);
  CHECK(kerasc::regularizer_value(kerasc::RegularizerConfig(), nullptr, 0) == 0.0f);
  RK rk;
  CHECK_FALSE(kerasc::regularizer_kind_from_name("l1_l2", &rk));  // Keras rejects it too
  CHECK(kerasc::default_constraint_config(kerasc::ConstraintKind::MinMaxNorm).max_value == 1.0f);
  CHECK(kerasc::default_constraint_config(kerasc::ConstraintKind::MaxNorm).max_value == 2.0f);
  kerasc::ConstraintKind ck;
  CHECK(kerasc::constraint_kind_from_name("non_neg", &ck));
  CHECK(ck == kerasc::ConstraintKind::NonNeg);
  CHECK_FALSE(kerasc::constraint_kind_from_name("nonneg", &ck));
}
