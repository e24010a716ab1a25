// The runtime's activation functions and softmax against Keras's own outputs
// (tests/fixtures/activations, written by keras.activations.* on a grid in [-6, 6]).
// Tolerance: |ours - keras| <= 2e-6 * max(1, |keras|) (a few float32 ulps; exp(6) ~ 403).
#include "kerasc/activations.h"
#include "kerasc/arrays.h"
#include "kerasc/kernels.h"

#include <catch2/catch.hpp>

#include <functional>
#include <map>

#ifndef KERASC_SOURCE_DIR
#define KERASC_SOURCE_DIR "."
#endif

namespace {

const std::string kDir = std::string(KERASC_SOURCE_DIR) + "/tests/fixtures/activations/";

void checkClose(const std::vector<float> &ours, const kerasc::Array &keras, const std::string &what) {
  REQUIRE(ours.size() == keras.data.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    INFO(what << " element " << i << ": ours " << ours[i] << " keras " << keras.data[i]);
    CHECK(std::fabs(ours[i] - keras.data[i]) <= 2e-6 * std::max(1.0f, std::fabs(keras.data[i])));
  }
}

} // namespace

TEST_CASE("elementwise activations match Keras", "[runtime][activations]") {
  using namespace kerasc::act;
  const std::map<std::string, std::function<float(float)>> functions = {
      {"linear", linear},
      {"relu", relu},
      {"relu6", relu6},
      {"sigmoid", sigmoid},
      {"hard_sigmoid", hard_sigmoid},
      {"tanh", kerasc::act::tanh},
      {"elu", [](float x) { return elu(x, 1.0f); }},
      {"selu", selu},
      {"softplus", softplus},
      {"softsign", softsign},
      {"silu", silu},
      {"swish", silu},
      {"gelu", gelu},
      {"gelu_approximate", gelu_approximate},
      {"exponential", exponential},
      {"leaky_relu", [](float x) { return leaky_relu(x, 0.2f); }},
  };
  const kerasc::Array x = kerasc::read_npy(kDir + "x.npy");
  for (const auto &[name, fn] : functions) {
    SECTION(name) {
      std::vector<float> ours;
      for (float v : x.data)
        ours.push_back(fn(v));
      checkClose(ours, kerasc::read_npy(kDir + name + ".npy"), name);
    }
  }
}

TEST_CASE("relu_general follows Keras's ReLU layer semantics", "[runtime][activations]") {
  using kerasc::act::relu_general;
  // max_value caps, threshold zeroes values at or below it, negative_slope applies below it.
  CHECK(relu_general(8.0f, 0.0f, true, 6.0f, 0.0f) == 6.0f);
  CHECK(relu_general(0.5f, 0.0f, false, 0.0f, 1.0f) == 0.0f);
  CHECK(relu_general(1.5f, 0.0f, false, 0.0f, 1.0f) == 1.5f);
  CHECK(relu_general(-2.0f, 0.1f, false, 0.0f, 0.0f) == Approx(-0.2f));
  // With a threshold, the negative part is measured from it: 0.1 * (x - 1) below 1.
  CHECK(relu_general(-1.0f, 0.1f, false, 0.0f, 1.0f) == Approx(-0.2f));
}

TEST_CASE("softmax and log_softmax match Keras on both axes", "[runtime][activations]") {
  const kerasc::Array x = kerasc::read_npy(kDir + "x.npy");
  REQUIRE(x.shape == std::vector<int64_t>{4, 6});
  std::vector<float> y(x.data.size());
  kerasc::softmax(x.data.data(), y.data(), 4, 6, 1, false); // axis -1
  checkClose(y, kerasc::read_npy(kDir + "softmax.npy"), "softmax");
  kerasc::softmax(x.data.data(), y.data(), 4, 6, 1, true);
  checkClose(y, kerasc::read_npy(kDir + "log_softmax.npy"), "log_softmax");
  kerasc::softmax(x.data.data(), y.data(), 1, 4, 6, false); // axis 0
  checkClose(y, kerasc::read_npy(kDir + "softmax_axis0.npy"), "softmax_axis0");
}
