// Image augmentation layers in training mode (runtime/kerasc/augment.h).
//  1. The transforms against Keras 3's own code for FIXED parameters
//     (tests/fixtures/augment, written by generate_augment.py with each layer's transform_images:
//     RandomRotation / RandomZoom / RandomTranslation through keras.ops.image.affine_transform
//     with every fill mode and interpolation, RandomContrast, RandomFlip; both data formats).
//     Tolerance: |ours - keras| <= 1e-5 (pixel values in [0, 1]; float32 bilinear weights).
//  2. The draws (Keras's RNG is JAX's, so only their distribution can be checked): ranges as
//     Keras's factors define them, a flip for about half the images (20000 draws: within 0.02,
//     over 5 sigma), same (seed, stream) -> same parameters, another stream -> others.
//  3. RandomFlip's backward pass is the adjoint of its forward pass with the same draws.
//  4. The importer: each layer becomes nn.noise carrying its Keras config; a config kerasc cannot
//     honour is an error naming the layer and the problem.
#include "kerasc/arrays.h"
#include "kerasc/augment.h"

#include "frontend/ImportModel.h"
#include "frontend/ModelReader.h"
#include "ir/NNDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

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

const std::string kDir = std::string(KERASC_SOURCE_DIR) + "/tests/fixtures/augment/";

kerasc::FillMode fillMode(const std::string &s) {
  return s == "wrap"       ? kerasc::FillMode::Wrap
         : s == "constant" ? kerasc::FillMode::Constant
         : s == "nearest"  ? kerasc::FillMode::Nearest
                           : kerasc::FillMode::Reflect;
}

/// [B, H, W, C] <-> [B, C, H, W].
std::vector<float> toChannelsFirst(const std::vector<float> &x, int64_t b, int64_t h, int64_t w,
                                   int64_t c) {
  std::vector<float> y(x.size());
  for (int64_t n = 0; n < b; ++n)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j)
        for (int64_t k = 0; k < c; ++k)
          y[((n * c + k) * h + i) * w + j] = x[((n * h + i) * w + j) * c + k];
  return y;
}
std::vector<float> toChannelsLast(const std::vector<float> &x, int64_t b, int64_t h, int64_t w,
                                  int64_t c) {
  std::vector<float> y(x.size());
  for (int64_t n = 0; n < b; ++n)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j)
        for (int64_t k = 0; k < c; ++k)
          y[((n * h + i) * w + j) * c + k] = x[((n * c + k) * h + i) * w + j];
  return y;
}

} // namespace

TEST_CASE("augmentation transforms match Keras for fixed parameters", "[augment][runtime]") {
  std::ifstream file(kDir + "cases.json");
  REQUIRE(file.good());
  const nlohmann::json spec = nlohmann::json::parse(file);
  const int64_t h = spec["height"], w = spec["width"], c = spec["channels"];
  const kerasc::Array input = kerasc::read_npy(kDir + "input.npy");
  REQUIRE(input.shape == std::vector<int64_t>{2, h, w, c});
  REQUIRE(spec["cases"].size() == 26);
  for (const nlohmann::json &tc : spec["cases"]) {
    const std::string name = tc["name"], cls = tc["class"];
    const nlohmann::json &cfg = tc["config"], &params = tc["params"];
    SECTION(name) {
      kerasc::AugmentConfig config;
      config.fill_mode = fillMode(cfg.value("fill_mode", "reflect"));
      config.interpolation = cfg.value("interpolation", "bilinear") == "nearest"
                                 ? kerasc::Interpolation::Nearest
                                 : kerasc::Interpolation::Bilinear;
      config.fill_value = cfg.value("fill_value", 0.0f);
      const bool first = cfg.value("data_format", "channels_last") == "channels_first";
      const kerasc::ImageLayout layout{h, w, c, first};
      std::vector<kerasc::AugmentDraw> draws(2);
      for (int b = 0; b < 2; ++b) {
        kerasc::AugmentDraw &d = draws[b];
        if (cls == "RandomRotation") {
          config.kind = kerasc::AugmentKind::Rotation;
          kerasc::rotation_matrix(params["angles"][b].get<float>(), h, w, d.m);
        } else if (cls == "RandomZoom") {
          config.kind = kerasc::AugmentKind::Zoom;
          kerasc::zoom_matrix(params["zooms"][b][0].get<float>(),
                              params["zooms"][b][1].get<float>(), h, w, d.m);
        } else if (cls == "RandomTranslation") {
          config.kind = kerasc::AugmentKind::Translation;
          kerasc::translation_matrix(params["shifts"][b][0].get<float>(),
                                     params["shifts"][b][1].get<float>(), d.m);
        } else if (cls == "RandomContrast") {
          config.kind = kerasc::AugmentKind::Contrast;
          d.contrast = params["factors"][b].get<float>();
          config.value_low = cfg["value_range"][0].get<float>();
          config.value_high = cfg["value_range"][1].get<float>();
        } else {
          REQUIRE(cls == "RandomFlip");
          config.kind = kerasc::AugmentKind::Flip;
          const std::string mode = cfg["mode"];
          config.flip_horizontal = mode != "vertical";
          config.flip_vertical = mode != "horizontal";
          d.flip = params["flips"][b].get<bool>();
        }
      }
      std::vector<float> x = first ? toChannelsFirst(input.data, 2, h, w, c) : input.data;
      std::vector<float> y(x.size(), -999.0f);
      for (int b = 0; b < 2; ++b)
        kerasc::augment_image(config, draws[b], x.data() + b * layout.size(),
                              y.data() + b * layout.size(), layout);
      if (first)
        y = toChannelsLast(y, 2, h, w, c);
      const kerasc::Array keras = kerasc::read_npy(kDir + name + ".npy");
      REQUIRE(keras.data.size() == y.size());
      int64_t changed = 0;
      for (size_t i = 0; i < y.size(); ++i) {
        INFO(name << " element " << i << ": ours " << y[i] << ", keras " << keras.data[i]);
        CHECK(std::fabs(y[i] - keras.data[i]) <= 1e-5f);
        changed += keras.data[i] != input.data[i];
      }
      CHECK(changed > 0); // every case transforms something (else it would prove nothing)
    }
  }
}

TEST_CASE("fill modes fix indices as jax.scipy.ndimage does", "[augment][runtime]") {
  using kerasc::FillMode;
  using kerasc::fix_index;
  // size 4: reflect is d c b a | a b c d | d c b a (the table is JAX's _reflect_index_fixer
  // for i = -3..8), wrap is periodic, nearest clamps.
  const int64_t reflect[] = {2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0};
  for (int64_t i = -3; i <= 8; ++i) {
    CHECK(fix_index(i, 4, FillMode::Reflect) == reflect[i + 3]);
    CHECK(fix_index(i, 4, FillMode::Wrap) == ((i % 4) + 4) % 4);
    CHECK(fix_index(i, 4, FillMode::Nearest) == std::min<int64_t>(3, std::max<int64_t>(0, i)));
    CHECK(fix_index(i, 4, FillMode::Constant) == i);
  }
}

TEST_CASE("augmentation draws follow Keras's factor ranges", "[augment][runtime]") {
  const kerasc::ImageLayout layout{10, 16, 3, false};
  const int64_t n = 20000;
  SECTION("flip: about half the images, one draw for both axes") {
    kerasc::AugmentConfig c;
    c.kind = kerasc::AugmentKind::Flip;
    int64_t flips = 0;
    for (int64_t i = 0; i < n; ++i)
      flips += kerasc::augment_draw(c, 5, 2, i, layout).flip;
    CHECK(std::fabs(double(flips) / n - 0.5) < 0.02);
  }
  SECTION("rotation: angle uniform in [lower, upper] turns") {
    kerasc::AugmentConfig c;
    c.kind = kerasc::AugmentKind::Rotation;
    c.lower = -0.1f; // RandomRotation(0.1) -> [-36, 36] degrees
    c.upper = 0.1f;
    double sum = 0, lo = 1e9, hi = -1e9;
    for (int64_t i = 0; i < n; ++i) {
      const kerasc::AugmentDraw d = kerasc::augment_draw(c, 5, 2, i, layout);
      const double deg = std::atan2(d.m[3], d.m[0]) * 180.0 / 3.14159265358979323846;
      sum += deg;
      lo = std::min(lo, deg);
      hi = std::max(hi, deg);
    }
    CHECK(lo >= -36.001);
    CHECK(hi <= 36.001);
    CHECK(lo < -35.0); // the whole range is used
    CHECK(hi > 35.0);
    CHECK(std::fabs(sum / n) < 0.5); // mean 0 within ~3 sigma (sd 20.8 / sqrt(n) = 0.15)
  }
  SECTION("zoom: one factor for both axes without width_factor, two with") {
    kerasc::AugmentConfig c;
    c.kind = kerasc::AugmentKind::Zoom;
    c.lower = -0.2f; // RandomZoom(0.2): zoom factors in [0.8, 1.2]
    c.upper = 0.2f;
    int64_t differ = 0;
    for (int64_t i = 0; i < 1000; ++i) {
      const kerasc::AugmentDraw d = kerasc::augment_draw(c, 1, 0, i, layout);
      REQUIRE(d.m[0] == d.m[4]);
      CHECK(d.m[0] >= 0.8f);
      CHECK(d.m[0] <= 1.2f);
    }
    c.has_width = true;
    c.width_lower = 0.1f; // width_factor=(0.1, 0.3): [1.1, 1.3]
    c.width_upper = 0.3f;
    for (int64_t i = 0; i < 1000; ++i) {
      const kerasc::AugmentDraw d = kerasc::augment_draw(c, 1, 0, i, layout);
      CHECK(d.m[0] >= 1.1f);
      CHECK(d.m[0] <= 1.3f);
      differ += d.m[0] != d.m[4];
    }
    CHECK(differ == 1000);
  }
  SECTION("translation: shifts are factor * height / width pixels") {
    kerasc::AugmentConfig c;
    c.kind = kerasc::AugmentKind::Translation;
    c.lower = -0.2f;
    c.upper = 0.2f;
    c.width_lower = 0.0f;
    c.width_upper = 0.5f;
    for (int64_t i = 0; i < 1000; ++i) {
      const kerasc::AugmentDraw d = kerasc::augment_draw(c, 1, 0, i, layout);
      CHECK(-d.m[5] >= -2.0f); // height 10
      CHECK(-d.m[5] <= 2.0f);
      CHECK(-d.m[2] >= 0.0f); // width 16
      CHECK(-d.m[2] <= 8.0f);
    }
  }
  SECTION("contrast: factor in [1 - lower, 1 + upper]") {
    kerasc::AugmentConfig c;
    c.kind = kerasc::AugmentKind::Contrast;
    c.lower = 0.0f; // RandomContrast(0.4): Keras 3 makes it (0, 0.4) -> [1, 1.4]
    c.upper = 0.4f;
    for (int64_t i = 0; i < 1000; ++i) {
      const float f = kerasc::augment_draw(c, 1, 0, i, layout).contrast;
      CHECK(f >= 1.0f);
      CHECK(f <= 1.4f);
    }
  }
  SECTION("same seed and stream, same draws; another stream, others") {
    kerasc::AugmentConfig c;
    c.kind = kerasc::AugmentKind::Rotation;
    c.lower = -0.5f;
    c.upper = 0.5f;
    int64_t same = 0;
    for (int64_t i = 0; i < 100; ++i) {
      const kerasc::AugmentDraw a = kerasc::augment_draw(c, 3, 7, i, layout);
      const kerasc::AugmentDraw b = kerasc::augment_draw(c, 3, 7, i, layout);
      const kerasc::AugmentDraw other = kerasc::augment_draw(c, 3, 8, i, layout);
      const kerasc::AugmentDraw seed = kerasc::augment_draw(c, 4, 7, i, layout);
      REQUIRE(a.m[0] == b.m[0]);
      REQUIRE(a.m[3] == b.m[3]);
      same += a.m[3] == other.m[3];
      same += a.m[3] == seed.m[3];
    }
    CHECK(same == 0);
  }
}

TEST_CASE("augment_forward changes the batch; flip's backward is its adjoint",
          "[augment][runtime]") {
  const kerasc::ImageLayout layout{5, 6, 2, true};
  const int64_t batch = 400, size = layout.size();
  std::vector<float> x(batch * size), y(batch * size), g(batch * size), dx(batch * size);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = kerasc::random_normal(1, 1, i);
    g[i] = kerasc::random_normal(1, 2, i);
  }
  kerasc::AugmentConfig c;
  c.kind = kerasc::AugmentKind::Flip;
  c.flip_horizontal = true;
  kerasc::augment_forward(c, 9, 4, layout, x.data(), y.data(), batch);
  int64_t flipped = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const float *xi = x.data() + b * size, *yi = y.data() + b * size;
    bool same = true, mirrored = true;
    for (int64_t ch = 0; ch < 2; ++ch)
      for (int64_t r = 0; r < 5; ++r)
        for (int64_t col = 0; col < 6; ++col) {
          same &= yi[layout.index(r, col, ch)] == xi[layout.index(r, col, ch)];
          mirrored &= yi[layout.index(r, col, ch)] == xi[layout.index(r, 5 - col, ch)];
        }
    REQUIRE(same != mirrored); // each image is either untouched or mirrored left-right
    flipped += mirrored;
  }
  CHECK(std::fabs(double(flipped) / batch - 0.5) < 0.1); // 5 sigma at n = 400 is 0.125
  // <flip(x), g> == <x, flip_backward(g)> with the same (seed, stream).
  kerasc::augment_flip_backward(c, 9, 4, layout, g.data(), dx.data(), batch);
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    lhs += double(y[i]) * g[i];
    rhs += double(x[i]) * dx[i];
  }
  CHECK(lhs == Approx(rhs).epsilon(1e-12));
  // A resampling layer moves pixels for (almost) every image.
  c.kind = kerasc::AugmentKind::Rotation;
  c.lower = -0.2f;
  c.upper = 0.2f;
  kerasc::augment_forward(c, 9, 5, layout, x.data(), y.data(), batch);
  CHECK(y != x);
}

TEST_CASE("augmentation layers import as nn.noise with their Keras config", "[augment][import]") {
  for (const char *fixture : {"augment_identity", "augment_channels_first"}) {
    mlir::MLIRContext context;
    kerasc::ImportedModel model = kerasc::importModel(
        kerasc::readModel(std::string(KERASC_SOURCE_DIR) + "/tests/fixtures/models/" + fixture +
                          "/model.keras"),
        context);
    std::vector<std::string> classes;
    model.module->walk([&](kerasc::nn::NoiseOp op) {
      classes.push_back(op.getLayerClass().str());
      if (op.getLayerClass() == "SpatialDropout2D")
        return;
      auto cfg = op.getConfigAttr();
      REQUIRE(cfg);
      auto format = cfg.getAs<mlir::StringAttr>("data_format");
      REQUIRE(format);
      CHECK(format.getValue() ==
            (std::string(fixture) == "augment_identity" ? "channels_last" : "channels_first"));
      if (op.getLayerClass() == "RandomZoom") {
        CHECK(cfg.getAs<mlir::StringAttr>("fill_mode").getValue() == "wrap");
        CHECK(cfg.getAs<mlir::FloatAttr>("height_factor").getValueAsDouble() == 0.2);
        CHECK(!cfg.get("seed")); // null: left out, as the default it stands for
      }
      if (op.getLayerClass() == "RandomContrast") {
        auto range = cfg.getAs<mlir::ArrayAttr>("value_range");
        REQUIRE(range.size() == 2);
        CHECK(range[0].cast<mlir::FloatAttr>().getValueAsDouble() == -2.0);
      }
    });
    CHECK(classes == std::vector<std::string>{"RandomFlip", "RandomRotation", "RandomZoom",
                                              "RandomTranslation", "RandomContrast",
                                              "SpatialDropout2D"});
  }
}

TEST_CASE("augmentation configs kerasc cannot honour are named errors", "[augment][import]") {
  using nlohmann::json;
  struct Case {
    const char *cls;
    json config;
    json batchShape;
    const char *message;
  };
  const json image = {nullptr, 6, 5, 3};
  const std::vector<Case> cases = {
      {"RandomRotation", {{"factor", 0.1}}, {nullptr, 6, 5}, "expects a batch of images (rank 4"},
      {"RandomFlip", {{"mode", "diagonal"}}, image, "unsupported mode 'diagonal'"},
      {"RandomRotation", {{"factor", 0.1}, {"fill_mode", "mirror"}}, image,
       "unsupported fill_mode 'mirror'"},
      {"RandomZoom", {{"height_factor", 1.5}}, image, "'height_factor' must lie in [-1, 1]"},
      {"RandomTranslation", {{"height_factor", 0.1}}, image,
       "missing required config field 'width_factor'"},
      {"RandomContrast", {{"factor", {0.1, 0.2, 0.3}}}, image,
       "'factor' must be a number or a list of two numbers"},
      {"RandomContrast", {{"factor", 0.2}, {"value_range", {0}}}, image,
       "'value_range' must be a list of two numbers"},
      {"RandomFlip", {{"data_format", "channels_middle"}}, image,
       "unsupported data_format 'channels_middle'"},
  };
  for (const Case &c : cases) {
    kerasc::ModelSpec spec;
    spec.sourcePath = "augment.json";
    spec.name = "augment";
    spec.className = "Functional";
    spec.kerasVersion = "3.15.1";
    spec.layers.push_back({"x", "InputLayer", {{"batch_shape", c.batchShape}}, {}, {}});
    spec.layers.push_back({"aug", c.cls, c.config, {{{{"x", 0, 0}}, json::object()}}, {}});
    spec.inputs = {{"x", 0, 0}};
    spec.outputs = {{"aug", 0, 0}};
    mlir::MLIRContext context;
    std::string error;
    try {
      kerasc::importModel(spec, context);
    } catch (const kerasc::Error &e) {
      error = e.what();
    }
    INFO(c.cls << ": " << error);
    CHECK(error.find(std::string("layer 'aug' (") + c.cls + ")") != std::string::npos);
    CHECK(error.find(c.message) != std::string::npos);
  }
}
