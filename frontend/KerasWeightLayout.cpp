#include "frontend/KerasWeightLayout.h"

#include <algorithm>
#include <cctype>
#include <regex>

namespace kerasc {

namespace {

using Layout = std::vector<VariableGroup>;
using nlohmann::json;

/// A config field, or null when absent.
const json &member(const json &config, const char *key) {
  static const json null;
  return config.is_object() && config.contains(key) ? config[key] : null;
}

/// A boolean config field, or `fallback` when absent or not a boolean (the reader never
/// rejects configs; the importer validates them).
bool flag(const json &config, const char *key, bool fallback) {
  const json &value = member(config, key);
  return value.is_boolean() ? value.get<bool>() : fallback;
}

/// Variables stored directly in the layer's own `vars` group.
Layout own(std::vector<std::string> names) { return {{"vars", std::move(names)}}; }

std::vector<std::string> kernelAndBias(const json &config, std::vector<std::string> kernels) {
  if (flag(config, "use_bias", true))
    kernels.push_back("bias");
  return kernels;
}

/// The layout of a wrapped layer (`{"class_name": ..., "config": ...}`) stored under `prefix`.
std::optional<Layout> nested(const json &wrapped, const std::string &prefix) {
  if (!wrapped.is_object() || !wrapped.contains("class_name") || !wrapped["class_name"].is_string())
    return std::nullopt;
  auto inner =
      kerasWeightLayout(wrapped["class_name"].get<std::string>(), member(wrapped, "config"));
  if (inner)
    for (VariableGroup &group : *inner)
      group.path = prefix + group.path;
  return inner;
}

} // namespace

std::optional<Layout> kerasWeightLayout(const std::string &className, const json &config) {
  static const char *const kernelBiasLayers[] = {
      "Dense",           "Conv1D",          "Conv2D",          "Conv3D",         "Conv1DTranspose",
      "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D"};
  if (std::find(std::begin(kernelBiasLayers), std::end(kernelBiasLayers), className) !=
      std::end(kernelBiasLayers))
    return own(kernelAndBias(config, {"kernel"}));
  if (className == "SeparableConv1D" || className == "SeparableConv2D")
    return own(kernelAndBias(config, {"depthwise_kernel", "pointwise_kernel"}));
  if (className == "EinsumDense") {
    const json &biasAxes = member(config, "bias_axes");
    const bool hasBias = biasAxes.is_string() && !biasAxes.get<std::string>().empty();
    return own(hasBias ? std::vector<std::string>{"kernel", "bias"}
                       : std::vector<std::string>{"kernel"});
  }
  if (className == "Embedding")
    return own({"embeddings"});
  if (className == "PReLU")
    return own({"alpha"});
  if (className == "RMSNormalization")
    return own({"scale"});

  if (className == "BatchNormalization") {
    if (flag(config, "renorm", false))
      return std::nullopt; // batch renormalization adds tracking variables not described here
    std::vector<std::string> names;
    if (flag(config, "scale", true))
      names.push_back("gamma");
    if (flag(config, "center", true))
      names.push_back("beta");
    names.insert(names.end(), {"moving_mean", "moving_variance"});
    return own(std::move(names));
  }
  if (className == "LayerNormalization" || className == "GroupNormalization") {
    // LayerNormalization with rms_scaling keeps gamma and drops beta.
    const bool rms = flag(config, "rms_scaling", false);
    std::vector<std::string> names;
    if (flag(config, "scale", true) || rms)
      names.push_back("gamma");
    if (flag(config, "center", true) && !rms)
      names.push_back("beta");
    return own(std::move(names));
  }
  if (className == "Normalization") {
    // Statistics given in the config are constants, not variables.
    if (member(config, "mean").is_null())
      return own({"mean", "variance", "count"});
    return Layout{};
  }

  // Recurrent layers keep their variables in their cell.
  if (className == "SimpleRNN" || className == "LSTM" || className == "GRU" ||
      className == "ConvLSTM1D" || className == "ConvLSTM2D" || className == "ConvLSTM3D")
    return Layout{{"cell/vars", kernelAndBias(config, {"kernel", "recurrent_kernel"})}};

  if (className == "TimeDistributed")
    return nested(member(config, "layer"), "layer/");
  if (className == "Bidirectional") {
    // layer.weights lists the forward layer first, although the file sorts 'backward_layer' first.
    const json &backwardConfig = member(config, "backward_layer");
    auto forward = nested(member(config, "layer"), "forward_layer/");
    auto backward = nested(backwardConfig.is_null() ? member(config, "layer") : backwardConfig,
                           "backward_layer/");
    if (!forward || !backward)
      return std::nullopt;
    forward->insert(forward->end(), backward->begin(), backward->end());
    return forward;
  }
  if (className == "MultiHeadAttention") {
    if (flag(config, "use_gate", false))
      return std::nullopt;
    Layout layout;
    for (const char *projection : {"query_dense", "key_dense", "value_dense", "output_dense"})
      layout.push_back({std::string(projection) + "/vars", kernelAndBias(config, {"kernel"})});
    return layout;
  }

  return std::nullopt;
}

std::string kerasSnakeCase(const std::string &className) {
  // The three substitutions of keras.src.utils.naming.to_snake_case, in order.
  static const std::regex nonWord(R"(\W+)");
  static const std::regex capitalizedWord("(.)([A-Z][a-z]+)");
  static const std::regex lowerUpper("([a-z])([A-Z])");
  std::string name = std::regex_replace(className, nonWord, "");
  name = std::regex_replace(name, capitalizedWord, "$1_$2");
  name = std::regex_replace(name, lowerUpper, "$1_$2");
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

std::map<std::string, std::string> keras3LayerGroups(const std::vector<std::string> &layerNames,
                                                     const std::vector<std::string> &classNames,
                                                     bool sequential) {
  std::map<std::string, std::string> groups;
  std::map<std::string, int> used;
  for (size_t i = 0; i < layerNames.size(); ++i) {
    if (sequential && classNames[i] == "InputLayer")
      continue;
    // Keras names each entry after its class, made unique by a counter: dense, dense_1, ...
    const std::string base = kerasSnakeCase(classNames[i]);
    auto [it, isNew] = used.emplace(base, 0);
    groups[layerNames[i]] = "layers/" + (isNew ? base : base + "_" + std::to_string(++it->second));
  }
  return groups;
}

} // namespace kerasc
