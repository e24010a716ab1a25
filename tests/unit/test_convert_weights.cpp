// `kerasc convert` (tools/ConvertWeights.cpp): native checkpoints to Keras weight files and
// .keras archives, checked against the Keras-written mlp_relu_softmax fixture.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tools/ConvertWeights.h"

#include <kerasc/checkpoint.h>
#include <kerasc/keras_archive.h>
#include <kerasc/keras_h5.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#ifndef KERASC_SOURCE_DIR
#define KERASC_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;

namespace {

const fs::path kModelDir = fs::path(KERASC_SOURCE_DIR) / "tests/fixtures/models/mlp_relu_softmax";

struct Variable {
  std::string name, keras_path;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

/// A fixture model's variables as Keras wrote them (check_keras_load.py references).
std::vector<Variable> referenceVariables(const std::string &model = "mlp_relu_softmax") {
  std::ifstream in(fs::path(KERASC_SOURCE_DIR) / "tests/fixtures/training/load_back" /
                   (model + "_weights.json"));
  REQUIRE(in.good());
  const auto j = nlohmann::json::parse(in); // kept alive: the loop below iterates into it
  REQUIRE(!j["variables"].empty());
  std::vector<Variable> vars;
  for (const auto &v : j["variables"])
    vars.push_back({v["name"], v["keras_path"], v["shape"].get<std::vector<int64_t>>(),
                    v["values"].get<std::vector<float>>()});
  return vars;
}

/// Where files for tests/fixtures/check_keras_load.py go.
fs::path loadBackDir() {
  const char *env = std::getenv("KERASC_LOAD_BACK_DIR");
  const fs::path dir = env ? fs::path(env) : fs::temp_directory_path() / "kerasc_load_back";
  fs::create_directories(dir);
  return dir;
}

std::vector<kerasc::TensorSlot> slotsOf(std::vector<Variable> &vars) {
  std::vector<kerasc::TensorSlot> slots;
  for (Variable &v : vars) {
    kerasc::TensorSlot s{};
    s.name = v.name.c_str();
    s.keras_path = v.keras_path.empty() ? nullptr : v.keras_path.c_str();
    s.data = v.values.data();
    s.count = static_cast<int64_t>(v.values.size());
    s.rank = static_cast<int>(v.shape.size());
    for (size_t d = 0; d < v.shape.size(); ++d)
      s.shape[d] = v.shape[d];
    s.trainable = true;
    slots.push_back(s);
  }
  return slots;
}

/// Writes a checkpoint holding `weights` (and one optimizer slot without a keras_path, which the
/// converter must leave out) the way a generated program does.
void writeCheckpoint(const std::string &path, std::vector<Variable> &weights) {
  std::vector<Variable> optimizer = {{"optimizer/hidden1/kernel/m", "", {2}, {1, 2}}};
  std::vector<kerasc::TensorSlot> w = slotsOf(weights), o = slotsOf(optimizer);
  kerasc::TrainableModel m{};
  m.num_weights = static_cast<int>(w.size());
  m.weights = w.data();
  m.num_optimizer_state = static_cast<int>(o.size());
  m.optimizer_state = o.data();
  std::string error;
  REQUIRE(kerasc::write_checkpoint(path.c_str(), m, "epoch 3\n", &error));
}

std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("kerasc_test_convert_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string &name) const { return (path / name).string(); }
};

} // namespace

TEST_CASE("convert: .kck to .weights.h5 and .keras, and back out of the .keras", "[convert]") {
  TempDir dir;
  std::vector<Variable> vars = referenceVariables();
  for (Variable &v : vars)
    for (float &x : v.values)
      x -= 0.25f;
  const std::string kck = dir.file("run.kck");
  writeCheckpoint(kck, vars);
  const std::string model = (kModelDir / "model.keras").string();
  std::string error;

  const std::string h5 = dir.file("out.weights.h5");
  REQUIRE(kerasc::runConvert(kck, h5, model, &error) == 0);
  const std::string keras = dir.file("out.keras");
  REQUIRE(kerasc::runConvert(kck, keras, model, &error) == 0);
  const std::string extracted = dir.file("extracted.weights.h5");
  REQUIRE(kerasc::runConvert(keras, extracted, "", &error) == 0);
  CHECK(readBytes(extracted) == readBytes(h5));
  const std::string rewrapped = dir.file("rewrapped.keras");
  REQUIRE(kerasc::runConvert(h5, rewrapped, (kModelDir / "model.json").string(), &error) == 0);

  // Values: exact (tolerance 0), read back through the runtime reader from every output.
  for (const std::string &file : {h5, keras, rewrapped}) {
    std::vector<Variable> back = referenceVariables();
    std::vector<kerasc::TensorSlot> slots = slotsOf(back);
    INFO(file);
    REQUIRE(kerasc::load_keras_weights(file.c_str(), slots.data(), static_cast<int>(slots.size()),
                                       &error));
    for (size_t i = 0; i < vars.size(); ++i)
      CHECK(back[i].values == vars[i].values);
  }
  // Layout: identical to the one Keras wrote, @names included (the HDF5 bytes differ only in
  // heap addresses, so compare listings of the group tree instead: h5 listings via the runtime's
  // zip reader on the .keras's config).
  std::vector<char> zip, config, original, originalConfig;
  const std::string kerasBytes = readBytes(keras), modelBytes = readBytes(model);
  zip.assign(kerasBytes.begin(), kerasBytes.end());
  original.assign(modelBytes.begin(), modelBytes.end());
  REQUIRE(kerasc::read_stored_zip_entry(zip, "config.json", &config, &error));
  REQUIRE(kerasc::read_stored_zip_entry(original, "config.json", &originalConfig, &error));
  CHECK(config == originalConfig);
  std::vector<char> metadata;
  REQUIRE(kerasc::read_stored_zip_entry(zip, "metadata.json", &metadata, &error));
  const auto meta = nlohmann::json::parse(metadata.begin(), metadata.end());
  CHECK(meta["keras_version"] == "3.15.1");
  CHECK(meta["date_saved"].get<std::string>().size() == 19); // YYYY-MM-DD@HH:MM:SS

  // Left for tests/fixtures/check_keras_load.py (--offset -0.25), which loads them into Keras.
  const fs::path loadBack = loadBackDir();
  fs::copy_file(h5, loadBack / "mlp_relu_softmax_minus_quarter_from_kck.weights.h5",
                fs::copy_options::overwrite_existing);
  fs::copy_file(rewrapped, loadBack / "mlp_relu_softmax_minus_quarter_from_kck.keras",
                fs::copy_options::overwrite_existing);
}

TEST_CASE("convert: functional models, weightless layers, Normalization, PReLU", "[convert]") {
  // Keras's exact layout comes from --model: input_layer groups (empty), @names, the int32
  // Normalization count (written as float32: Keras casts on assign). Values: exact.
  TempDir dir;
  for (const char *name :
       {"merge_ops", "normalization_adapted", "prelu_3d", "functional_shared_layer"}) {
    INFO(name);
    std::vector<Variable> vars = referenceVariables(name);
    for (Variable &v : vars)
      for (float &x : v.values)
        x += 0.5f;
    const std::string kck = dir.file(std::string(name) + ".kck");
    writeCheckpoint(kck, vars);
    const std::string model = (kModelDir.parent_path() / name / "model.keras").string();
    const fs::path stem = loadBackDir() / (std::string(name) + "_plus_half_from_kck");
    std::string error;
    for (const std::string ext : {".weights.h5", ".keras"}) {
      const std::string out = stem.string() + ext;
      REQUIRE(kerasc::runConvert(kck, out, model, &error) == 0);
      std::vector<Variable> back = referenceVariables(name);
      std::vector<kerasc::TensorSlot> slots = slotsOf(back);
      REQUIRE(kerasc::load_keras_weights(out.c_str(), slots.data(),
                                         static_cast<int>(slots.size()), &error));
      for (size_t i = 0; i < vars.size(); ++i)
        CHECK(back[i].values == vars[i].values);
    }
  }
}

TEST_CASE("convert: refuses what Keras would refuse, naming the variable", "[convert]") {
  TempDir dir;
  const std::string model = (kModelDir / "model.keras").string();
  const std::string out = dir.file("out.weights.h5");
  std::string error;

  SECTION("a variable the model has is missing") {
    std::vector<Variable> vars = referenceVariables();
    vars.pop_back(); // probs/bias
    writeCheckpoint(dir.file("a.kck"), vars);
    CHECK(kerasc::runConvert(dir.file("a.kck"), out, model, &error) == 1);
    CHECK(error == dir.file("a.kck") +
                       ": has no variable 'layers/dense_2/vars/1' (shape (4,), "
                       "layer 'probs' of " +
                       model + ")");
    CHECK_FALSE(fs::exists(out));
    // Without --model the converter cannot know; it writes what the checkpoint has.
    CHECK(kerasc::runConvert(dir.file("a.kck"), out, "", &error) == 0);
  }
  SECTION("a variable has the wrong shape") {
    std::vector<Variable> vars = referenceVariables();
    vars[0].shape = {16, 8};
    writeCheckpoint(dir.file("b.kck"), vars);
    CHECK(kerasc::runConvert(dir.file("b.kck"), out, model, &error) == 1);
    CHECK(error == dir.file("b.kck") +
                       ": variable 'layers/dense/vars/0' (hidden1/kernel) has "
                       "shape (16, 8), " +
                       model + " has (8, 16)");
  }
  SECTION("a .weights.h5 that does not fit the model") {
    const std::string other =
        (fs::path(KERASC_SOURCE_DIR) / "tests/fixtures/models/mlp_deep_linear/model.weights.h5")
            .string();
    CHECK(kerasc::runConvert(other, dir.file("x.keras"), model, &error) == 1);
    CHECK(error.rfind(other + ": ", 0) == 0);
    CHECK(error.find("(required by " + model + ")") != std::string::npos);
  }
  SECTION("usage errors") {
    std::vector<Variable> vars = referenceVariables();
    writeCheckpoint(dir.file("c.kck"), vars);
    CHECK(kerasc::runConvert(dir.file("c.kck"), dir.file("x.keras"), "", &error) == 1);
    CHECK(error.find("needs the model's config: give --model") != std::string::npos);
    CHECK(kerasc::runConvert(dir.file("c.kck"), dir.file("x.bin"), "", &error) == 1);
    CHECK(error == dir.file("x.bin") + ": unknown output format (use .weights.h5 or .keras)");
    CHECK(kerasc::runConvert(dir.file("nope.kck"), out, "", &error) == 1);
    CHECK(error == dir.file("nope.kck") + ": cannot open file");
    CHECK(kerasc::runConvert(dir.file("c.kck"), out, (kModelDir / "model.weights.h5").string(),
                             &error) == 1);
    CHECK(error.find("a weights file, not a model") != std::string::npos);
  }
}
