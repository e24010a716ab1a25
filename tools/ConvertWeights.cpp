#include "tools/ConvertWeights.h"

#include "frontend/Hdf5File.h"
#include "frontend/ModelSpec.h"
#include "frontend/ZipArchive.h"

// The runtime's own writers, so that `kerasc convert` and a generated program's save produce the
// same bytes.
#include <kerasc/atomic_file.h>
#include <kerasc/checkpoint.h>
#include <kerasc/keras_archive.h>
#include <kerasc/keras_h5.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <unistd.h>

namespace kerasc {

namespace {

enum class FileKind { Checkpoint, KerasArchive, WeightsH5, Json, Unknown };

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// What an existing file is, from its first bytes (extensions lie; signatures do not).
FileKind sniff(const std::string &path) {
  char head[8] = {};
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw Error(path + ": cannot open file");
  const size_t got = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  const std::string bytes(head, got);
  if (bytes == "KERASCK1")
    return FileKind::Checkpoint;
  if (bytes.compare(0, 4, "PK\x03\x04") == 0)
    return FileKind::KerasArchive;
  if (bytes == std::string("\x89HDF\r\n\x1a\n", 8))
    return FileKind::WeightsH5;
  if (endsWith(path, ".json"))
    return FileKind::Json;
  return FileKind::Unknown;
}

/// What an output should be, from its name (Keras itself insists on these suffixes).
FileKind outputKind(const std::string &path) {
  if (endsWith(path, ".weights.h5"))
    return FileKind::WeightsH5;
  if (endsWith(path, ".keras"))
    return FileKind::KerasArchive;
  if (endsWith(path, ".kck"))
    return FileKind::Checkpoint;
  return FileKind::Unknown;
}

/// One `vars` group of the original model's weights file: where, its @name, its variables' shapes.
struct VarsGroup {
  std::string path; // the group holding `vars` ("layers/dense"; "" for the model's own /vars)
  std::string name;
  std::vector<std::vector<int64_t>> shapes; // vars/0, vars/1, ...
};

/// What the original model contributes: its config for a .keras, and the exact weights layout.
struct ModelInfo {
  std::string path;
  std::string config;
  std::string kerasVersion = "3.15.1";
  std::string modelName;
  bool hasLayout = false;
  std::vector<VarsGroup> groups;
};

/// Collects every vars group under `group` (the optimizer's are left out: a converted file holds
/// the optimizer state of the checkpoint, or none, never the original's).
void collectVarsGroups(const Hdf5Group &group, const std::string &rel,
                       std::vector<VarsGroup> *out) {
  for (const std::string &child : group.childGroups()) {
    const std::string childRel = rel.empty() ? child : rel + "/" + child;
    if (child == "vars") {
      const Hdf5Group vars = group.group(child);
      VarsGroup g{rel, vars.stringAttribute("name").value_or(""), {}};
      for (int i = 0; vars.hasDataset(std::to_string(i)); ++i)
        g.shapes.push_back(vars.readArray(std::to_string(i)).shape);
      out->push_back(std::move(g));
    } else if (childRel != "optimizer") {
      collectVarsGroups(group.group(child), childRel, out);
    }
  }
}

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(path + ": cannot open file");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

ModelInfo readModelInfo(const std::string &path) {
  ModelInfo info;
  info.path = path;
  std::optional<Hdf5File> weights;
  switch (sniff(path)) {
  case FileKind::KerasArchive: {
    ZipArchive zip(path);
    const std::vector<char> config = zip.read("config.json");
    info.config.assign(config.begin(), config.end());
    if (zip.contains("metadata.json")) {
      const std::vector<char> meta = zip.read("metadata.json");
      const auto j = nlohmann::json::parse(meta.begin(), meta.end(), nullptr, false);
      if (j.is_object() && j.contains("keras_version") && j["keras_version"].is_string())
        info.kerasVersion = j["keras_version"];
    }
    weights = Hdf5File::fromImage(zip.read("model.weights.h5"), path + "/model.weights.h5");
    break;
  }
  case FileKind::WeightsH5: {
    // A legacy full-model .h5 carries its config; its weights use the old layout, so no template.
    const auto config = Hdf5File::open(path).root().stringAttribute("model_config");
    if (!config)
      throw Error(path + ": a weights file, not a model; give the model's .keras or .json");
    info.config = *config;
    break;
  }
  case FileKind::Json: {
    info.config = readText(path);
    const std::string sibling = path.substr(0, path.size() - 5) + ".weights.h5";
    if (std::filesystem::is_regular_file(sibling))
      weights = Hdf5File::open(sibling);
    break;
  }
  default:
    throw Error(path + ": not a Keras model (.keras, .json or .h5)");
  }
  const auto j = nlohmann::json::parse(info.config, nullptr, false);
  if (!j.is_object() || !j.contains("class_name"))
    throw Error(path + ": the model config is not valid Keras JSON");
  if (j.contains("config") && j["config"].is_object() && j["config"].contains("name") &&
      j["config"]["name"].is_string())
    info.modelName = j["config"]["name"];
  if (weights) {
    collectVarsGroups(weights->root(), "", &info.groups);
    info.hasLayout = true;
  }
  return info;
}

std::string shapeText(const std::vector<int64_t> &shape) {
  return h5_detail::shape_string(static_cast<int>(shape.size()), shape.data());
}

std::string varsPath(const VarsGroup &g, size_t i) {
  return (g.path.empty() ? "vars/" : g.path + "/vars/") + std::to_string(i);
}

/// TensorSlots over `tensors` (model weights and optimizer state with a keras_path).
std::vector<TensorSlot> slotsFor(std::vector<CheckpointTensor> &tensors) {
  std::vector<TensorSlot> slots;
  for (CheckpointTensor &t : tensors) {
    if (t.keras_path.empty() || t.kind == 2) // kind 2: fit's extras (EarlyStopping's best weights)
      continue;
    TensorSlot s{};
    s.name = t.name.c_str();
    s.keras_path = t.keras_path.c_str();
    s.data = t.data.data();
    s.count = static_cast<int64_t>(t.data.size());
    s.rank = static_cast<int>(t.shape.size());
    for (size_t d = 0; d < t.shape.size() && d < 8; ++d)
      s.shape[d] = t.shape[d];
    s.trainable = t.trainable;
    slots.push_back(s);
  }
  return slots;
}

/// Every variable the model has must come from the checkpoint with its shape, and every model
/// weight of the checkpoint must have a place in the model: what Keras's load_weights demands.
void checkAgainstLayout(const std::vector<CheckpointTensor> &tensors, const std::string &input,
                        const ModelInfo &model) {
  std::map<std::string, const CheckpointTensor *> byPath;
  for (const CheckpointTensor &t : tensors)
    if (!t.keras_path.empty() && t.kind != 2)
      byPath[t.keras_path] = &t;
  std::set<std::string> expected;
  for (const VarsGroup &g : model.groups)
    for (size_t i = 0; i < g.shapes.size(); ++i) {
      const std::string p = varsPath(g, i);
      expected.insert(p);
      const auto it = byPath.find(p);
      if (it == byPath.end())
        throw Error(input + ": has no variable '" + p + "' (shape " + shapeText(g.shapes[i]) +
                    ", layer '" + g.name + "' of " + model.path + ")");
      if (it->second->shape != g.shapes[i])
        throw Error(input + ": variable '" + p + "' (" + it->second->name + ") has shape " +
                    shapeText(it->second->shape) + ", " + model.path + " has " +
                    shapeText(g.shapes[i]));
    }
  for (const CheckpointTensor &t : tensors)
    if (t.kind == 0 && !t.keras_path.empty() && !expected.count(t.keras_path))
      throw Error(input + ": variable '" + t.keras_path + "' (" + t.name + ") is not in " +
                  model.path);
}

/// Writes the checkpoint's tensors as a Keras .weights.h5, laid out like `model` when known.
void writeWeightsH5(const std::string &input, const std::string &output, const ModelInfo *model) {
  std::vector<CheckpointTensor> tensors;
  std::string driverState, error;
  if (!read_checkpoint_tensors(input.c_str(), &tensors, &driverState, &error))
    throw Error(error);
  std::vector<TensorSlot> slots = slotsFor(tensors);
  if (slots.empty())
    throw Error(input + ": no tensor has a Keras weights path (keras_path); nothing to convert");
  KerasH5SaveOptions options;
  std::vector<KerasH5Group> groups;
  if (model && model->hasLayout) {
    checkAgainstLayout(tensors, input, *model);
    for (const VarsGroup &g : model->groups)
      groups.push_back({g.path.c_str(), g.name.c_str()});
    options.groups = groups.data();
    options.num_groups = static_cast<int>(groups.size());
  }
  if (model && !model->modelName.empty())
    options.model_name = model->modelName.c_str();
  if (!save_keras_weights_h5(output.c_str(), slots.data(), static_cast<int>(slots.size()), options,
                             &error))
    throw Error(error);
}

/// Loads `weights` into scratch buffers shaped like `model`'s variables: proves Keras will accept
/// the file for this model before it is packaged with the model's config.
void checkWeightsFitModel(const std::string &weights, const ModelInfo &model) {
  if (!model.hasLayout)
    return;
  std::vector<std::string> paths;
  std::vector<std::vector<float>> buffers;
  for (const VarsGroup &g : model.groups)
    for (size_t i = 0; i < g.shapes.size(); ++i) {
      paths.push_back(varsPath(g, i));
      int64_t count = 1;
      for (int64_t d : g.shapes[i])
        count *= d;
      buffers.emplace_back(static_cast<size_t>(count));
    }
  std::vector<TensorSlot> slots;
  size_t k = 0;
  for (const VarsGroup &g : model.groups)
    for (size_t i = 0; i < g.shapes.size(); ++i, ++k) {
      TensorSlot s{};
      s.name = g.name.c_str();
      s.keras_path = paths[k].c_str();
      s.data = buffers[k].data();
      s.count = static_cast<int64_t>(buffers[k].size());
      s.rank = static_cast<int>(g.shapes[i].size());
      for (size_t d = 0; d < g.shapes[i].size() && d < 8; ++d)
        s.shape[d] = g.shapes[i][d];
      slots.push_back(s);
    }
  std::string error;
  if (!load_keras_weights_h5(weights.c_str(), slots.data(), static_cast<int>(slots.size()), &error))
    throw Error(error + " (required by " + model.path + ")");
}

std::string metadataJson(const ModelInfo &model) {
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &local); // Keras's date_saved format
  return nlohmann::json{{"keras_version", model.kerasVersion}, {"date_saved", date}}.dump(-1);
}

/// Packages the .weights.h5 at `weights` with `model`'s config as a .keras archive.
void writeArchive(const std::string &weights, const std::string &output, const ModelInfo &model) {
  std::string error;
  if (!write_keras_archive(output.c_str(), model.config.c_str(), metadataJson(model).c_str(),
                           weights.c_str(), &error))
    throw Error(error);
}

void convert(const std::string &input, const std::string &output, const std::string &modelPath) {
  const FileKind in = sniff(input);
  const FileKind out = outputKind(output);
  if (out == FileKind::Unknown)
    throw Error(output + ": unknown output format (use .weights.h5 or .keras)");
  if (out == FileKind::Checkpoint)
    throw Error(output + ": writing .kck checkpoints is not supported; a generated program "
                         "can load a .weights.h5 itself");
  std::optional<ModelInfo> model;
  if (!modelPath.empty())
    model = readModelInfo(modelPath);
  if (out == FileKind::KerasArchive && !model)
    throw Error(output + ": a .keras file needs the model's config: give --model (the original "
                         ".keras or .json)");

  if (in == FileKind::Checkpoint && out == FileKind::WeightsH5)
    return writeWeightsH5(input, output, model ? &*model : nullptr);
  if (in == FileKind::Checkpoint && out == FileKind::KerasArchive) {
    // The weights go to a temporary sibling first; the archive is written atomically from it.
    const std::string tmp = output + ".weights-" + std::to_string(::getpid()) + ".h5";
    try {
      writeWeightsH5(input, tmp, &*model);
      writeArchive(tmp, output, *model);
    } catch (...) {
      std::remove(tmp.c_str());
      throw;
    }
    std::remove(tmp.c_str());
    return;
  }
  if (in == FileKind::KerasArchive && out == FileKind::WeightsH5) {
    const std::vector<char> bytes = ZipArchive(input).read("model.weights.h5");
    std::string error;
    if (!write_file_atomic(output, bytes.data(), bytes.size(), &error))
      throw Error(error);
    return;
  }
  if (in == FileKind::WeightsH5 && out == FileKind::KerasArchive) {
    checkWeightsFitModel(input, *model);
    return writeArchive(input, output, *model);
  }
  throw Error(input + ": cannot convert this file to " + output +
              " (supported: .kck -> .weights.h5 / .keras, .keras -> .weights.h5, "
              ".weights.h5 -> .keras)");
}

} // namespace

int runConvert(const std::string &input, const std::string &output, const std::string &modelPath,
               std::string *error) {
  try {
    convert(input, output, modelPath);
    return 0;
  } catch (const std::exception &e) { // kerasc::Error, and e.g. std::bad_alloc on huge files
    if (error)
      *error = e.what();
    return 1;
  }
}

} // namespace kerasc
