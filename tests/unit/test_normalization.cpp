// runtime/kerasc/normalization.h against a double-precision reference of Keras 3's formulas
// (forward) and central finite differences of that reference (backward).
//
// Tolerances: forward and moving statistics |kernel - reference| <= 2e-6 * max(1, |reference|)
// (float32 results of double-accumulated statistics; Keras's own float32 reductions differ
// from exact by ~1e-7 relative; BatchNormalization's output relative to the size of the terms
// of Keras's formula, which cancel in low-variance channels); gradients <= 2e-5 * max(1, |numeric|) (the kernels return
// float32; the numeric gradient uses h = 1e-4 in double on the double reference, truncation
// error ~h^2 ~ 1e-8).
#include "kerasc/normalization.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace {

using Vec = std::vector<double>;

std::vector<float> randomFloats(std::mt19937 &rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(rng);
  return v;
}

Vec toDouble(const std::vector<float> &v) { return Vec(v.begin(), v.end()); }

/// Keras 3 BatchNormalization in training mode, in double: x [outer, C, inner]. `magnitude`
/// gets the size of the terms Keras's float32 formula adds, (|x| + |mean|) * |inv| + |beta|:
/// x * inv and mean * inv cancel when x is near the mean of a low-variance channel, so float32
/// results are only accurate relative to that.
Vec refBatchNorm(const Vec &x, const Vec &gamma, const Vec &beta, int64_t outer, int64_t C,
                 int64_t inner, double eps, Vec *mean = nullptr, Vec *var = nullptr,
                 Vec *magnitude = nullptr) {
  Vec m(C, 0.0), v(C, 0.0), y(x.size());
  const double n = static_cast<double>(outer * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < inner; ++k)
        m[c] += x[(o * C + c) * inner + k] / n;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < inner; ++k) {
        const double d = x[(o * C + c) * inner + k] - m[c];
        v[c] += d * d / n;
      }
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < inner; ++k) {
        const size_t i = (o * C + c) * inner + k;
        y[i] = (x[i] - m[c]) / std::sqrt(v[c] + eps) * gamma[c] + beta[c];
        if (magnitude) {
          magnitude->resize(x.size());
          (*magnitude)[i] = (std::abs(x[i]) + std::abs(m[c])) *
                                std::abs(gamma[c] / std::sqrt(v[c] + eps)) +
                            std::abs(beta[c]);
        }
      }
  if (mean)
    *mean = m;
  if (var)
    *var = v;
  return y;
}

/// Keras 3 LayerNormalization of each row of x [rows, n], in double.
Vec refLayerNorm(const Vec &x, const Vec &gamma, const Vec &beta, int64_t rows, int64_t n,
                 double eps, bool rms) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t j = 0; j < n; ++j)
      m += x[r * n + j] / n;
    for (int64_t j = 0; j < n; ++j)
      v += (x[r * n + j] - m) * (x[r * n + j] - m) / n;
    const double inv = 1.0 / std::sqrt(v + eps);
    for (int64_t j = 0; j < n; ++j)
      y[r * n + j] = rms ? x[r * n + j] * inv * gamma[j]
                         : (x[r * n + j] - m) * inv * gamma[j] + beta[j];
  }
  return y;
}

/// d/dp sum(w * f(p)) by central differences.
Vec numericGradient(const std::function<Vec(const Vec &)> &f, Vec p, const Vec &w) {
  const double h = 1e-4;
  Vec g(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    const double keep = p[i];
    p[i] = keep + h;
    Vec up = f(p);
    p[i] = keep - h;
    Vec down = f(p);
    p[i] = keep;
    double s = 0;
    for (size_t k = 0; k < w.size(); ++k)
      s += w[k] * (up[k] - down[k]);
    g[i] = s / (2 * h);
  }
  return g;
}

template <class A, class B>
void expectClose(const A &got, const B &want, double tol, const Vec *scale = nullptr) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - double(want[i])) /
                                std::max({1.0, std::abs(double(want[i])),
                                          scale ? (*scale)[i] : 0.0}));
  INFO("worst relative deviation " << worst);
  CHECK(worst <= tol);
}

struct BnShape {
  int64_t outer, channels, inner;
};

} // namespace

TEST_CASE("batch_norm_train normalizes with batch statistics and updates moving ones",
          "[normalization]") {
  // axis -1 on [6, 5] (inner 1); channels_first [2, 3, 4] (outer = batch); more channels than
  // one chunk of the pool scratch (5800 > 5698); enough elements (65536) for the pool's tasks.
  for (BnShape s : {BnShape{6, 5, 1}, BnShape{2, 3, 4}, BnShape{3, 5800, 1},
                    BnShape{1024, 8, 8}, BnShape{2048, 32, 1}}) {
    INFO("shape [" << s.outer << ", " << s.channels << ", " << s.inner << "]");
    std::mt19937 rng(static_cast<unsigned>(s.outer * 100 + s.channels));
    const size_t size = s.outer * s.channels * s.inner;
    auto x = randomFloats(rng, size, -3.0f, 5.0f);
    auto gamma = randomFloats(rng, s.channels, 0.5f, 2.0f);
    auto beta = randomFloats(rng, s.channels, -1.0f, 1.0f);
    auto mm = randomFloats(rng, s.channels, -1.0f, 1.0f);
    auto mv = randomFloats(rng, s.channels, 0.5f, 2.0f);
    const auto mm0 = mm, mv0 = mv;
    const float eps = 1e-3f, momentum = 0.9f;
    std::vector<float> y(size);
    kerasc::batch_norm_train(x.data(), y.data(), gamma.data(), beta.data(), mm.data(), mv.data(),
                             s.outer, s.channels, s.inner, eps, momentum);
    Vec mean, var, magnitude;
    Vec want = refBatchNorm(toDouble(x), toDouble(gamma), toDouble(beta), s.outer, s.channels,
                            s.inner, eps, &mean, &var, &magnitude);
    expectClose(y, want, 2e-6, &magnitude);
    Vec wantMm(s.channels), wantMv(s.channels);
    for (int64_t c = 0; c < s.channels; ++c) {
      wantMm[c] = mm0[c] * 0.9 + mean[c] * 0.1;
      wantMv[c] = mv0[c] * 0.9 + var[c] * 0.1;
    }
    expectClose(mm, wantMm, 2e-6);
    expectClose(mv, wantMv, 2e-6);
  }
}

TEST_CASE("batch_norm gradients match finite differences", "[normalization]") {
  for (BnShape s : {BnShape{6, 5, 1}, BnShape{2, 3, 4}, BnShape{33, 6, 3}}) {
    INFO("shape [" << s.outer << ", " << s.channels << ", " << s.inner << "]");
    std::mt19937 rng(static_cast<unsigned>(7 + s.channels));
    const size_t size = s.outer * s.channels * s.inner;
    auto x = randomFloats(rng, size, -2.0f, 2.0f);
    auto gamma = randomFloats(rng, s.channels, 0.5f, 2.0f);
    auto beta = randomFloats(rng, s.channels, -1.0f, 1.0f);
    auto dy = randomFloats(rng, size, -1.0f, 1.0f);
    const float eps = 1e-3f;
    std::vector<float> dx(size), dgamma(s.channels);
    kerasc::batch_norm_grad_input(dy.data(), x.data(), gamma.data(), dx.data(), s.outer,
                                  s.channels, s.inner, eps);
    kerasc::batch_norm_grad_gamma(dy.data(), x.data(), dgamma.data(), s.outer, s.channels,
                                  s.inner, eps);
    const Vec xd = toDouble(x), gd = toDouble(gamma), bd = toDouble(beta), w = toDouble(dy);
    expectClose(dx, numericGradient([&](const Vec &p) {
                  return refBatchNorm(p, gd, bd, s.outer, s.channels, s.inner, eps);
                }, xd, w), 2e-5);
    expectClose(dgamma, numericGradient([&](const Vec &p) {
                  return refBatchNorm(xd, p, bd, s.outer, s.channels, s.inner, eps);
                }, gd, w), 2e-5);
  }
}

TEST_CASE("batch_norm gradients are per channel across chunks and pool tasks",
          "[normalization]") {
  // Each channel's gradients must equal those of the same channel computed alone, which runs
  // on the calling thread in one task: 5800 channels need two chunks of the pool scratch
  // (5698 + 102; checked at the chunk edges); [1024, 8, 8] (65536 elements) is split into pool
  // tasks whose partial sums are added in another order than the single task's (tolerance
  // 2e-6 relative: double sums, float results).
  for (BnShape s : {BnShape{3, 5800, 1}, BnShape{1024, 8, 8}}) {
    INFO("shape [" << s.outer << ", " << s.channels << ", " << s.inner << "]");
    std::mt19937 rng(99);
    const int64_t size = s.outer * s.channels * s.inner;
    auto x = randomFloats(rng, size, -2.0f, 2.0f);
    auto dy = randomFloats(rng, size, -1.0f, 1.0f);
    auto gamma = randomFloats(rng, s.channels, 0.5f, 2.0f);
    std::vector<float> dx(size), dgamma(s.channels);
    kerasc::batch_norm_grad_input(dy.data(), x.data(), gamma.data(), dx.data(), s.outer,
                                  s.channels, s.inner, 1e-3f);
    kerasc::batch_norm_grad_gamma(dy.data(), x.data(), dgamma.data(), s.outer, s.channels,
                                  s.inner, 1e-3f);
    for (int64_t c : {int64_t(0), int64_t(5), s.channels - 1, std::min<int64_t>(5697, s.channels - 1),
                      std::min<int64_t>(5698, s.channels - 1)}) {
      INFO("channel " << c);
      const int64_t n = s.outer * s.inner;
      std::vector<float> xc(n), dyc(n), dxc(n), got(n);
      for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t k = 0; k < s.inner; ++k) {
          const int64_t i = (o * s.channels + c) * s.inner + k;
          xc[o * s.inner + k] = x[i];
          dyc[o * s.inner + k] = dy[i];
          got[o * s.inner + k] = dx[i];
        }
      float dg = 0;
      kerasc::batch_norm_grad_input(dyc.data(), xc.data(), &gamma[c], dxc.data(), s.outer, 1,
                                    s.inner, 1e-3f);
      kerasc::batch_norm_grad_gamma(dyc.data(), xc.data(), &dg, s.outer, 1, s.inner, 1e-3f);
      expectClose(got, dxc, 2e-6);
      CHECK(std::abs(dgamma[c] - dg) <= 2e-6 * std::max(1.0f, std::abs(dg)));
    }
  }
}

TEST_CASE("layer_norm kernels split over pool tasks agree with row-by-row runs",
          "[normalization]") {
  // 2048 rows of 32 (65536 elements) run as pool tasks; each row alone runs on the calling
  // thread. Rows are independent (same results up to 1e-7 relative); gamma's gradient adds
  // per-task partial sums in another order (2e-6 relative).
  for (bool rms : {false, true}) {
    const int64_t rows = 2048, n = 32;
    std::mt19937 rng(rms ? 21 : 22);
    auto x = randomFloats(rng, rows * n, -2.0f, 2.0f);
    auto dy = randomFloats(rng, rows * n, -1.0f, 1.0f);
    auto gamma = randomFloats(rng, n, 0.5f, 1.5f);
    auto beta = randomFloats(rng, n, -0.5f, 0.5f);
    std::vector<float> y(rows * n), dx(rows * n), dgamma(n), yr(rows * n), dxr(rows * n);
    kerasc::layer_norm(x.data(), y.data(), gamma.data(), beta.data(), rows, n, 1e-3f, rms);
    kerasc::layer_norm_grad_input(dy.data(), x.data(), gamma.data(), dx.data(), rows, n, 1e-3f,
                                  rms);
    kerasc::layer_norm_grad_gamma(dy.data(), x.data(), dgamma.data(), rows, n, 1e-3f, rms);
    Vec dgammaRows(n, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      kerasc::layer_norm(&x[r * n], &yr[r * n], gamma.data(), beta.data(), 1, n, 1e-3f, rms);
      kerasc::layer_norm_grad_input(&dy[r * n], &x[r * n], gamma.data(), &dxr[r * n], 1, n,
                                    1e-3f, rms);
      std::vector<float> g(n);
      kerasc::layer_norm_grad_gamma(&dy[r * n], &x[r * n], g.data(), 1, n, 1e-3f, rms);
      for (int64_t j = 0; j < n; ++j)
        dgammaRows[j] += g[j];
    }
    expectClose(y, yr, 1e-7);
    expectClose(dx, dxr, 1e-7);
    expectClose(dgamma, dgammaRows, 2e-6);
  }
}

TEST_CASE("layer_norm matches Keras's formula, with and without rms_scaling", "[normalization]") {
  for (bool rms : {false, true}) {
    std::mt19937 rng(rms ? 3 : 4);
    const int64_t rows = 7, n = 12;
    auto x = randomFloats(rng, rows * n, -3.0f, 4.0f);
    auto gamma = randomFloats(rng, n, 0.5f, 2.0f);
    auto beta = randomFloats(rng, n, -1.0f, 1.0f);
    std::vector<float> y(rows * n);
    kerasc::layer_norm(x.data(), y.data(), gamma.data(), beta.data(), rows, n, 1e-3f, rms);
    expectClose(y, refLayerNorm(toDouble(x), toDouble(gamma), toDouble(beta), rows, n, 1e-3, rms),
                2e-6);
  }
}

TEST_CASE("layer_norm gradients match finite differences", "[normalization]") {
  for (bool rms : {false, true}) {
    std::mt19937 rng(rms ? 11 : 12);
    const int64_t rows = 37, n = 9; // more rows than tasks
    const float eps = 1e-3f;
    auto x = randomFloats(rng, rows * n, -2.0f, 2.0f);
    auto gamma = randomFloats(rng, n, 0.5f, 2.0f);
    auto beta = randomFloats(rng, n, -1.0f, 1.0f);
    auto dy = randomFloats(rng, rows * n, -1.0f, 1.0f);
    std::vector<float> dx(rows * n), dgamma(n);
    kerasc::layer_norm_grad_input(dy.data(), x.data(), gamma.data(), dx.data(), rows, n, eps, rms);
    kerasc::layer_norm_grad_gamma(dy.data(), x.data(), dgamma.data(), rows, n, eps, rms);
    const Vec xd = toDouble(x), gd = toDouble(gamma), bd = toDouble(beta), w = toDouble(dy);
    expectClose(dx, numericGradient([&](const Vec &p) {
                  return refLayerNorm(p, gd, bd, rows, n, eps, rms);
                }, xd, w), 2e-5);
    expectClose(dgamma, numericGradient([&](const Vec &p) {
                  return refLayerNorm(xd, p, bd, rows, n, eps, rms);
                }, gd, w), 2e-5);
  }
}

//===----------------------------------------------------------------------------------------===//
// nn-fold-batch-norm with a weight store: the folded weights' data. A Dense (with bias) and a
// BatchNormalization are folded; the folded layer, evaluated in double on random inputs, must
// give BN(dense(x)) within 2e-6 * max(1, |reference|) (float32 weights, one rounding of
// scale = gamma * rsqrt(var + eps) per channel).
//===----------------------------------------------------------------------------------------===//

#include "ir/NNDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

TEST_CASE("nn-fold-batch-norm computes the folded kernel and bias", "[normalization]") {
  const char *ir = R"mlir(
func.func @model(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %k = nn.weight "dense/kernel" : tensor<4x3xf32>
  %b = nn.weight "dense/bias" : tensor<3xf32>
  %g = nn.weight "bn/gamma" : tensor<3xf32>
  %be = nn.weight "bn/beta" : tensor<3xf32>
  %m = nn.weight "bn/moving_mean" : tensor<3xf32>
  %v = nn.weight "bn/moving_variance" : tensor<3xf32>
  %0 = nn.matmul %x, %k : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %1 = nn.bias_add %0, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %2 = nn.batch_norm %1, %g, %be, %m, %v {axis = 1 : i64, epsilon = 1.0e-02 : f64} : (tensor<?x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %2 : tensor<?x3xf32>
}
)mlir";
  std::mt19937 rng(5);
  kerasc::WeightStore store;
  auto put = [&](const char *name, std::vector<int64_t> shape, float lo, float hi) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    store[name].shape = shape;
    store[name].data = randomFloats(rng, n, lo, hi);
  };
  put("dense/kernel", {4, 3}, -1, 1);
  put("dense/bias", {3}, -0.5, 0.5);
  put("bn/gamma", {3}, 0.5, 1.5);
  put("bn/beta", {3}, -0.5, 0.5);
  put("bn/moving_mean", {3}, -1, 1);
  put("bn/moving_variance", {3}, 0.3, 3);
  const kerasc::WeightStore original = store;

  mlir::MLIRContext context;
  context.loadDialect<kerasc::nn::NNDialect, mlir::func::FuncDialect>();
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(ir, &context);
  REQUIRE(module);
  mlir::PassManager pm(&context);
  pm.nest<mlir::func::FuncOp>().addPass(kerasc::createFoldBatchNormPass(&store));
  REQUIRE(mlir::succeeded(pm.run(*module)));
  int batchNorms = 0;
  module->walk([&](kerasc::nn::BatchNormOp) { ++batchNorms; });
  CHECK(batchNorms == 0);
  REQUIRE(store.count("dense/kernel.folded_bn"));
  REQUIRE(store.count("dense/bias.folded_bn"));
  const auto &k2 = store.at("dense/kernel.folded_bn");
  const auto &b2 = store.at("dense/bias.folded_bn");
  CHECK(k2.shape == std::vector<int64_t>{4, 3});
  CHECK(!k2.trainable);
  // The originals are untouched (a shared kernel may still be used elsewhere).
  CHECK(store.at("dense/kernel").data == original.at("dense/kernel").data);

  auto x = randomFloats(rng, 6 * 4, -2, 2);
  Vec folded, want;
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < 3; ++c) {
      double dense = original.at("dense/bias").data[c], f = b2.data[c];
      for (int i = 0; i < 4; ++i) {
        dense += double(x[r * 4 + i]) * original.at("dense/kernel").data[i * 3 + c];
        f += double(x[r * 4 + i]) * k2.data[i * 3 + c];
      }
      const double g = original.at("bn/gamma").data[c], be = original.at("bn/beta").data[c];
      const double m = original.at("bn/moving_mean").data[c];
      const double v = original.at("bn/moving_variance").data[c];
      want.push_back((dense - m) / std::sqrt(v + 0.01) * g + be);
      folded.push_back(f);
    }
  expectClose(folded, want, 2e-6);
}

//===----------------------------------------------------------------------------------------===//
// The importer: Keras 3's defaults where a config omits a field, moving statistics that are
// not trainable, and errors that name the layer.
//===----------------------------------------------------------------------------------------===//

#include "frontend/ImportModel.h"

#include <nlohmann/json.hpp>

namespace {

/// x [4, 3] -> one normalization layer `cls` with `config` and `weights`.
kerasc::ModelSpec normModel(const std::string &cls, nlohmann::json config,
                            std::vector<kerasc::WeightArray> weights,
                            nlohmann::json batchShape = {nullptr, 4, 3}) {
  kerasc::ModelSpec spec;
  spec.sourcePath = "norm.json";
  spec.name = "norm";
  spec.className = "Functional";
  spec.kerasVersion = "3.15.1";
  spec.layers.push_back({"x", "InputLayer", {{"batch_shape", batchShape}}, {}, {}});
  kerasc::LayerSpec l{"bn", cls, config, {}, weights};
  l.calls.push_back({{{"x", 0, 0}}, nlohmann::json::object()});
  spec.layers.push_back(l);
  spec.inputs = {{"x", 0, 0}};
  spec.outputs = {{"bn", 0, 0}};
  return spec;
}

kerasc::WeightArray filled(const char *name, int64_t n, float v) {
  return {name, {n}, std::vector<float>(n, v)};
}

} // namespace

TEST_CASE("BatchNormalization imports with Keras 3's defaults", "[normalization][import]") {
  auto spec = normModel("BatchNormalization", nlohmann::json::object(),
                        {filled("gamma", 3, 2.0f), filled("beta", 3, 0.5f),
                         filled("moving_mean", 3, 0.1f), filled("moving_variance", 3, 4.0f)});
  mlir::MLIRContext context;
  kerasc::ImportedModel model = kerasc::importModel(spec, context);
  int found = 0;
  model.module->walk([&](kerasc::nn::BatchNormOp bn) {
    ++found;
    CHECK(bn.getAxis() == 2);
    CHECK(bn.getEpsilon().convertToDouble() == 1e-3);
    CHECK(bn->getAttrOfType<mlir::FloatAttr>("nn.momentum").getValueAsDouble() == 0.99);
    CHECK_FALSE(bn->hasAttr("nn.trainable")); // a trainable layer: training mode in fit
  });
  CHECK(found == 1);
  CHECK(model.weights.at("bn/gamma").trainable);
  CHECK_FALSE(model.weights.at("bn/moving_mean").trainable);
  CHECK_FALSE(model.weights.at("bn/moving_variance").trainable);
  CHECK(model.layers.back().trainableParams == 6); // gamma and beta only, like Keras
}

TEST_CASE("BatchNormalization on axis 1 broadcasts [C, 1]; frozen layers are marked",
          "[normalization][import]") {
  auto spec = normModel("BatchNormalization",
                        {{"axis", 1}, {"center", false}, {"scale", false}, {"trainable", false}},
                        {filled("moving_mean", 4, 0.1f), filled("moving_variance", 4, 4.0f)});
  mlir::MLIRContext context;
  kerasc::ImportedModel model = kerasc::importModel(spec, context);
  model.module->walk([&](kerasc::nn::BatchNormOp bn) {
    CHECK(bn.getAxis() == 1);
    auto gamma = bn.getGamma().getType().cast<mlir::ShapedType>();
    CHECK(gamma.getShape() == llvm::ArrayRef<int64_t>{4, 1});
    auto frozen = bn->getAttrOfType<mlir::BoolAttr>("nn.trainable");
    REQUIRE(frozen);
    CHECK_FALSE(frozen.getValue());
  });
  // Keras's shape in the store (saved weights keep it), constants for the missing gamma/beta.
  CHECK(model.weights.at("bn/moving_mean").shape == std::vector<int64_t>{4});
  CHECK(model.weights.at("bn/gamma").data == std::vector<float>(4, 1.0f));
  CHECK(model.weights.at("bn/beta").data == std::vector<float>(4, 0.0f));
}

TEST_CASE("unsupported normalization configs are errors naming the layer",
          "[normalization][import]") {
  mlir::MLIRContext context;
  auto renorm = normModel("BatchNormalization", {{"renorm", true}},
                          {filled("gamma", 3, 1), filled("beta", 3, 0),
                           filled("moving_mean", 3, 0), filled("moving_variance", 3, 1)});
  CHECK_THROWS_WITH(kerasc::importModel(renorm, context),
                    Catch::Contains("layer 'bn' (BatchNormalization)") &&
                        Catch::Contains("renorm"));
  auto middle = normModel("LayerNormalization", {{"axis", nlohmann::json::array({1})}},
                          {filled("gamma", 4, 1), filled("beta", 4, 0)});
  CHECK_THROWS_WITH(kerasc::importModel(middle, context),
                    Catch::Contains("layer 'bn' (LayerNormalization)") &&
                        Catch::Contains("only the trailing axes"));
  auto missing = normModel("BatchNormalization", nlohmann::json::object(),
                           {filled("gamma", 3, 1), filled("beta", 3, 0)});
  CHECK_THROWS_WITH(kerasc::importModel(missing, context),
                    Catch::Contains("expected 4 weight variable(s), the file has 2"));
}
