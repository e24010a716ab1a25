// Importer and pipeline checks over every committed fixture:
//  - `kerasc summary` shows what Keras's model.summary() shows (per-layer shapes and counts,
//    totals);
//  - the memory plan is valid (no two buffers live at the same time overlap) and between the
//    liveness lower bound and the no-reuse sum;
//  - fusion never increases the arena.
#include "frontend/ImportModel.h"
#include "frontend/ModelReader.h"
#include "ir/NNDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#ifndef KERASC_SOURCE_DIR
#define KERASC_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> fixtureDirs() {
  std::vector<fs::path> dirs;
  for (const auto &e : fs::directory_iterator(fs::path(KERASC_SOURCE_DIR) / "tests/fixtures/models"))
    if (e.is_directory())
      dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

nlohmann::json readJson(const fs::path &path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

/// The lines of a summary that do not depend on column widths: the title and the totals.
std::vector<std::string> summaryFixedLines(const std::string &text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Model:", 0) == 0 || line.find(" params: ") != std::string::npos)
      lines.push_back(line);
  return lines;
}

/// Keras's JSON shape ([null, 8]) as ours ([-1, 8]).
std::vector<int64_t> kerasShape(const nlohmann::json &shape) {
  std::vector<int64_t> out;
  for (const auto &d : shape)
    out.push_back(d.is_null() ? -1 : d.get<int64_t>());
  return out;
}

struct Buffer {
  int64_t offset, bytes, first, last;
};

} // namespace

TEST_CASE("summary matches Keras's model.summary() for every fixture", "[import][summary]") {
  for (const fs::path &dir : fixtureDirs()) {
    DYNAMIC_SECTION(dir.filename().string()) {
      mlir::MLIRContext context;
      kerasc::ImportedModel model =
          kerasc::importModel(kerasc::readModel((dir / "model.keras").string()), context);
      nlohmann::json keras = readJson(dir / "keras.json");
      const std::string summary = kerasc::formatSummary(model);
      CHECK(summaryFixedLines(summary) == summaryFixedLines(keras["summary"].get<std::string>()));
      // Per layer: class, output shape(s) and parameter count as Keras reports them, and the
      // table shows each of them. (Keras's own table wraps and truncates by terminal width.)
      std::map<std::string, const kerasc::LayerReport *> ours;
      for (const kerasc::LayerReport &l : model.layers)
        ours[l.name] = &l;
      for (const auto &layer : keras["layers"]) {
        const std::string name = layer["name"].get<std::string>();
        INFO("layer " << name);
        REQUIRE(ours.count(name));
        const kerasc::LayerReport &l = *ours[name];
        CHECK(l.className == layer["class"].get<std::string>());
        CHECK(l.params == layer["params"].get<int64_t>());
        const auto &shape = layer["output_shape"];
        std::vector<std::vector<int64_t>> expected;
        if (!shape.empty() && shape[0].is_array())
          for (const auto &s : shape)
            expected.push_back(kerasShape(s));
        else
          expected.push_back(kerasShape(shape));
        CHECK(l.outputShapes == expected);
        CHECK(summary.find(name + " (" + l.className + ")") != std::string::npos);
      }
      int64_t total = 0, trainable = 0;
      for (const kerasc::LayerReport &l : model.layers) {
        total += l.params;
        trainable += l.trainableParams;
      }
      CHECK(total == keras["params"]["total"].get<int64_t>());
      CHECK(trainable == keras["params"]["trainable"].get<int64_t>());
    }
  }
}

TEST_CASE("memory plans are valid and within their bounds", "[passes][plan]") {
  for (const fs::path &dir : fixtureDirs()) {
    for (bool fuse : {false, true}) {
      DYNAMIC_SECTION(dir.filename().string() << (fuse ? " fused" : " unfused")) {
        mlir::MLIRContext context;
        kerasc::ImportedModel model =
            kerasc::importModel(kerasc::readModel((dir / "model.keras").string()), context);
        mlir::PassManager pm(&context);
        kerasc::PipelineOptions options;
        options.fuse = fuse;
        kerasc::buildInferencePipeline(pm, options);
        REQUIRE(mlir::succeeded(pm.run(*model.module)));
        auto func = *model.module->getOps<mlir::func::FuncOp>().begin();
        auto attr = [&](const char *n) { return func->getAttrOfType<mlir::IntegerAttr>(n).getInt(); };

        // Rebuild each arena buffer's live range from the IR (views extend their owner's).
        std::map<mlir::Operation *, int64_t> position;
        for (mlir::Operation &op : func.getBody().front())
          position[&op] = position.size();
        std::vector<Buffer> buffers;
        for (mlir::Operation &op : func.getBody().front()) {
          auto offset = op.getAttrOfType<mlir::IntegerAttr>("nn.arena_offset");
          if (!offset)
            continue;
          auto type = op.getResult(0).getType().cast<mlir::ShapedType>();
          Buffer b{offset.getInt(), kerasc::nn::elementsPerSample(type) * 4, position[&op], position[&op]};
          std::vector<mlir::Value> members{op.getResult(0)};
          for (size_t i = 0; i < members.size(); ++i)
            for (mlir::Operation *user : members[i].getUsers()) {
              b.last = std::max(b.last, position[user]);
              if (mlir::isa<kerasc::nn::ReshapeOp>(user))
                members.push_back(user->getResult(0));
            }
          CHECK(b.offset % 64 == 0);
          CHECK(b.offset + b.bytes <= attr("nn.arena_bytes"));
          buffers.push_back(b);
        }
        for (size_t i = 0; i < buffers.size(); ++i)
          for (size_t j = i + 1; j < buffers.size(); ++j) {
            const Buffer &a = buffers[i], &b = buffers[j];
            bool liveTogether = a.first <= b.last && b.first <= a.last;
            bool overlap = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
            CHECK_FALSE((liveTogether && overlap));
          }
        CHECK(attr("nn.lower_bound_bytes") <= attr("nn.arena_bytes"));
        CHECK(attr("nn.arena_bytes") <= attr("nn.no_reuse_bytes"));
      }
    }
  }
}

TEST_CASE("Keras defaults apply where a config omits a field", "[import][defaults]") {
  using kerasc::LayerSpec;
  using nlohmann::json;
  kerasc::ModelSpec spec;
  spec.sourcePath = "minimal.json";
  spec.name = "minimal";
  spec.className = "Functional";
  spec.kerasVersion = "3.15.1";
  auto layer = [&](std::string name, std::string cls, json config, std::string input) {
    LayerSpec l{name, cls, config, {}, {}};
    if (!input.empty())
      l.calls.push_back({{{input, 0, 0}}, json::object()});
    spec.layers.push_back(l);
    return &spec.layers.back();
  };
  spec.layers.reserve(8);
  layer("x", "InputLayer", {{"batch_shape", {nullptr, 3}}}, "");
  LayerSpec *dense = layer("dense", "Dense", {{"units", 2}}, "x"); // use_bias, activation omitted
  dense->weights = {{"kernel", {3, 2}, std::vector<float>(6, 0.5f)},
                    {"bias", {2}, std::vector<float>(2, 0.1f)}};
  layer("leaky", "LeakyReLU", json::object(), "dense");   // negative_slope 0.3
  layer("elu", "ELU", json::object(), "leaky");           // alpha 1.0
  layer("relu", "ReLU", json::object(), "elu");           // plain relu
  layer("scale", "Rescaling", json::object(), "relu");    // scale 1, offset 0
  layer("softmax", "Softmax", json::object(), "scale");   // last axis
  spec.inputs = {{"x", 0, 0}};
  spec.outputs = {{"softmax", 0, 0}};

  mlir::MLIRContext context;
  kerasc::ImportedModel model = kerasc::importModel(spec, context);
  auto func = *model.module->getOps<mlir::func::FuncOp>().begin();
  std::vector<std::string> ops;
  func.walk([&](mlir::Operation *op) {
    if (op->getDialect() && op->getDialect()->getNamespace() == "nn" && !mlir::isa<kerasc::nn::WeightOp>(op))
      ops.push_back(op->getName().stripDialect().str());
    if (auto act = mlir::dyn_cast<kerasc::nn::ActivationOp>(op)) {
      if (act.getFn() == "leaky_relu")
        CHECK(act.getAlpha()->convertToDouble() == Approx(0.3));
      if (act.getFn() == "elu")
        CHECK(act.getAlpha()->convertToDouble() == 1.0);
      if (act.getFn() == "relu")
        CHECK_FALSE(act.getMaxValue());
    }
    if (auto r = mlir::dyn_cast<kerasc::nn::RescaleOp>(op)) {
      CHECK(r.getScale().convertToDouble() == 1.0);
      CHECK(r.getOffset().convertToDouble() == 0.0);
    }
    if (auto s = mlir::dyn_cast<kerasc::nn::SoftmaxOp>(op))
      CHECK(s.getAxis() == 1);
  });
  CHECK(ops == std::vector<std::string>{"matmul", "bias_add", "activation", "activation",
                                        "activation", "rescale", "softmax"});
}

TEST_CASE("tf.keras 2 files keep tf.keras 2 semantics", "[import][defaults]") {
  // hard_sigmoid changed formula in Keras 3; a file written by Keras 2.x keeps the old one.
  using nlohmann::json;
  for (const char *version : {"2.15.0", "3.15.1"}) {
    kerasc::ModelSpec spec;
    spec.sourcePath = "legacy.h5";
    spec.name = "legacy";
    spec.className = "Sequential";
    spec.kerasVersion = version;
    spec.layers.push_back({"x", "InputLayer", {{"batch_shape", {nullptr, 2}}}, {}, {}});
    spec.layers.push_back({"hs", "Activation", {{"activation", "hard_sigmoid"}},
                           {{{{"x", 0, 0}}, json::object()}}, {}});
    spec.inputs = {{"x", 0, 0}};
    spec.outputs = {{"hs", 0, 0}};
    mlir::MLIRContext context;
    kerasc::ImportedModel model = kerasc::importModel(spec, context);
    std::string fn;
    model.module->walk([&](kerasc::nn::ActivationOp op) { fn = op.getFn().str(); });
    CHECK(fn == (version[0] == '2' ? "hard_sigmoid_tf2" : "hard_sigmoid"));
  }
}

TEST_CASE("layer calls are imported in dependency order, not list order", "[import][graph]") {
  // A shared layer whose second call consumes a layer listed after it (Keras lists each layer
  // once, at its first call).
  using nlohmann::json;
  auto dense = [](std::string name, std::vector<std::vector<kerasc::TensorRef>> calls) {
    kerasc::LayerSpec l{name, "Dense", {{"units", 3}}, {}, {}};
    for (auto &inputs : calls)
      l.calls.push_back({inputs, json::object()});
    l.weights = {{"kernel", {3, 3}, std::vector<float>(9, 0.1f)},
                 {"bias", {3}, std::vector<float>(3, 0.0f)}};
    return l;
  };
  kerasc::ModelSpec spec;
  spec.sourcePath = "shared.json";
  spec.name = "shared";
  spec.className = "Functional";
  spec.layers.push_back({"x", "InputLayer", {{"batch_shape", {nullptr, 3}}}, {}, {}});
  spec.layers.push_back(dense("shared", {{{"x", 0, 0}}, {{"after", 0, 0}}}));
  spec.layers.push_back(dense("after", {{{"shared", 0, 0}}}));
  spec.inputs = {{"x", 0, 0}};
  spec.outputs = {{"shared", 1, 0}};
  mlir::MLIRContext context;
  kerasc::ImportedModel model = kerasc::importModel(spec, context);
  int matmuls = 0;
  model.module->walk([&](kerasc::nn::MatMulOp) { ++matmuls; });
  CHECK(matmuls == 3);
  CHECK(model.layers[1].connectedTo == std::vector<std::string>{"x[0][0]", "after[0][0]"});

  // A true cycle is reported, naming the layer and the missing tensor.
  spec.layers[1].calls.erase(spec.layers[1].calls.begin());
  spec.layers[1].calls[0].inputs = {{"after", 0, 0}};
  spec.outputs = {{"shared", 0, 0}};
  mlir::MLIRContext context2;
  CHECK_THROWS_WITH(kerasc::importModel(spec, context2),
                    Catch::Contains("shared.json: layer 'shared' (Dense): input after[0][0] is "
                                    "not produced by any layer (or the graph has a cycle)"));
}
