#include "frontend/ModelReader.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <unordered_map>

#include "frontend/Hdf5File.h"
#include "frontend/KerasWeightLayout.h"
#include "frontend/ZipArchive.h"

namespace kerasc {

namespace {

using nlohmann::json;

// --- Errors and defensive JSON access -------------------------------------------------------

[[noreturn]] void fail(const std::string &label, const std::string &message) {
  throw Error(label + ": " + message);
}

std::string describe(const LayerSpec &layer) {
  return "layer '" + layer.name + "' (" + layer.className + ")";
}

/// Messages are one line, but names and library messages come from the file and may hold anything.
std::string oneLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

std::string join(const std::vector<std::string> &items) {
  std::string out;
  for (const std::string &item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

/// A member of a JSON object, or null when `object` is not an object or lacks `key`. Files are
/// untrusted, so the readers never use json::at() or operator[] on unchecked input.
const json &member(const json &object, const char *key) {
  static const json null;
  return object.is_object() && object.contains(key) ? object[key] : null;
}

std::string stringMember(const json &object, const char *key) {
  const json &value = member(object, key);
  return value.is_string() ? value.get<std::string>() : "";
}

json parseJson(const std::string &text, const std::string &label) {
  // Keras configs nest a few dozen levels at most. The bound keeps the recursive walks and copies
  // of the parsed tree from exhausting the stack on a hostile file.
  constexpr int maxDepth = 256;
  auto limitDepth = [&](int depth, json::parse_event_t, json &) {
    if (depth > maxDepth)
      fail(label, "JSON nested deeper than " + std::to_string(maxDepth) + " levels");
    return true;
  };
  try {
    return json::parse(text, limitDepth);
  } catch (const json::parse_error &e) {
    fail(label, std::string("invalid JSON: ") + e.what());
  }
}

std::string readTextFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, "cannot open file");
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad())
    fail(path, "cannot read file");
  return text;
}

std::string textOf(const std::vector<char> &bytes) {
  return std::string(bytes.begin(), bytes.end());
}

// --- Format detection -----------------------------------------------------------------------

enum class Format { KerasZip, LegacyH5, JsonConfig };

std::string lowercaseExtension(const std::string &path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

/// Content decides first (a renamed file still reads); the extension decides for files whose
/// content is not recognized, so that e.g. a truncated .keras is reported as a broken zip.
Format detectFormat(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail(path, "file not found");
  if (!std::filesystem::is_regular_file(path, ec))
    fail(path, "not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, "cannot open file");
  char buffer[512];
  in.read(buffer, sizeof buffer);
  const std::string head(buffer, static_cast<size_t>(in.gcount()));

  if (head.rfind("PK\x03\x04", 0) == 0 || head.rfind("PK\x05\x06", 0) == 0)
    return Format::KerasZip;
  if (head.rfind("\x89HDF\r\n\x1a\n", 0) == 0)
    return Format::LegacyH5;
  const std::string ext = lowercaseExtension(path);
  if (ext == ".keras")
    return Format::KerasZip;
  if (ext == ".h5" || ext == ".hdf5")
    return Format::LegacyH5;
  const size_t firstChar = head.find_first_not_of(" \t\r\n");
  if (ext != ".json" && (firstChar == std::string::npos || head[firstChar] != '{'))
    fail(path, "unrecognized file format (expected a .keras archive, a legacy .h5 model or a "
               ".json config)");
  return Format::JsonConfig;
}

// --- Model config -> layers, calls, inputs, outputs ------------------------------------------

/// A model used as a layer. Its insides are not read; the importer reports it as unsupported.
bool isNestedModel(const std::string &className) {
  return className == "Sequential" || className == "Functional" || className == "Model";
}

/// A node or tensor index; -1 (rejected by checkGraph) when it does not fit an int.
int indexOf(const json &value) {
  const auto index = value.get<int64_t>(); // an unsigned beyond int64 wraps negative
  return index >= 0 && index <= std::numeric_limits<int>::max() ? static_cast<int>(index) : -1;
}

TensorRef tensorRef(const json &triple) {
  return {triple[0].get<std::string>(), indexOf(triple[1]), indexOf(triple[2])};
}

/// `[layer_name, node_index, tensor_index]`, optionally followed by tf.keras 2's call kwargs.
bool isTriple(const json &value) {
  return value.is_array() && value.size() >= 3 && value[0].is_string() &&
         value[1].is_number_integer() && value[2].is_number_integer();
}

/// Tensor references in `input_layers`/`output_layers` and tf.keras 2 inbound nodes: a triple,
/// or a list (Keras 3: also a dict, flattened in key order like keras.tree) of them.
void collectTriples(const json &value, std::vector<TensorRef> &out) {
  if (isTriple(value)) {
    out.push_back(tensorRef(value));
    return;
  }
  if (value.is_array() || value.is_object())
    for (const json &item : value)
      collectTriples(item, out);
}

/// Keras 3 call arguments: `{"class_name": "__keras_tensor__", "config": {"keras_history":
/// [layer, node, tensor]}}` objects, alone or nested in lists (merge layers). Other values are
/// constants and skipped. Returns false when a Keras tensor is malformed.
bool collectKerasTensors(const json &value, std::vector<TensorRef> &out) {
  if (value.is_object() && stringMember(value, "class_name") == "__keras_tensor__") {
    const json &history = member(member(value, "config"), "keras_history");
    if (!isTriple(history))
      return false;
    out.push_back(tensorRef(history));
    return true;
  }
  if (value.is_array() || value.is_object())
    for (const json &item : value)
      if (!collectKerasTensors(item, out))
        return false;
  return true;
}

/// One inbound node. Tensors passed positionally become `inputs`; keyword arguments are kept
/// verbatim in `kwargs` (tensors in them keep their file form: a Keras 3 `__keras_tensor__`
/// object or a tf.keras 2 triple).
LayerCall parseCall(const json &node, const LayerSpec &layer, const std::string &label) {
  LayerCall call;
  if (node.is_object()) { // Keras 3: {"args": [...], "kwargs": {...}}
    if (!collectKerasTensors(member(node, "args"), call.inputs))
      fail(label, describe(layer) + ": malformed tensor in an inbound node");
    const json &kwargs = member(node, "kwargs");
    if (kwargs.is_object())
      call.kwargs = kwargs;
  } else if (node.is_array()) { // tf.keras 2: [[layer, node, tensor, kwargs], ...], one per input
    for (const json &entry : node) {
      if (!isTriple(entry))
        fail(label, describe(layer) + ": malformed inbound node entry");
      call.inputs.push_back(tensorRef(entry));
      if (entry.size() > 3 && entry[3].is_object())
        call.kwargs.update(entry[3]);
    }
  } else {
    fail(label, describe(layer) + ": malformed inbound node");
  }
  return call;
}

LayerSpec layerFromJson(const json &entry, size_t index, const std::string &label) {
  std::string where = "layer #" + std::to_string(index);
  if (!entry.is_object())
    fail(label, where + " is not a JSON object");
  LayerSpec layer;
  layer.className = stringMember(entry, "class_name");
  if (layer.className.empty())
    fail(label, where + " has no class_name");
  where += " (" + layer.className + ")";
  const json &config = member(entry, "config");
  if (!config.is_object())
    fail(label, where + " has no config object");
  layer.config = config;
  // Functional models repeat the name next to the config; Sequential models only have it inside.
  layer.name = stringMember(entry, "name");
  if (layer.name.empty())
    layer.name = stringMember(config, "name");
  if (layer.name.empty())
    fail(label, where + " has no name");
  // tf.keras 2 calls the input shape `batch_input_shape`; give the importer Keras 3's name.
  if (layer.className == "InputLayer" && !config.contains("batch_shape") &&
      config.contains("batch_input_shape"))
    layer.config["batch_shape"] = config["batch_input_shape"];
  return layer;
}

/// The InputLayer that Keras itself would create for a Sequential saved without one (tf.keras 2
/// keeps the input shape on the first layer; Keras 3 on the model's build config).
LayerSpec synthesizeInputLayer(const LayerSpec &first, const json &model, const json &config,
                               const std::string &label) {
  json shape = member(first.config, "batch_input_shape");
  if (!shape.is_array())
    shape = member(config, "build_input_shape");
  if (!shape.is_array())
    shape = member(member(model, "build_config"), "input_shape");
  if (!shape.is_array())
    fail(label, "Sequential model has no InputLayer and no input shape (it was saved before "
                "being built)");
  LayerSpec input;
  input.className = "InputLayer";
  input.name = first.name + "_input";
  const json &dtype = member(first.config, "dtype");
  input.config = {{"batch_shape", shape},
                  {"dtype", dtype.is_string() ? dtype : json("float32")},
                  {"name", input.name}};
  return input;
}

void readSequential(const json &model, const json &config, const std::string &label,
                    ModelSpec &spec) {
  const json &layers = member(config, "layers");
  if (!layers.is_array() || layers.empty())
    fail(label, "Sequential model has no layers");
  for (size_t i = 0; i < layers.size(); ++i)
    spec.layers.push_back(layerFromJson(layers[i], i, label));
  if (spec.layers.front().className != "InputLayer")
    spec.layers.insert(spec.layers.begin(),
                       synthesizeInputLayer(spec.layers.front(), model, config, label));
  for (size_t i = 1; i < spec.layers.size(); ++i) {
    LayerCall call;
    call.inputs.push_back({spec.layers[i - 1].name, 0, 0});
    spec.layers[i].calls.push_back(std::move(call));
  }
  spec.inputs = {{spec.layers.front().name, 0, 0}};
  spec.outputs = {{spec.layers.back().name, 0, 0}};
}

void readFunctional(const json &config, const std::string &label, ModelSpec &spec) {
  const json &layers = member(config, "layers");
  if (!layers.is_array() || layers.empty())
    fail(label, "model has no layers");
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerSpec layer = layerFromJson(layers[i], i, label);
    const json &nodes = member(layers[i], "inbound_nodes");
    if (nodes.is_array())
      for (const json &node : nodes)
        layer.calls.push_back(parseCall(node, layer, label));
    else if (!nodes.is_null())
      fail(label, describe(layer) + ": 'inbound_nodes' is not a list");
    spec.layers.push_back(std::move(layer));
  }
  // A single-input (-output) model may store a bare triple instead of a list of them.
  collectTriples(member(config, "input_layers"), spec.inputs);
  collectTriples(member(config, "output_layers"), spec.outputs);
  if (spec.inputs.empty())
    fail(label, "model has no inputs ('input_layers' is missing or empty)");
  if (spec.outputs.empty())
    fail(label, "model has no outputs ('output_layers' is missing or empty)");
}

/// Every reference names an existing layer call, and model inputs are InputLayers. Layer order is
/// not checked: with shared layers, a later call may consume a layer listed after it.
void checkGraph(const ModelSpec &spec, const std::string &label) {
  std::unordered_map<std::string, const LayerSpec *> byName;
  for (const LayerSpec &layer : spec.layers)
    if (!byName.emplace(layer.name, &layer).second)
      fail(label, "two layers are named '" + layer.name + "'");

  auto find = [&](const TensorRef &ref, const std::string &user) -> const LayerSpec & {
    auto it = byName.find(ref.layer);
    if (it == byName.end())
      fail(label, user + " refers to unknown layer '" + ref.layer + "'");
    const LayerSpec &source = *it->second;
    // An InputLayer has no inbound nodes but is its own node 0.
    const size_t nodes = source.className == "InputLayer" ? 1 : source.calls.size();
    if (ref.nodeIndex < 0 || static_cast<size_t>(ref.nodeIndex) >= nodes || ref.tensorIndex < 0)
      fail(label, user + " refers to output " + std::to_string(ref.tensorIndex) + " of call " +
                      std::to_string(ref.nodeIndex) + " of " + describe(source) +
                      ", which does not exist");
    return source;
  };
  for (const LayerSpec &layer : spec.layers)
    for (const LayerCall &call : layer.calls)
      for (const TensorRef &ref : call.inputs)
        find(ref, describe(layer) + ": an input");
  for (const TensorRef &ref : spec.inputs)
    if (find(ref, "a model input").className != "InputLayer")
      fail(label, "model input '" + ref.layer + "' is not an InputLayer");
  for (const TensorRef &ref : spec.outputs)
    find(ref, "a model output");
}

/// Fills name, className, layers, calls, inputs and outputs (and compileConfig when the config
/// carries one) from a serialized model: {"class_name": ..., "config": {...}, ...}.
void readTopology(const json &model, const std::string &label, ModelSpec &spec) {
  if (!model.is_object())
    fail(label, "model config is not a JSON object");
  spec.className = stringMember(model, "class_name");
  const json &config = member(model, "config");
  if (spec.className.empty() || !config.is_object())
    fail(label, "not a Keras model config (no class_name and config)");
  spec.name = stringMember(config, "name");

  if (spec.className == "Sequential")
    readSequential(model, config, label, spec);
  else if (spec.className == "Functional" || spec.className == "Model")
    readFunctional(config, label, spec);
  else
    fail(label, "the saved model is a '" + spec.className +
                    "', not a Sequential or Functional model (subclassed models are not "
                    "supported)");
  checkGraph(spec, label);

  const json &compileConfig = member(model, "compile_config");
  if (compileConfig.is_object() && !compileConfig.empty())
    spec.compileConfig = compileConfig;
  if (spec.kerasVersion.empty())
    spec.kerasVersion = stringMember(model, "keras_version"); // tf.keras 2's to_json() has it
}

// --- Weights ----------------------------------------------------------------------------------

/// The names kerasWeightLayout gives a layer's variables, or nullopt for classes it does not know.
std::optional<std::vector<std::string>> expectedWeightNames(const LayerSpec &layer) {
  const auto layout = kerasWeightLayout(layer.className, layer.config);
  if (!layout)
    return std::nullopt;
  std::vector<std::string> names;
  for (const VariableGroup &group : *layout)
    names.insert(names.end(), group.names.begin(), group.names.end());
  return names;
}

/// Every format: a layer of a known class has exactly the variables Keras gives it.
void checkWeightCounts(const ModelSpec &spec, const std::string &weightsLabel) {
  for (const LayerSpec &layer : spec.layers) {
    const auto expected = expectedWeightNames(layer);
    if (isNestedModel(layer.className) || !expected || layer.weights.size() == expected->size())
      continue;
    if (layer.weights.empty())
      fail(weightsLabel,
           describe(layer) + ": no weights in the file (expected " + join(*expected) + ")");
    fail(weightsLabel, describe(layer) + ": the file has " + std::to_string(layer.weights.size()) +
                           " weights, expected " + std::to_string(expected->size()) + " (" +
                           join(*expected) + ")");
  }
}

/// Legacy files name each weight by its variable path: "dense/kernel:0" (tf.keras 2),
/// "sequential/dense/kernel" (Keras 3) -> "kernel".
std::string variableName(const std::string &path) {
  std::string name = path.substr(path.rfind('/') + 1);
  const size_t colon = name.rfind(':');
  if (colon != std::string::npos && colon + 1 < name.size() &&
      std::all_of(name.begin() + colon + 1, name.end(),
                  [](unsigned char c) { return std::isdigit(c); }))
    name.erase(colon);
  return name;
}

/// Legacy layout (under `model_weights` of a full .h5, or at the root of a weights-only .h5):
/// attribute `layer_names` lists the layers; each layer's group lists its dataset paths, in
/// layer.weights order, in attribute `weight_names`.
void loadLegacyWeights(ModelSpec &spec, const Hdf5Group &weights) {
  const auto layerNames = weights.stringListAttribute("layer_names");
  if (!layerNames)
    weights.fail("'" + weights.path() + "' has no 'layer_names' attribute");
  std::unordered_map<std::string, LayerSpec *> byName;
  for (LayerSpec &layer : spec.layers)
    byName.emplace(layer.name, &layer);

  for (const std::string &name : *layerNames) {
    auto it = byName.find(name);
    if (it == byName.end())
      weights.fail("holds weights for a layer '" + name +
                   "', which the model config does not have (weights of another model?)");
    LayerSpec &layer = *it->second;
    if (isNestedModel(layer.className))
      continue;
    const Hdf5Group group = weights.group(name);
    const auto weightNames = group.stringListAttribute("weight_names");
    if (!weightNames)
      group.fail(describe(layer) + ": '" + group.path() + "' has no 'weight_names' attribute");
    for (const std::string &weightName : *weightNames) {
      WeightArray array = group.readArray(weightName);
      array.name = variableName(weightName);
      layer.weights.push_back(std::move(array));
    }
  }
}

/// `vars/0`, `vars/1`, ... of a Keras 3 `vars` group, in index order.
std::vector<WeightArray> readVars(const Hdf5Group &vars) {
  std::vector<WeightArray> arrays;
  for (size_t i = 0; vars.hasDataset(std::to_string(i)); ++i)
    arrays.push_back(vars.readArray(std::to_string(i)));
  return arrays;
}

/// Every variable under a layer group whose class has no known layout: own `vars` first, then
/// sub-objects in name order, each named by its path ("cell/vars/0"). The importer rejects such
/// layers; reading them keeps the ModelSpec complete.
void readAllVars(const Hdf5Group &group, const std::string &prefix, std::vector<WeightArray> &out) {
  if (group.hasGroup("vars")) {
    std::vector<WeightArray> arrays = readVars(group.group("vars"));
    for (size_t i = 0; i < arrays.size(); ++i) {
      arrays[i].name = prefix + "vars/" + std::to_string(i);
      out.push_back(std::move(arrays[i]));
    }
  }
  for (const std::string &child : group.childGroups())
    if (child != "vars")
      readAllVars(group.group(child), prefix + child + "/", out);
}

/// Keras 3 layout (.weights.h5, and model.weights.h5 inside .keras): `layers/<snake_case class
/// name, uniquified in model.layers order>/vars/<i>`, with sub-layers' variables in sub-groups
/// (`cell/vars`, `forward_layer/...`). Arrays are unnamed; KerasWeightLayout names them.
/// Like Keras, layers are matched by position, not by the layer name that recent versions also
/// store on each `vars` group: names are often auto-generated and differ between two builds of the
/// same model. (Not reading that variable-length string also keeps the Keras 3 path away from
/// HDF5 1.10's global heap, whose parser can crash or hang on corrupt files.)
void loadKeras3Weights(ModelSpec &spec, const Hdf5Group &root) {
  std::vector<std::string> names, classes;
  for (const LayerSpec &layer : spec.layers) {
    names.push_back(layer.name);
    classes.push_back(layer.className);
  }
  const auto groups = keras3LayerGroups(names, classes, spec.className == "Sequential");
  for (LayerSpec &layer : spec.layers) {
    auto groupName = groups.find(layer.name);
    if (groupName == groups.end())
      continue; // not in model.layers (a Sequential's InputLayer)
    const std::string &path = groupName->second;
    // A missing group is reported by checkWeightCounts when the layer needs weights.
    if (isNestedModel(layer.className) || !root.hasGroup(path))
      continue;
    const Hdf5Group group = root.group(path);

    const auto layout = kerasWeightLayout(layer.className, layer.config);
    if (!layout) {
      readAllVars(group, "", layer.weights);
      continue;
    }
    for (const VariableGroup &vars : *layout) {
      std::vector<WeightArray> arrays;
      if (group.hasGroup(vars.path))
        arrays = readVars(group.group(vars.path));
      if (arrays.size() != vars.names.size())
        group.fail(describe(layer) + ": '" + group.path() + "/" + vars.path + "' holds " +
                   std::to_string(arrays.size()) + " variables, expected " +
                   std::to_string(vars.names.size()) + " (" + join(vars.names) + ")");
      for (size_t i = 0; i < arrays.size(); ++i) {
        arrays[i].name = vars.names[i];
        layer.weights.push_back(std::move(arrays[i]));
      }
    }
  }
}

/// Reads the weights of every layer from `file`, whichever of the two layouts it has.
void loadWeights(ModelSpec &spec, const Hdf5File &file) {
  const Hdf5Group root = file.root();
  if (root.hasGroup("model_weights"))
    loadLegacyWeights(spec, root.group("model_weights")); // a full legacy model file
  else if (root.stringListAttribute("layer_names"))
    loadLegacyWeights(spec, root); // a legacy weights-only file (save_weights("x.h5"))
  else if (root.hasGroup("layers") || root.hasGroup("vars"))
    loadKeras3Weights(spec, root);
  else
    root.fail("no Keras weights in this file (neither a Keras 3 'layers' group nor a legacy "
              "'model_weights' group)");
  checkWeightCounts(spec, file.label());
}

// --- The three formats ------------------------------------------------------------------------

ModelSpec newSpec(const std::string &path, const char *format) {
  ModelSpec spec;
  spec.sourcePath = path;
  spec.format = format;
  return spec;
}

ModelSpec readKerasArchive(const std::string &path, const std::string &weightsPath) {
  ModelSpec spec = newSpec(path, "keras");
  const ZipArchive archive(path);
  if (archive.contains("metadata.json"))
    spec.kerasVersion =
        stringMember(parseJson(textOf(archive.read("metadata.json")), path + ": metadata.json"),
                     "keras_version");
  spec.kerasConfigText = textOf(archive.read("config.json"));
  readTopology(parseJson(spec.kerasConfigText, path + ": config.json"), path, spec);

  if (!weightsPath.empty()) {
    loadWeights(spec, Hdf5File::open(weightsPath));
  } else if (archive.contains("model.weights.h5")) {
    loadWeights(spec,
                Hdf5File::fromImage(archive.read("model.weights.h5"), path + ": model.weights.h5"));
  } else if (archive.contains("model.weights.npz") || archive.contains("model.weights.json")) {
    fail(path, "weights saved as .npz or sharded are not supported (only model.weights.h5)");
  } else {
    fail(path, "missing model.weights.h5");
  }
  return spec;
}

/// Legacy training_config holds compile() arguments like a .keras compile_config, except that
/// the optimizer is under `optimizer_config`; rename it so the importer reads one shape.
json compileConfigFromTrainingConfig(json training) {
  if (training.is_object() && training.contains("optimizer_config")) {
    training["optimizer"] = std::move(training["optimizer_config"]);
    training.erase("optimizer_config");
  }
  return training;
}

ModelSpec readLegacyH5(const std::string &path, const std::string &weightsPath) {
  ModelSpec spec = newSpec(path, "h5");
  const Hdf5File file = Hdf5File::open(path);
  const Hdf5Group root = file.root();
  const auto modelConfig = root.stringAttribute("model_config");
  if (!modelConfig) {
    if (root.hasGroup("layers") || root.stringListAttribute("layer_names"))
      fail(path, "weights-only file (no 'model_config' attribute): read the model's .json or "
                 ".keras file and pass this file as its weights");
    fail(path, "not a Keras model file (no 'model_config' attribute)");
  }
  spec.kerasVersion = root.stringAttribute("keras_version").value_or("");
  readTopology(parseJson(*modelConfig, path + ": model_config"), path, spec);
  if (const auto training = root.stringAttribute("training_config"))
    spec.compileConfig =
        compileConfigFromTrainingConfig(parseJson(*training, path + ": training_config"));

  loadWeights(spec, weightsPath.empty() ? file : Hdf5File::open(weightsPath));
  return spec;
}

/// model.json -> model.weights.h5 (what model.save_weights() is conventionally paired with).
std::string defaultWeightsPath(const std::string &configPath) {
  const std::string ext = ".json";
  const bool hasExt = lowercaseExtension(configPath) == ext;
  return configPath.substr(0, configPath.size() - (hasExt ? ext.size() : 0)) + ".weights.h5";
}

ModelSpec readJsonConfig(const std::string &path, const std::string &weightsPath) {
  ModelSpec spec = newSpec(path, "json+weights");
  spec.kerasConfigText = readTextFile(path);
  readTopology(parseJson(spec.kerasConfigText, path), path, spec);

  std::string weights = weightsPath;
  if (weights.empty()) {
    weights = defaultWeightsPath(path);
    std::error_code ec;
    if (!std::filesystem::exists(weights, ec))
      fail(path, "weights file '" + weights + "' not found (pass the weights path explicitly)");
  }
  loadWeights(spec, Hdf5File::open(weights));
  return spec;
}

ModelSpec readAnyFormat(const std::string &path, const std::string &weightsPath) {
  switch (detectFormat(path)) {
  case Format::KerasZip:
    return readKerasArchive(path, weightsPath);
  case Format::LegacyH5:
    return readLegacyH5(path, weightsPath);
  case Format::JsonConfig:
    return readJsonConfig(path, weightsPath);
  }
  fail(path, "unrecognized file format");
}

} // namespace

ModelSpec readModel(const std::string &path, const std::string &weightsPath) {
  // The readers report problems as kerasc::Error; anything else escaping them (an unexpected JSON
  // type, an absurd size claimed by a corrupt file) is converted here, so callers only ever see
  // kerasc::Error with a one-line message naming the file.
  try {
    return readAnyFormat(path, weightsPath);
  } catch (const Error &e) {
    throw Error(oneLine(e.what()));
  } catch (const json::exception &e) {
    throw Error(oneLine(path + ": malformed model config: " + e.what()));
  } catch (const std::bad_alloc &) {
    throw Error(path + ": out of memory (corrupt file claiming an absurd size?)");
  } catch (const std::exception &e) {
    throw Error(oneLine(path + ": " + e.what()));
  }
}

} // namespace kerasc
