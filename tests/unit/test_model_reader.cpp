// Unit tests for frontend/ModelReader: every committed fixture model reads identically from each
// format Keras wrote it in, and every broken file is rejected with a one-line kerasc::Error that
// names the file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "frontend/KerasWeightLayout.h"
#include "frontend/ModelReader.h"

#ifndef KERASC_SOURCE_DIR
#define KERASC_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;
using kerasc::ModelSpec;
using kerasc::readModel;

namespace {

const fs::path kFixtures = fs::path(KERASC_SOURCE_DIR) / "tests" / "fixtures";

std::vector<fs::path> fixtureModelDirs() {
  std::vector<fs::path> dirs;
  for (const auto &entry : fs::directory_iterator(kFixtures / "models"))
    if (entry.is_directory() && fs::exists(entry.path() / "model.keras"))
      dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::string fixtureModel(const std::string &name, const std::string &file = "model.keras") {
  return (kFixtures / "models" / name / file).string();
}

const kerasc::LayerSpec &layerNamed(const ModelSpec &spec, const std::string &name) {
  auto it = std::find_if(spec.layers.begin(), spec.layers.end(),
                         [&](const kerasc::LayerSpec &l) { return l.name == name; });
  REQUIRE(it != spec.layers.end());
  return *it;
}

std::string refText(const kerasc::TensorRef &ref) {
  return ref.layer + "[" + std::to_string(ref.nodeIndex) + "][" + std::to_string(ref.tensorIndex) +
         "]";
}

std::vector<std::string> refTexts(const std::vector<kerasc::TensorRef> &refs) {
  std::vector<std::string> out;
  for (const auto &ref : refs)
    out.push_back(refText(ref));
  return out;
}

std::vector<std::string> weightNames(const kerasc::LayerSpec &layer) {
  std::vector<std::string> out;
  for (const auto &w : layer.weights)
    out.push_back(w.name);
  return out;
}

bool sameBits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// Same graph and bitwise-identical weights. `sameWriter` = both files come from the same Keras
/// (then call kwargs and stored dtypes must match too; tf.keras 2 differs in both).
void requireSameModel(const ModelSpec &a, const ModelSpec &b, bool sameWriter) {
  INFO(a.sourcePath << " vs " << b.sourcePath);
  CHECK(a.name == b.name);
  CHECK(a.className == b.className);
  CHECK(refTexts(a.inputs) == refTexts(b.inputs));
  CHECK(refTexts(a.outputs) == refTexts(b.outputs));
  REQUIRE(a.layers.size() == b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const auto &la = a.layers[i];
    const auto &lb = b.layers[i];
    INFO("layer #" << i << " '" << la.name << "'");
    CHECK(la.name == lb.name);
    CHECK(la.className == lb.className);
    REQUIRE(la.calls.size() == lb.calls.size());
    for (size_t c = 0; c < la.calls.size(); ++c) {
      CHECK(refTexts(la.calls[c].inputs) == refTexts(lb.calls[c].inputs));
      if (sameWriter)
        CHECK(la.calls[c].kwargs == lb.calls[c].kwargs);
    }
    CHECK(weightNames(la) == weightNames(lb));
    REQUIRE(la.weights.size() == lb.weights.size());
    for (size_t w = 0; w < la.weights.size(); ++w) {
      INFO("weight '" << la.weights[w].name << "'");
      CHECK(la.weights[w].shape == lb.weights[w].shape);
      CHECK(sameBits(la.weights[w].data, lb.weights[w].data));
      if (sameWriter)
        CHECK(la.weights[w].dtype == lb.weights[w].dtype);
    }
  }
}

/// Writes `text` to a fresh file in a per-test temporary directory and returns its path.
std::string writeTemp(const std::string &name, const std::string &text) {
  const fs::path dir = fs::temp_directory_path() / "kerasc_test_model_reader";
  fs::create_directories(dir);
  const fs::path path = dir / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

/// The message of the kerasc::Error that reading `path` throws (fails the test if none is).
std::string readError(const std::string &path, const std::string &weightsPath = "") {
  try {
    readModel(path, weightsPath);
  } catch (const kerasc::Error &e) {
    return e.what();
  } catch (const std::exception &e) {
    FAIL("not a kerasc::Error: " << e.what());
  }
  FAIL("no error reading " << path);
  return "";
}

} // namespace

TEST_CASE("every fixture model reads the same from every format", "[model_reader]") {
  const auto dirs = fixtureModelDirs();
  REQUIRE(dirs.size() >= 10);
  for (const fs::path &dir : dirs) {
    INFO("fixture " << dir.filename().string());
    const ModelSpec keras = readModel((dir / "model.keras").string());
    CHECK(keras.format == "keras");
    CHECK(keras.kerasVersion.rfind("3.", 0) == 0);
    CHECK(!keras.layers.empty());
    CHECK(!keras.inputs.empty());
    CHECK(!keras.outputs.empty());

    const ModelSpec h5 = readModel((dir / "model.h5").string());
    CHECK(h5.format == "h5");
    CHECK(h5.kerasVersion == keras.kerasVersion);
    requireSameModel(keras, h5, true);

    const ModelSpec json = readModel((dir / "model.json").string());
    CHECK(json.format == "json+weights");
    requireSameModel(keras, json, true);

    // The weights may come from another file in either layout.
    requireSameModel(keras, readModel((dir / "model.keras").string(), (dir / "model.h5").string()),
                     true);
    requireSameModel(
        keras, readModel((dir / "model.json").string(), (dir / "model.weights.h5").string()), true);

    if (fs::exists(dir / "model_tf2.h5")) {
      const ModelSpec tf2 = readModel((dir / "model_tf2.h5").string());
      CHECK(tf2.kerasVersion.rfind("2.", 0) == 0);
      requireSameModel(keras, tf2, false);
    }
  }
}

TEST_CASE("Sequential models are chained from their InputLayer", "[model_reader]") {
  const ModelSpec spec = readModel(fixtureModel("mlp_relu_softmax"));
  CHECK(spec.className == "Sequential");
  CHECK(spec.name == "mlp_relu_softmax");
  REQUIRE(spec.layers.size() == 4);
  const auto &input = spec.layers[0];
  CHECK(input.name == "features");
  CHECK(input.className == "InputLayer");
  CHECK(input.calls.empty());
  CHECK(input.config["batch_shape"] == nlohmann::json::parse("[null, 8]"));
  for (size_t i = 1; i < spec.layers.size(); ++i) {
    REQUIRE(spec.layers[i].calls.size() == 1);
    CHECK(refTexts(spec.layers[i].calls[0].inputs) ==
          std::vector<std::string>{spec.layers[i - 1].name + "[0][0]"});
  }
  CHECK(refTexts(spec.inputs) == std::vector<std::string>{"features[0][0]"});
  CHECK(refTexts(spec.outputs) == std::vector<std::string>{"probs[0][0]"});

  const auto &hidden1 = layerNamed(spec, "hidden1");
  CHECK(hidden1.config["units"] == 16);
  CHECK(weightNames(hidden1) == std::vector<std::string>{"kernel", "bias"});
  CHECK(hidden1.weights[0].shape == std::vector<int64_t>{8, 16});
  CHECK(hidden1.weights[0].data.size() == 8 * 16);
  CHECK(hidden1.weights[1].shape == std::vector<int64_t>{16});
  CHECK(hidden1.weights[0].dtype == "float32");
  CHECK(weightNames(layerNamed(spec, "hidden2_nobias")) == std::vector<std::string>{"kernel"});
  CHECK(spec.compileConfig.is_null());
}

TEST_CASE("Functional multi-input multi-output graphs keep their edges", "[model_reader]") {
  for (const char *file : {"model.keras", "model.h5", "model.json", "model_tf2.h5"}) {
    INFO(file);
    const ModelSpec spec = readModel(fixtureModel("functional_multi_io", file));
    CHECK(spec.className == "Functional");
    CHECK(refTexts(spec.inputs) == std::vector<std::string>{"features[0][0]", "context[0][0]"});
    CHECK(refTexts(spec.outputs) ==
          std::vector<std::string>{"score[0][0]", "class_probs[0][0]", "aux_from_ctx[0][0]"});
    CHECK(layerNamed(spec, "features").calls.empty());
    const auto &concat = layerNamed(spec, "concat");
    REQUIRE(concat.calls.size() == 1);
    CHECK(refTexts(concat.calls[0].inputs) ==
          std::vector<std::string>{"feat_dense[0][0]", "ctx_dense[0][0]"});
    const auto &aux = layerNamed(spec, "aux_from_ctx");
    REQUIRE(aux.calls.size() == 1);
    CHECK(refTexts(aux.calls[0].inputs) == std::vector<std::string>{"ctx_dense[0][0]"});
  }
}

TEST_CASE("a shared layer has one call per use", "[model_reader]") {
  const ModelSpec spec = readModel(fixtureModel("functional_shared_layer"));
  const auto &shared = layerNamed(spec, "shared_dense");
  REQUIRE(shared.calls.size() == 2);
  CHECK(refTexts(shared.calls[0].inputs) == std::vector<std::string>{"left[0][0]"});
  CHECK(refTexts(shared.calls[1].inputs) == std::vector<std::string>{"right[0][0]"});
  CHECK(refTexts(layerNamed(spec, "diff").calls.at(0).inputs) ==
        std::vector<std::string>{"shared_dense[0][0]", "shared_dense[1][0]"});
  CHECK(refTexts(spec.outputs) == std::vector<std::string>{"out[0][0]", "shared_dense[0][0]"});
  CHECK(weightNames(shared) == std::vector<std::string>{"kernel", "bias"});
}

TEST_CASE("non-float weights are converted and keep their dtype", "[model_reader]") {
  for (const char *file : {"model.keras", "model.h5", "model_tf2.h5"}) {
    INFO(file);
    const ModelSpec spec = readModel(fixtureModel("normalization_adapted", file));
    const auto &norm = layerNamed(spec, "norm_adapted");
    REQUIRE(weightNames(norm) == std::vector<std::string>{"mean", "variance", "count"});
    const auto &count = norm.weights[2];
    CHECK(count.shape.empty());
    CHECK(count.dtype.rfind("int", 0) == 0);
    REQUIRE(count.data.size() == 1);
    CHECK(count.data[0] == 0.0f); // Keras 3's adapt() no longer updates it; kept for old files
    CHECK(norm.weights[0].data.at(0) == Approx(1.9892825f)); // adapted mean
  }
  // Normalization with constant statistics owns no variables.
  CHECK(layerNamed(readModel(fixtureModel("normalization_const")), "norm_const").weights.empty());
}

TEST_CASE("compile arguments are read when present", "[model_reader]") {
  // The fixtures are saved uncompiled: .keras writes an empty compile_config, .h5 none at all.
  for (const auto &dir : fixtureModelDirs()) {
    INFO(dir.filename().string());
    CHECK(readModel((dir / "model.keras").string()).compileConfig.is_null());
    CHECK(readModel((dir / "model.h5").string()).compileConfig.is_null());
  }
  // The digits sample was compiled and trained before saving.
  const ModelSpec digits =
      readModel((fs::path(KERASC_SOURCE_DIR) / "samples/digits/digits_mlp.keras").string());
  CHECK(digits.compileConfig["loss"] == "sparse_categorical_crossentropy");
  CHECK(digits.compileConfig["optimizer"].contains("class_name"));
}

TEST_CASE("a tf.keras 2 Sequential without InputLayer gets one synthesized", "[model_reader]") {
  // The layout tf.keras 2 wrote for Sequential([Dense(..., input_shape=(8,)), ...]): the input
  // shape lives on the first layer. Weights come from the Keras 3 fixture of the same model.
  const std::string config = R"({"class_name": "Sequential", "keras_version": "2.15.0",
    "config": {"name": "mlp_relu_softmax", "layers": [
      {"class_name": "Dense", "config": {"name": "hidden1", "batch_input_shape": [null, 8],
                                        "dtype": "float32", "units": 16, "use_bias": true}},
      {"class_name": "Dense", "config": {"name": "hidden2_nobias", "units": 12, "use_bias": false}},
      {"class_name": "Dense", "config": {"name": "probs", "units": 4}}]}})";
  const std::string path = writeTemp("tf2_sequential.json", config);
  const ModelSpec spec = readModel(path, fixtureModel("mlp_relu_softmax", "model.weights.h5"));
  CHECK(spec.kerasVersion == "2.15.0");
  REQUIRE(spec.layers.size() == 4);
  const auto &input = spec.layers[0];
  CHECK(input.name == "hidden1_input");
  CHECK(input.className == "InputLayer");
  CHECK(input.config["batch_shape"] == nlohmann::json::parse("[null, 8]"));
  CHECK(input.config["dtype"] == "float32");
  CHECK(refTexts(spec.inputs) == std::vector<std::string>{"hidden1_input[0][0]"});
  CHECK(refTexts(spec.layers[1].calls.at(0).inputs) ==
        std::vector<std::string>{"hidden1_input[0][0]"});

  const ModelSpec reference = readModel(fixtureModel("mlp_relu_softmax"));
  for (size_t i = 1; i < spec.layers.size(); ++i) {
    REQUIRE(spec.layers[i].weights.size() == reference.layers[i].weights.size());
    for (size_t w = 0; w < spec.layers[i].weights.size(); ++w)
      CHECK(sameBits(spec.layers[i].weights[w].data, reference.layers[i].weights[w].data));
  }
}

TEST_CASE("tf.keras 2 InputLayer configs get Keras 3's batch_shape", "[model_reader]") {
  const ModelSpec spec = readModel(fixtureModel("functional_multi_io", "model_tf2.h5"));
  const auto &features = layerNamed(spec, "features");
  CHECK(features.config["batch_shape"] == nlohmann::json::parse("[null, 6]"));
  CHECK(features.config.contains("batch_input_shape")); // the original stays
}

TEST_CASE("files the reader accepts but the importer must reject", "[model_reader]") {
  const fs::path dir = kFixtures / "malformed";
  // Dense 'hidden1' has no 'units': reading keeps the config verbatim.
  const ModelSpec missingField = readModel((dir / "missing_field.json").string());
  CHECK_FALSE(layerNamed(missingField, "hidden1").config.contains("units"));

  // Config says 8 units, the stored kernel is (8, 16): shapes are the importer's check.
  const ModelSpec badShape = readModel((dir / "bad_weight_shape.keras").string());
  CHECK(layerNamed(badShape, "hidden1").config["units"] == 8);
  CHECK(layerNamed(badShape, "hidden1").weights.at(0).shape == std::vector<int64_t>{8, 16});

  // A custom layer class and a recurrent layer with variables in its cell.
  const ModelSpec unknown = readModel((dir / "unknown_layer.keras").string());
  CHECK(layerNamed(unknown, "scale_by_two").className == "ScaleByTwo");
  CHECK(layerNamed(unknown, "scale_by_two").weights.empty());
  CHECK(weightNames(layerNamed(unknown, "lstm")) ==
        std::vector<std::string>{"kernel", "recurrent_kernel", "bias"});
  CHECK(layerNamed(unknown, "lstm").weights.at(0).shape == std::vector<int64_t>{4, 16});
  CHECK(weightNames(layerNamed(unknown, "out")) == std::vector<std::string>{"kernel", "bias"});
}

TEST_CASE("broken files throw a one-line kerasc::Error naming the file", "[model_reader]") {
  // Files in malformed/ that are well-formed at the file level; see the test above.
  const std::set<std::string> readable = {"missing_field.json", "bad_weight_shape.keras",
                                          "unknown_layer.keras", "keras_errors.json", "README.md"};
  // Files that crash or hang libhdf5 itself; the driver's supervisor handles them
  // (tests cli.error.hdf5_library_*), an in-process reader cannot.
  const std::set<std::string> breakTheLibrary = {"hdf5_crash.h5", "hdf5_hang.h5"};
  std::set<std::string> rejected;
  for (const auto &entry : fs::directory_iterator(kFixtures / "malformed")) {
    const std::string name = entry.path().filename().string();
    if (readable.count(name) || breakTheLibrary.count(name))
      continue;
    INFO(name);
    const std::string message = readError(entry.path().string());
    CHECK(message.find(name) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
    rejected.insert(name);
  }
  // The reasons, for the cases the fixture generator documents.
  CHECK(readError((kFixtures / "malformed" / "truncated.keras").string())
            .find("not a valid zip archive") != std::string::npos);
  CHECK(readError((kFixtures / "malformed" / "not_a_zip.keras").string())
            .find("not a valid zip archive") != std::string::npos);
  CHECK(readError((kFixtures / "malformed" / "empty.keras").string()).find("empty") !=
        std::string::npos);
  CHECK(readError((kFixtures / "malformed" / "corrupt.h5").string())
            .find("not an HDF5 file or corrupt") != std::string::npos);
  CHECK(readError((kFixtures / "malformed" / "not_a_model.keras").string())
            .find("missing config.json") != std::string::npos);
  CHECK(readError((kFixtures / "malformed" / "missing_field.weights.h5").string())
            .find("weights-only file") != std::string::npos);
  CHECK(rejected.size() >= 6);
}

TEST_CASE("bad paths and mismatched weights are errors, not crashes", "[model_reader]") {
  CHECK(readError("does/not/exist.keras").find("does/not/exist.keras: file not found") == 0);
  CHECK(readError(kFixtures.string()).find("not a regular file") != std::string::npos);
  const std::string json = fixtureModel("mlp_relu_softmax", "model.json");
  CHECK(readError(json, "nowhere.weights.h5").find("nowhere.weights.h5: file not found") == 0);

  // Weights of another model: its second Dense layer has a bias, hidden2_nobias has none.
  const std::string otherWeights = fixtureModel("mlp_deep_linear", "model.weights.h5");
  CHECK(readError(json, otherWeights)
            .find("layer 'hidden2_nobias' (Dense): '/layers/dense_1/vars' holds 2 variables, "
                  "expected 1 (kernel)") != std::string::npos);
  // Legacy weights of another model: layer names unknown to this config.
  const std::string otherH5 = fixtureModel("mlp_deep_linear", "model.h5");
  CHECK(readError(json, otherH5).find("which the model config does not have") != std::string::npos);

  // A .json config whose default weights file does not exist.
  const std::string lonely = writeTemp("lonely.json", R"({"class_name": "Sequential",
    "config": {"layers": [{"class_name": "InputLayer", "config": {"name": "x",
                           "batch_shape": [null, 2]}}]}})");
  CHECK(readError(lonely).find("lonely.weights.h5' not found") != std::string::npos);
}

TEST_CASE("malformed configs are errors, not crashes", "[model_reader]") {
  const std::string weights = fixtureModel("mlp_relu_softmax", "model.weights.h5");
  auto errorFor = [&](const std::string &config) {
    return readError(writeTemp("bad_config.json", config), weights);
  };
  CHECK(errorFor("{ not json").find("bad_config.json: invalid JSON") != std::string::npos);
  CHECK(errorFor("[1, 2]").find("not a JSON object") != std::string::npos);
  CHECK(errorFor(std::string(100000, '[') + std::string(100000, ']'))
            .find("JSON nested deeper than 256 levels") != std::string::npos);
  CHECK(errorFor(R"({"class_name": "MyModel", "config": {}})")
            .find("subclassed models are not supported") != std::string::npos);
  CHECK(
      errorFor(R"({"class_name": "Sequential", "config": {"layers": []}})").find("has no layers") !=
      std::string::npos);
  CHECK(errorFor(R"({"class_name": "Sequential", "config": {"layers": [{"config": {}}]}})")
            .find("layer #0 has no class_name") != std::string::npos);
  CHECK(errorFor(R"({"class_name": "Sequential", "config": {"layers": [
                      {"class_name": "Dense", "config": {"name": "d"}}]}})")
            .find("no input shape") != std::string::npos);

  const std::string functionalHead = R"({"class_name": "Functional", "config": {"layers": [
      {"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [null, 8]},
       "inbound_nodes": []},
      {"class_name": "Dense", "name": "hidden1", "config": {"units": 16},
       "inbound_nodes": [)";
  CHECK(errorFor(functionalHead + R"([["nope", 0, 0, {}]]]}],
                 "input_layers": [["x", 0, 0]], "output_layers": [["hidden1", 0, 0]]}})")
            .find("layer 'hidden1' (Dense): an input refers to unknown layer 'nope'") !=
        std::string::npos);
  CHECK(errorFor(functionalHead + R"([["x", 4294967296, 0, {}]]]}],
                 "input_layers": [["x", 0, 0]], "output_layers": [["hidden1", 0, 0]]}})")
            .find("call -1 of layer 'x' (InputLayer), which does not exist") != std::string::npos);
  CHECK(errorFor(functionalHead + R"([["x", 3, 0, {}]]]}],
                 "input_layers": [["x", 0, 0]], "output_layers": [["hidden1", 0, 0]]}})")
            .find("call 3 of layer 'x' (InputLayer), which does not exist") != std::string::npos);
  CHECK(errorFor(functionalHead + R"({"args": [{"class_name": "__keras_tensor__",
                 "config": {"keras_history": "x"}}]}]}],
                 "input_layers": ["x", 0, 0], "output_layers": ["hidden1", 0, 0]}})")
            .find("malformed tensor") != std::string::npos);
  CHECK(errorFor(functionalHead + R"([["x", 0, 0, {}]]]}],
                 "input_layers": [["hidden1", 0, 0]], "output_layers": [["hidden1", 0, 0]]}})")
            .find("model input 'hidden1' is not an InputLayer") != std::string::npos);
  CHECK(errorFor(functionalHead + R"([["x", 0, 0, {}]]]}], "output_layers": [["hidden1", 0, 0]]}})")
            .find("model has no inputs") != std::string::npos);
  // A well-formed graph with a layer that finds no weights in the file.
  CHECK(errorFor(functionalHead + R"([["x", 0, 0, {}]]]},
                 {"class_name": "Conv1D", "name": "conv", "config": {"filters": 2},
                  "inbound_nodes": [[["hidden1", 0, 0, {}]]]}],
                 "input_layers": ["x", 0, 0], "output_layers": ["conv", 0, 0]}})")
            .find("layer 'conv' (Conv1D): no weights in the file (expected kernel, bias)") !=
        std::string::npos);
}

TEST_CASE("Keras's snake_case names for weight groups", "[model_reader]") {
  CHECK(kerasc::kerasSnakeCase("Dense") == "dense");
  CHECK(kerasc::kerasSnakeCase("BatchNormalization") == "batch_normalization");
  CHECK(kerasc::kerasSnakeCase("Conv2D") == "conv2d");
  CHECK(kerasc::kerasSnakeCase("Conv2DTranspose") == "conv2d_transpose");
  CHECK(kerasc::kerasSnakeCase("PReLU") == "p_re_lu");
  CHECK(kerasc::kerasSnakeCase("ReLU") == "re_lu");
  CHECK(kerasc::kerasSnakeCase("LSTM") == "lstm");
  CHECK(kerasc::kerasSnakeCase("SimpleRNN") == "simple_rnn");
  CHECK(kerasc::kerasSnakeCase("InputLayer") == "input_layer");
  CHECK(kerasc::kerasSnakeCase("MultiHeadAttention") == "multi_head_attention");
}

TEST_CASE("weight layouts follow the layer config", "[model_reader]") {
  using nlohmann::json;
  auto names = [](const std::string &cls, const json &config) {
    std::vector<std::string> out;
    const auto layout = kerasc::kerasWeightLayout(cls, config);
    REQUIRE(layout.has_value());
    for (const auto &group : *layout)
      for (const auto &name : group.names)
        out.push_back(group.path + ":" + name);
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(names("Dense", json::object()) == V{"vars:kernel", "vars:bias"});
  CHECK(names("Dense", {{"use_bias", false}}) == V{"vars:kernel"});
  CHECK(names("BatchNormalization", {{"center", false}}) ==
        V{"vars:gamma", "vars:moving_mean", "vars:moving_variance"});
  CHECK(names("LSTM", json::object()) ==
        V{"cell/vars:kernel", "cell/vars:recurrent_kernel", "cell/vars:bias"});
  CHECK(names("Bidirectional",
              {{"layer", {{"class_name", "GRU"}, {"config", {{"use_bias", false}}}}}}) ==
        V{"forward_layer/cell/vars:kernel", "forward_layer/cell/vars:recurrent_kernel",
          "backward_layer/cell/vars:kernel", "backward_layer/cell/vars:recurrent_kernel"});
  CHECK(names("Normalization", {{"mean", 0.5}, {"variance", 2.0}}).empty());
  CHECK_FALSE(kerasc::kerasWeightLayout("ScaleByTwo", json::object()).has_value());
}
