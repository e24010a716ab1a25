// runtime/kerasc/initializers.h against Keras 3's initializers
// (tests/fixtures/training/optimizers/initializers.json, written by
// tests/fixtures/generate_optimizers.py). Our RNG is not JAX's, so the values differ; the tests
// are statistical and compare with (a) the distribution Keras's formulas define (bounds, mean,
// standard deviation) and (b) the statistics of a sample Keras drew for the same shape.
//
// Tolerances (N = element count, sigma = the distribution's standard deviation):
//   fans: exact. Bounds: exact up to float32 rounding (1e-6 relative).
//   mean: |ours - expected| <= 5 sigma / sqrt(N)            (5 standard errors)
//   std:  |ours - expected| <= 5 sigma / sqrt(N)            (the std's standard error is <= 0.71 sigma/sqrt(N))
//   vs Keras's sample: the same with sqrt(2) more, as both are samples.
//   Orthogonal: Q^T Q (or Q Q^T when wide) = gain^2 I within 1e-4 (float32 rounding is ~1e-7).
// The seeds are fixed, so the statistical checks are deterministic; 5 standard errors keeps them
// robust to a change of seed while a wrong formula (a factor like the 0.8796 correction, fan_in
// vs fan_avg) moves the std by > 10%, i.e. dozens of standard errors at these sizes.
#include <kerasc/initializers.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#ifndef KERASC_SOURCE_DIR
#define KERASC_SOURCE_DIR "."
#endif

namespace {

using nlohmann::json;

json loadInitializerFixture() {
  std::ifstream in(std::string(KERASC_SOURCE_DIR) + "/tests/fixtures/training/optimizers/initializers.json");
  REQUIRE(in.good());
  return json::parse(in);
}

// How the compiler maps a serialized Keras initializer onto InitializerConfig (config keys equal
// field names; mode/distribution strings to the enum constants).
kerasc::InitializerConfig initializerFromKeras(const json &ser) {
  kerasc::InitializerKind kind = kerasc::InitializerKind::Zeros;
  REQUIRE(kerasc::initializer_kind_from_name(ser.at("class_name").get<std::string>().c_str(), &kind));
  kerasc::InitializerConfig c = kerasc::default_initializer_config(kind);
  const json &cfg = ser.at("config");
  for (const char *key : {"value", "mean", "stddev", "minval", "maxval", "gain", "scale"}) {
    if (!cfg.contains(key)) continue;
    const double v = cfg.at(key).get<double>();
    const std::string k = key;
    if (k == "value") c.value = v;
    if (k == "mean") c.mean = v;
    if (k == "stddev") c.stddev = v;
    if (k == "minval") c.minval = v;
    if (k == "maxval") c.maxval = v;
    if (k == "gain") c.gain = v;
    if (k == "scale") c.scale = v;
  }
  if (cfg.contains("mode")) {
    const std::string m = cfg.at("mode").get<std::string>();
    c.mode = m == "fan_in" ? kerasc::kFanIn : m == "fan_out" ? kerasc::kFanOut : kerasc::kFanAvg;
  }
  if (cfg.contains("distribution")) {
    const std::string d = cfg.at("distribution").get<std::string>();
    c.distribution = d == "uniform" ? kerasc::kUniform
                     : d == "truncated_normal" ? kerasc::kTruncatedNormal
                                               : kerasc::kUntruncatedNormal;
  }
  return c;
}

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};

Stats statsOf(const std::vector<float> &v) {
  Stats s;
  s.min = s.max = v.empty() ? 0.0 : v[0];
  for (float x : v) {
    s.mean += x;
    s.min = std::min<double>(s.min, x);
    s.max = std::max<double>(s.max, x);
  }
  s.mean /= static_cast<double>(v.size());
  for (float x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  return s;
}

// The standard deviation of a standard normal truncated to [-2, 2].
constexpr double kTruncatedStd = 0.87962566103423978;

} // namespace

TEST_CASE("initializers: distributions match Keras's formulas and Keras's samples", "[initializers]") {
  const json fx = loadInitializerFixture();
  REQUIRE(fx.at("cases").size() >= 40);
  uint64_t stream = 0;
  for (const json &tc : fx.at("cases")) {
    const std::string name = tc.at("name").get<std::string>();
    const std::vector<int64_t> shape = tc.at("shape").get<std::vector<int64_t>>();
    INFO("initializer " << name << " shape " << tc.at("shape").dump());
    const kerasc::InitializerConfig c = initializerFromKeras(tc.at("initializer"));
    const int rank = static_cast<int>(shape.size());

    double fanIn = 0, fanOut = 0;
    kerasc::compute_fans(c, shape.data(), rank, &fanIn, &fanOut);
    CHECK(fanIn == tc.at("fan_in").get<double>());
    CHECK(fanOut == tc.at("fan_out").get<double>());

    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> w(static_cast<size_t>(n), -123.0f);
    kerasc::initialize(c, w.data(), shape.data(), rank, 20240601, ++stream);
    const Stats ours = statsOf(w);
    const json &ks = tc.at("keras_sample");
    const Stats keras{ks.at("mean").get<double>(), ks.at("std").get<double>(), ks.at("min").get<double>(),
                      ks.at("max").get<double>()};
    const json &e = tc.at("expected");
    const std::string dist = e.at("distribution").get<std::string>();
    const double rootN = std::sqrt(static_cast<double>(n));

    if (dist == "constant" || dist == "identity") {
      for (int64_t i = 0; i < n; ++i) {
        double expect = e.value("value", 0.0);
        if (dist == "identity") expect = (i / shape[1] == i % shape[1]) ? e.at("gain").get<double>() : 0.0;
        CHECK(w[i] == static_cast<float>(expect));
      }
      CHECK(ours.mean == Approx(keras.mean).margin(1e-7));
      continue;
    }
    if (dist == "orthogonal") {
      const double gain = e.at("gain").get<double>();
      const int64_t cols = shape.back(), rows = n / cols;
      const bool tall = rows >= cols;
      const int64_t k = tall ? cols : rows, len = tall ? rows : cols;
      double worst = 0;
      for (int64_t a = 0; a < k; ++a)
        for (int64_t b = 0; b < k; ++b) {
          double dot = 0;
          for (int64_t t = 0; t < len; ++t)
            dot += tall ? static_cast<double>(w[t * cols + a]) * w[t * cols + b]
                        : static_cast<double>(w[a * cols + t]) * w[b * cols + t];
          worst = std::max(worst, std::fabs(dot - (a == b ? gain * gain : 0.0)));
        }
      INFO("largest |W'W - gain^2 I| entry: " << worst);
      CHECK(worst <= 1e-4);
      // Sum of squares is k * gain^2 for every orthogonal draw, so the spread is nearly fixed.
      CHECK(ours.std == Approx(keras.std).epsilon(0.02));
      CHECK(std::fabs(ours.mean) <= 5 * ours.std / rootN);
      continue;
    }

    double mean, sigma, lo, hi;
    if (dist == "uniform") {
      lo = e.at("minval").get<double>();
      hi = e.at("maxval").get<double>();
      mean = (lo + hi) / 2;
      sigma = (hi - lo) / std::sqrt(12.0);
    } else if (dist == "truncated_normal") {
      mean = e.at("mean").get<double>();
      const double sd = e.at("stddev").get<double>();
      sigma = sd * kTruncatedStd;
      lo = mean - 2 * sd;
      hi = mean + 2 * sd;
    } else {
      REQUIRE(dist == "normal");
      mean = e.at("mean").get<double>();
      sigma = e.at("stddev").get<double>();
      lo = -INFINITY;
      hi = INFINITY;
    }
    INFO("ours: mean " << ours.mean << " std " << ours.std << " min " << ours.min << " max " << ours.max
                       << "; keras: mean " << keras.mean << " std " << keras.std << " min " << keras.min
                       << " max " << keras.max << "; formula: mean " << mean << " std " << sigma);
    // The formula describes Keras's own sample (so the fixture's `expected` is Keras's behaviour)...
    CHECK(std::fabs(keras.mean - mean) <= 5 * sigma / rootN);
    CHECK(std::fabs(keras.std - sigma) <= 5 * sigma / rootN);
    // ...and ours.
    CHECK(std::fabs(ours.mean - mean) <= 5 * sigma / rootN);
    CHECK(std::fabs(ours.std - sigma) <= 5 * sigma / rootN);
    CHECK(std::fabs(ours.mean - keras.mean) <= 5 * std::sqrt(2.0) * sigma / rootN);
    CHECK(std::fabs(ours.std - keras.std) <= 5 * std::sqrt(2.0) * sigma / rootN);
    if (std::isfinite(lo)) {
      const double slack = 1e-6 * std::max(std::fabs(lo), std::fabs(hi));
      CHECK(ours.min >= lo - slack);
      CHECK(ours.max <= hi + slack);
      CHECK(keras.min >= lo - slack);
      CHECK(keras.max <= hi + slack);
      // The range is used: the extremes come within 2% of the bounds for every N >= 2304 here.
      CHECK(ours.min <= lo + 0.02 * (hi - lo));
      CHECK(ours.max >= hi - 0.02 * (hi - lo));
    } else {
      // Untruncated: some draws beyond 2.5 sigma on each side (p < 1e-20 of failing at N >= 6912).
      CHECK(ours.min < mean - 2.5 * sigma);
      CHECK(ours.max > mean + 2.5 * sigma);
    }
  }
}

TEST_CASE("initializers: deterministic per (seed, stream)", "[initializers]") {
  kerasc::InitializerConfig c = kerasc::default_initializer_config(kerasc::InitializerKind::GlorotNormal);
  const int64_t shape[2] = {33, 17};
  std::vector<float> a(33 * 17), b(33 * 17), other(33 * 17), otherSeed(33 * 17);
  kerasc::initialize(c, a.data(), shape, 2, 7, 3);
  kerasc::initialize(c, b.data(), shape, 2, 7, 3);
  kerasc::initialize(c, other.data(), shape, 2, 7, 4);
  kerasc::initialize(c, otherSeed.data(), shape, 2, 8, 3);
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);  // same bits
  size_t same = 0, sameSeed = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    same += a[i] == other[i];
    sameSeed += a[i] == otherSeed[i];
  }
  CHECK(same == 0);
  CHECK(sameSeed == 0);

  c = kerasc::default_initializer_config(kerasc::InitializerKind::Orthogonal);
  kerasc::initialize(c, a.data(), shape, 2, 7, 3);
  kerasc::initialize(c, b.data(), shape, 2, 7, 3);
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST_CASE("initializers: names, defaults and fans", "[initializers]") {
  kerasc::InitializerKind k = kerasc::InitializerKind::Zeros;
  CHECK(kerasc::initializer_kind_from_name("glorot_uniform", &k));
  CHECK(k == kerasc::InitializerKind::GlorotUniform);
  CHECK(kerasc::initializer_kind_from_name("HeNormal", &k));
  CHECK(k == kerasc::InitializerKind::HeNormal);
  CHECK(kerasc::initializer_kind_from_name("variance_scaling", &k));
  CHECK(k == kerasc::InitializerKind::VarianceScaling);
  CHECK_FALSE(kerasc::initializer_kind_from_name("glorot", &k));
  const kerasc::InitializerConfig rn = kerasc::default_initializer_config(kerasc::InitializerKind::RandomNormal);
  CHECK(rn.mean == 0.0);
  CHECK(rn.stddev == 0.05);
  const kerasc::InitializerConfig vs = kerasc::default_initializer_config(kerasc::InitializerKind::VarianceScaling);
  CHECK(vs.scale == 1.0);
  CHECK(vs.mode == kerasc::kFanIn);
  CHECK(vs.distribution == kerasc::kTruncatedNormal);

  // input_axes / output_axes (Keras 3 VarianceScaling): fans are products over those axes.
  kerasc::InitializerConfig c = vs;
  c.num_input_axes = 2;
  c.input_axes[0] = 0;
  c.input_axes[1] = 1;
  c.num_output_axes = 1;
  c.output_axes[0] = -1;
  const int64_t shape[3] = {4, 5, 6};
  double fi = 0, fo = 0;
  kerasc::compute_fans(c, shape, 3, &fi, &fo);
  CHECK(fi == 20);
  CHECK(fo == 6);
  kerasc::compute_fans(vs, shape, 3, &fi, &fo);
  CHECK(fi == 20);  // 5 * receptive field 4
  CHECK(fo == 24);
  kerasc::compute_fans(vs, shape, 0, &fi, &fo);
  CHECK(fi == 1);
  CHECK(fo == 1);
}
