// TrainingConfig: Keras's compile config (and the kerasc compile flags that replace it) becomes
// the nn.losses / nn.optimizer / nn.metrics attributes that nn-autodiff and the code generators
// read. Checked on the compiled Keras models of the training fixtures (exact values; these are
// configuration, not numerics).
#include "frontend/ImportModel.h"
#include "frontend/ModelReader.h"
#include "frontend/TrainingConfig.h"
#include "ir/NNDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <catch2/catch.hpp>

#include <string>

#ifndef KERASC_SOURCE_DIR
#define KERASC_SOURCE_DIR "."
#endif

using namespace mlir;

namespace {

struct Configured {
  MLIRContext context;
  kerasc::ModelSpec spec;
  kerasc::ImportedModel model;
  func::FuncOp func;
};

std::unique_ptr<Configured> configure(const std::string &relativePath,
                                      const kerasc::TrainingOverrides &overrides = {}) {
  auto c = std::make_unique<Configured>();
  c->spec = kerasc::readModel(std::string(KERASC_SOURCE_DIR) + "/" + relativePath, "");
  c->model = kerasc::importModel(c->spec, c->context);
  kerasc::attachTrainingConfig(c->spec, c->model, overrides);
  c->func = *c->model.module->getOps<func::FuncOp>().begin();
  return c;
}

DictionaryAttr loss(func::FuncOp f, unsigned k) {
  return f->getAttrOfType<ArrayAttr>("nn.losses")[k].cast<DictionaryAttr>();
}

DictionaryAttr metric(func::FuncOp f, unsigned output, unsigned m) {
  return f->getAttrOfType<ArrayAttr>("nn.metrics")[output].cast<ArrayAttr>()[m].cast<DictionaryAttr>();
}

std::string str(DictionaryAttr d, const char *key) { return d.getAs<StringAttr>(key).str(); }

double num(DictionaryAttr d, const char *key) { return d.getAs<FloatAttr>(key).getValueAsDouble(); }

const char *kSteps = "tests/fixtures/training/steps/";

} // namespace

TEST_CASE("sparse crossentropy with accuracy and SGD from a .keras compile config",
          "[training_config]") {
  auto c = configure(std::string(kSteps) + "mlp_softmax_sparse/model.keras");
  CHECK(str(loss(c->func, 0), "fn") == "sparse_categorical_crossentropy");
  CHECK(num(loss(c->func, 0), "weight") == 1.0);
  // Keras resolves "accuracy" with sparse targets to sparse_categorical_accuracy, logged as given.
  CHECK(str(metric(c->func, 0, 0), "kind") == "SparseCategoricalAccuracy");
  CHECK(str(metric(c->func, 0, 0), "name") == "accuracy");
  auto opt = c->func->getAttrOfType<DictionaryAttr>("nn.optimizer");
  CHECK(str(opt, "class_name") == "SGD");
  CHECK(num(opt.getAs<DictionaryAttr>("config"), "learning_rate") == Approx(0.1));
}

TEST_CASE("two outputs: one loss each, loss weights", "[training_config]") {
  auto c = configure(std::string(kSteps) + "functional_multi_output/model.keras");
  REQUIRE(c->func->getAttrOfType<ArrayAttr>("nn.losses").size() == 2);
  CHECK(str(loss(c->func, 0), "fn") == "categorical_crossentropy");
  CHECK(str(loss(c->func, 1), "fn") == "mean_squared_error");
  CHECK(num(loss(c->func, 0), "weight") == 1.0);
  CHECK(num(loss(c->func, 1), "weight") == 0.5);
}

TEST_CASE("a learning-rate schedule and clipping stay in the optimizer config",
          "[training_config]") {
  auto c = configure(std::string(kSteps) + "sgd_nesterov_clip/model.keras");
  auto config = c->func->getAttrOfType<DictionaryAttr>("nn.optimizer").getAs<DictionaryAttr>("config");
  auto lr = config.getAs<DictionaryAttr>("learning_rate");
  REQUIRE(lr);
  CHECK(str(lr, "class_name") == "ExponentialDecay");
  CHECK(num(config, "clipnorm") == 1.0);
  CHECK(config.getAs<BoolAttr>("nesterov").getValue());
}

TEST_CASE("flags replace the compile config; an uncompiled model needs them",
          "[training_config]") {
  const std::string plain = "tests/fixtures/models/mlp_relu_softmax/model.keras";
  kerasc::TrainingOverrides flags;
  flags.loss = "mse";
  flags.optimizer = "adam";
  flags.learningRate = 0.5;
  flags.metrics = std::vector<std::string>{"mae", "acc", "categorical_crossentropy"};
  auto c = configure(plain, flags);
  CHECK(str(loss(c->func, 0), "fn") == "mean_squared_error");
  auto opt = c->func->getAttrOfType<DictionaryAttr>("nn.optimizer");
  CHECK(str(opt, "class_name") == "Adam");
  CHECK(num(opt.getAs<DictionaryAttr>("config"), "learning_rate") == 0.5);
  CHECK(str(metric(c->func, 0, 0), "kind") == "MeanAbsoluteError");
  CHECK(str(metric(c->func, 0, 0), "name") == "mean_absolute_error");
  // Dense targets (mse) on a multi-class output: categorical accuracy, logged as "acc".
  CHECK(str(metric(c->func, 0, 1), "kind") == "CategoricalAccuracy");
  CHECK(str(metric(c->func, 0, 1), "name") == "acc");
  // A loss used as a metric.
  CHECK(str(metric(c->func, 0, 2), "kind") == "Loss");
  CHECK(str(metric(c->func, 0, 2), "fn") == "categorical_crossentropy");

  kerasc::TrainingOverrides none;
  CHECK_FALSE(kerasc::hasTrainingConfig(c->spec, none));
  MLIRContext context;
  kerasc::ModelSpec spec = kerasc::readModel(std::string(KERASC_SOURCE_DIR) + "/" + plain, "");
  kerasc::ImportedModel model = kerasc::importModel(spec, context);
  CHECK_THROWS_WITH(kerasc::attachTrainingConfig(spec, model, none),
                    Catch::Contains("no compile config") && Catch::Contains("--loss") &&
                        Catch::Contains("--optimizer"));
}

TEST_CASE("frozen layers and regularizers are marked on nn.weight", "[training_config]") {
  auto c = configure(std::string(kSteps) + "frozen_and_regularized/model.keras");
  int frozen = 0, regularized = 0;
  c->func.walk([&](kerasc::nn::WeightOp w) {
    if (auto t = w->getAttrOfType<BoolAttr>("nn.trainable"); t && !t.getValue())
      ++frozen;
    if (w->getAttrOfType<DictionaryAttr>("nn.regularizer"))
      ++regularized;
  });
  CHECK(frozen == 2);      // frozen/kernel, frozen/bias
  CHECK(regularized == 2); // regularized/kernel (L2), regularized/bias (L1)
  CHECK(c->model.weights.at("nonneg/kernel").constraint.find("NonNeg") != std::string::npos);
  CHECK(c->model.weights.at("frozen/kernel").kerasPath.rfind("layers/", 0) == 0);
}
