// Training-mode noise layers (runtime/kerasc/gradients.h). Our draws are not Keras's (JAX's RNG),
// so these check the properties Keras's layers have, on large samples:
//  - Dropout drops a `rate` fraction and scales the kept values by 1 / (1 - rate);
//  - SpatialDropout drops whole channels: one draw per (sample, channel), in both layouts;
//  - AlphaDropout keeps zero mean and unit variance of standard-normal inputs (its purpose);
//  - every backward pass is the derivative of its forward pass with the same draws;
//  - draws are a pure function of (seed, stream): same arguments, same bits.
// Tolerances: fractions within 0.01 (n = 200k, 5 sigma is 0.005); moments within 0.02.
#include "kerasc/gradients.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

namespace {

std::vector<float> normals(int64_t n, uint64_t seed) {
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i)
    x[i] = kerasc::random_normal(seed, 99, static_cast<uint64_t>(i));
  return x;
}

} // namespace

TEST_CASE("dropout: rate, scaling, and a backward pass that reuses the forward mask",
          "[noise][runtime]") {
  const int64_t n = 200000;
  const float rate = 0.3f;
  std::vector<float> x(n, 1.0f), y(n), dy(n, 2.0f), dx(n);
  kerasc::noise_forward(kerasc::NoiseKind::Dropout, rate, 7, 3, {}, x.data(), y.data(), n);
  kerasc::noise_backward(kerasc::NoiseKind::Dropout, rate, 7, 3, {}, dy.data(), dx.data(), n);
  int64_t dropped = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (y[i] == 0.0f)
      ++dropped;
    else
      REQUIRE(y[i] == Approx(1.0f / (1.0f - rate)));
    REQUIRE(dx[i] == 2.0f * y[i]); // d/dx of x * mask / (1 - rate), same draws
  }
  CHECK(std::fabs(double(dropped) / n - rate) < 0.01);
  std::vector<float> again(n);
  kerasc::noise_forward(kerasc::NoiseKind::Dropout, rate, 7, 3, {}, x.data(), again.data(), n);
  CHECK(again == y);
  kerasc::noise_forward(kerasc::NoiseKind::Dropout, rate, 7, 4, {}, x.data(), again.data(), n);
  CHECK(again != y); // another step or layer draws anew
}

TEST_CASE("spatial dropout drops whole channels", "[noise][runtime]") {
  // 400 samples of 5 x 6 positions x 8 channels.
  const int64_t samples = 400, positions = 30, channels = 8, size = positions * channels;
  const int64_t n = samples * size;
  std::vector<float> x(n, 1.0f), y(n);
  for (bool first : {false, true}) {
    const kerasc::NoiseShape shape{size, channels, first};
    kerasc::noise_forward(kerasc::NoiseKind::Dropout, 0.5f, 11, 0, shape, x.data(), y.data(), n);
    int64_t droppedChannels = 0;
    for (int64_t s = 0; s < samples; ++s)
      for (int64_t c = 0; c < channels; ++c) {
        auto at = [&](int64_t p) {
          return s * size + (first ? c * positions + p : p * channels + c);
        };
        const float v = y[at(0)];
        for (int64_t p = 1; p < positions; ++p)
          REQUIRE(y[at(p)] == v); // one decision per (sample, channel)
        droppedChannels += v == 0.0f;
      }
    CHECK(std::fabs(double(droppedChannels) / (samples * channels) - 0.5) < 0.05);
  }
}

TEST_CASE("alpha dropout keeps mean 0 and variance 1; gaussian noise layers",
          "[noise][runtime]") {
  const int64_t n = 200000;
  std::vector<float> x = normals(n, 1), y(n), dy(n, 1.0f), dx(n);
  kerasc::noise_forward(kerasc::NoiseKind::AlphaDropout, 0.2f, 5, 1, {}, x.data(), y.data(), n);
  double mean = 0, var = 0;
  for (float v : y)
    mean += v;
  mean /= n;
  for (float v : y)
    var += (v - mean) * (v - mean);
  var /= n;
  CHECK(std::fabs(mean) < 0.02);
  CHECK(std::fabs(var - 1.0) < 0.02);
  // Backward: a where kept, 0 where dropped; forward is affine in x with the same draws.
  kerasc::noise_backward(kerasc::NoiseKind::AlphaDropout, 0.2f, 5, 1, {}, dy.data(), dx.data(), n);
  std::vector<float> shifted(x), y2(n);
  for (float &v : shifted)
    v += 0.5f;
  kerasc::noise_forward(kerasc::NoiseKind::AlphaDropout, 0.2f, 5, 1, {}, shifted.data(), y2.data(), n);
  for (int64_t i = 0; i < n; ++i)
    REQUIRE((y2[i] - y[i]) == Approx(0.5f * dx[i]).margin(1e-5));

  // GaussianNoise: additive N(0, stddev), gradient 1. GaussianDropout: multiplicative
  // N(1, rate / (1 - rate)), gradient = the same factor.
  std::vector<float> ones(n, 1.0f);
  kerasc::noise_forward(kerasc::NoiseKind::GaussianNoise, 0.3f, 5, 2, {}, ones.data(), y.data(), n);
  kerasc::noise_backward(kerasc::NoiseKind::GaussianNoise, 0.3f, 5, 2, {}, dy.data(), dx.data(), n);
  double m = 0, v2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    m += y[i] - 1.0;
    v2 += (y[i] - 1.0) * (y[i] - 1.0);
    REQUIRE(dx[i] == 1.0f);
  }
  CHECK(std::fabs(m / n) < 0.01);
  CHECK(std::sqrt(v2 / n) == Approx(0.3).epsilon(0.02));
  kerasc::noise_forward(kerasc::NoiseKind::GaussianDropout, 0.5f, 5, 2, {}, ones.data(), y.data(), n);
  kerasc::noise_backward(kerasc::NoiseKind::GaussianDropout, 0.5f, 5, 2, {}, dy.data(), dx.data(), n);
  double sd = 0;
  for (int64_t i = 0; i < n; ++i) {
    REQUIRE(dx[i] == y[i]); // d/dx (x * factor) = factor, and x = 1
    sd += (y[i] - 1.0) * (y[i] - 1.0);
  }
  CHECK(std::sqrt(sd / n) == Approx(1.0).epsilon(0.02)); // sqrt(0.5 / 0.5)
}
